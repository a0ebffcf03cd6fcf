package proxyos

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/proxyos/route"
	"github.com/proxyos/caddy-proxyos/proxyos/store"
)

// handoffFixture is an app whose dashboard is on dash.test (host-only
// cookie) with a managed route behind the login on another domain.
type handoffFixture struct {
	a      *testApp
	d      *Dashboard
	gate   *Auth
	email  string
	cookie string // the dashboard session
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
	a.logger, a.now, a.state.sessions.now = zap.NewNop(), clock.Now, clock.Now
	for _, r := range []*route.Route{
		{Enabled: true, Hosts: []string{handoffHost}, Kind: route.KindStatic, TLS: route.TLSOff,
			Static: &route.Static{Status: 200, Body: "ok"}, Auth: &route.Auth{RequireLogin: true}},
		{Enabled: true, Hosts: []string{"open.other.test"}, Kind: route.KindStatic, TLS: route.TLSOff,
			Static: &route.Static{Status: 200, Body: "ok"}},
	} {
		if _, err := a.CreateRoute(context.Background(), r, Actor{Name: "test", Kind: ActorSystem}); err != nil {
			t.Fatalf("CreateRoute: %v", err)
		}
	}
	u := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	return &handoffFixture{a: a, d: a.dashboard(), gate: &Auth{app: a.App, logger: zap.NewNop()}, email: u.Email,
		cookie: a.newSession(t, u)}
}

// handoff asks the dashboard where to go for ret, as the login page does.
func (f *handoffFixture) handoff(t *testing.T, ret string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"return_to": ret})
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
	req := httptest.NewRequest(http.MethodGet, cb, nil)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept", "text/html")
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
	if err != nil || u.Host != handoffHost+":8080" || u.Path != handoffPath || u.Query().Get("code") == "" || u.Query().Get("return") != "/x?y=1#top" {
		t.Fatalf("handoff redirect %q", cb)
	}
	rec := f.callback(t, cb, "")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/x?y=1#top" {
		t.Fatalf("callback: %d Location %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	c := responseCookie(rec)
	if c == nil || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
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
		if _, reason, _ := f.a.verifyRequest(req); reason != ReasonOtherHost {
			t.Errorf("handoff session on %s: reason %q, want %s", host, reason, ReasonOtherHost)
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
	f.a.clock.Advance(handoffTTL + time.Second)
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
	if _, reason, _ := f.a.verifyRequest(req); reason != ReasonRevoked {
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
	body, _ := json.Marshal(map[string]string{"email": f.email, "password": testPassword, "return_to": "http://" + handoffHost + "/x"})
	rec := serve(t, f.d, apiRequest(http.MethodPost, "/api/auth/login", string(body)))
	var out struct{ Redirect string }
	decodeBody(t, rec, &out)
	if rec.Code != http.StatusOK || !strings.HasPrefix(out.Redirect, "http://"+handoffHost+handoffPath+"?code=") {
		t.Fatalf("login: %d redirect %q", rec.Code, out.Redirect)
	}
	if rec := f.callback(t, out.Redirect, ""); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/x" {
		t.Fatalf("callback after login: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func auditFilterAction(action string) store.AuditFilter { return store.AuditFilter{Action: action} }
