package account

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// NewUser describes an account to create.
type NewUser struct {
	Email    string     `json:"email"`
	Password string     `json:"password"`
	Role     authz.Role `json:"role"` // default viewer
}

// UserChange is a partial update of an account; nil fields stay as they
// are.
type UserChange struct {
	Role     *authz.Role `json:"role,omitempty"`
	Password *string     `json:"password,omitempty"`
	Disabled *bool       `json:"disabled,omitempty"`
	// ResetTOTP turns two-factor authentication off (and drops the
	// recovery codes and the passkeys), for a user who lost their
	// authenticator.
	ResetTOTP *bool `json:"reset_totp,omitempty"`
	// RevokeKeys revokes every API key of the user, for an account that
	// may have been taken over.
	RevokeKeys *bool `json:"revoke_keys,omitempty"`
}

// prepareUser validates nu and returns the user record to store.
func (s *Service) prepareUser(nu NewUser) (store.User, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return store.User{}, err
	}
	if err := CheckPasswordPolicy(nu.Password); err != nil {
		return store.User{}, fail.Field("password", "%s", strings.TrimPrefix(err.Error(), "password: "))
	}
	if nu.Role == "" {
		nu.Role = authz.Viewer
	}
	if !nu.Role.Valid() {
		return store.User{}, fail.Field("role", "%q is not a role (admin, operator or viewer)", nu.Role)
	}
	now := s.Now().UTC()
	return store.User{
		ID: uuid.NewString(), Email: email, PasswordHash: HashPassword(nu.Password),
		Role: string(nu.Role), CreatedAt: now, UpdatedAt: now,
	}, nil
}

// Users lists every account.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	providers, err := s.Store.OIDCProviders(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(us))
	for _, u := range us {
		v := View(u)
		v.Providers = providers[u.ID]
		out = append(out, v)
	}
	return out, nil
}

// User returns one account.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return User{}, notFoundAsUser(err)
	}
	return s.viewWithProviders(ctx, u)
}

// viewWithProviders is View(u) with the providers u signs in with.
func (s *Service) viewWithProviders(ctx context.Context, u store.User) (User, error) {
	providers, err := s.Store.OIDCProviders(ctx, u.ID)
	if err != nil {
		return User{}, err
	}
	v := View(u)
	v.Providers = providers[u.ID]
	return v, nil
}

// UserByEmail returns the account with the email.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	u, err := s.Store.UserByEmail(ctx, norm)
	if err != nil {
		return User{}, notFoundAsUser(err)
	}
	return View(u), nil
}

// CreateUser validates and stores a new account. API keys cannot create
// accounts: every account has a password, and one a key chose would
// outlive the key. A logged-in caller makes an admin only with their own
// password (confirm), so a stolen session cannot add an admin that
// outlives it; the host may do anything.
func (s *Service) CreateUser(ctx context.Context, c Caller, nu NewUser, confirm string) (User, error) {
	if c.ViaKey() {
		return User{}, fail.Forbidden("", "API keys cannot create users; an admin adds them in the dashboard")
	}
	if nu.Role == authz.Admin && !c.IsHost() {
		if err := s.confirmCaller(ctx, c, confirm); err != nil {
			return User{}, err
		}
	}
	u, err := s.prepareUser(nu)
	if err != nil {
		return User{}, err
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return User{}, &fail.ConflictError{Field: "email", Message: ErrUserExists.Error(), Err: ErrUserExists}
		}
		return User{}, fmt.Errorf("storing user: %w", err)
	}
	s.Logger().Info("user created", userFields(u)...)
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.UserCreate, Target: u.Email, After: toAuditUser(u)})
	return View(u), nil
}

// confirmCaller checks the caller's own password, given as
// confirm_password, before an action a stolen session must not take. It
// counts against the login limits like a login.
func (s *Service) confirmCaller(ctx context.Context, c Caller, password string) error {
	me, err := s.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return notFoundAsUser(err)
	}
	err = s.confirmOwn(ctx, c, me, password)
	var fe *fail.FieldError
	if errors.As(err, &fe) && fe.Field != "sign_in" {
		return fail.Field("confirm_password", "%s", strings.Replace(fe.Message, "enter your password", "enter your own password", 1))
	}
	return err
}

// UpdateUser changes the account id. The rules, whoever asks:
//   - a password or two-factor reset needs no proof of the old ones, so
//     it is for admins helping someone else: not with API keys, not on
//     the caller's own account (My account asks for the password);
//   - API keys never make admins nor change admins, and a logged-in
//     caller makes an admin only with their own password (confirm);
//   - a change that would leave no enabled admin is refused.
//
// A new role or password, and disabling, revoke the user's sessions at
// once, except the caller's own when they change themselves; a disabled
// user's sessions answer user_disabled.
func (s *Service) UpdateUser(ctx context.Context, c Caller, id string, ch UserChange, confirm string) (User, error) {
	if ch.Password != nil || ch.ResetTOTP != nil {
		field := "password"
		if ch.Password == nil {
			field = "reset_totp"
		}
		switch {
		case c.ViaKey():
			return User{}, fail.Forbidden(field, "API keys cannot change passwords or two-factor authentication; log in to the dashboard")
		case id == c.UserID:
			return User{}, fail.Field(field, "change your own password and two-factor authentication under My account")
		}
	}
	prev, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return User{}, notFoundAsUser(err)
	}
	promote := ch.Role != nil && *ch.Role == authz.Admin && prev.Role != string(authz.Admin)
	switch {
	case c.ViaKey() && promote:
		return User{}, fail.Forbidden("role", "API keys cannot make admins; an admin does it in the dashboard")
	case c.ViaKey() && prev.Role == string(authz.Admin):
		return User{}, fail.Forbidden("", "API keys cannot change admins; an admin does it in the dashboard")
	case promote && !c.IsHost():
		if err := s.confirmCaller(ctx, c, confirm); err != nil {
			return User{}, err
		}
	}
	keep := ""
	if id == c.UserID {
		keep = c.SessionID
	}
	u, revoked, err := s.changeUser(ctx, prev, ch, keep)
	if err != nil {
		return User{}, err
	}
	extra := map[string]any{"sessions_revoked": revoked}
	if ch.Password != nil {
		extra["password_changed"] = true
	}
	if ch.RevokeKeys != nil && *ch.RevokeKeys {
		extra["api_keys_revoked"] = true
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.UserUpdate, Target: u.Email,
		Before: toAuditUser(prev), After: toAuditUser(u), Extra: extra})
	return View(u), nil
}

