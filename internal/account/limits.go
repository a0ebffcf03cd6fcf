package account

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/request"
)

// Login rate limits. Failures are counted per key within a window;
// reaching a key's maximum locks it for its lockout. Counters live in the
// store, so a restart does not reset them. Each attempt counts against:
//
//   - the client's network: its IPv4 address, or for IPv6 its /64, /56
//     and /48 (one subscriber holds a /64 to a /48), which bounds what
//     one client can try and make the server store, whatever the account;
//   - the account from that network (AccountFailures), so strangers
//     guessing elsewhere do not lock the owner out;
//   - the account as a whole, with a slower limit (AccountTotalFailures
//     an hour) that stops guessing spread over many networks; it spares
//     the owner's known devices.
//
// An attempt from a known device of the account (a browser that logged in
// to it before, see deviceCookie) counts against that device only: the
// owner gets in while strangers are locked out, on any network.
const (
	LimitWindow          = 15 * time.Minute
	LimitLockout         = 15 * time.Minute
	AccountFailures      = 5
	AccountTotalFailures = 50
	AccountTotalWindow   = time.Hour
	IPFailures           = 20  // an IPv4 address or IPv6 /64
	IP56Failures         = 50  // an IPv6 /56
	IP48Failures         = 100 // an IPv6 /48
)

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
	n64, _, _ := request.ClientNetworks(ip)
	return n64
}

// networkLimits are the limits of the client IP's networks.
func networkLimits(ip string) []limit {
	n64, n56, n48 := request.ClientNetworks(ip)
	if n56 == "" {
		return []limit{{"ip:" + n64, IPFailures, LimitWindow, LimitLockout, "network", n64}}
	}
	return []limit{
		{"ip:" + n64, IPFailures, LimitWindow, LimitLockout, "network", n64},
		{"ip:" + n56, IP56Failures, LimitWindow, LimitLockout, "network", n56},
		{"ip:" + n48, IP48Failures, LimitWindow, LimitLockout, "network", n48},
	}
}

// attemptLimits are the limits an attempt on the account email (may be
// empty) from ip counts against; device is the id of the account's
// known device the browser presented, or "".
func attemptLimits(email, ip, device string) []limit {
	if email != "" && device != "" {
		return []limit{{"acct:" + email + "|dev:" + device, AccountFailures, LimitWindow, LimitLockout, "device", email}}
	}
	out := networkLimits(ip)
	if email != "" {
		out = append(out,
			limit{"acct:" + email + "|net:" + clientNetwork(ip), AccountFailures, LimitWindow, LimitLockout, "account_network", email},
			limit{"acct:" + email, AccountTotalFailures, AccountTotalWindow, AccountTotalWindow, "account", email})
	}
	return out
}

// checkLimits returns a *RateLimitedError when any of the limits is
// locked, and counts the refusal (in memory: a refused attempt writes
// nothing to the store, see refusals).
func (s *Service) checkLimits(ctx context.Context, limits []limit) error {
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.key
	}
	got, err := s.Store.LoginLimits(ctx, keys)
	if err != nil {
		return fmt.Errorf("reading login limits: %w", err)
	}
	now := s.Now()
	var wait time.Duration
	for _, l := range limits {
		if d := got[l.key].LockedUntil.Sub(now); d > 0 {
			s.Limits.refusals.add(l, got[l.key].LockedUntil)
			wait = max(wait, d)
		}
	}
	if wait > 0 {
		return &fail.RateLimitedError{RetryAfter: wait}
	}
	return nil
}

