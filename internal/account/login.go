package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Attempt is a login: an email, a password, for accounts with two-factor
// authentication on a code (or a recovery code), from a client IP, with
// the device cookie the browser brought, if any.
type Attempt struct {
	Email    string
	Password string
	TOTP     string
	ClientIP string
	Device   string // the value of the device cookie (see DeviceCookie)

	passkeyNext bool // the second factor follows as a passkey (see PasswordBeforePasskey)
}

// The reasons of a refused second factor.
const (
	ReasonTOTPRequired session.Reason = "totp_required"
	ReasonTOTPInvalid  session.Reason = "totp_invalid"
	// ReasonPasskeyRequired asks an account whose only second factor is
	// a passkey to confirm with it (see PasswordBeforePasskey).
	ReasonPasskeyRequired session.Reason = "passkey_required"
)

// Errors of a login whose second factor is a passkey.
var (
	ErrPasskeyRequired = errors.New("confirm with one of your passkeys")
	ErrNoPasskey       = errors.New("this account has no passkey; enter a code from the authenticator app")
	errPasskeyNext     = errors.New("the password is right; a passkey follows")
)

// PasswordBeforePasskey checks the email and password of a login whose
// second factor will be a passkey, under the limits and audit of Login.
// It returns the user without logging them in: the caller starts a
// passkey ceremony bound to them, and only a passkey of theirs ends it.
func (s *Service) PasswordBeforePasskey(ctx context.Context, at Attempt) (store.User, error) {
	at.passkeyNext, at.TOTP = true, ""
	return s.Login(ctx, at)
}

// Login checks an attempt and records it in the audit log: the user on
// success; else a *fail.UnauthenticatedError (bad credentials, a second
// factor required or wrong) or a *fail.RateLimitedError. Only the
// outcome, never the password, is recorded; attempts refused by the rate
// limits are not recorded one by one (see countAttempt).
func (s *Service) Login(ctx context.Context, at Attempt) (store.User, error) {
	u, err := s.authenticate(ctx, at.Email, at.Password, at.TOTP, at.ClientIP, at.Device, at.passkeyNext)
	failed := audit.Event{Actor: audit.AnonymousFrom(at.ClientIP), Action: audit.Login,
		Target: audit.Target(at.Email), Outcome: audit.Failure}
	switch {
	case errors.Is(err, ErrBadCredentials):
		s.Logger().Info("login failed", zap.String("remote_ip", at.ClientIP))
		failed.Reason = audit.BadCredentials
		s.Audit.Record(ctx, failed)
		return store.User{}, &fail.UnauthenticatedError{Message: err.Error()}
	case errors.Is(err, ErrTOTPRequired):
		return store.User{}, &fail.UnauthenticatedError{Reason: string(ReasonTOTPRequired), Message: err.Error()}
	case errors.Is(err, ErrPasskeyRequired):
		return store.User{}, &fail.UnauthenticatedError{Reason: string(ReasonPasskeyRequired), Message: err.Error()}
	case errors.Is(err, ErrNoPasskey):
		return store.User{}, fail.Conflict("", err.Error())
	case errors.Is(err, errPasskeyNext):
		return u, nil
	case errors.Is(err, ErrTOTPInvalid):
		s.Logger().Info("login failed: wrong second factor", zap.String("remote_ip", at.ClientIP))
		failed.Reason = string(ReasonTOTPInvalid)
		s.Audit.Record(ctx, failed)
		return store.User{}, &fail.UnauthenticatedError{Reason: string(ReasonTOTPInvalid), Message: err.Error()}
	case err != nil:
		return store.User{}, err
	}
	s.Logger().Info("login", zap.String("user_id", u.ID), zap.String("remote_ip", at.ClientIP))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: at.ClientIP},
		Action: audit.Login, Target: u.Email})
	return u, nil
}

