package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// A login is handed off to a host the session cookie cannot reach (another
// registrable domain): after login the dashboard sends the browser to
// HandoffPath on that host with a one-time code bound to it; the host's
// proxyos_auth gate exchanges the code for a session of its own, valid on
// that host only and ended with the dashboard session it came from.
const (
	HandoffPath = "/.proxyos/callback"
	HandoffTTL  = time.Minute
)

// ReasonHandoffInvalid is the answer to a handoff code that is unknown,
// used, expired, for another host, or whose session ended.
const ReasonHandoffInvalid Reason = "handoff_invalid"

// ErrHandoffInvalid is the one answer to a code that does not work, so
// that nothing tells why.
var ErrHandoffInvalid = errors.New("this login link expired, was used already or belongs to another host: go back and open the page again")

// HandoffCodesPerMinute bounds the handoff codes one session is issued a
// minute (answered 429 beyond), so that a logged-in user cannot fill the
// handoff_codes table. Logging in to a few dozen hosts at once stays
// well within it.
const HandoffCodesPerMinute = 30

func handoffHash(code string) string {
	sum := sha256.Sum256([]byte("proxyos handoff v1:" + code))
	return hex.EncodeToString(sum[:])
}

// IssueHandoff stores a one-time code for the session, bound to the
// callback's scheme, host and port (to) and to the browser's state, and
// returns the code. A session is issued at most HandoffCodesPerMinute
// codes a minute (a *fail.RateLimitedError beyond).
func (c *Cache) IssueHandoff(ctx context.Context, sessionID string, to store.HandoffTarget, state string) (string, error) {
	if wait, ok := c.handoffCodes.take(sessionID, c.now()); !ok {
		return "", &fail.RateLimitedError{RetryAfter: wait, What: "login handoffs"}
	}
	raw := make([]byte, 32)
	rand.Read(raw) //nolint:errcheck // never fails
	code := base64.RawURLEncoding.EncodeToString(raw)
	if err := c.store.CreateHandoff(ctx, handoffHash(code), sessionID, to, handoffHash(state), c.now().Add(HandoffTTL)); err != nil {
		return "", fmt.Errorf("storing handoff: %w", err)
	}
	return code, nil
}

// RedeemHandoff uses up a code presented at at (the callback request's
// scheme, host and local port) for the browser holding state and starts
// the host's session, returning its cookie value and when it expires.
// A code that does not work is ErrHandoffInvalid.
func (c *Cache) RedeemHandoff(ctx context.Context, k *keyring.Keyring, code, state string, at store.HandoffTarget, clientIP, userAgent string) (string, time.Time, error) {
	if code == "" || len(code) > 100 || state == "" || len(state) > 100 {
		return "", time.Time{}, ErrHandoffInvalid
	}
	parent, err := c.store.RedeemHandoff(ctx, handoffHash(code), at, handoffHash(state), c.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, ErrHandoffInvalid
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("redeeming handoff: %w", err)
	}
	if parent.Disabled || !parent.RevokedAt.IsZero() || !c.now().Before(parent.ExpiresAt) || parent.Host != "" {
		return "", time.Time{}, ErrHandoffInvalid
	}
	host := at.Host
	cookie, id, err := c.CreateChild(ctx, k, parent, host, clientIP, userAgent)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("creating session: %w", err)
	}
	// The parent may have been revoked after it was read and before the
	// new session was stored, which that revocation then missed: look
	// again, and end the new session with it.
	if p, err := c.store.SessionByID(ctx, parent.ID); err != nil || !p.RevokedAt.IsZero() {
		if _, rerr := c.store.RevokeSession(ctx, id.SessionID, c.now()); rerr != nil {
			return "", time.Time{}, fmt.Errorf("revoking session: %w", rerr)
		}
		c.Forget(id.SessionID)
		return "", time.Time{}, ErrHandoffInvalid
	}
	c.logger().Info("login handed off", zap.String("user_id", id.UserID), zap.String("host", host),
		zap.String("session_id", id.SessionID), zap.String("parent_session_id", parent.ID))
	c.audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: parent.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.LoginHandoff, Target: host, Extra: map[string]any{"session_id": id.SessionID, "parent_session_id": parent.ID}})
	return cookie, parent.ExpiresAt, nil
}

// codeLimiter counts the handoff codes issued to each session in fixed
// one-minute windows. It lives in memory: codes live a minute, so it
// bounds the rows one session can have in flight through this node.
type codeLimiter struct {
	mu      sync.Mutex
	windows map[string]codeWindow // by session id
	swept   time.Time
}

type codeWindow struct {
	start time.Time
	n     int
}

// take counts a code for the session at now, or reports how long until
// the session may have another.
func (l *codeLimiter) take(sessionID string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = make(map[string]codeWindow)
	}
	if now.Sub(l.swept) >= time.Minute { // forget windows that are over
		for id, w := range l.windows {
			if now.Sub(w.start) >= time.Minute {
				delete(l.windows, id)
			}
		}
		l.swept = now
	}
	w := l.windows[sessionID]
	if d := now.Sub(w.start); d >= time.Minute || d < 0 {
		w = codeWindow{start: now}
	}
	if w.n >= HandoffCodesPerMinute {
		return w.start.Add(time.Minute).Sub(now), false
	}
	w.n++
	l.windows[sessionID] = w
	return 0, true
}
