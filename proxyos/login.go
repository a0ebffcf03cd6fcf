package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/proxyos/caddy-proxyos/proxyos/store"
)

// Login rate limits. Failures are counted per account and per client IP
// within a window; reaching the maximum locks the key for the lockout.
// Counters live in the store, so a restart does not reset them.
const (
	limitWindow     = 15 * time.Minute
	limitLockout    = 15 * time.Minute
	accountFailures = 5
	ipFailures      = 20
)

// ErrBadCredentials is the one answer to a wrong email or password, so
// neither message nor timing tells which accounts exist.
var ErrBadCredentials = errors.New("invalid email or password")

// RateLimitedError says a key is locked and for how long.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry in %s", e.RetryAfter.Round(time.Second))
}

func accountLimitKey(email string) string { return "account:" + email }

// ipLimitKey limits IPv4 clients by address and IPv6 clients by /64, the
// block one subscriber usually holds.
func ipLimitKey(ip string) string {
	if addr, err := netip.ParseAddr(ip); err == nil && addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip
}

// checkLimits returns a *RateLimitedError when any of keys is locked.
func (a *App) checkLimits(ctx context.Context, keys ...string) error {
	now := a.now()
	var wait time.Duration
	for _, k := range keys {
		l, err := a.state.store.LoginLimit(ctx, k)
		if err != nil {
			return fmt.Errorf("reading login limits: %w", err)
		}
		if d := l.LockedUntil.Sub(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		return &RateLimitedError{RetryAfter: wait}
	}
	return nil
}

// countAttempt counts one attempt for each key before any password is
// hashed, so parallel attempts cannot all pass the check: it returns a
// *RateLimitedError when a key is already locked or this attempt goes
// beyond its limit.
func (a *App) countAttempt(ctx context.Context, email, ip string) error {
	type limit struct {
		key string
		max int
	}
	limits := []limit{{ipLimitKey(ip), ipFailures}}
	if email != "" {
		limits = append(limits, limit{accountLimitKey(email), accountFailures})
	}
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.key
	}
	if err := a.checkLimits(ctx, keys...); err != nil {
		return err
	}
	now := a.now()
	for _, l := range limits {
		rec, err := a.state.store.RecordLoginFailure(ctx, l.key, now, limitWindow, l.max, limitLockout)
		if err != nil {
			return fmt.Errorf("recording login attempt: %w", err)
		}
		if rec.Failures > l.max {
			return &RateLimitedError{RetryAfter: rec.LockedUntil.Sub(now)}
		}
	}
	return nil
}

// authenticate checks an email, password and, for accounts with TOTP
// on, a code. Unknown accounts, wrong passwords and disabled accounts all
// answer ErrBadCredentials after the same amount of hashing work. Every
// attempt counts against the account and the client IP before hashing; a
// successful one clears the account's count and takes back the IP's. A
// right password without a code answers ErrTOTPRequired and takes back
// the attempt (it is the first step of a login, not a guess); a wrong or
// spent code answers ErrTOTPInvalid and stays counted, so codes are rate
// limited like passwords.
func (a *App) authenticate(ctx context.Context, email, password, code, clientIP string) (store.User, error) {
	norm, nerr := normalizeEmail(email)
	if nerr != nil {
		norm = ""
	}
	if err := a.countAttempt(ctx, norm, clientIP); err != nil {
		return store.User{}, err
	}
	var (
		u   store.User
		err error
	)
	if norm != "" && len(password) <= MaxPasswordLen {
		u, err = a.state.store.UserByEmail(ctx, norm)
	} else {
		err = store.ErrNotFound
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		verifyDummy(password)
		return store.User{}, ErrBadCredentials
	case err != nil:
		return store.User{}, fmt.Errorf("reading user: %w", err)
	}
	if ok, verr := VerifyPassword(u.PasswordHash, password); verr != nil || !ok || u.Disabled {
		return store.User{}, ErrBadCredentials
	}
	switch err := a.checkSecondFactor(ctx, u.ID, code); {
	case errors.Is(err, ErrTOTPRequired):
		if err := a.refundAttempt(ctx, norm, clientIP); err != nil {
			return store.User{}, err
		}
		return store.User{}, err
	case err != nil:
		return store.User{}, err
	}
	if err := a.state.store.ResetLoginLimit(ctx, accountLimitKey(norm)); err != nil {
		return store.User{}, fmt.Errorf("resetting login limits: %w", err)
	}
	if err := a.state.store.RefundLoginAttempt(ctx, ipLimitKey(clientIP), ipFailures); err != nil {
		return store.User{}, fmt.Errorf("resetting login limits: %w", err)
	}
	return u, nil
}

// refundAttempt takes back one counted attempt of the account and the
// client IP.
func (a *App) refundAttempt(ctx context.Context, email, ip string) error {
	if err := a.state.store.RefundLoginAttempt(ctx, accountLimitKey(email), accountFailures); err != nil {
		return fmt.Errorf("resetting login limits: %w", err)
	}
	if err := a.state.store.RefundLoginAttempt(ctx, ipLimitKey(ip), ipFailures); err != nil {
		return fmt.Errorf("resetting login limits: %w", err)
	}
	return nil
}

// recordFailure counts a failure outside password login (a wrong setup
// code, a wrong current password) for the account, if any, and the
// client IP.
func (a *App) recordFailure(ctx context.Context, email, ip string) error {
	now := a.now()
	if email != "" {
		if _, err := a.state.store.RecordLoginFailure(ctx, accountLimitKey(email), now, limitWindow, accountFailures, limitLockout); err != nil {
			return err
		}
	}
	_, err := a.state.store.RecordLoginFailure(ctx, ipLimitKey(ip), now, limitWindow, ipFailures, limitLockout)
	return err
}
