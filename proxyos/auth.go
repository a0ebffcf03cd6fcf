package proxyos

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/metrics"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
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
// id), X-Proxyos-Email, X-Proxyos-Role and X-Proxyos-Groups (the role,
// then the groups of the user's latest sign-in with an OpenID provider,
// comma-separated; see session.GroupsHeader). Any X-Proxyos-* header the
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
// Roles, whose email is not in Emails and who is in none of Groups gets
// 403 as a handler error.
//
// Rules come first: ordered access rules by path, method and client IP
// (see access.Rule; the client IP is Caddy's, with trusted_proxies).
// The first rule that matches decides: allow passes the request on
// without a login (identity headers and session cookies removed), deny
// answers 403 as a handler error, login asks for a session as above. A
// request no rule matches gets Default.
//
// On a managed route, a route token is accepted instead of a session:
// "Authorization: Bearer prt_…", or basic auth with the token's user
// name and the token as password. The upstream then gets
// X-Proxyos-User "token:<name>" and X-Proxyos-Role "token" (no email),
// and not the Authorization header. A wrong token gets 401 with reason
// invalid_token; a client IP with 10 wrong tokens in 5 minutes gets 429
// until the window ends. Route tokens pass whatever Roles, Emails and
// Groups say: they are the route's own credentials.
type Auth struct {
	// Roles allowed through. Default: any logged-in user (unless Emails
	// or Groups is set).
	Roles []string `json:"roles,omitempty"`
	// Emails of the users allowed through, in any case, besides those
	// of Roles.
	Emails []string `json:"emails,omitempty"`
	// Groups whose members are allowed through, besides the users of
	// Roles and Emails: the groups of a user's latest sign-in with an
	// OpenID provider (its groups claim), matched exactly. Users who
	// never signed in with a provider are in no group.
	Groups []string `json:"groups,omitempty"`
	// Rules are the access rules, in order.
	Rules []access.Rule `json:"rules,omitempty"`
	// Default is what happens to requests that no rule matches: login
	// (the default), allow or deny.
	Default string `json:"default,omitempty"`

	app     *App
	api     *api.Server
	logger  *zap.Logger
	metrics *metrics.Set // nil counts nothing
	// sharedHeaders: the handlers after this gate are known never to
	// write request header values in place, so requests may carry the
	// session's cached header values themselves (see ServeHTTP). The
	// router sets it for the gates of the routes it compiles.
	sharedHeaders bool
	// managed: the gate of a managed route (set by the router), whose
	// hosts proxyos knows, so logins may be handed off to it.
	managed bool
	// routeID: the managed route, whose route tokens the gate accepts.
	routeID string
	policy  *access.Policy
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
	h.api = h.app.newAPI(h.logger)
	h.metrics = h.app.state.metrics
	def, _ := access.ParseAction(h.Default)
	if len(h.Rules) > 0 || def != access.Login {
		if h.policy, err = access.Compile(h.Rules, def); err != nil {
			return fmt.Errorf("rules%v", err)
		}
	}
	if h.app.canonical == nil {
		h.logger.Warn("the proxyos app has no url: browsers without a session get 401 instead of a redirect to the login page")
	}
	return nil
}

// Validate checks the roles, emails, groups, rules and default.
func (h *Auth) Validate() error {
	for _, r := range h.Roles {
		if !authz.Role(r).Valid() {
			return fmt.Errorf("roles: %q is not a role (admin, operator or viewer)", r)
		}
	}
	for i, e := range h.Emails {
		if !strings.Contains(e, "@") {
			return fmt.Errorf("emails[%d]: %q is not an email address", i, e)
		}
	}
	for i, g := range h.Groups {
		if g == "" || strings.ContainsFunc(g, unicode.IsControl) {
			return fmt.Errorf("groups[%d]: %q is not a group name", i, g)
		}
	}
	if _, ok := access.ParseAction(h.Default); !ok && h.Default != "" {
		return fmt.Errorf("default: %q is not an action (allow, deny or login)", h.Default)
	}
	if err := access.Check(h.Rules); err != nil {
		return fmt.Errorf("rules%v", err)
	}
	return nil
}

