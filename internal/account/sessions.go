package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// errNoSession answers a session that does not exist or is not the
// caller's to see, alike, so session ids of others stay unknown.
var errNoSession = errors.New("no such session")

// target returns whose sessions or keys a call is about: the caller's
// (userID "" or their own), or for admins anyone's.
func (s *Service) target(ctx context.Context, c Caller, userID string) (string, error) {
	if userID == "" || userID == c.UserID {
		if c.IsHost() {
			return "", fail.Field("user_id", "required")
		}
		return c.UserID, nil
	}
	if !c.Role.AtLeast(authz.Admin) {
		return "", fail.Forbidden("user_id", "only admins can act on another user's sessions or keys")
	}
	if _, err := s.Store.UserByID(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return "", &fail.NotFoundError{Field: "user_id", Message: ErrUserNotFound.Error(), Err: ErrUserNotFound}
	} else if err != nil {
		return "", err
	}
	return userID, nil
}

// ActiveSessions returns the active sessions (neither revoked, expired nor
// idle) of the caller, or for admins of the user userID, most recently
// used first, with last-seen times as the session cache knows them (the
// store gets them in batches), and whose they are.
func (s *Service) ActiveSessions(ctx context.Context, c Caller, userID string) ([]store.Session, string, error) {
	target, err := s.target(ctx, c, userID)
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	ss, err := s.Store.ListSessions(ctx, target, now)
	if err != nil {
		return nil, "", fmt.Errorf("listing sessions: %w", err)
	}
	seen := s.Sessions.LastSeenOf(target)
	out := ss[:0]
	for _, ses := range ss {
		if t, ok := seen[ses.ID]; ok && t.After(ses.LastSeenAt) {
			ses.LastSeenAt = t
		}
		if s.SessionIdle > 0 && now.Sub(ses.LastSeenAt) >= s.SessionIdle {
			continue
		}
		out = append(out, ses)
	}
	slices.SortStableFunc(out, func(x, y store.Session) int { return y.LastSeenAt.Compare(x.LastSeenAt) })
	return out, target, nil
}

// RevokeSession revokes one session, the caller's own or, for admins,
// anyone's; anyone else's is a *fail.NotFoundError like a session that
// does not exist, so session ids cannot be probed. The next request with
// its cookie is refused at the dashboard and at every gate.
func (s *Service) RevokeSession(ctx context.Context, c Caller, id string) (store.Session, error) {
	ses, err := s.Store.SessionByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ses.UserID != c.UserID && !c.Role.AtLeast(authz.Admin)) {
		return store.Session{}, fail.NotFound(errNoSession.Error())
	}
	if err != nil {
		return store.Session{}, err
	}
	ids, err := s.Store.RevokeSession(ctx, ses.ID, s.Now())
	if err != nil {
		return store.Session{}, fmt.Errorf("revoking session: %w", err)
	}
	if len(ids) > 0 {
		s.Sessions.MarkRevoked(ses.UserID, ids)
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.SessionRevoke, Target: ses.ID,
		Extra: map[string]any{"user_id": ses.UserID}})
	s.Logger().Info("session revoked", zap.String("session_id", ses.ID), zap.String("user_id", ses.UserID),
		zap.String("by_user_id", c.UserID), zap.String("remote_ip", c.Actor.ClientIP))
	return ses, nil
}

// RevokeAllSessions revokes every session of the caller but the current
// one, or for admins every session of the user userID, and returns how
// many it revoked and whose.
func (s *Service) RevokeAllSessions(ctx context.Context, c Caller, userID string) (int, string, error) {
	target, err := s.target(ctx, c, userID)
	if err != nil {
		return 0, "", err
	}
	except := ""
	if target == c.UserID {
		except = c.SessionID
	}
	n, err := s.revokeUserSessions(ctx, target, except)
	if err != nil {
		return 0, "", err
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.SessionsRevoke, Target: target,
		Extra: map[string]any{"sessions_revoked": n}})
	s.Logger().Info("sessions revoked", zap.String("user_id", target), zap.Int("count", n),
		zap.String("by_user_id", c.UserID), zap.String("remote_ip", c.Actor.ClientIP))
	return n, target, nil
}

// revokeUserSessions revokes every session of a user but the one with id
// except (which may be empty) and returns how many it revoked.
func (s *Service) revokeUserSessions(ctx context.Context, userID, except string) (int, error) {
	ids, err := s.Store.RevokeUserSessions(ctx, userID, except, s.Now())
	if err != nil {
		return 0, fmt.Errorf("revoking sessions: %w", err)
	}
	if len(ids) > 0 { // nil would mark every cached session, except's too
		s.Sessions.MarkRevoked(userID, ids)
	}
	return len(ids), nil
}
