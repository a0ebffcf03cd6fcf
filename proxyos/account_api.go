package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// apiAccount shows the caller's own account and two-factor state.
func (d *Dashboard) apiAccount(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	u, err := d.app.state.store.UserByID(r.Context(), id.UserID)
	if err != nil {
		return d.writeUserError(w, notFoundAsUser(err))
	}
	left, err := d.app.state.store.RecoveryCodesLeft(r.Context(), u.ID)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user": toUserJSON(u), "totp_enabled": u.TOTPEnabled, "recovery_codes_left": left,
	})
	return nil
}

// apiBeginTOTP starts two-factor enrolment, after checking the password
// (so a stolen session cannot tie the account to someone else's
// authenticator), and answers the secret, its otpauth:// URI and a QR
// code of it.
func (d *Dashboard) apiBeginTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	u, err := d.app.state.store.UserByID(r.Context(), caller(r).UserID)
	if err != nil {
		return d.writeUserError(w, notFoundAsUser(err))
	}
	if err := d.app.checkOwnPassword(r.Context(), u, body.Password, clientIP(r)); err != nil {
		return d.writeAPIError(w, err)
	}
	enr, err := d.app.BeginTOTP(r.Context(), u)
	if errors.Is(err, ErrTOTPEnabled) {
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		return nil
	}
	if err != nil {
		return d.writeAPIError(w, err)
	}
	writeJSON(w, http.StatusOK, enr)
	return nil
}

// apiConfirmTOTP turns two-factor authentication on with a first code and
// answers the recovery codes, which are shown this once.
func (d *Dashboard) apiConfirmTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	id := caller(r)
	codes, err := d.app.ConfirmTOTP(r.Context(), id.UserID, body.Code)
	switch {
	case errors.Is(err, ErrTOTPEnabled), errors.Is(err, ErrNoEnrolment):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		return nil
	case err != nil:
		return d.writeAPIError(w, err)
	}
	d.logger.Info("two-factor authentication enabled", zap.String("user_id", id.UserID))
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "totp.enable", Target: id.Email})
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

// apiDisableTOTP turns two-factor authentication off; it needs the
// password and a current code (or a recovery code).
func (d *Dashboard) apiDisableTOTP(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	id := caller(r)
	err := d.app.DisableOwnTOTP(r.Context(), id.UserID, body.Password, body.Code, clientIP(r))
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "totp.disable", Target: id.Email,
			Outcome: OutcomeFailure, Reason: "wrong_" + fe.Field})
		return d.writeAPIError(w, err)
	case err != nil:
		return d.writeUserError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "totp.disable", Target: id.Email})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// DisableOwnTOTP turns a user's two-factor authentication off after
// checking their password and a code. The attempt counts towards the
// login rate limits of the account and the client IP before any check,
// and is taken back only when both are right, so parallel requests
// cannot try more passwords or codes than a login could.
func (a *App) DisableOwnTOTP(ctx context.Context, userID, password, code, ip string) error {
	u, err := a.state.store.UserByID(ctx, userID)
	if err != nil {
		return notFoundAsUser(err)
	}
	if !u.TOTPEnabled {
		return &FieldError{"code", "two-factor authentication is not on"}
	}
	if password == "" {
		return &FieldError{"password", "enter your password to confirm"}
	}
	limits := attemptLimits(u.Email, ip, "")
	if err := a.countAttempt(ctx, limits, ip); err != nil {
		return err
	}
	if !a.passwordMatches(u, password) {
		return &FieldError{"password", ErrWrongPassword.Error()}
	}
	switch err := a.checkSecondFactor(ctx, u.ID, code); {
	case errors.Is(err, ErrTOTPRequired), errors.Is(err, ErrTOTPInvalid):
		return &FieldError{"code", ErrTOTPInvalid.Error()}
	case err != nil:
		return err
	}
	if err := a.state.store.DisableTOTP(ctx, u.ID); err != nil {
		return fmt.Errorf("storing two-factor state: %w", err)
	}
	if err := a.refundAttempt(ctx, limits); err != nil {
		return err
	}
	a.logger.Info("two-factor authentication disabled", zap.String("user_id", u.ID))
	return nil
}

// checkOwnPassword asks a logged-in user for their password again before
// an action a stolen session must not be able to take (changing the
// password, minting an API key, setting up two-factor authentication). A
// wrong password is a FieldError on "password". The attempt counts
// towards the login rate limits of the account and the client IP before
// hashing, like a login, and is taken back when the password is right.
func (a *App) checkOwnPassword(ctx context.Context, u store.User, password, ip string) error {
	if password == "" {
		return &FieldError{"password", "enter your password to confirm"}
	}
	limits := attemptLimits(u.Email, ip, "")
	if err := a.countAttempt(ctx, limits, ip); err != nil {
		return err
	}
	if !a.passwordMatches(u, password) {
		return &FieldError{"password", ErrWrongPassword.Error()}
	}
	return a.refundAttempt(ctx, limits)
}

// passwordMatches verifies a password against the user's hash.
func (a *App) passwordMatches(u store.User, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	return err == nil && ok
}

// notFoundAsUser maps the store's ErrNotFound to ErrUserNotFound.
func notFoundAsUser(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	return err
}
