package proxyos

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Auth puts the dashboard's login in front of a site. It verifies the
// proxyos_session cookie set by the dashboard, which reaches sites on the
// dashboard's host and, with the app's cookie_domain, on its subdomains.
// Over HTTPS on a host that cookie_domain does not cover, the cookie is
// __Host-proxyos_session and a plain proxyos_session cookie is ignored:
// a sibling subdomain could have planted it.
//
// With a valid session, it sets the placeholders {http.auth.user.id},
// {http.auth.user.email} and {http.auth.user.role}, and gives the next
// handlers (such as reverse_proxy) the headers X-Proxyos-User (the user
// id), X-Proxyos-Email and X-Proxyos-Role. Any X-Proxyos-* header the
// client sent is removed first, so identity cannot be spoofed, and the
// session cookie is removed from the request, so upstreams never see it.
//
// Without a valid session, a browser navigation (GET or HEAD with
// Sec-Fetch-Mode: navigate, or accepting text/html) is redirected (302)
// to the dashboard's login page (the app's url) with the original URL to
// return to; any other request gets 401 with the JSON body
// {"error":"unauthenticated","reason":"…"}, the reason being one of
// no_cookie, malformed, unknown_key, bad_signature, expired,
// idle_timeout, revoked or user_disabled. A user whose role is not in
// Roles gets 403 as a handler error.
type Auth struct {
	// Roles allowed through. Default: any logged-in user.
	Roles []string `json:"roles,omitempty"`

	app    *App
	logger *zap.Logger
	// sharedHeaders: the handlers after this gate are known never to
	// write request header values in place, so requests may carry the
	// session's cached header values themselves (see ServeHTTP). The
	// router sets it for the gates of the routes it compiles.
	sharedHeaders bool
	// managed: the gate of a managed route (set by the router), whose
	// hosts proxyos knows, so logins may be handed off to it.
	managed bool
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision finds the proxyos app.
func (h *Auth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	h.app = app.(*App)
	if h.app.canonical == nil {
		h.logger.Warn("the proxyos app has no url: browsers without a session get 401 instead of a redirect to the login page")
	}
	return nil
}

// Validate checks the roles.
func (h *Auth) Validate() error {
	for _, r := range h.Roles {
		if !ValidRole(r) {
			return fmt.Errorf("roles: %q is not a role (admin, operator or viewer)", r)
		}
	}
	return nil
}

// identityHeaderPrefix is the prefix of the headers the gate owns.
const identityHeaderPrefix = "X-Proxyos-"

// ServeHTTP verifies the session and passes the request on.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path == handoffPath && h.managed {
		return h.serveCallback(w, r)
	}
	stripIdentity(r.Header)
	e, reason, err := h.app.verifyRequest(r)
	if err != nil {
		h.logger.Error("verifying session", zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if reason != "" {
		return h.refuse(w, r, reason)
	}
	id := e.id
	if len(h.Roles) > 0 && !slices.Contains(h.Roles, id.Role) {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("role %q is not allowed here", id.Role))
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", e.user)
		repl.Set("http.auth.user.email", e.email)
		repl.Set("http.auth.user.role", e.role)
	}
	// A header value slice can be written in place by a later handler
	// (request_header with a replacement does hdr[name][i] = …), which
	// would change the cached values of every request of the session,
	// racing with those in flight. So the cached slices go into the
	// request only where the router vouches for what follows (its
	// routes end in reverse_proxy, which edits a copy of the headers,
	// or in a static response); elsewhere each request gets its own.
	if h.sharedHeaders {
		setIdentity(r.Header, e.userHdr, e.emailHdr, e.roleHdr)
	} else {
		v := []string{id.UserID, id.Email, id.Role}
		setIdentity(r.Header, v[0:1:1], v[1:2:2], v[2:3:3])
	}
	stripSessionCookie(r.Header)
	err = next.ServeHTTP(w, r)
	if err != nil && h.sharedHeaders {
		// The site's error routes run next with this request, and the
		// router does not know them.
		unshare(r.Header, "X-Proxyos-User", e.userHdr)
		unshare(r.Header, "X-Proxyos-Email", e.emailHdr)
		unshare(r.Header, "X-Proxyos-Role", e.roleHdr)
	}
	return err
}

// setIdentity sets the identity headers to the given values.
func setIdentity(h http.Header, user, email, role []string) {
	h["X-Proxyos-User"] = user
	h["X-Proxyos-Email"] = email
	h["X-Proxyos-Role"] = role
}

// unshare gives header name a copy of its value if it still is shared.
func unshare(h http.Header, name string, shared []string) {
	if v := h[name]; len(v) > 0 && &v[0] == &shared[0] {
		h[name] = slices.Clone(v)
	}
}

// stripIdentity removes every X-Proxyos-* header, in any case.
func stripIdentity(h http.Header) {
	for name := range h {
		if len(name) >= len(identityHeaderPrefix) && strings.EqualFold(name[:len(identityHeaderPrefix)], identityHeaderPrefix) {
			delete(h, name)
		}
	}
}

// refuse answers a request without a valid session: a redirect to the
// login page for browser navigations, else 401 with the reason.
func (h *Auth) refuse(w http.ResponseWriter, r *http.Request, reason Reason) error {
	if c := h.app.canonical; c != nil && isNavigation(r) {
		back := requestScheme(r) + "://" + r.Host + r.URL.RequestURI()
		login := c.String() + "/login?return=" + url.QueryEscape(back)
		if h.managed && !h.app.sessionCookieReaches(r.Host) {
			// the login will be handed back here (see nextURL), for
			// this browser only
			login += "&state=" + url.QueryEscape(newHandoffState(w, r))
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, login, http.StatusFound)
		return nil
	}
	writeUnauthenticated(w, reason)
	return nil
}

// isNavigation reports whether a browser is loading a page (as opposed to
// a script or API client, which should get a 401 it can handle).
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
