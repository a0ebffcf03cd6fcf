package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// beginTOTP starts an enrolment: a new secret is stored sealed as pending
// until ConfirmTOTP. It fails with ErrTOTPEnabled when TOTP is on.
func (s *Service) beginTOTP(ctx context.Context, u store.User) (TOTPEnrolment, error) {
	t, err := s.Store.UserTOTP(ctx, u.ID)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret != "" {
		return TOTPEnrolment{}, ErrTOTPEnabled
	}
	secret := make([]byte, totpSecretLen)
	rand.Read(secret) //nolint:errcheck // never fails
	sealed, err := s.Keys.Seal(secret, totpContext(u.ID))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if err := s.Store.SetTOTPPending(ctx, u.ID, sealed); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("storing two-factor set-up: %w", err)
	}
	uri := totpURI(secret, u.Email)
	qr, err := qrDataURL(uri)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("rendering QR code: %w", err)
	}
	return TOTPEnrolment{Secret: b32.EncodeToString(secret), URI: uri, QR: qr}, nil
}

// confirmTOTP turns TOTP on when code matches the pending secret, and
// returns new recovery codes (shown once; only hashes are stored).
func (s *Service) confirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	t, err := s.Store.UserTOTP(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret != "" {
		return nil, ErrTOTPEnabled
	}
	if t.Pending == "" {
		return nil, ErrNoEnrolment
	}
	secret, err := s.Keys.Open(t.Pending, totpContext(userID))
	if err != nil {
		return nil, ErrNoEnrolment
	}
	step, ok := matchTOTP(secret, code, s.Now())
	if !ok {
		return nil, fail.Field("code", "wrong code; check the device's clock and try the current code")
	}
	codes, hashes := newRecoveryCodes()
	if err := s.Store.EnableTOTP(ctx, userID, t.Pending, step, hashes); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoEnrolment
	} else if err != nil {
		return nil, fmt.Errorf("storing two-factor state: %w", err)
	}
	return codes, nil
}

// checkSecondFactor checks a TOTP code, or a recovery code, for a user
// with TOTP on. A code is accepted once: its time step, and every earlier
// one, is spent; a recovery code is spent. It returns nil when the user
// has TOTP off.
func (s *Service) checkSecondFactor(ctx context.Context, userID, code string) error {
	t, err := s.Store.UserTOTP(ctx, userID)
	if err != nil {
		return fmt.Errorf("reading two-factor state: %w", err)
	}
	if t.Secret == "" {
		return nil
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return ErrTOTPRequired
	}
	if len(code) > 64 {
		return ErrTOTPInvalid
	}
	if isDigits(strings.ReplaceAll(code, " ", "")) {
		secret, err := s.Keys.Open(t.Secret, totpContext(userID))
		if err != nil {
			var uk *keyring.UnknownKeyError
			if errors.As(err, &uk) {
				s.Logger().Error("a TOTP secret is sealed with a key that is not configured; reset the user's TOTP (caddy proxyos user reset-password --reset-totp) or add the old secret to previous_secrets",
					zap.String("user_id", userID), zap.String("key_id", uk.KeyID))
			}
			return ErrTOTPInvalid
		}
		step, ok := matchTOTP(secret, code, s.Now())
		if !ok || step <= t.LastStep {
			return ErrTOTPInvalid
		}
		used, err := s.Store.UseTOTPStep(ctx, userID, step)
		if err != nil {
			return fmt.Errorf("storing two-factor state: %w", err)
		}
		if !used {
			return ErrTOTPInvalid // a parallel request spent this step first
		}
		return nil
	}
	used, err := s.Store.UseRecoveryCode(ctx, userID, recoveryHash(code), s.Now())
	if err != nil {
		return fmt.Errorf("storing two-factor state: %w", err)
	}
	if !used {
		return ErrTOTPInvalid
	}
	s.Logger().Info("recovery code used", zap.String("user_id", userID))
	return nil
}

