package proxyos

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// handoffFixture is an app whose dashboard is on dash.test (host-only
// cookie) with a managed route behind the login on another domain.
type handoffFixture struct {
	a      *testApp
	d      *Dashboard
	gate   *Auth
	email  string
	cookie string // the dashboard session
	state  string // the handoff state the browser holds on handoffHost
}

const handoffHost = "app.other.test"

func newHandoffFixture(t *testing.T) *handoffFixture {
	t.Helper()
	// Routes behind the login provision proxyos_auth, which finds the app
	// in a Caddy config: the app is loaded as Caddy loads it.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, _ := json.Marshal(map[string]any{
		"secret": testSecret, "url": "http://" + testHost,
		"database": map[string]string{"driver": store.SQLite, "dsn": filepath.Join(t.TempDir(), "proxyos.db")},
	})
	ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}, AppsRaw: caddy.ModuleMap{"proxyos": cfg}})
	if err != nil {
		t.Fatalf("provisioning the proxyos app: %v", err)
	}
	v, err := ctx.App("proxyos")
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	a := &testApp{App: v.(*App), clock: clock}
	t.Cleanup(func() { a.Cleanup() }) //nolint:errcheck // best effort
	a.logger, a.now = zap.NewNop(), clock.Now
	now := clock.Now
	a.state.clock.Store(&now)
	a.accounts.Now, a.routes.Now = clock.Now, clock.Now
	a.ports.Store(&listenPorts{http: []portRange{{80, 80}, {8080, 8080}}, https: []portRange{{443, 443}, {8443, 8443}}})
	for _, r := range []*route.Route{
		{Enabled: true, Hosts: []string{handoffHost}, Kind: route.KindStatic, TLS: route.TLSOff,
			Static: &route.Static{Status: 200, Body: "ok"}, Auth: &route.Auth{RequireLogin: true}},
		{Enabled: true, Hosts: []string{"open.other.test"}, Kind: route.KindStatic, TLS: route.TLSOff,
			Static: &route.Static{Status: 200, Body: "ok"}},
	} {
		if _, err := a.routes.Create(context.Background(), r, testActor); err != nil {
			t.Fatalf("CreateRoute: %v", err)
		}
	}
	u := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	return &handoffFixture{a: a, d: a.dashboard(), gate: func() *Auth { g := a.gate(); g.managed = true; return g }(), email: u.Email,
		cookie: a.newSession(t, u), state: "browser-state-1"}
}

// handoff asks the dashboard where to go for ret, as the login page does.
func (f *handoffFixture) handoff(t *testing.T, ret string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"return_to": ret, "state": f.state})
	rec := serve(t, f.d, withCookie(apiRequest(http.MethodPost, "/api/auth/handoff", string(body)), f.cookie))
	if rec.Code != http.StatusOK {
		t.Fatalf("handoff %s: %d %s", ret, rec.Code, rec.Body)
	}
	var out struct{ Redirect string }
	decodeBody(t, rec, &out)
	return out.Redirect
}

// callback follows a callback URL at the gate of its host (or of host,
// when set) and returns the response.
func (f *handoffFixture) callback(t *testing.T, cb, host string) *httptest.ResponseRecorder {
	t.Helper()
	return f.callbackOn(t, cb, host, 0)
}

// callbackOn follows a callback URL as callback does, the connection
// arriving on port (0: the URL's).
func (f *handoffFixture) callbackOn(t *testing.T, cb, host string, port int) *httptest.ResponseRecorder {
	t.Helper()
	req := onPort(httptest.NewRequest(http.MethodGet, cb, nil), port)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept", "text/html")
	if f.state != "" {
		req.AddCookie(&http.Cookie{Name: "proxyos_handoff", Value: f.state})
	}
	rec, next, err := gate(t, f.gate, req)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if next.called {
		t.Fatal("the callback reached the route's upstream")
	}
	return rec
}

