package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Login rate limits. Failures are counted per key within a window;
// reaching a key's maximum locks it for its lockout. Counters live in the
// store, so a restart does not reset them. Each attempt counts against:
//
//   - the client's network: its IPv4 address, or for IPv6 its /64, /56
//     and /48 (one subscriber holds a /64 to a /48), which bounds what
//     one client can try and make the server store, whatever the account;
//   - the account from that network (accountFailures), so strangers
//     guessing elsewhere do not lock the owner out;
//   - the account as a whole, with a slower limit (accountTotalFailures
//     an hour) that stops guessing spread over many networks; it spares
//     the owner's known devices.
//
// An attempt from a known device of the account (a browser that logged in
// to it before, see deviceCookie) counts against that device only: the
// owner gets in while strangers are locked out, on any network.
const (
	limitWindow          = 15 * time.Minute
	limitLockout         = 15 * time.Minute
	accountFailures      = 5
	accountTotalFailures = 50
	accountTotalWindow   = time.Hour
	ipFailures           = 20  // an IPv4 address or IPv6 /64
	ip56Failures         = 50  // an IPv6 /56
	ip48Failures         = 100 // an IPv6 /48
)

// ErrBadCredentials is the one answer to a wrong email or password, so
// neither message nor timing tells which accounts exist.
var ErrBadCredentials = errors.New("invalid email or password")

// RateLimitedError says a limit is reached and for how long.
type RateLimitedError struct {
	RetryAfter time.Duration
	// What was too many; default "failed attempts".
	What string
}

func (e *RateLimitedError) Error() string {
	what := e.What
	if what == "" {
		what = "failed attempts"
	}
	return fmt.Sprintf("too many %s; retry in %s", what, e.RetryAfter.Round(time.Second))
}

// limit is one counter an attempt counts against.
type limit struct {
	key     string
	max     int
	window  time.Duration
	lockout time.Duration
	scope   string // what the audit log calls it: network, account, account_network, device
	subject string // the network or account, for the audit log
}

// clientNetwork is the network a client is limited by: its IPv4 address
// or the /64 of its IPv6 address.
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// networkLimits are the limits of the client IP's networks.
func networkLimits(ip string) []limit {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Unmap().Is6() {
		net := clientNetwork(ip)
		return []limit{{"ip:" + net, ipFailures, limitWindow, limitLockout, "network", net}}
	}
	var out []limit
	for _, l := range []struct{ bits, max int }{{64, ipFailures}, {56, ip56Failures}, {48, ip48Failures}} {
		p, _ := addr.Prefix(l.bits)
		out = append(out, limit{"ip:" + p.String(), l.max, limitWindow, limitLockout, "network", p.String()})
	}
	return out
}

// attemptLimits are the limits an attempt on the account email (may be
// empty) from ip counts against; device is the id of the account's
// known device the browser presented, or "".
func attemptLimits(email, ip, device string) []limit {
	if email != "" && device != "" {
		return []limit{{"acct:" + email + "|dev:" + device, accountFailures, limitWindow, limitLockout, "device", email}}
	}
	out := networkLimits(ip)
	if email != "" {
		out = append(out,
			limit{"acct:" + email + "|net:" + clientNetwork(ip), accountFailures, limitWindow, limitLockout, "account_network", email},
			limit{"acct:" + email, accountTotalFailures, accountTotalWindow, accountTotalWindow, "account", email})
	}
	return out
}

// checkLimits returns a *RateLimitedError when any of the limits is
// locked, and counts the refusal (in memory: a refused attempt writes
// nothing to the store, see refusals).
func (a *App) checkLimits(ctx context.Context, limits []limit) error {
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.key
	}
	got, err := a.state.store.LoginLimits(ctx, keys)
	if err != nil {
		return fmt.Errorf("reading login limits: %w", err)
	}
	now := a.now()
	var wait time.Duration
	for _, l := range limits {
		if d := got[l.key].LockedUntil.Sub(now); d > 0 {
			a.state.refusals.add(l, got[l.key].LockedUntil)
			wait = max(wait, d)
		}
	}
	if wait > 0 {
		return &RateLimitedError{RetryAfter: wait}
	}
	return nil
}

// countAttempt counts one attempt against each limit before any password
// is hashed, so parallel attempts cannot all pass the check: it returns a
// *RateLimitedError when a limit is already locked or this attempt goes
// beyond it. The attempt that starts a lock is recorded in the audit log,
// once; refused attempts are not (see checkLimits).
func (a *App) countAttempt(ctx context.Context, limits []limit, clientIP string) error {
	if err := a.checkLimits(ctx, limits); err != nil {
		return err
	}
	now := a.now()
	for _, l := range limits {
		rec, err := a.state.store.RecordLoginFailure(ctx, l.key, now, l.window, l.max, l.lockout)
		if err != nil {
			return fmt.Errorf("recording login attempt: %w", err)
		}
		if rec.Failures == l.max && rec.LockedUntil.After(now) {
			a.logger.Info("login locked", zap.String("scope", l.scope), zap.String("subject", l.subject),
				zap.Time("until", rec.LockedUntil))
			a.audit(ctx, auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser, ClientIP: clientIP}, Action: AuditLoginLock,
				Target: l.subject, Outcome: OutcomeFailure, Reason: auditTooManyFailures,
				Extra: map[string]any{"scope": l.scope, "locked_until": rec.LockedUntil.UTC(), "failures": rec.Failures}})
		}
		if rec.Failures > l.max {
			a.state.refusals.add(l, rec.LockedUntil)
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
func (a *App) authenticate(ctx context.Context, email, password, code, clientIP, device string) (store.User, error) {
	norm, nerr := normalizeEmail(email)
	if nerr != nil {
		norm = ""
	}
	limits := attemptLimits(norm, clientIP, a.knownDevice(device, norm))
	if err := a.countAttempt(ctx, limits, clientIP); err != nil {
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
		if err := a.refundAttempt(ctx, limits); err != nil {
			return store.User{}, err
		}
		return store.User{}, err
	case err != nil:
		return store.User{}, err
	}
	// Success clears the failures of the account from here (network or
	// device) and takes back this attempt from the others.
	for _, l := range limits {
		var err error
		if l.scope == "account_network" || l.scope == "device" {
			err = a.state.store.ResetLoginLimit(ctx, l.key)
		} else {
			err = a.state.store.RefundLoginAttempt(ctx, l.key, l.max)
		}
		if err != nil {
			return store.User{}, fmt.Errorf("resetting login limits: %w", err)
		}
	}
	return u, nil
}

// refundAttempt takes back one counted attempt of each limit.
func (a *App) refundAttempt(ctx context.Context, limits []limit) error {
	for _, l := range limits {
		if err := a.state.store.RefundLoginAttempt(ctx, l.key, l.max); err != nil {
			return fmt.Errorf("resetting login limits: %w", err)
		}
	}
	return nil
}