// countAttempt counts one attempt against each limit before any password
// is hashed, so parallel attempts cannot all pass the check: it returns a
// *RateLimitedError when a limit is already locked or this attempt goes
// beyond it. The attempt that starts a lock is recorded in the audit log,
// once; refused attempts are not (see checkLimits).
func (s *Service) countAttempt(ctx context.Context, limits []limit, clientIP string) error {
	if err := s.checkLimits(ctx, limits); err != nil {
		return err
	}
	now := s.Now()
	for _, l := range limits {
		rec, err := s.Store.RecordLoginFailure(ctx, l.key, now, l.window, l.max, l.lockout)
		if err != nil {
			return fmt.Errorf("recording login attempt: %w", err)
		}
		if rec.Failures == l.max && rec.LockedUntil.After(now) {
			s.Logger().Info("login locked", zap.String("scope", l.scope), zap.String("subject", l.subject),
				zap.Time("until", rec.LockedUntil))
			s.Audit.Record(ctx, audit.Event{Actor: audit.AnonymousFrom(clientIP), Action: audit.LoginLock,
				Target: l.subject, Outcome: audit.Failure, Reason: audit.TooManyFailures,
				Extra: map[string]any{"scope": l.scope, "locked_until": rec.LockedUntil.UTC(), "failures": rec.Failures}})
		}
		if rec.Failures > l.max {
			s.Limits.refusals.add(l, rec.LockedUntil)
			return &fail.RateLimitedError{RetryAfter: rec.LockedUntil.Sub(now)}
		}
	}
	return nil
}

// refundAttempt takes back one counted attempt of each limit.
func (s *Service) refundAttempt(ctx context.Context, limits []limit) error {
	for _, l := range limits {
		if err := s.Store.RefundLoginAttempt(ctx, l.key, l.max); err != nil {
			return fmt.Errorf("resetting login limits: %w", err)
		}
	}
	return nil
}

// maxRefusalKeys bounds the locks whose refusals are counted one by one;
// refusals of further locks are only counted in total.
const maxRefusalKeys = 10_000

// refusalCounter counts, in memory, the attempts refused while a limit is
// locked: a flood of refused attempts writes nothing to the store. The
// maintenance loop records each lock's count in the audit log once the
// lock has ended (flushRefusals), one entry per lock.
type refusalCounter struct {
	mu      sync.Mutex
	byKey   map[string]*refusal
	dropped int // refusals of locks beyond maxRefusalKeys
}

type refusal struct {
	scope, subject string
	count          int
	until          time.Time
}

func newRefusalCounter() *refusalCounter {
	return &refusalCounter{byKey: make(map[string]*refusal)}
}

// add counts one refusal by the limit l, locked until until.
func (c *refusalCounter) add(l limit, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.byKey[l.key]
	if r == nil {
		if len(c.byKey) >= maxRefusalKeys {
			c.dropped++
			return
		}
		r = &refusal{scope: l.scope, subject: l.subject}
		c.byKey[l.key] = r
	}
	r.count++
	if until.After(r.until) {
		r.until = until
	}
}

// take removes and returns the counts of locks that ended by now (all of
// them with all), and the refusals counted only in total.
func (c *refusalCounter) take(now time.Time, all bool) ([]refusal, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []refusal
	for k, r := range c.byKey {
		if all || !r.until.After(now) {
			out = append(out, *r)
			delete(c.byKey, k)
		}
	}
	dropped := c.dropped
	c.dropped = 0
	return out, dropped
}

// Limits is the state of the login limits kept in memory, shared by the
// configs of one database: the attempts refused while locked, counted
// here so that a flood of them writes nothing (see Flush).
type Limits struct {
	refusals *refusalCounter
}

// NewLimits returns empty limits.
func NewLimits() *Limits { return &Limits{refusals: newRefusalCounter()} }

// Flush records the refusals of locks that ended by now (all of them
// with all, at shutdown) in the audit log: one entry per lock.
func (l *Limits) Flush(ctx context.Context, log *audit.Log, now time.Time, all bool) {
	ended, dropped := l.refusals.take(now, all)
	at := now
	for _, r := range ended {
		log.RecordAt(ctx, at, audit.Event{Actor: audit.AnonymousFrom(""), Action: audit.LoginRefused,
			Target: r.subject, Outcome: audit.Failure, Reason: audit.TooManyFailures,
			Extra: map[string]any{"scope": r.scope, "refused": r.count, "locked_until": r.until.UTC()}})
	}
	if dropped > 0 {
		log.RecordAt(ctx, at, audit.Event{Actor: audit.AnonymousFrom(""), Action: audit.LoginRefused,
			Outcome: audit.Failure, Reason: audit.TooManyFailures, Extra: map[string]any{"refused": dropped}})
	}
}