func TestHandoffLogin(t *testing.T) {
	f := newHandoffFixture(t)
	cb := f.handoff(t, "http://"+handoffHost+":8080/x?y=1#top")
	u, err := url.Parse(cb)
	if err != nil || u.Host != handoffHost+":8080" || u.Path != session.HandoffPath || u.Query().Get("code") == "" || u.Query().Get("return") != "/x?y=1#top" {
		t.Fatalf("handoff redirect %q", cb)
	}
	rec := f.callback(t, cb, "")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/x?y=1#top" {
		t.Fatalf("callback: %d Location %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	c := responseCookie(rec)
	if c == nil || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != int(DefaultSessionTTL/time.Second) {
		t.Fatalf("callback cookie %+v, want a host-only HttpOnly Lax session cookie", c)
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("callback headers %v", rec.Header())
	}

	req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+":8080/x", nil)
	withCookie(req, c.Value)
	_, next, err := gate(t, f.gate, req)
	if err != nil || !next.called || next.header.Get("X-Proxyos-Email") != f.email {
		t.Fatalf("the handed-off session at its host: err %v passed %v email %q", err, next.called, next.header.Get("X-Proxyos-Email"))
	}
	if entries, _ := f.a.state.store.ListAudit(context.Background(), auditFilterAction("login.handoff"), 10, 0); len(entries) != 1 || entries[0].Target != handoffHost {
		t.Errorf("audit entries of the handoff: %+v", entries)
	}

	// Attack: replaying a code (from a log, a proxy, browser history).
	if rec := f.callback(t, cb, ""); rec.Code != http.StatusBadRequest || responseCookie(rec) != nil {
		t.Fatalf("replayed code: %d %v", rec.Code, responseCookie(rec))
	}
}

// Attack: a handoff session's cookie copied to another host (the
// dashboard, or another route) does not work there.
func TestHandoffSessionBoundToHost(t *testing.T) {
	f := newHandoffFixture(t)
	child := responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	for _, host := range []string{testHost, "open.other.test", "evil.test"} {
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		withCookie(req, child)
		if _, reason, _ := f.a.verifyRequest(req); reason != session.ReasonOtherHost {
			t.Errorf("handoff session on %s: reason %q, want %s", host, reason, session.ReasonOtherHost)
		}
	}
	if rec := serve(t, f.d, withCookie(apiRequest(http.MethodGet, "/api/users", ""), child)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("handoff session on the dashboard API: %d", rec.Code)
	}
}

// Attack: a code taken to another host (a look-alike domain, or another
// route) is refused and spent; an expired code is refused.
func TestHandoffCodeBoundAndShortLived(t *testing.T) {
	f := newHandoffFixture(t)
	cb := f.handoff(t, "http://"+handoffHost+"/")
	if rec := f.callback(t, cb, "evil.test"); rec.Code != http.StatusBadRequest {
		t.Fatalf("code on another host: %d", rec.Code)
	}
	if rec := f.callback(t, cb, ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("code after it was tried on another host: %d", rec.Code)
	}
	cb = f.handoff(t, "http://"+handoffHost+"/")
	f.a.clock.Advance(session.HandoffTTL + time.Second)
	if rec := f.callback(t, cb, ""); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "expired") {
		t.Fatalf("expired code: %d %s", rec.Code, rec.Body)
	}
}

// Logging out at the dashboard ends the handoff sessions made from it.
func TestHandoffSessionEndsWithParent(t *testing.T) {
	f := newHandoffFixture(t)
	child := responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	rec := serve(t, f.d, withCookie(apiRequest(http.MethodPost, "/api/auth/logout", "{}"), f.cookie))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+"/", nil)
	withCookie(req, child)
	if _, reason, _ := f.a.verifyRequest(req); reason != session.ReasonRevoked {
		t.Fatalf("handoff session after the dashboard logout: %q, want revoked", reason)
	}
}

