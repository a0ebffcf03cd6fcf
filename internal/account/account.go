// Package account owns proxyos's accounts: users and their passwords,
// the login and its rate limits, two-factor authentication, API keys,
// and the sessions users see and revoke. Every rule about who may do
// what to an account (not with an API key, not on yourself, never the
// last admin, the caller's password before making an admin) lives here,
// so the dashboard's API, Caddy's admin API and the CLI all get it, and
// every change is recorded in the audit log the same way whatever surface
// it came through.
package account

import (
	"errors"
	"net/mail"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Service is the account service of one config: the state it shares
// with other configs on the same database (store, sessions, audit log,
// limits) and the config's own key ring and session lifetimes.
type Service struct {
	Store    *store.Store
	Keys     *keyring.Keyring
	Sessions *session.Cache
	Audit    *audit.Log
	Limits   *Limits     // refusals of the login limits, shared by configs
	Setup    *SetupCodes // the one-time setup code, shared by configs
	Passkeys *passkey.Service

	// SessionTTL and SessionIdle are the config's session lifetimes.
	SessionTTL  time.Duration
	SessionIdle time.Duration

	Now    func() time.Time
	Logger func() *zap.Logger
}

// Caller is who asks for an account operation: a logged-in user, through
// a session or an API key, or the host (Caddy's admin API and the CLI),
// which may do anything.
type Caller struct {
	Actor     audit.Actor
	UserID    string     // "" for the host
	Email     string     // the caller's email
	Role      authz.Role // the caller's current role (a key's owner's)
	SessionID string     // the session the request came with, if any
	KeyID     string     // the API key the request came with, if any
}

// HostCaller is the caller of Caddy's admin API (and the CLI, which uses
// it); remoteAddr is the admin request's.
func HostCaller(remoteAddr string) Caller {
	return Caller{Actor: audit.AdminAPIActor(remoteAddr), Role: authz.Admin}
}

// IsHost reports whether the host is the caller.
func (c Caller) IsHost() bool { return c.UserID == "" }

// ViaKey reports whether the caller used an API key.
func (c Caller) ViaKey() bool { return c.KeyID != "" }

// User is how every surface shows an account: never its password hash
// or two-factor secret.
type User struct {
	ID       string     `json:"id"`
	Email    string     `json:"email"`
	Role     authz.Role `json:"role"`
	Disabled bool       `json:"disabled"`
	TOTP     bool       `json:"totp_enabled"`
	Passkeys bool       `json:"passkeys"`
	// Groups are those of the latest sign-in with an OpenID provider.
	Groups []string `json:"groups,omitempty"`
	// Password says whether the account has a password: one made by a
	// sign-in with a provider has none until its owner sets one.
	Password bool `json:"has_password"`
	// Providers are the OpenID providers the account signs in with.
	Providers []string  `json:"providers,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// View returns how u is shown.
func View(u store.User) User {
	return User{ID: u.ID, Email: u.Email, Role: authz.Role(u.Role), Disabled: u.Disabled, TOTP: u.TOTPEnabled,
		Passkeys: u.Passkeys, Groups: u.Groups, Password: u.PasswordHash != "", CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// auditUser is a user as audit entries show it: the view without its
// times, which every change moves.
type auditUser struct {
	ID       string     `json:"id"`
	Email    string     `json:"email"`
	Role     authz.Role `json:"role"`
	Disabled bool       `json:"disabled"`
	TOTP     bool       `json:"totp_enabled"`
	Passkeys bool       `json:"passkeys,omitempty"`
}

func toAuditUser(u store.User) auditUser {
	return auditUser{ID: u.ID, Email: u.Email, Role: authz.Role(u.Role), Disabled: u.Disabled, TOTP: u.TOTPEnabled,
		Passkeys: u.Passkeys}
}

// Errors of account operations that callers test for.
var (
	ErrUserExists     = errors.New("a user with this email already exists")
	ErrSetupDone      = errors.New("setup is already complete")
	ErrUserNotFound   = errors.New("no such user")
	ErrWrongPassword  = errors.New("the current password is wrong")
	ErrBadCredentials = errors.New("invalid email or password")
)

// errUserNotFound answers a user id that names no user.
var errUserNotFound = &fail.NotFoundError{Message: ErrUserNotFound.Error(), Err: ErrUserNotFound}

// notFoundAsUser maps the store's ErrNotFound to a 404 about the user.
func notFoundAsUser(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errUserNotFound
	}
	return err
}

// NormalizeEmail lower-cases and checks an email address.
func NormalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", fail.Field("email", "required")
	}
	if len(email) > 254 {
		return "", fail.Field("email", "too long")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", fail.Field("email", "not a valid email address")
	}
	return email, nil
}

// userFields are the log fields naming a user; never the password hash.
func userFields(u store.User) []zap.Field {
	return []zap.Field{zap.String("user_id", u.ID), zap.String("email", u.Email), zap.String("role", u.Role)}
}
