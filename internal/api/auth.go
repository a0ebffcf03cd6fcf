package api

import (
	"encoding/json"
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// setupStatus tells the pages whether the setup page is needed. It never
// reveals the setup code.
func (s *Server) setupStatus(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]bool{"setup_required": n == 0})
	return nil
}

// setup creates the first admin with the one-time setup code, and logs
// them in.
func (s *Server) setup(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		SetupCode string `json:"setup_code"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	u, err := s.Accounts.SetUp(r.Context(), body.Email, body.Password, body.SetupCode, ClientIP(r))
	if err != nil {
		return err
	}
	return s.startSession(w, r, u, http.StatusCreated, "", "")
}

// login checks credentials and starts a new session. The token is always
// new, so a token planted before login (session fixation) is worthless;
// a session the browser already had is revoked.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp"` // a code from the authenticator app, or a recovery code
		ReturnTo string `json:"return_to"`
		State    string `json:"state"` // the handoff state the gate gave the browser, if any
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	device := ""
	if c, err := r.Cookie(account.DeviceCookie); err == nil {
		device = c.Value
	}
	u, err := s.Accounts.Login(r.Context(), account.Attempt{Email: body.Email, Password: body.Password, TOTP: body.TOTP,
		ClientIP: ClientIP(r), Device: device})
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, r, u.Email)
	if e, reason, _ := s.Verify(r); e != nil && reason == "" {
		s.Sessions.Revoke(r.Context(), e) //nolint:errcheck // best effort
	}
	return s.startSession(w, r, u, http.StatusOK, body.ReturnTo, body.State)
}

// startSession creates a session for u, sets its cookie and answers the
// user and where the page should go next (see nextURL: returnTo, made
// safe, or a handoff to it).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, status int, returnTo, state string) error {
	cookie, id, err := s.Accounts.StartSession(r.Context(), u, ClientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	next, err := s.nextURL(r.Context(), id.SessionID, returnTo, state, r)
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, r, cookie, s.Accounts.SessionTTL)
	WriteJSON(w, status, map[string]any{"user": account.View(u), "redirect": next})
	return nil
}

// handoff answers where a logged-in browser goes for the return URL
// return_to: the URL made safe, or a one-time handoff to a managed host
// behind the login that the session cookie does not reach. The login page
// calls it when it opens with a return URL and a session.
func (s *Server) handoff(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ReturnTo string `json:"return_to"`
		State    string `json:"state"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	next, err := s.nextURL(r.Context(), caller(r).SessionID, body.ReturnTo, body.State, r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"redirect": next})
	return nil
}

// logout revokes the session server-side, so a copy of the cookie is
// worthless afterwards.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	e, reason, err := s.Verify(r)
	if err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	switch reason {
	case "":
	case session.ReasonIdleTimeout, session.ReasonExpired:
		// Ended, but its handoff sessions on other hosts may not be:
		// logging out ends them too.
		if err := s.Sessions.Revoke(r.Context(), e); err != nil {
			return err
		}
		WriteUnauthenticated(w, reason)
		return nil
	default:
		WriteUnauthenticated(w, reason)
		return nil
	}
	if err := s.Accounts.Logout(r.Context(), e, ClientIP(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// session answers who is logged in, or 401 with the reason.
func (s *Server) session(w http.ResponseWriter, r *http.Request) error {
	e, reason, err := s.Verify(r)
	if err != nil {
		return err
	}
	if reason != "" {
		WriteUnauthenticated(w, reason)
		return nil
	}
	id := e.Identity()
	WriteJSON(w, http.StatusOK, map[string]any{
		"user":       map[string]any{"id": id.UserID, "email": id.Email, "role": id.Role},
		"session_id": id.SessionID,
		"expires_at": e.ExpiresAt().UTC(),
	})
	return nil
}

// beginPasskeyLogin starts a login with a passkey: alone (no body
// fields), or after the email and password as the second factor. The
// ceremony is bound to this browser by a cookie.
func (s *Server) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	c, err := s.Accounts.BeginPasskeyLogin(r.Context(), account.Attempt{Email: body.Email, Password: body.Password,
		ClientIP: ClientIP(r), Device: deviceCookie(r)})
	if err != nil {
		return err
	}
	setPasskeyCookie(w, r, c.ID)
	WriteJSON(w, http.StatusOK, c)
	return nil
}

// finishPasskeyLogin checks the passkey's answer to this browser's
// ceremony and starts a session, like login.
func (s *Server) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Credential json.RawMessage `json:"credential"` // PublicKeyCredential.toJSON()
		ReturnTo   string          `json:"return_to"`
		State      string          `json:"state"`
	}
	if err := Decode(w, r, &body); err != nil {
		return err
	}
	u, err := s.Accounts.PasskeyLogin(r.Context(), takePasskeyCookie(w, r), body.Credential, ClientIP(r))
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, r, u.Email)
	if e, reason, _ := s.Verify(r); e != nil && reason == "" {
		s.Sessions.Revoke(r.Context(), e) //nolint:errcheck // best effort
	}
	return s.startSession(w, r, u, http.StatusOK, body.ReturnTo, body.State)
}

func deviceCookie(r *http.Request) string {
	if c, err := r.Cookie(account.DeviceCookie); err == nil {
		return c.Value
	}
	return ""
}