// authenticate checks an email, password and, for accounts with TOTP
// on, a code. Unknown accounts, wrong passwords and disabled accounts all
// answer ErrBadCredentials after the same amount of hashing work. Every
// attempt counts against the account and the client IP before hashing; a
// successful one clears the account's count and takes back the IP's. A
// right password without a code answers ErrTOTPRequired (ErrPasskeyRequired
// when the account's only second factor is a passkey) and takes back
// the attempt (it is the first step of a login, not a guess); a wrong or
// spent code answers ErrTOTPInvalid and stays counted, so codes are rate
// limited like passwords.
func (s *Service) authenticate(ctx context.Context, email, password, code, clientIP, device string, passkeyNext bool) (store.User, error) {
	norm, nerr := NormalizeEmail(email)
	if nerr != nil {
		norm = ""
	}
	limits := attemptLimits(norm, clientIP, s.knownDevice(device, norm))
	if err := s.countAttempt(ctx, limits, clientIP); err != nil {
		return store.User{}, err
	}
	var (
		u   store.User
		err error
	)
	if norm != "" && len(password) <= MaxPasswordLen {
		u, err = s.Store.UserByEmail(ctx, norm)
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
	if u.PasswordHash == "" { // an account made by a login with a provider: no password yet
		verifyDummy(password) // as long as a wrong password, so it tells nothing
		return store.User{}, ErrBadCredentials
	}
	if ok, verr := VerifyPassword(u.PasswordHash, password); verr != nil || !ok || u.Disabled {
		return store.User{}, ErrBadCredentials
	}
	switch err := s.secondFactor(ctx, u, code, passkeyNext); {
	case errors.Is(err, ErrTOTPRequired), errors.Is(err, ErrPasskeyRequired), errors.Is(err, ErrNoPasskey), errors.Is(err, errPasskeyNext):
		if err := s.refundAttempt(ctx, limits); err != nil {
			return store.User{}, err
		}
		if errors.Is(err, errPasskeyNext) {
			return u, err
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
			err = s.Store.ResetLoginLimit(ctx, l.key)
		} else {
			err = s.Store.RefundLoginAttempt(ctx, l.key, l.max)
		}
		if err != nil {
			return store.User{}, fmt.Errorf("resetting login limits: %w", err)
		}
	}
	return u, nil
}

// secondFactor checks the second factor of u, whose password is right:
// a passkey follows (passkeyNext), or the account's only second factor
// is a passkey, which a code cannot replace, or checkSecondFactor.
func (s *Service) secondFactor(ctx context.Context, u store.User, code string, passkeyNext bool) error {
	switch {
	case passkeyNext && u.Passkeys:
		return errPasskeyNext
	case passkeyNext:
		return ErrNoPasskey
	case u.Passkeys && !u.TOTPEnabled:
		return ErrPasskeyRequired
	}
	return s.checkSecondFactor(ctx, u.ID, code)
}

// Logout revokes the session e (and its handoff sessions) and records
// it, for the user at clientIP.
func (s *Service) Logout(ctx context.Context, e *session.Entry, clientIP string) error {
	if err := s.Sessions.Revoke(ctx, e); err != nil {
		return err
	}
	id := e.Identity()
	s.Logger().Info("logout", zap.String("user_id", id.UserID), zap.String("remote_ip", clientIP))
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: id.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.Logout, Target: id.Email})
	return nil
}

// StartSession starts a session for u and returns its cookie value and
// identity.
func (s *Service) StartSession(ctx context.Context, u store.User, clientIP, userAgent string) (string, session.Identity, error) {
	return s.Sessions.Create(ctx, s.Keys, u, s.SessionTTL, clientIP, userAgent)
}

// SetupCodes holds the one-time code that creating the first admin
// needs, while no user exists. Caddy logs it at start-up and the admin
// API answers it, so only the host learns it: a stranger who reaches a
// fresh instance first cannot take it over.
type SetupCodes struct {
	mu   sync.Mutex
	code string
}

// SetupCode returns the setup code while no user exists, making one on
// first use, and "" (forgetting the code) once one does.
func (s *Service) SetupCode(ctx context.Context) (string, error) {
	n, err := s.Store.CountUsers(ctx)
	if err != nil {
		return "", err
	}
	s.Setup.mu.Lock()
	defer s.Setup.mu.Unlock()
	if n > 0 {
		s.Setup.code = ""
		return "", nil
	}
	if s.Setup.code == "" {
		s.Setup.code = newSetupCode()
	}
	return s.Setup.code, nil
}

