package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
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
	if s.PasswordLoginOff {
		return fail.Forbidden("", "password login is off; sign in with a provider")
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

// authMethods tells the login page how users log in: with a password
// (unless password_login is off) and with which OpenID providers.
func (s *Server) authMethods(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, map[string]any{"password": !s.PasswordLoginOff, "oidc": s.OIDC.Names()})
	return nil
}

// oidcStart sends the browser to the provider to log in, keeping the
// login page's return URL and handoff state for after the callback. The
// state is bound to this browser by a cookie, on the dashboard's url
// (where the callback comes back).
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if c := s.Canonical; c != nil && (!strings.EqualFold(r.Host, c.Host) || Scheme(r) != c.Scheme) {
		http.Redirect(w, r, c.Scheme+"://"+c.Host+r.URL.RequestURI(), http.StatusFound)
		return nil
	}
	q := r.URL.Query()
	flow := oidc.Flow{ReturnTo: q.Get("return"), HandoffState: q.Get("state")}
	authURL, state, err := s.OIDC.Begin(r.Context(), r.PathValue("provider"), ClientIP(r), flow)
	if err != nil {
		return oidcFailed(w, r, err, flow)
	}
	s.setOIDCCookie(w, r, state, oidc.LoginTTL)
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

// oidcCallback completes a login at a provider: a new session (the
// browser's previous one is revoked), then where the password login
// would have gone (nextURL: the return URL made safe, or a handoff).
// A refusal goes back to the login page, which says why.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	q, cookieState := r.URL.Query(), ""
	if c, err := r.Cookie(oidcCookieName(r)); err == nil {
		cookieState = c.Value
	}
	s.setOIDCCookie(w, r, "", -1)
	u, flow, err := s.OIDC.Finish(r.Context(), r.PathValue("provider"), oidc.Callback{State: q.Get("state"), Code: q.Get("code"),
		Error: q.Get("error"), CookieState: cookieState, ClientIP: ClientIP(r)})
	if err != nil {
		return oidcFailed(w, r, err, flow)
	}
	if e, reason, _ := s.Verify(r); e != nil && reason == "" {
		s.Sessions.Revoke(r.Context(), e) //nolint:errcheck // best effort
	}
	cookie, id, err := s.Accounts.StartSession(r.Context(), u, ClientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	next, err := s.nextURL(r.Context(), id.SessionID, flow.ReturnTo, flow.HandoffState, r)
	if err != nil {
		return err
	}
	s.SetSessionCookie(w, r, cookie, s.Accounts.SessionTTL)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// oidcFailed sends the browser back to the login page with the reason of
// a refused login (an *oidc.Error), keeping its return URL and state.
func oidcFailed(w http.ResponseWriter, r *http.Request, err error, flow oidc.Flow) error {
	var e *oidc.Error
	if !errors.As(err, &e) {
		return err
	}
	q := url.Values{"oidc_error": {e.Code}, "provider": {e.Provider}}
	if flow.ReturnTo != "" {
		q.Set("return", flow.ReturnTo)
	}
	if flow.HandoffState != "" {
		q.Set("state", flow.HandoffState)
	}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// oidcCookieName names the cookie binding a login at a provider to the
// browser: __Host- on HTTPS, so no sibling subdomain can plant one.
func oidcCookieName(r *http.Request) string {
	if Scheme(r) == "https" {
		return "__Host-proxyos_oidc"
	}
	return "proxyos_oidc"
}

// setOIDCCookie sets (or, with a negative ttl, clears) the state cookie.
// It is Lax: the provider's redirect back is a top-level navigation.
func (s *Server) setOIDCCookie(w http.ResponseWriter, r *http.Request, state string, ttl time.Duration) {
	maxAge := -1
	if ttl > 0 {
		maxAge = int(ttl / time.Second)
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookieName(r), Value: state, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: Scheme(r) == "https", SameSite: http.SameSiteLaxMode})
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
