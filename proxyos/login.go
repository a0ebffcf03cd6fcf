package proxyos

import (
	"context"
	"errors"
	"fmt"
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
func ipLimitKey(ip string) string         { return "ip:" + ip }

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

// recordFailure counts a failure for the account and the client IP.
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

// authenticate checks an email and password. Unknown accounts, wrong
// passwords and disabled accounts all answer ErrBadCredentials after the
// same amount of hashing work. Locked keys answer *RateLimitedError before
// any hashing.
func (a *App) authenticate(ctx context.Context, email, password, clientIP string) (store.User, error) {
	norm, nerr := normalizeEmail(email)
	keys := []string{ipLimitKey(clientIP)}
	if nerr == nil {
		keys = append(keys, accountLimitKey(norm))
	}
	if err := a.checkLimits(ctx, keys...); err != nil {
		return store.User{}, err
	}
	var (
		u   store.User
		err error
	)
	if nerr == nil && len(password) <= MaxPasswordLen {
		u, err = a.state.store.UserByEmail(ctx, norm)
	} else {
		err = store.ErrNotFound
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		verifyDummy(password)
	case err != nil:
		return store.User{}, fmt.Errorf("reading user: %w", err)
	default:
		ok, verr := VerifyPassword(u.PasswordHash, password)
		if verr == nil && ok && !u.Disabled {
			if err := a.state.store.ResetLoginLimit(ctx, accountLimitKey(norm)); err != nil {
				return store.User{}, fmt.Errorf("resetting login limits: %w", err)
			}
			return u, nil
		}
	}
	if nerr != nil {
		norm = ""
	}
	if err := a.recordFailure(ctx, norm, clientIP); err != nil {
		return store.User{}, fmt.Errorf("recording login failure: %w", err)
	}
	return store.User{}, ErrBadCredentials
}
