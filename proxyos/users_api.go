package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// accountJSON is how the users API shows an account; never the password
// hash.
type accountJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	TOTP      bool      `json:"totp_enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toAccountJSON(u store.User) accountJSON {
	return accountJSON{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, TOTP: u.TOTPEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// ErrWrongPassword is returned when the current password given to change
// it does not match.
var ErrWrongPassword = errors.New("the current password is wrong")

// UpdateUserByID changes the account with the given id; see changeUser.
func (a *App) UpdateUserByID(ctx context.Context, id string, c UserChange, keepSession string) (store.User, error) {
	u, err := a.state.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUserNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("reading user: %w", err)
	}
	u, _, err = a.changeUser(ctx, u, c, keepSession)
	return u, err
}

// changeUser applies c to the stored user u. A new role or password, and
// disabling, revoke the user's sessions at once, except keepSession (the
// caller's own session when they edit themselves; "" for none), which is
// reloaded with the new role; a disabled user's sessions answer
// user_disabled. A change that would leave no enabled admin fails with
// store.ErrLastAdmin. It reports whether sessions were revoked.
func (a *App) changeUser(ctx context.Context, u store.User, c UserChange, keepSession string) (store.User, bool, error) {
	revoke := false
	if c.Role != nil && *c.Role != u.Role {
		if !ValidRole(*c.Role) {
			return store.User{}, false, &FieldError{"role", fmt.Sprintf("%q is not a role (admin, operator or viewer)", *c.Role)}
		}
		u.Role, revoke = *c.Role, true
	}
	if c.Password != nil {
		if err := CheckPasswordPolicy(*c.Password); err != nil {
			return store.User{}, false, &FieldError{"password", strings.TrimPrefix(err.Error(), "password: ")}
		}
		u.PasswordHash, revoke = HashPassword(*c.Password), true
	}
	wasDisabled := u.Disabled
	if c.Disabled != nil {
		u.Disabled = *c.Disabled
	}
	if u.Disabled && !wasDisabled {
		revoke = true
	}
	u.UpdatedAt = a.now().UTC()
	switch err := a.state.store.UpdateUserKeepingAdmin(ctx, u); {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, false, ErrUserNotFound
	case errors.Is(err, store.ErrLastAdmin):
		return store.User{}, false, err
	case err != nil:
		return store.User{}, false, fmt.Errorf("storing user: %w", err)
	}
	if u.Disabled != wasDisabled {
		a.state.sessions.markDisabled(u.ID, u.Disabled)
	}
	if c.ResetTOTP != nil && *c.ResetTOTP && u.TOTPEnabled {
		if err := a.state.store.DisableTOTP(ctx, u.ID); err != nil {
			return store.User{}, false, fmt.Errorf("resetting two-factor authentication: %w", err)
		}
		u.TOTPEnabled = false
	}
	if c.RevokeKeys != nil && *c.RevokeKeys {
		n, err := a.state.store.RevokeUserAPIKeys(ctx, u.ID, a.now())
		if err != nil {
			return store.User{}, false, fmt.Errorf("revoking API keys: %w", err)
		}
		a.logger.Info("API keys revoked", zap.String("user_id", u.ID), zap.Int("count", n))
	}
	if revoke {
		if _, err := a.RevokeUserSessions(ctx, u.ID, keepSession); err != nil {
			return store.User{}, false, err
		}
		if keepSession != "" {
			a.state.sessions.forgetSession(keepSession)
		}
	}
	a.logger.Info("user updated", append(userFields(u), zap.Bool("disabled", u.Disabled), zap.Bool("sessions_revoked", revoke))...)
	return u, revoke, nil
}

// DeleteUserByID deletes an account and its sessions; the user's cached
// sessions are refused from the next request on. Deleting the last
// enabled admin fails with store.ErrLastAdmin.
func (a *App) DeleteUserByID(ctx context.Context, id string) (store.User, error) {
	u, err := a.state.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrUserNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("reading user: %w", err)
	}
	switch err := a.state.store.DeleteUser(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, ErrUserNotFound
	case errors.Is(err, store.ErrLastAdmin):
		return store.User{}, err
	case err != nil:
		return store.User{}, fmt.Errorf("deleting user: %w", err)
	}
	a.state.sessions.markRevoked(id, nil)
	a.logger.Info("user deleted", userFields(u)...)
	return u, nil
}

// ChangeOwnPassword sets a user's password after checking the current
// one, and revokes their sessions other than keepSession. Wrong current
// passwords count towards the login rate limits of the account and the
// client IP, so a stolen session cannot be used to guess the password.
func (a *App) ChangeOwnPassword(ctx context.Context, userID, current, newPassword, keepSession, ip string) (int, error) {
	u, err := a.state.store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrUserNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("reading user: %w", err)
	}
	if err := a.checkOwnPassword(ctx, u, current, ip); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return 0, ErrWrongPassword
		}
		return 0, err
	}
	if err := CheckPasswordPolicy(newPassword); err != nil {
		return 0, &FieldError{"new", strings.TrimPrefix(err.Error(), "password: ")}
	}
	u.PasswordHash, u.UpdatedAt = HashPassword(newPassword), a.now().UTC()
	if err := a.state.store.UpdateUser(ctx, u); err != nil {
		return 0, fmt.Errorf("storing user: %w", err)
	}
	n, err := a.RevokeUserSessions(ctx, u.ID, keepSession)
	if err != nil {
		return 0, err
	}
	a.logger.Info("password changed", append(userFields(u), zap.Int("sessions_revoked", n))...)
	return n, nil
}

// writeUserError answers an error of a user operation: 404 for an
// unknown user, 409 for a taken email or the last admin, else as
// writeAPIError.
func (d *Dashboard) writeUserError(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, ErrUserNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	case errors.Is(err, ErrUserExists):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Field: "email"})
	case errors.Is(err, store.ErrLastAdmin):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	default:
		return d.writeAPIError(w, err)
	}
	return nil
}

// apiListUsers lists every account.
func (d *Dashboard) apiListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := d.app.state.store.ListUsers(r.Context())
	if err != nil {
		return d.writeAPIError(w, err)
	}
	out := make([]accountJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toAccountJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// apiCreateUser creates an account. API keys cannot: every account has a
// password, and one a key chose would outlive the key. Creating an admin
// needs the caller's own password (confirm_password), so a stolen
// session cannot add an admin that outlives it.
func (d *Dashboard) apiCreateUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		NewUser
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	if callerKey(r) != nil {
		writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot create users; an admin adds them in the dashboard"})
		return nil
	}
	if body.Role == RoleAdmin {
		if err := d.confirmCaller(r, body.ConfirmPassword); err != nil {
			return d.writeAPIError(w, err)
		}
	}
	u, err := d.app.CreateUser(r.Context(), body.NewUser, actorOf(r))
	if err != nil {
		return d.writeUserError(w, err)
	}
	// CreateUser records user.create in the audit log.
	writeJSON(w, http.StatusCreated, toAccountJSON(u))
	return nil
}

// confirmCaller checks the caller's own password, given as
// confirm_password, before an action a stolen session must not take
// (making an admin). It counts against the login limits like a login.
func (d *Dashboard) confirmCaller(r *http.Request, password string) error {
	me, err := d.app.state.store.UserByID(r.Context(), caller(r).UserID)
	if err != nil {
		return notFoundAsUser(err)
	}
	err = d.app.checkOwnPassword(r.Context(), me, password, clientIP(r))
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{"confirm_password", strings.Replace(fe.Message, "enter your password", "enter your own password", 1)}
	}
	return err
}

// apiGetUser shows one account.
func (d *Dashboard) apiGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := d.app.state.store.UserByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return d.writeUserError(w, ErrUserNotFound)
	}
	if err != nil {
		return d.writeAPIError(w, err)
	}
	writeJSON(w, http.StatusOK, toAccountJSON(u))
	return nil
}

// apiUpdateUser changes an account's role, disabled flag or password.
// Admins editing themselves keep their current session.
func (d *Dashboard) apiUpdateUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		UserChange
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	c := body.UserChange
	id, target := caller(r), r.PathValue("id")
	// A password or two-factor change here needs no proof of the old
	// ones, so it is for admins helping someone else, in person: not for
	// the admin's own account (My account asks for the password) and not
	// for API keys, so neither a stolen admin session nor a leaked key can
	// take an account over.
	if c.Password != nil || c.ResetTOTP != nil {
		field := "password"
		if c.Password == nil {
			field = "reset_totp"
		}
		switch {
		case callerKey(r) != nil:
			writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot change passwords or two-factor authentication; log in to the dashboard", Field: field})
			return nil
		case target == id.UserID:
			writeJSON(w, http.StatusBadRequest, apiError{Error: field + ": change your own password and two-factor authentication under My account", Field: field})
			return nil
		}
	}
	prev, prevErr := d.app.state.store.UserByID(r.Context(), target)
	if prevErr != nil {
		return d.writeUserError(w, notFoundAsUser(prevErr))
	}
	// Admins are the accounts that can mint keys and add users: a key
	// never makes one or changes one, and a session makes one only with
	// the caller's password.
	promote := c.Role != nil && *c.Role == RoleAdmin && prev.Role != RoleAdmin
	switch {
	case callerKey(r) != nil && promote:
		writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot make admins; an admin does it in the dashboard", Field: "role"})
		return nil
	case callerKey(r) != nil && prev.Role == RoleAdmin:
		writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot change admins; an admin does it in the dashboard"})
		return nil
	case promote:
		if err := d.confirmCaller(r, body.ConfirmPassword); err != nil {
			return d.writeAPIError(w, err)
		}
	}
	keep := ""
	if target == id.UserID {
		keep = id.SessionID
	}
	u, err := d.app.UpdateUserByID(r.Context(), target, c, keep)
	if err != nil {
		return d.writeUserError(w, err)
	}
	ev := auditEvent{Actor: actorOf(r), Action: "user.update", Target: u.Email, After: toAuditUser(u), Before: toAuditUser(prev)}
	if c.Password != nil {
		ev.Extra = map[string]any{"password_changed": true}
	}
	d.app.audit(r.Context(), ev)
	writeJSON(w, http.StatusOK, toAccountJSON(u))
	return nil
}

// apiDeleteUser deletes an account. Admins cannot delete themselves, so
// nobody locks themselves out by a slip.
func (d *Dashboard) apiDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id, target := caller(r), r.PathValue("id")
	if target == id.UserID {
		writeJSON(w, http.StatusConflict, apiError{Error: "you cannot delete your own account; another admin can"})
		return nil
	}
	if callerKey(r) != nil {
		if u, err := d.app.state.store.UserByID(r.Context(), target); err == nil && u.Role == RoleAdmin {
			writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot change admins; an admin does it in the dashboard"})
			return nil
		}
	}
	deleted, err := d.app.DeleteUserByID(r.Context(), target)
	if err != nil {
		return d.writeUserError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "user.delete", Target: deleted.Email, Before: toAuditUser(deleted)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiChangePassword changes the caller's own password and revokes their
// other sessions; this one stays.
func (d *Dashboard) apiChangePassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	id := caller(r)
	n, err := d.app.ChangeOwnPassword(r.Context(), id.UserID, body.Current, body.New, id.SessionID, clientIP(r))
	if errors.Is(err, ErrWrongPassword) {
		d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "account.password_change", Target: id.Email,
			Outcome: OutcomeFailure, Reason: "wrong_password"})
		writeJSON(w, http.StatusForbidden, apiError{Error: err.Error(), Field: "current"})
		return nil
	}
	if err != nil {
		return d.writeUserError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: actorOf(r), Action: "account.password_change", Target: id.Email,
		Extra: map[string]any{"sessions_revoked": n}})
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}
