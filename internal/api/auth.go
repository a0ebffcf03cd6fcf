package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/internal/request"
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
	return s.finishLogin(w, r, u, body.ReturnTo, body.State)
}

// finishLogin ends a login of u that this browser made with a password
// or a passkey: the browser becomes a known device of the account, a
// session it already had is revoked, and a new one starts (with a new
// token, so a token planted before the login is worthless).
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, u store.User, returnTo, state string) error {
	s.setDeviceCookie(w, r, u.Email)
	if e, reason, _ := s.Verify(r); e != nil && reason == "" {
		s.Sessions.Revoke(r.Context(), e) //nolint:errcheck // best effort
	}
	return s.startSession(w, r, u, http.StatusOK, returnTo, state)
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

// verify is the forward-auth endpoint for other proxies (Caddy's
// forward_auth, nginx's auth_request, Traefik's ForwardAuth): they send
// it each request's headers, and let the request through on 200. With a
// valid session it answers 200 with the identity in X-Proxyos-User (the
// user id), X-Proxyos-Email, X-Proxyos-Role and X-Proxyos-Groups, and in
// Remote-User (the email), Remote-Email and Remote-Groups. Both groups
// headers hold the role first, then the groups of the user's latest
// sign-in with an OpenID provider, comma-separated (see
// session.GroupsHeader). Without one, API
// clients get 401 with the reason and browser navigations a redirect to
// the login page that returns to the page they asked for; with
// ?mode=auth_request (nginx, which cannot pass a redirect on) browsers
// get 401 with the login page in Location instead. ?roles=admin,operator
// lets only those roles through (403 for others).
//
// The original request is described by X-Forwarded-Method, -Proto,
// -Host and -Uri only when the proxy that sent them is one of Caddy's
// trusted_proxies; from anyone else they are ignored, and the request is
// taken as it arrived. The session cookie must reach the original host
// (the dashboard's host, or within cookie_domain): on any other host the
// browser never sends it, so rather than a login that cannot succeed
// there, the answer says so.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	roles, err := verifyRoles(q.Get("roles"))
	if err != nil {
		return err
	}
	mode := q.Get("mode")
	if mode != "" && mode != "auth_request" {
		return fail.Field("mode", "mode must be auth_request or absent")
	}
	fw := forwardedOf(r)
	reaches := s.SessionCookieReaches(fw.host)
	e, reason, err := s.Sessions.VerifyCookies(r.Context(), s.Keys,
		request.ScanCookies(r.Header, sessionCookieNameFor(fw.scheme, fw.host, s.CookieDomain)), fw.host, s.SessionIdle)
	if err != nil {
		return err
	}
	if reason != "" {
		browser := s.Canonical != nil && request.IsNavigationBy(fw.method, r.Header)
		switch {
		case browser && !reaches:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "Login cannot work on %s: the session cookie of %s does not reach it.\n"+ //nolint:errcheck // client gone
				"Set the proxyos app's cookie_domain to a domain that covers both.\n", fw.host, s.Canonical.Host)
		case browser:
			login := s.Canonical.String() + "/login"
			if fw.trusted {
				login += "?return=" + url.QueryEscape(fw.scheme+"://"+fw.hostPort+fw.uri)
			}
			if mode == "auth_request" {
				w.Header().Set("Location", login)
				WriteUnauthenticated(w, reason)
				return nil
			}
			http.Redirect(w, r, login, http.StatusFound)
		default:
			WriteUnauthenticated(w, reason)
		}
		return nil
	}
	id := e.Identity()
	if len(roles) > 0 && !slices.Contains(roles, id.Role) {
		return fail.Forbidden("", fmt.Sprintf("role %s is not allowed here", id.Role))
	}
	h := w.Header()
	h.Set("X-Proxyos-User", id.UserID)
	h.Set("X-Proxyos-Email", id.Email)
	h.Set("X-Proxyos-Role", string(id.Role))
	h.Set("X-Proxyos-Groups", e.GroupsHeader()[0])
	h.Set("Remote-User", id.Email)
	h.Set("Remote-Email", id.Email)
	h.Set("Remote-Groups", e.GroupsHeader()[0])
	w.WriteHeader(http.StatusOK)
	return nil
}

// verifyRoles parses the roles parameter of verify: a comma-separated
// list of roles, or empty for any.
func verifyRoles(raw string) ([]authz.Role, error) {
	if raw == "" {
		return nil, nil
	}
	var roles []authz.Role
	for _, name := range strings.Split(raw, ",") {
		role, err := authz.ParseRole(strings.TrimSpace(name))
		if err != nil {
			return nil, fail.Field("roles", "%s", err)
		}
		roles = append(roles, role)
	}
	return roles, nil
}

// forwarded is the request a forward-auth call is about.
type forwarded struct {
	method, scheme string
	host           string // normalised, for cookies and sessions
	hostPort       string // as the browser sent it, for the return URL
	uri            string
	trusted        bool // described by a trusted proxy's X-Forwarded-* headers
}

// forwardedOf returns the original request of a forward-auth call: from
// the X-Forwarded-* headers of a trusted proxy, else r itself.
func forwardedOf(r *http.Request) forwarded {
	fw := forwarded{method: r.Method, scheme: Scheme(r), host: request.NormalizeHost(r.Host), hostPort: r.Host}
	if !TrustedProxy(r) {
		return fw
	}
	fw.trusted = true
	if m := r.Header.Get("X-Forwarded-Method"); m != "" {
		fw.method = strings.ToUpper(m)
	}
	if h := strings.TrimSpace(request.FirstListItem(r.Header.Get("X-Forwarded-Host"))); h != "" {
		fw.host, fw.hostPort = request.NormalizeHost(h), h
	}
	fw.uri = request.LocalPath(r.Header.Get("X-Forwarded-Uri"))
	return fw
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
	return s.finishLogin(w, r, u, body.ReturnTo, body.State)
}

func deviceCookie(r *http.Request) string {
	if c, err := r.Cookie(account.DeviceCookie); err == nil {
		return c.Value
	}
	return ""
}