// ServeHTTP verifies the session and passes the request on.
func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.URL.Path == session.HandoffPath && h.managed {
		return h.serveCallback(w, r)
	}
	request.StripIdentity(r.Header)
	if h.policy != nil {
		// The client IP is Caddy's for this request (trusted_proxies
		// honoured), read only if a rule with CIDRs is reached, and
		// never kept: a proxy sends many clients' requests on one
		// connection.
		req := access.Request{Method: r.Method, Path: r.URL.Path, IPSource: (*clientIP)(r)}
		action, rule := h.policy.Decide(&req)
		if rule >= 0 {
			h.metrics.RuleMatch(action.String())
		}
		switch action {
		case access.Allow:
			h.metrics.Gate(metrics.GateAllow)
			request.StripSessionCookies(r.Header)
			if _, _, ok := routeToken(r); ok {
				r.Header.Del("Authorization") // a route token never reaches upstreams
			}
			return next.ServeHTTP(w, r)
		case access.Deny:
			h.metrics.Gate(metrics.GateDeny)
			if ce := h.logger.Check(zap.DebugLevel, "denied by an access rule"); ce != nil {
				ce.Write(zap.Int("rule", rule+1), zap.String("path", r.URL.Path), zap.String("remote_ip", api.ClientIP(r)))
			}
			return caddyhttp.Error(http.StatusForbidden, errDenied)
		}
	}
	if h.routeID != "" {
		if user, token, ok := routeToken(r); ok {
			return h.serveToken(w, r, next, user, token)
		}
	}
	e, reason, err := h.api.Verify(r)
	if err != nil {
		if store.IsUnavailable(err) {
			// A session this node has not cached, while the database
			// is unreachable: the cluster feed logs the outage once,
			// not each request.
			w.Header().Set("Retry-After", "5")
			http.Error(w, store.ErrUnavailable.Error(), http.StatusServiceUnavailable)
			return nil
		}
		h.logger.Error("verifying session", zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	if reason != "" {
		h.metrics.Gate(metrics.GateRefused)
		return h.refuse(w, r, reason)
	}
	id := e.Identity()
	if !h.admits(e) {
		h.metrics.Gate(metrics.GateForbidden)
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("user %q with role %q is not allowed here", id.Email, id.Role))
	}
	user, email, role := e.Placeholders()
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", user)
		repl.Set("http.auth.user.email", email)
		repl.Set("http.auth.user.role", role)
	}
	h.metrics.Gate(metrics.GateSession)
	userHdr, emailHdr, roleHdr := e.Headers()
	groupsHdr := e.GroupsHeader()
	// A header value slice can be written in place by a later handler
	// (request_header with a replacement does hdr[name][i] = …), which
	// would change the cached values of every request of the session,
	// racing with those in flight. So the cached slices go into the
	// request only where the router vouches for what follows (its
	// routes end in reverse_proxy, which edits a copy of the headers,
	// or in a static response); elsewhere each request gets its own.
	if h.sharedHeaders {
		setIdentity(r.Header, userHdr, emailHdr, roleHdr, groupsHdr)
	} else {
		v := []string{id.UserID, id.Email, string(id.Role), groupsHdr[0]}
		setIdentity(r.Header, v[0:1:1], v[1:2:2], v[2:3:3], v[3:4:4])
	}
	request.StripSessionCookies(r.Header)
	err = next.ServeHTTP(w, r)
	if err != nil && h.sharedHeaders {
		// The site's error routes run next with this request, and the
		// router does not know them.
		unshare(r.Header, "X-Proxyos-User", userHdr)
		unshare(r.Header, "X-Proxyos-Email", emailHdr)
		unshare(r.Header, "X-Proxyos-Role", roleHdr)
		unshare(r.Header, "X-Proxyos-Groups", groupsHdr)
	}
	return err
}

// clientIP is a request as the access rules' source of its client IP
// (Caddy's, as api.ClientIP reads it).
type clientIP http.Request

func (r *clientIP) ClientIP() string { return api.ClientIP((*http.Request)(r)) }

// errDenied is the error of requests an access rule denies.
var errDenied = errors.New("denied by an access rule")

// admits reports whether Roles, Emails and Groups let the user of session
// e through. It does not allocate.
func (h *Auth) admits(e *session.Entry) bool {
	if len(h.Roles) == 0 && len(h.Emails) == 0 && len(h.Groups) == 0 {
		return true
	}
	id := e.Identity()
	if slices.Contains(h.Roles, string(id.Role)) {
		return true
	}
	for _, em := range h.Emails {
		if strings.EqualFold(em, id.Email) {
			return true
		}
	}
	return e.InGroup(h.Groups)
}

// routeToken returns the route token of r's Authorization header, as a
// bearer token or a basic-auth password (with its user name), if it is
// shaped as one. Other Authorization headers are the upstream's
// business and pass on with the session check.
func routeToken(r *http.Request) (user, token string, ok bool) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 {
		return "", "", false
	}
	switch {
	case strings.EqualFold(v[:7], "bearer "):
		token = strings.TrimSpace(v[7:])
	case strings.EqualFold(v[:6], "basic "):
		u, p, okBasic := r.BasicAuth()
		if !okBasic {
			return "", "", false
		}
		user, token = u, p
	default:
		return "", "", false
	}
	if !strings.HasPrefix(token, "prt_") {
		return "", "", false
	}
	return user, token, true
}

