package account

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Reasons of refused logins with a passkey.
const (
	ReasonPasskeyInvalid  = "passkey_invalid"
	ReasonPasskeyCloned   = "passkey_cloned"
	ReasonPasskeyDisabled = "user_disabled"
)

// Login methods as audit entries of logins record them.
const (
	MethodPasskey         = "passkey"
	MethodPasswordPasskey = "password+passkey"
)

// ownPasskeyUser returns the caller's own account for a passkey change:
// never through an API key or the host, so that a leaked key cannot add
// a way in.
func (s *Service) ownPasskeyUser(ctx context.Context, c Caller) (store.User, error) {
	if c.ViaKey() || c.IsHost() {
		return store.User{}, fail.Forbidden("", "passkeys are managed by their owner, logged in to the dashboard")
	}
	u, err := s.Store.UserByID(ctx, c.UserID)
	return u, notFoundAsUser(err)
}

// ListPasskeys lists the caller's passkeys: names and times, never the
// credentials.
func (s *Service) ListPasskeys(ctx context.Context, c Caller) ([]passkey.View, error) {
	u, err := s.ownPasskeyUser(ctx, c)
	if err != nil {
		return nil, err
	}
	rows, err := s.Store.UserPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]passkey.View, 0, len(rows))
	for _, p := range rows {
		out = append(out, passkey.ViewOf(p))
	}
	return out, nil
}

// BeginPasskeyRegistration starts registering a passkey for the caller.
// It needs the caller's password, so that a stolen session cannot add a
// passkey that outlives it; the ceremony is bound to the session.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, c Caller, name, password string) (passkey.Ceremony, error) {
	u, err := s.ownPasskeyUser(ctx, c)
	if err != nil {
		return passkey.Ceremony{}, err
	}
	if err := s.Passkeys.Available(); err != nil {
		return passkey.Ceremony{}, err
	}
	if err := s.confirmOwn(ctx, c, u, password); err != nil {
		return passkey.Ceremony{}, err
	}
	return s.Passkeys.BeginRegistration(ctx, u, c.SessionID, name)
}

// FinishPasskeyRegistration stores the passkey of the ceremony the
// caller's session began, and records it.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, c Caller, ceremony string, response []byte) (passkey.View, error) {
	u, err := s.ownPasskeyUser(ctx, c)
	if err != nil {
		return passkey.View{}, err
	}
	p, err := s.Passkeys.FinishRegistration(ctx, u, c.SessionID, ceremony, response)
	if err != nil {
		return passkey.View{}, err
	}
	s.Logger().Info("passkey registered", zap.String("user_id", u.ID), zap.String("passkey_id", p.ID))
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.PasskeyAdd, Target: u.Email,
		After: map[string]any{"id": p.ID, "name": p.Name}})
	return passkey.ViewOf(p), nil
}

// RemovePasskey removes one of the caller's passkeys; it needs the
// password, like registering. Anyone else's passkey is a
// *fail.NotFoundError like one that does not exist.
func (s *Service) RemovePasskey(ctx context.Context, c Caller, id, password string) error {
	u, err := s.ownPasskeyUser(ctx, c)
	if err != nil {
		return err
	}
	if err := s.confirmOwn(ctx, c, u, password); err != nil {
		return err
	}
	rows, err := s.Store.UserPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, p := range rows {
		if p.ID != id {
			continue
		}
		if err := s.Store.DeletePasskey(ctx, u.ID, id); errors.Is(err, store.ErrNotFound) {
			break
		} else if err != nil {
			return err
		}
		s.Logger().Info("passkey removed", zap.String("user_id", u.ID), zap.String("passkey_id", id))
		s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.PasskeyRemove, Target: u.Email,
			Before: map[string]any{"id": p.ID, "name": p.Name}})
		return nil
	}
	return fail.NotFound("no such passkey")
}

// BeginPasskeyLogin starts a login with a passkey: after the email and
// password of at, a passkey of that account (see PasswordBeforePasskey);
// without them, a passkey alone. A ceremony for a passkey alone counts
// against the client's network like a failed login until a passkey
// answers it (PasskeyLogin takes it back), so that strangers cannot fill
// the store with ceremonies.
func (s *Service) BeginPasskeyLogin(ctx context.Context, at Attempt) (passkey.Ceremony, error) {
	if err := s.Passkeys.Available(); err != nil {
		return passkey.Ceremony{}, err
	}
	if at.Email != "" || at.Password != "" {
		u, err := s.PasswordBeforePasskey(ctx, at)
		if err != nil {
			return passkey.Ceremony{}, err
		}
		return s.Passkeys.BeginLogin(ctx, &u)
	}
	if err := s.countAttempt(ctx, networkLimits(at.ClientIP), at.ClientIP); err != nil {
		return passkey.Ceremony{}, err
	}
	return s.Passkeys.BeginLogin(ctx, nil)
}

// PasskeyLogin finishes a login with a passkey and records it with its
// method: the user on success; else a *fail.UnauthenticatedError with
// the reason (passkey_invalid, passkey_cloned, user_disabled) or, for a
// ceremony that expired or was used, a *fail.ConflictError.
func (s *Service) PasskeyLogin(ctx context.Context, ceremony string, response []byte, clientIP string) (store.User, error) {
	l, err := s.Passkeys.FinishLogin(ctx, ceremony, response)
	method := MethodPasskey
	if l.SecondFactor {
		method = MethodPasswordPasskey
	}
	failed := audit.Event{Actor: audit.AnonymousFrom(clientIP), Action: audit.Login, Target: l.User.Email,
		Outcome: audit.Failure, Extra: map[string]any{"method": method}}
	if l.Passkey.ID != "" {
		failed.Extra["passkey_id"] = l.Passkey.ID
	}
	reason := ""
	switch {
	case errors.Is(err, passkey.ErrExpired):
		return store.User{}, fail.Conflict("", err.Error())
	case errors.Is(err, passkey.ErrInvalid):
		reason = ReasonPasskeyInvalid
	case errors.Is(err, passkey.ErrCloned):
		reason = ReasonPasskeyCloned
	case errors.Is(err, passkey.ErrDisabled):
		reason = ReasonPasskeyDisabled
	case err != nil:
		return store.User{}, err
	}
	if reason != "" {
		s.Logger().Info("login with a passkey failed", zap.String("remote_ip", clientIP), zap.String("reason", reason))
		failed.Reason = reason
		s.Audit.Record(ctx, failed)
		if reason == ReasonPasskeyDisabled {
			// As a login with a password: a stranger does not learn
			// that the account exists but is disabled.
			reason, err = ReasonPasskeyInvalid, passkey.ErrInvalid
		}
		return store.User{}, &fail.UnauthenticatedError{Reason: reason, Message: err.Error()}
	}
	u := l.User
	if !l.SecondFactor {
		if err := s.refundAttempt(ctx, networkLimits(clientIP)); err != nil {
			return store.User{}, err
		}
	}
	s.Logger().Info("login", zap.String("user_id", u.ID), zap.String("remote_ip", clientIP), zap.String("method", method))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.Login, Target: u.Email, Extra: map[string]any{"method": method, "passkey_id": l.Passkey.ID}})
	return u, nil
}