// newSetupCode returns 16 characters of base32 (80 bits) grouped by four.
func newSetupCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	raw := make([]byte, 16)
	rand.Read(raw) //nolint:errcheck // never fails
	var b strings.Builder
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}

// normalizeSetupCode makes the comparison forgiving of case, spaces and
// dashes, as people type codes from a log.
func normalizeSetupCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

// SetUp creates the first admin with the setup code, if and only if no
// user exists yet. Attempts count against the client's network like
// logins; a wrong code is a *fail.ForbiddenError on setup_code, setup
// done already a *fail.ConflictError.
func (s *Service) SetUp(ctx context.Context, email, password, code, clientIP string) (store.User, error) {
	attempt := audit.Event{Actor: audit.AnonymousFrom(clientIP), Action: audit.Setup,
		Target: audit.Target(email), Outcome: audit.Failure}
	limits := networkLimits(clientIP)
	if err := s.countAttempt(ctx, limits, clientIP); err != nil {
		return store.User{}, err
	}
	want, err := s.SetupCode(ctx)
	if err != nil {
		return store.User{}, err
	}
	if want == "" {
		return store.User{}, fail.Conflict("", ErrSetupDone.Error())
	}
	if subtle.ConstantTimeCompare([]byte(normalizeSetupCode(code)), []byte(normalizeSetupCode(want))) != 1 {
		attempt.Reason = audit.WrongSetupCode
		s.Audit.Record(ctx, attempt)
		return store.User{}, fail.Forbidden("setup_code", "wrong setup code; it is in Caddy's log")
	}
	if err := s.refundAttempt(ctx, limits); err != nil {
		return store.User{}, err
	}
	u, err := s.prepareUser(NewUser{Email: email, Password: password, Role: "admin"})
	if err != nil {
		return store.User{}, err
	}
	if err := s.Store.CreateFirstUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, fail.Conflict("", ErrSetupDone.Error())
		}
		return store.User{}, fmt.Errorf("storing user: %w", err)
	}
	s.SetupCode(ctx) //nolint:errcheck // only forgets the code
	s.Logger().Info("first admin created", userFields(u)...)
	s.Audit.Record(ctx, audit.Event{Actor: audit.Actor{Name: u.Email, Kind: audit.ActorUser, ClientIP: clientIP},
		Action: audit.Setup, Target: u.Email, After: toAuditUser(u)})
	return u, nil
}

// DeviceCookie names the browser as a known device of the account it
// last logged in to: its value is a random device id sealed with the
// account's email. Login attempts that bring it count against that
// device's own limit only (see attemptLimits), so strangers locking the
// account out of other networks do not lock out its owner.
const DeviceCookie = "proxyos_device"

// DeviceCookieTTL is how long a browser stays a known device after a
// login: 400 days, the longest browsers keep a cookie.
const DeviceCookieTTL = 400 * 24 * time.Hour

func deviceContext(email string) string { return "device:" + email }

// knownDevice returns the device id of a device cookie value made for
// the account email, or "".
func (s *Service) knownDevice(cookie, email string) string {
	if cookie == "" || email == "" || len(cookie) > 200 {
		return ""
	}
	id, err := s.Keys.Open(cookie, deviceContext(email))
	if err != nil {
		return ""
	}
	return hex.EncodeToString(id)
}

// DeviceCookieValue returns the device cookie value for a browser that
// just logged in to the account email, keeping the device id of the
// cookie it had (old), if that was for the same account.
func (s *Service) DeviceCookieValue(old, email string) (string, error) {
	id, err := s.Keys.Open(old, deviceContext(email))
	if err != nil || len(id) != 16 {
		id = make([]byte, 16)
		rand.Read(id) //nolint:errcheck // never fails
	}
	return s.Keys.Seal(id, deviceContext(email))
}