// disableOwnTOTP turns a user's two-factor authentication off after
// checking their password and a code. The attempt counts towards the
// login rate limits of the account and the client IP before any check,
// and is taken back only when both are right, so parallel requests
// cannot try more passwords or codes than a login could.
func (s *Service) disableOwnTOTP(ctx context.Context, userID, password, code, ip string) error {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return notFoundAsUser(err)
	}
	if !u.TOTPEnabled {
		return fail.Field("code", "two-factor authentication is not on")
	}
	if password == "" {
		return fail.Field("password", "enter your password to confirm")
	}
	limits := attemptLimits(u.Email, ip, "")
	if err := s.countAttempt(ctx, limits, ip); err != nil {
		return err
	}
	if !s.passwordMatches(u, password) {
		return fail.Field("password", "%s", ErrWrongPassword.Error())
	}
	switch err := s.checkSecondFactor(ctx, u.ID, code); {
	case errors.Is(err, ErrTOTPRequired), errors.Is(err, ErrTOTPInvalid):
		return fail.Field("code", "%s", ErrTOTPInvalid.Error())
	case err != nil:
		return err
	}
	if err := s.Store.DisableTOTP(ctx, u.ID); err != nil {
		return fmt.Errorf("storing two-factor state: %w", err)
	}
	if err := s.refundAttempt(ctx, limits); err != nil {
		return err
	}
	s.Logger().Info("two-factor authentication disabled", zap.String("user_id", u.ID))
	return nil
}

// CheckOwnPassword asks a logged-in user for their password again before
// an action a stolen session must not be able to take (changing the
// password, minting an API key, setting up two-factor authentication). A
// wrong password is a FieldError on "password". The attempt counts
// towards the login rate limits of the account and the client IP before
// hashing, like a login, and is taken back when the password is right.
func (s *Service) CheckOwnPassword(ctx context.Context, u store.User, password, ip string) error {
	if password == "" {
		return fail.Field("password", "enter your password to confirm")
	}
	limits := attemptLimits(u.Email, ip, "")
	if err := s.countAttempt(ctx, limits, ip); err != nil {
		return err
	}
	if !s.passwordMatches(u, password) {
		return fail.Field("password", "%s", ErrWrongPassword.Error())
	}
	return s.refundAttempt(ctx, limits)
}

// RecentSignIn is how recent a session's sign-in must be to stand in for
// the password of an account that has none (one a sign-in with an
// OpenID provider made), before an action a stolen session must not take.
const RecentSignIn = 5 * time.Minute

// confirmOwn checks that the caller is account u's owner before an action
// a stolen session must not take (adding a passkey or an API key, which
// outlive the session; making an admin; setting a password): with u's
// password, or for an account without one, with a sign-in of the caller's
// session within RecentSignIn. That a session is young proves its sign-in
// (with the provider or a passkey) just happened; a key never confirms.
func (s *Service) confirmOwn(ctx context.Context, c Caller, u store.User, password string) error {
	if u.PasswordHash != "" {
		return s.CheckOwnPassword(ctx, u, password, c.Actor.ClientIP)
	}
	if c.SessionID != "" && !c.ViaKey() {
		su, err := s.Store.SessionByID(ctx, c.SessionID)
		switch {
		case err == nil && su.UserID == u.ID && su.ParentID == "" && su.RevokedAt.IsZero() &&
			s.Now().Sub(su.CreatedAt) < RecentSignIn:
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return fail.Field("sign_in", "%s", ErrSignInAgain.Error())
}

// ErrSignInAgain is the refusal of confirmOwn for an account without a
// password whose session's sign-in is not recent.
var ErrSignInAgain = errors.New("this account has no password: sign in again to confirm (a sign-in within the last 5 minutes confirms)")

// passwordMatches verifies a password against the user's hash.
func (s *Service) passwordMatches(u store.User, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	return err == nil && ok
}

// changeOwnPassword sets the caller's password after checking the
// current one (an account without one sets its first after a recent
// sign-in, see confirmOwn), and revokes their other sessions. Wrong
// current passwords count towards the login rate limits of the account
// and the client IP, so a stolen session cannot be used to guess the
// password.
func (s *Service) changeOwnPassword(ctx context.Context, c Caller, current, newPassword string) (int, error) {
	u, err := s.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return 0, notFoundAsUser(err)
	}
	if err := s.confirmOwn(ctx, c, u, current); err != nil {
		var fe *fail.FieldError
		if errors.As(err, &fe) && fe.Field != "sign_in" {
			return 0, fail.Forbidden("current", ErrWrongPassword.Error())
		}
		return 0, err
	}
	if err := CheckPasswordPolicy(newPassword); err != nil {
		return 0, fail.Field("new", "%s", strings.TrimPrefix(err.Error(), "password: "))
	}
	u.PasswordHash, u.UpdatedAt = HashPassword(newPassword), s.Now().UTC()
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return 0, fmt.Errorf("storing user: %w", err)
	}
	n, err := s.revokeUserSessions(ctx, u.ID, c.SessionID)
	if err != nil {
		return 0, err
	}
	s.Logger().Info("password changed", append(userFields(u), zap.Int("sessions_revoked", n))...)
	return n, nil
}