// changeUser applies ch to the stored user u, keeping the session keep
// (reloaded with the new role) when revoking. It reports whether
// sessions were revoked.
func (s *Service) changeUser(ctx context.Context, u store.User, ch UserChange, keep string) (store.User, bool, error) {
	revoke := false
	if ch.Role != nil && string(*ch.Role) != u.Role {
		if !ch.Role.Valid() {
			return store.User{}, false, fail.Field("role", "%q is not a role (admin, operator or viewer)", *ch.Role)
		}
		u.Role, revoke = string(*ch.Role), true
	}
	if ch.Password != nil {
		if err := CheckPasswordPolicy(*ch.Password); err != nil {
			return store.User{}, false, fail.Field("password", "%s", strings.TrimPrefix(err.Error(), "password: "))
		}
		u.PasswordHash, revoke = HashPassword(*ch.Password), true
	}
	wasDisabled := u.Disabled
	if ch.Disabled != nil {
		u.Disabled = *ch.Disabled
	}
	if u.Disabled && !wasDisabled {
		revoke = true
	}
	u.UpdatedAt = s.Now().UTC()
	switch err := s.Store.UpdateUserKeepingAdmin(ctx, u); {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, false, errUserNotFound
	case errors.Is(err, store.ErrLastAdmin):
		return store.User{}, false, &fail.ConflictError{Message: err.Error(), Err: err}
	case err != nil:
		return store.User{}, false, fmt.Errorf("storing user: %w", err)
	}
	if u.Disabled != wasDisabled {
		s.Sessions.MarkDisabled(u.ID, u.Disabled)
	}
	if ch.ResetTOTP != nil && *ch.ResetTOTP && u.TOTPEnabled {
		if err := s.Store.DisableTOTP(ctx, u.ID); err != nil {
			return store.User{}, false, fmt.Errorf("resetting two-factor authentication: %w", err)
		}
		u.TOTPEnabled = false
	}
	// Resetting two-factor authentication removes the passkeys too: the
	// user lost their second factors, whichever they were.
	if ch.ResetTOTP != nil && *ch.ResetTOTP && u.Passkeys {
		if err := s.Store.DeleteUserPasskeys(ctx, u.ID); err != nil {
			return store.User{}, false, fmt.Errorf("removing passkeys: %w", err)
		}
		u.Passkeys = false
	}
	if ch.RevokeKeys != nil && *ch.RevokeKeys {
		n, err := s.Store.RevokeUserAPIKeys(ctx, u.ID, s.Now())
		if err != nil {
			return store.User{}, false, fmt.Errorf("revoking API keys: %w", err)
		}
		s.Logger().Info("API keys revoked", zap.String("user_id", u.ID), zap.Int("count", n))
	}
	if revoke {
		if _, err := s.revokeUserSessions(ctx, u.ID, keep); err != nil {
			return store.User{}, false, err
		}
		if keep != "" {
			s.Sessions.Forget(keep)
		}
	}
	s.Logger().Info("user updated", append(userFields(u), zap.Bool("disabled", u.Disabled), zap.Bool("sessions_revoked", revoke))...)
	return u, revoke, nil
}

// DeleteUser deletes the account id and its sessions; the user's cached
// sessions are refused from the next request on. Nobody deletes their own
// account (so nobody locks themselves out by a slip), API keys never
// delete admins, and the last enabled admin stays.
func (s *Service) DeleteUser(ctx context.Context, c Caller, id string) error {
	if id == c.UserID {
		return fail.Conflict("", "you cannot delete your own account; another admin can")
	}
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return notFoundAsUser(err)
	}
	if c.ViaKey() && u.Role == string(authz.Admin) {
		return fail.Forbidden("", "API keys cannot change admins; an admin does it in the dashboard")
	}
	switch err := s.Store.DeleteUser(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return errUserNotFound
	case errors.Is(err, store.ErrLastAdmin):
		return &fail.ConflictError{Message: err.Error(), Err: err}
	case err != nil:
		return fmt.Errorf("deleting user: %w", err)
	}
	s.Sessions.MarkRevoked(id, nil)
	s.Logger().Info("user deleted", userFields(u)...)
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.UserDelete, Target: u.Email, Before: toAuditUser(u)})
	return nil
}
