package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Roles, from most to least privileged.
const (
	RoleAdmin    = "admin"    // everything
	RoleOperator = "operator" // routes and own account
	RoleViewer   = "viewer"   // read only
)

// ValidRole reports whether role is one of the known roles.
func ValidRole(role string) bool {
	return role == RoleAdmin || role == RoleOperator || role == RoleViewer
}

// FieldError is a validation error about one input field. The API answers
// it with 400 and the field name.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ErrUserExists is returned when an email is already taken.
var ErrUserExists = errors.New("a user with this email already exists")

// ErrSetupDone is returned by Setup once any user exists.
var ErrSetupDone = errors.New("setup is already complete")

// NewUser describes an account to create.
type NewUser struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// normalizeEmail lower-cases and checks an email address.
func normalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", &FieldError{"email", "required"}
	}
	if len(email) > 254 {
		return "", &FieldError{"email", "too long"}
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", &FieldError{"email", "not a valid email address"}
	}
	return email, nil
}

// prepareUser validates nu and returns the user record to store.
func (a *App) prepareUser(nu NewUser) (store.User, error) {
	email, err := normalizeEmail(nu.Email)
	if err != nil {
		return store.User{}, err
	}
	if err := CheckPasswordPolicy(nu.Password); err != nil {
		return store.User{}, &FieldError{"password", strings.TrimPrefix(err.Error(), "password: ")}
	}
	if nu.Role == "" {
		nu.Role = RoleViewer
	}
	if !ValidRole(nu.Role) {
		return store.User{}, &FieldError{"role", fmt.Sprintf("%q is not a role (admin, operator or viewer)", nu.Role)}
	}
	now := a.now().UTC()
	return store.User{
		ID: uuid.NewString(), Email: email, PasswordHash: HashPassword(nu.Password),
		Role: nu.Role, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// CreateUser validates and stores a new account.
func (a *App) CreateUser(ctx context.Context, nu NewUser, actor Actor) (store.User, error) {
	u, err := a.prepareUser(nu)
	if err != nil {
		return store.User{}, err
	}
	if err := a.state.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrUserExists
		}
		return store.User{}, fmt.Errorf("storing user: %w", err)
	}
	a.logger.Info("user created", userFields(u)...)
	a.audit(ctx, auditEvent{Actor: actor, Action: "user.create", Target: u.Email, After: toAuditUser(u)})
	return u, nil
}

// setup creates the first admin, if and only if no user exists yet.
func (a *App) setup(ctx context.Context, email, password string) (store.User, error) {
	u, err := a.prepareUser(NewUser{Email: email, Password: password, Role: RoleAdmin})
	if err != nil {
		return store.User{}, err
	}
	if err := a.state.store.CreateFirstUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, ErrSetupDone
		}
		return store.User{}, fmt.Errorf("storing user: %w", err)
	}
	a.state.setupCodeIfNeeded(ctx) //nolint:errcheck // only forgets the code
	a.logger.Info("first admin created", userFields(u)...)
	return u, nil
}

// userFields are the log fields naming a user; never the password hash.
func userFields(u store.User) []zap.Field {
	return []zap.Field{zap.String("user_id", u.ID), zap.String("email", u.Email), zap.String("role", u.Role)}
}

// ErrUserNotFound is returned for an unknown account.
var ErrUserNotFound = errors.New("no such user")

// UserChange is a partial update of an account; nil fields stay as they
// are.
type UserChange struct {
	Role     *string `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
	// ResetTOTP turns two-factor authentication off (and drops the
	// recovery codes), for a user who lost their authenticator.
	ResetTOTP *bool `json:"reset_totp,omitempty"`
	// RevokeKeys revokes every API key of the user, for an account that
	// may have been taken over.
	RevokeKeys *bool `json:"revoke_keys,omitempty"`
}

// UpdateUser changes the account with the given email (see changeUser)
// and records the change in the audit log.
func (a *App) UpdateUser(ctx context.Context, email string, c UserChange, actor Actor) (store.User, error) {
	norm, err := normalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	u, err := a.state.store.UserByEmail(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUserNotFound
	}
	if err != nil {
		return store.User{}, err
	}
	before := toAuditUser(u)
	u, revoke, err := a.changeUser(ctx, u, c, "")
	if err != nil {
		return store.User{}, err
	}
	extra := map[string]any{"sessions_revoked": revoke}
	if c.Password != nil {
		extra["password_changed"] = true
	}
	if c.RevokeKeys != nil && *c.RevokeKeys {
		extra["api_keys_revoked"] = true
	}
	a.audit(ctx, auditEvent{Actor: actor, Action: "user.update", Target: u.Email, Before: before, After: toAuditUser(u), Extra: extra})
	return u, nil
}
