package proxyos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

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
// them when now is zero), and the refusals counted only in total.
func (c *refusalCounter) take(now time.Time) ([]refusal, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []refusal
	for k, r := range c.byKey {
		if now.IsZero() || !r.until.After(now) {
			out = append(out, *r)
			delete(c.byKey, k)
		}
	}
	dropped := c.dropped
	c.dropped = 0
	return out, dropped
}

// flushRefusals records the refusals of locks that ended (all of them
// when now is zero) in the audit log: one entry per lock.
func (s *state) flushRefusals(ctx context.Context, now time.Time) {
	ended, dropped := s.refusals.take(now)
	at := now
	if at.IsZero() {
		at = time.Now()
	}
	for _, r := range ended {
		s.record(ctx, at, auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser}, Action: AuditLoginRefused,
			Target: r.subject, Outcome: OutcomeFailure, Reason: auditTooManyFailures,
			Extra: map[string]any{"scope": r.scope, "refused": r.count, "locked_until": r.until.UTC()}})
	}
	if dropped > 0 {
		s.record(ctx, at, auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser}, Action: AuditLoginRefused,
			Outcome: OutcomeFailure, Reason: auditTooManyFailures, Extra: map[string]any{"refused": dropped}})
	}
}

// auditBudget bounds the audit entries that clients who are not logged
// in can cause (failed logins and setups, locks), whatever the number of
// networks they come from: beyond it, entries are only counted, and the
// count is recorded once per maintenance interval.
type auditBudget struct {
	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// Anonymous audit entries: at most anonAuditBurst at once, refilled at
// anonAuditPerSecond.
const (
	anonAuditBurst     = 600
	anonAuditPerSecond = 5
)

// allow takes one entry from the budget, or counts it as suppressed.
func (b *auditBudget) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = anonAuditBurst
	} else {
		b.tokens = min(anonAuditBurst, b.tokens+now.Sub(b.last).Seconds()*anonAuditPerSecond)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	b.suppressed++
	return false
}

// takeSuppressed returns and resets the count of suppressed entries.
func (b *auditBudget) takeSuppressed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.suppressed
	b.suppressed = 0
	return n
}

// flushSuppressed records how many anonymous entries the budget
// suppressed since the last time.
func (s *state) flushSuppressed(ctx context.Context, now time.Time) {
	if n := s.auditBudget.takeSuppressed(); n > 0 {
		s.logger.Warn("audit entries of clients who are not logged in exceeded their budget; counted only", zap.Int("count", n))
		s.record(ctx, now, auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser}, Action: AuditSuppressed,
			Outcome: OutcomeFailure, Extra: map[string]any{"suppressed": n}})
	}
}

// deviceCookie names the browser as a known device of the account it
// last logged in to: its value is a random device id sealed with the
// account's email. Login attempts that bring it count against that
// device's own limit only (see attemptLimits), so strangers locking the
// account out of other networks do not lock out its owner.
const deviceCookie = "proxyos_device"

// deviceCookieTTL is how long a browser stays a known device after a
// login: 400 days, the longest browsers keep a cookie.
const deviceCookieTTL = 400 * 24 * time.Hour

func deviceContext(email string) string { return "device:" + email }

// knownDevice returns the device id of a device cookie value made for
// the account email, or "".
func (a *App) knownDevice(cookie, email string) string {
	if cookie == "" || email == "" || len(cookie) > 200 {
		return ""
	}
	id, err := a.keyring.Open(cookie, deviceContext(email))
	if err != nil {
		return ""
	}
	return hex.EncodeToString(id)
}

// setDeviceCookie marks the browser as a known device of the account
// email, keeping the id it had for that account.
func (d *Dashboard) setDeviceCookie(w http.ResponseWriter, r *http.Request, email string) {
	id, err := d.app.keyring.Open(cookieValue(r, deviceCookie), deviceContext(email))
	if err != nil || len(id) != 16 {
		id = make([]byte, 16)
		rand.Read(id) //nolint:errcheck // never fails
	}
	sealed, err := d.app.keyring.Seal(id, deviceContext(email))
	if err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: sealed, Path: "/api/auth/", MaxAge: int(deviceCookieTTL / time.Second),
		HttpOnly: true, Secure: requestScheme(r) == "https", SameSite: http.SameSiteStrictMode,
	})
}

// cookieValue returns the value of the named cookie, or "".
func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}