// serveToken lets a request with a route token through, with the
// token's identity, or refuses it (401 invalid_token, 429 past the
// limit of failures).
func (h *Auth) serveToken(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, user, token string) error {
	holder, err := h.app.routes.VerifyToken(r.Context(), h.routeID, user, token, api.ClientIP(r))
	var rl *fail.RateLimitedError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
		api.WriteJSON(w, http.StatusTooManyRequests, api.Body{Error: rl.Error()})
		return nil
	case errors.Is(err, router.ErrTokenInvalid):
		h.metrics.Gate(metrics.GateRefused)
		api.WriteUnauthenticated(w, reasonInvalidToken)
		return nil
	case store.IsUnavailable(err):
		w.Header().Set("Retry-After", "5")
		http.Error(w, store.ErrUnavailable.Error(), http.StatusServiceUnavailable)
		return nil
	case err != nil:
		h.logger.Error("verifying route token", zap.String("route_id", h.routeID), zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	h.metrics.Gate(metrics.GateToken)
	name := "token:" + holder.Name
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", name)
		repl.Set("http.auth.user.role", "token")
	}
	r.Header.Del("Authorization")
	r.Header["X-Proxyos-User"] = []string{name}
	r.Header["X-Proxyos-Role"] = []string{"token"}
	request.StripSessionCookies(r.Header)
	return next.ServeHTTP(w, r)
}

// reasonInvalidToken is the 401 reason of a route token that does not
// work on the route.
const reasonInvalidToken session.Reason = "invalid_token"

// setIdentity sets the identity headers to the given values.
func setIdentity(h http.Header, user, email, role, groups []string) {
	h["X-Proxyos-User"] = user
	h["X-Proxyos-Email"] = email
	h["X-Proxyos-Role"] = role
	h["X-Proxyos-Groups"] = groups
}

// unshare gives header name a copy of its value if it still is shared.
func unshare(h http.Header, name string, shared []string) {
	if v := h[name]; len(v) > 0 && &v[0] == &shared[0] {
		h[name] = slices.Clone(v)
	}
}

// refuse answers a request without a valid session: a redirect to the
// login page for browser navigations, else 401 with the reason.
func (h *Auth) refuse(w http.ResponseWriter, r *http.Request, reason session.Reason) error {
	if c := h.app.canonical; c != nil && request.IsNavigation(r) {
		back := api.Scheme(r) + "://" + r.Host + r.URL.RequestURI()
		login := c.String() + "/login?return=" + url.QueryEscape(back)
		if h.managed && !h.api.SessionCookieReaches(r.Host) {
			// the login will be handed back here (see nextURL), for
			// this browser only
			login += "&state=" + url.QueryEscape(api.NewHandoffState(w, r))
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, login, http.StatusFound)
		return nil
	}
	api.WriteUnauthenticated(w, reason)
	return nil
}

// Managed tells the gate that it guards a managed route (see
// router.Gate): logins may be handed off to its hosts, and with
// sharedHeaders its requests may carry the session's cached identity
// header values.
func (h *Auth) Managed(routeID string, sharedHeaders bool) {
	h.managed, h.sharedHeaders, h.routeID = true, sharedHeaders, routeID
}

// Interface guards
var (
	_ router.Gate                 = (*Auth)(nil)
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddy.Validator             = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)

// serveCallback answers session.HandoffPath on a host behind proxyos_auth: it
// exchanges the code for a host-only session cookie and sends the browser
// on to the page it wanted, a path on this host. A code that does not
// work for this browser sets nothing.
func (h *Auth) serveCallback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the login callback takes GET"))
	}
	q := r.URL.Query()
	next := request.LocalPath(q.Get("return"))
	state := ""
	if c, err := r.Cookie(api.HandoffStateCookie(r)); err == nil {
		state = c.Value
	}
	// The port is the one the connection arrived on: the client chooses
	// the Host header's.
	at := store.HandoffTarget{Scheme: api.Scheme(r), Host: request.NormalizeHost(r.Host), Port: request.LocalPort(r)}
	cookie, expires, err := h.app.state.sessions.RedeemHandoff(r.Context(), h.app.keys, q.Get("code"), state, at, api.ClientIP(r), r.UserAgent())
	switch {
	case errors.Is(err, session.ErrHandoffInvalid):
		if e, reason, _ := h.api.Verify(r); e != nil && reason == "" {
			http.Redirect(w, r, next, http.StatusFound) // back button: already logged in here
			return nil
		}
		if request.IsNavigation(r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "Login failed: %s.\nThe link works once, for a minute, in the browser that opened the page.\nOpen %s again to log in.\n", //nolint:errcheck // client gone
				err, next)
			return nil
		}
		api.WriteJSON(w, http.StatusBadRequest, api.Body{Error: err.Error(), Reason: session.ReasonHandoffInvalid})
		return nil
	case err != nil:
		h.logger.Error("login handoff", zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	http.SetCookie(w, &http.Cookie{Name: api.HandoffStateCookie(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: api.Scheme(r) == "https", SameSite: http.SameSiteLaxMode})
	// host-only: __Host- on HTTPS (see request.HostSessionCookieName)
	h.api.SetSessionCookie(w, r, cookie, expires.Sub(h.app.now()))
	http.Redirect(w, r, next, http.StatusFound)
	return nil
}
