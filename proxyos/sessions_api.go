package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// sessionJSON is how the API shows a session. It never carries the token
// or its hash.
type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientIP   string    `json:"client_ip"`
	UserAgent  string    `json:"user_agent"`
	Host       string    `json:"host,omitempty"` // a login handed off to this host; ends with the session it came from
	Current    bool      `json:"current"`
}

// errNoSession answers a session that does not exist or is not the
// caller's to see, alike, so session ids of others stay unknown.
var errNoSession = errors.New("no such session")

// ActiveSessions returns a user's sessions that are neither revoked nor
// expired, with last-seen times as the session cache knows them (the
// store gets them in batches).
func (a *App) ActiveSessions(ctx context.Context, userID string) ([]store.Session, error) {
	now := a.now()
	ss, err := a.state.store.ListSessions(ctx, userID, now)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	seen := a.state.sessions.lastSeenOf(userID)
	idle := time.Duration(a.SessionIdle)
	out := ss[:0]
	for _, s := range ss {
		if t, ok := seen[s.ID]; ok && t.After(s.LastSeenAt) {
			s.LastSeenAt = t
		}
		if idle > 0 && now.Sub(s.LastSeenAt) >= idle {
			continue
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(x, y store.Session) int { return y.LastSeenAt.Compare(x.LastSeenAt) })
	return out, nil
}

// RevokeSession revokes one session in the store and marks it revoked in
// the session cache, so the next request with its cookie is refused at
// the dashboard and at every proxyos_auth gate.
func (a *App) RevokeSession(ctx context.Context, s store.Session) error {
	ids, err := a.state.store.RevokeSession(ctx, s.ID, a.now())
	if err != nil {
		return fmt.Errorf("revoking session: %w", err)
	}
	if len(ids) > 0 {
		a.state.sessions.markRevoked(s.UserID, ids)
	}
	return nil
}

// RevokeUserSessions revokes every session of a user but the one with id
// except (which may be empty) and returns how many it revoked.
func (a *App) RevokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	ids, err := a.state.store.RevokeUserSessions(ctx, userID, except, a.now())
	if err != nil {
		return 0, fmt.Errorf("revoking sessions: %w", err)
	}
	if len(ids) > 0 { // nil would mark every cached session, except's too
		a.state.sessions.markRevoked(userID, ids)
	}
	return len(ids), nil
}

// markRevoked marks cached sessions of a user revoked: those with the
// given ids, or all of them when ids is nil. Marking (rather than
// dropping) the entries means a request that loaded one just before the
// revocation cannot put back a stale copy.
func (c *sessionCache) markRevoked(userID string, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++ // a load reading the store right now reads again
	for _, e := range c.entries {
		if e.id.UserID == userID && (ids == nil || slices.Contains(ids, e.id.SessionID)) {
			e.revoked.Store(true)
		}
	}
}

// markDisabled sets the disabled flag of a user's cached sessions.
func (c *sessionCache) markDisabled(userID string, disabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, e := range c.entries {
		if e.id.UserID == userID {
			e.disabled.Store(disabled)
		}
	}
}

// forgetSession drops a session and its handoff sessions from the cache,
// so the next request reloads them (with the user's current role) from
// the store.
func (c *sessionCache) forgetSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.id.SessionID == id || e.parentID == id { // and its handoff sessions
			delete(c.entries, k)
		}
	}
}

// lastSeenOf returns the cached last-seen times of a user's sessions.
func (c *sessionCache) lastSeenOf(userID string) map[string]time.Time {
	seen := make(map[string]time.Time)
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if e.id.UserID == userID {
			seen[e.id.SessionID] = time.Unix(0, e.lastSeen.Load()).UTC()
		}
	}
	return seen
}

// sessionTarget returns whose sessions a request is about: the caller's,
// or for admins the user named by userID. It answers the error itself and
// returns "" when the caller may not act on that user.
func (d *Dashboard) sessionTarget(w http.ResponseWriter, r *http.Request, id *Identity, userID string) (string, error) {
	if userID == "" || userID == id.UserID {
		return id.UserID, nil
	}
	if id.Role != RoleAdmin {
		writeJSON(w, http.StatusForbidden, apiError{Error: "only admins can act on another user's sessions or keys", Field: "user_id"})
		return "", nil
	}
	if _, err := d.app.state.store.UserByID(r.Context(), userID); errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: ErrUserNotFound.Error(), Field: "user_id"})
		return "", nil
	} else if err != nil {
		return "", d.writeAPIError(w, err)
	}
	return userID, nil
}

// apiListSessions lists the caller's active sessions, or for admins those
// of the user in ?user_id=.
func (d *Dashboard) apiListSessions(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	target, err := d.sessionTarget(w, r, id, r.URL.Query().Get("user_id"))
	if target == "" {
		return err
	}
	ss, err := d.app.ActiveSessions(r.Context(), target)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionJSON{
			ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
			ClientIP: s.ClientIP, UserAgent: s.UserAgent, Host: s.Host, Current: s.ID == id.SessionID,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": target, "sessions": out})
	return nil
}

// apiRevokeSession revokes one session: the caller's own, or any for
// admins. Anyone else's session answers 404 like a session that does not
// exist, so session ids cannot be probed.
func (d *Dashboard) apiRevokeSession(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	s, err := d.app.state.store.SessionByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.UserID != id.UserID && id.Role != RoleAdmin) {
		writeJSON(w, http.StatusNotFound, apiError{Error: errNoSession.Error()})
		return nil
	}
	if err != nil {
		return d.writeAPIError(w, err)
	}
	if err := d.app.RevokeSession(r.Context(), s); err != nil {
		return d.writeAPIError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "session.revoke", Target: s.ID,
		Extra: map[string]any{"user_id": s.UserID}})
	d.logger.Info("session revoked", zap.String("session_id", s.ID), zap.String("user_id", s.UserID),
		zap.String("by_user_id", id.UserID), zap.String("remote_ip", clientIP(r)))
	if s.ID == id.SessionID {
		d.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiRevokeAllSessions revokes every session of the caller but the
// current one, or for admins every session of the user in "user_id".
func (d *Dashboard) apiRevokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		UserID string `json:"user_id"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &body); err != nil {
			return d.writeAPIError(w, err)
		}
	}
	id := caller(r)
	target, err := d.sessionTarget(w, r, id, body.UserID)
	if target == "" {
		return err
	}
	except := ""
	if target == id.UserID {
		except = id.SessionID
	}
	n, err := d.app.RevokeUserSessions(r.Context(), target, except)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "session.revoke_all", Target: target,
		Extra: map[string]any{"sessions_revoked": n}})
	d.logger.Info("sessions revoked", zap.String("user_id", target), zap.Int("count", n),
		zap.String("by_user_id", id.UserID), zap.String("remote_ip", clientIP(r)))
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}