// Me returns the caller's own account and how many recovery codes they
// have left.
func (s *Service) Me(ctx context.Context, c Caller) (User, int, error) {
	u, err := s.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return User{}, 0, notFoundAsUser(err)
	}
	left, err := s.Store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return User{}, 0, err
	}
	v, err := s.viewWithProviders(ctx, u)
	return v, left, err
}

// ChangePassword changes the caller's own password after checking the
// current one (a wrong one is a *fail.ForbiddenError on current, and
// counts towards the login limits), and ends their other sessions. It
// returns how many it ended.
func (s *Service) ChangePassword(ctx context.Context, c Caller, current, newPassword string) (int, error) {
	n, err := s.changeOwnPassword(ctx, c, current, newPassword)
	var fe *fail.ForbiddenError
	if errors.As(err, &fe) {
		s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.PasswordChange, Target: c.Email,
			Outcome: audit.Failure, Reason: "wrong_password"})
	}
	if err != nil {
		return 0, err
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.PasswordChange, Target: c.Email,
		Extra: map[string]any{"sessions_revoked": n}})
	return n, nil
}

// BeginTOTP starts the caller's two-factor enrolment after checking their
// password, so a stolen session cannot tie the account to someone else's
// authenticator. Two-factor on already is a *fail.ConflictError.
func (s *Service) BeginTOTP(ctx context.Context, c Caller, password string) (TOTPEnrolment, error) {
	u, err := s.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return TOTPEnrolment{}, notFoundAsUser(err)
	}
	if u.PasswordHash == "" {
		return TOTPEnrolment{}, fail.Field("password", "set a password first: the authenticator app's codes are asked after a password")
	}
	if err := s.CheckOwnPassword(ctx, u, password, c.Actor.ClientIP); err != nil {
		return TOTPEnrolment{}, err
	}
	enr, err := s.beginTOTP(ctx, u)
	if errors.Is(err, ErrTOTPEnabled) {
		return TOTPEnrolment{}, fail.Conflict("", err.Error())
	}
	return enr, err
}

// ConfirmTOTP turns the caller's two-factor authentication on with a
// first code and returns the recovery codes, shown this once.
func (s *Service) ConfirmTOTP(ctx context.Context, c Caller, code string) ([]string, error) {
	codes, err := s.confirmTOTP(ctx, c.UserID, code)
	if errors.Is(err, ErrTOTPEnabled) || errors.Is(err, ErrNoEnrolment) {
		return nil, fail.Conflict("", err.Error())
	}
	if err != nil {
		return nil, err
	}
	s.Logger().Info("two-factor authentication enabled", zap.String("user_id", c.UserID))
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.TOTPEnable, Target: c.Email})
	return codes, nil
}

// DisableTOTP turns the caller's two-factor authentication off; it needs
// the password and a current code (or a recovery code).
func (s *Service) DisableTOTP(ctx context.Context, c Caller, password, code string) error {
	err := s.disableOwnTOTP(ctx, c.UserID, password, code, c.Actor.ClientIP)
	var fe *fail.FieldError
	if errors.As(err, &fe) {
		s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.TOTPDisable, Target: c.Email,
			Outcome: audit.Failure, Reason: "wrong_" + fe.Field})
	}
	if err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Actor: c.Actor, Action: audit.TOTPDisable, Target: c.Email})
	return nil
}