// Attack: open redirect. A code goes only to managed hosts behind the
// login; the callback sends the browser only to a path on its own host.
func TestHandoffNoOpenRedirect(t *testing.T) {
	f := newHandoffFixture(t)
	for _, ret := range []string{"https://evil.test/", "http://open.other.test/", "javascript:alert(1)", "http://" + handoffHost + "@evil.test/"} {
		if got := f.handoff(t, ret); got != "/" {
			t.Errorf("return_to %q: redirect %q, want /", ret, got)
		}
	}
	u, _ := url.Parse(f.handoff(t, "http://"+handoffHost+"/"))
	for _, ret := range []string{"//evil.test/", "https://evil.test/", "/\\evil.test", "/%2F%2Fevil.test"} {
		q := u.Query()
		q.Set("return", ret)
		u.RawQuery = q.Encode()
		rec := f.callback(t, u.String(), "")
		// a path on this host: "/", or an escaped "/%2F%2Fevil.test"
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusFound || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "\\") {
			t.Errorf("callback with return %q: %d to %q, want a path on this host", ret, rec.Code, loc)
		}
		u, _ = url.Parse(f.handoff(t, "http://"+handoffHost+"/"))
	}
}

// A login with a return URL on a handoff host answers the callback URL.
func TestLoginAnswersHandoff(t *testing.T) {
	f := newHandoffFixture(t)
	body, _ := json.Marshal(map[string]string{"email": f.email, "password": testPassword, "return_to": "http://" + handoffHost + "/x", "state": f.state})
	rec := serve(t, f.d, apiRequest(http.MethodPost, "/api/auth/login", string(body)))
	var out struct{ Redirect string }
	decodeBody(t, rec, &out)
	if rec.Code != http.StatusOK || !strings.HasPrefix(out.Redirect, "http://"+handoffHost+session.HandoffPath+"?code=") {
		t.Fatalf("login: %d redirect %q", rec.Code, out.Redirect)
	}
	if rec := f.callback(t, out.Redirect, ""); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/x" {
		t.Fatalf("callback after login: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// Attack: login CSRF. A code minted with the attacker's own session and
// sent to a victim's browser must not log the victim in as the attacker:
// it works only with the state cookie of the browser whose gate visit
// asked for it.
func TestHandoffBoundToBrowser(t *testing.T) {
	f := newHandoffFixture(t)
	cb := f.handoff(t, "http://"+handoffHost+"/")
	victim := *f
	victim.state = "" // a browser that never visited the gate for this code
	if rec := victim.callback(t, cb, ""); rec.Code != http.StatusBadRequest || responseCookie(rec) != nil {
		t.Fatalf("code in a browser without the state cookie: %d cookie %v", rec.Code, responseCookie(rec))
	}
	cb = f.handoff(t, "http://"+handoffHost+"/")
	victim.state = "someone-elses-state"
	if rec := victim.callback(t, cb, ""); rec.Code != http.StatusBadRequest || responseCookie(rec) != nil {
		t.Fatalf("code in a browser with another state: %d", rec.Code)
	}
	// Without a state the dashboard hands nothing off.
	f.state = ""
	if got := f.handoff(t, "http://"+handoffHost+"/"); got != "/" {
		t.Fatalf("handoff without a state: %q, want /", got)
	}
}

// The gate gives browsers it sends to the login a state cookie, on hosts
// the session cookie does not reach, and names the state in the login
// URL.
func TestGateStartsHandoff(t *testing.T) {
	f := newHandoffFixture(t)
	req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+"/x", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	rec, next, _ := gate(t, f.gate, req)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	var state *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "proxyos_handoff" {
			state = c
		}
	}
	if next.called || rec.Code != http.StatusFound || loc == nil || loc.Host != testHost || state == nil || !state.HttpOnly ||
		loc.Query().Get("state") != state.Value || loc.Query().Get("return") != "http://"+handoffHost+"/x" {
		t.Fatalf("gate: %d Location %q state cookie %+v", rec.Code, rec.Header().Get("Location"), state)
	}
	req = httptest.NewRequest(http.MethodGet, "http://"+testHost+"/x", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	rec, _, _ = gate(t, f.gate, req)
	if loc, _ := url.Parse(rec.Header().Get("Location")); loc == nil || loc.Query().Has("state") || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("gate on the dashboard's host: Location %q cookies %v, want no handoff state", rec.Header().Get("Location"), rec.Result().Cookies())
	}
	// A proxyos_auth directive (not a managed route) hands nothing off and
	// leaves the callback path to its site.
	directive := f.a.gate()
	for _, path := range []string{"/x", session.HandoffPath + "?code=x"} {
		req = httptest.NewRequest(http.MethodGet, "http://"+handoffHost+path, nil)
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		rec, _, _ = gate(t, directive, req)
		if loc, _ := url.Parse(rec.Header().Get("Location")); rec.Code != http.StatusFound || loc == nil || loc.Path != "/login" || loc.Query().Has("state") {
			t.Fatalf("directive gate on %s: %d Location %q, want the login without a handoff state", path, rec.Code, rec.Header().Get("Location"))
		}
	}
}

// Attack: downgrading the code to plain HTTP (or another port) through
// the return URL. The callback takes the route's scheme.
func TestHandoffCallbackUsesRouteScheme(t *testing.T) {
	f := newHandoffFixture(t)
	r := &route.Route{Enabled: true, Hosts: []string{"tls.other.test"}, Kind: route.KindStatic, TLS: route.TLSInternal,
		Static: &route.Static{Status: 200, Body: "ok"}, Auth: &route.Auth{RequireLogin: true}}
	if _, err := f.a.routes.Create(context.Background(), r, testActor); err != nil {
		t.Fatal(err)
	}
	for ret, want := range map[string]string{
		"http://tls.other.test:9999/x":  "https://tls.other.test" + session.HandoffPath,
		"https://tls.other.test:8443/x": "https://tls.other.test:8443" + session.HandoffPath,
	} {
		if got := f.handoff(t, ret); !strings.HasPrefix(got, want+"?") {
			t.Errorf("return %s: callback %q, want %s", ret, got, want)
		}
	}
}

func TestHandoffCallbackDetails(t *testing.T) {
	f := newHandoffFixture(t)
	cb := f.handoff(t, "http://"+handoffHost+"/x")
	req := httptest.NewRequest(http.MethodHead, cb, nil)
	req.AddCookie(&http.Cookie{Name: "proxyos_handoff", Value: f.state})
	if _, _, err := gate(t, f.gate, req); err == nil {
		t.Fatal("HEAD redeemed the code")
	}
	child := responseCookie(f.callback(t, cb, "")).Value
	// Back button: the used code again, with the session it made, goes on.
	req = httptest.NewRequest(http.MethodGet, cb, nil)
	withCookie(req, child)
	rec, _, _ := gate(t, f.gate, req)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/x" {
		t.Fatalf("used code with a valid session: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// Logging out an idle dashboard session still ends its handoff sessions.
func TestHandoffLogoutAfterIdle(t *testing.T) {
	f := newHandoffFixture(t)
	child := responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	use := func() session.Reason {
		req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+"/", nil)
		withCookie(req, child)
		_, reason, _ := f.a.verifyRequest(req)
		return reason
	}
	// The handoff session stays in use while the dashboard one idles out.
	f.a.clock.Advance(DefaultSessionIdle / 2)
	if r := use(); r != "" {
		t.Fatalf("handoff session in use: %q", r)
	}
	f.a.clock.Advance(DefaultSessionIdle/2 + time.Minute)
	if r := use(); r != "" {
		t.Fatalf("handoff session in use: %q", r)
	}
	rec := serve(t, f.d, withCookie(apiRequest(http.MethodPost, "/api/auth/logout", "{}"), f.cookie))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("logout of an idle session: %d", rec.Code)
	}
	if r := use(); r != session.ReasonRevoked {
		t.Fatalf("handoff session after logging out the idle dashboard session: %q, want revoked", r)
	}
}

// An admin who changes their own role keeps their session and its
// handoff sessions, with the new role everywhere.
func TestHandoffSessionsFollowRoleChange(t *testing.T) {
	f := newHandoffFixture(t)
	u, _ := f.a.state.store.UserByEmail(context.Background(), f.email)
	child := responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	keep := sessionIDOf(t, f.a, f.cookie)
	role := authz.Operator
	me := account.Caller{UserID: u.ID, Email: u.Email, Role: authz.Admin, SessionID: keep}
	if _, err := f.a.accounts.UpdateUser(context.Background(), me, u.ID, account.UserChange{Role: &role}, ""); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+"/", nil)
	withCookie(req, child)
	if e, reason, _ := f.a.verifyRequest(req); reason != "" || e.Identity().Role != authz.Operator {
		t.Fatalf("handoff session after a role change: reason %q role %v", reason, e)
	}
}

func sessionUserID(t *testing.T, f *handoffFixture) string {
	t.Helper()
	u, err := f.a.state.store.UserByEmail(context.Background(), f.email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func auditFilterAction(action string) store.AuditFilter { return store.AuditFilter{Action: action} }

// onPort gives req the local address of a connection that arrived on
// port (0: the port of req's URL, or its scheme's default), as Caddy's
// server does.
func onPort(req *http.Request, port int) *http.Request {
	if port == 0 {
		port = map[string]int{"http": 80, "https": 443}[req.URL.Scheme]
		if p, err := strconv.Atoi(req.URL.Port()); err == nil {
			port = p
		}
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	return req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, addr))
}

// Attack: a handoff code sent to a port of the route's host that this
// Caddy does not serve (return_to=http://app.test:4444/x), where whoever
// listens there would receive the code. No code is issued: the browser
// goes to the dashboard instead.
func TestHandoffOnlyToServedPorts(t *testing.T) {
	f := newHandoffFixture(t)
	r := &route.Route{Enabled: true, Hosts: []string{"tls.other.test"}, Kind: route.KindStatic, TLS: route.TLSInternal,
		Static: &route.Static{Status: 200, Body: "ok"}, Auth: &route.Auth{RequireLogin: true}}
	if _, err := f.a.routes.Create(context.Background(), r, testActor); err != nil {
		t.Fatal(err)
	}
	for _, ret := range []string{
		"http://" + handoffHost + ":4444/x",
		"http://" + handoffHost + ":443/x", // an HTTPS port, for a plain HTTP route
		"https://tls.other.test:4444/x",
		"https://tls.other.test:8080/x", // an HTTP port, for an HTTPS route
		"http://" + handoffHost + ":99999/x",
	} {
		if got := f.handoff(t, ret); got != "/" {
			t.Errorf("return_to %s: redirect %q, want / (no code)", ret, got)
		}
	}
	for ret, want := range map[string]string{
		"http://" + handoffHost + "/x":       "http://" + handoffHost + session.HandoffPath,
		"http://" + handoffHost + ":8080/x":  "http://" + handoffHost + ":8080" + session.HandoffPath,
		"https://" + handoffHost + ":4444/x": "http://" + handoffHost + session.HandoffPath, // the route's scheme, its default port
		"https://tls.other.test:8443/x":      "https://tls.other.test:8443" + session.HandoffPath,
	} {
		if got := f.handoff(t, ret); !strings.HasPrefix(got, want+"?code=") {
			t.Errorf("return_to %s: redirect %q, want %s", ret, got, want)
		}
	}
}

// Attack: a code issued for one port (or scheme) of a host presented on
// another, with the Host header naming the first: the code is bound to
// the port the connection arrives on, which the client cannot choose.
func TestHandoffCodeBoundToPort(t *testing.T) {
	f := newHandoffFixture(t)
	cb := f.handoff(t, "http://"+handoffHost+":8080/x")
	if rec := f.callbackOn(t, cb, "", 80); rec.Code != http.StatusBadRequest || responseCookie(rec) != nil {
		t.Fatalf("code for port 8080 on port 80: %d cookie set %v, want 400 and none", rec.Code, responseCookie(rec) != nil)
	}
	if rec := f.callback(t, cb, ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("code after a try on another port: %d, want it spent", rec.Code)
	}
	cb = f.handoff(t, "http://"+handoffHost+":8080/x")
	if rec := f.callback(t, strings.Replace(cb, "http://", "https://", 1), ""); rec.Code != http.StatusBadRequest || responseCookie(rec) != nil {
		t.Fatalf("code for http presented over https: %d", rec.Code)
	}
	cb = f.handoff(t, "http://"+handoffHost+":8080/x")
	if rec := f.callback(t, cb, ""); rec.Code != http.StatusFound || responseCookie(rec) == nil {
		t.Fatalf("code on its own port: %d %s", rec.Code, rec.Body)
	}
}

// Attack: minting sessions through the handoff. Logging in to one host
// again from the same dashboard session reuses that host's session with
// a new token (the previous cookie stops working) instead of adding one.
func TestHandoffReusesSession(t *testing.T) {
	f := newHandoffFixture(t)
	first := responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	firstID := sessionIDOf(t, f.a, first)
	var last string
	for range 5 {
		last = responseCookie(f.callback(t, f.handoff(t, "http://"+handoffHost+"/"), "")).Value
	}
	if id := sessionIDOf(t, f.a, last); id != firstID {
		t.Errorf("session of the sixth handoff %s, want the first one's %s", id, firstID)
	}
	req := httptest.NewRequest(http.MethodGet, "http://"+handoffHost+"/", nil)
	withCookie(req, first)
	if _, reason, _ := f.a.verifyRequest(req); reason != session.ReasonRevoked {
		t.Errorf("the replaced cookie: reason %q, want %s", reason, session.ReasonRevoked)
	}
	sessions, _, err := f.a.accounts.ActiveSessions(context.Background(), host, sessionUserID(t, f))
	if err != nil || len(sessions) != 2 {
		t.Fatalf("sessions after six handoffs to one host: %d (%v), want the dashboard's and one", len(sessions), err)
	}
}

// Attack: filling the handoff_codes table from one session. A session
// gets session.HandoffCodesPerMinute codes a minute, then 429 with Retry-After.
func TestHandoffCodesRateLimited(t *testing.T) {
	f := newHandoffFixture(t)
	for i := range session.HandoffCodesPerMinute {
		if got := f.handoff(t, "http://"+handoffHost+"/"); !strings.Contains(got, "?code=") {
			t.Fatalf("code %d: redirect %q", i+1, got)
		}
	}
	body, _ := json.Marshal(map[string]string{"return_to": "http://" + handoffHost + "/", "state": f.state})
	rec := serve(t, f.d, withCookie(apiRequest(http.MethodPost, "/api/auth/handoff", string(body)), f.cookie))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("code %d within a minute: %d Retry-After %q, want 429 and 60", session.HandoffCodesPerMinute+1, rec.Code, rec.Header().Get("Retry-After"))
	}
	// Another session of the same user has its own budget.
	u, _ := f.a.state.store.UserByEmail(context.Background(), f.email)
	other := *f
	other.cookie = f.a.newSession(t, u)
	if got := other.handoff(t, "http://"+handoffHost+"/"); !strings.Contains(got, "?code=") {
		t.Errorf("another session: redirect %q", got)
	}
	f.a.clock.Advance(time.Minute)
	if got := f.handoff(t, "http://"+handoffHost+"/"); !strings.Contains(got, "?code=") {
		t.Errorf("a minute later: redirect %q", got)
	}
}
