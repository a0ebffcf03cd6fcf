package proxyos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// testSecret is the secret of test apps. Tests assert that it never
// shows up in responses or errors.
const testSecret = testkit.Secret

// testHost is the dashboard's host in handler tests.
const testHost = "dash.test"

// The roles, as the store keeps them.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// fakeClock is the clock tests move by hand.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock() }

// testApp is a provisioned App with its clock and database path: the one
// fixture of the dashboard's handler tests.
type testApp struct {
	*App
	clock  *fakeClock
	dbPath string
}

// newTestApp provisions an App with an SQLite database in a temporary
// directory, the given options applied first, and a fake clock shared by
// the app and its state.
func newTestApp(t *testing.T, configure ...func(*App)) *testApp {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	clock := newFakeClock()
	dbPath := filepath.Join(t.TempDir(), "proxyos.db")
	a := &App{
		Secret:   testSecret,
		Database: &Database{Driver: store.SQLite, DSN: dbPath},
		URL:      "http://" + testHost,
		now:      clock.Now,
	}
	for _, f := range configure {
		f(a)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	a.logger = zap.NewNop()
	return &testApp{App: a, clock: clock, dbPath: dbPath}
}

// dashboard returns a Dashboard handler of the app, set up as Provision
// does.
func (a *testApp) dashboard() *Dashboard {
	return &Dashboard{app: a.App, api: a.newAPI(zap.NewNop()), logger: zap.NewNop()}
}

// gate returns a proxyos_auth handler of the app, set up as Provision
// does, with the roles.
func (a *testApp) gate(roles ...string) *Auth {
	return &Auth{Roles: roles, app: a.App, api: a.newAPI(zap.NewNop()), logger: zap.NewNop()}
}

// withShared marks the gate's handlers as sharing its request headers
// (see Auth.sharedHeaders).
func (h *Auth) withShared(shared bool) *Auth {
	h.sharedHeaders = shared
	return h
}

// verifyRequest verifies a request's session as the handlers do.
func (a *testApp) verifyRequest(r *http.Request) (*session.Entry, session.Reason, error) {
	return a.newAPI(zap.NewNop()).Verify(r)
}

// addUser stores a user with a cheap password hash in the app's store.
func (a *testApp) addUser(t *testing.T, email, password, role string) store.User {
	t.Helper()
	return testkit.AddUser(t, a.state.store, email, password, role)
}

// newSession creates a session for u directly and returns its cookie.
func (a *testApp) newSession(t *testing.T, u store.User) string {
	t.Helper()
	cookie, _, err := a.state.sessions.Create(context.Background(), a.keys, u, time.Duration(a.SessionTTL), "192.0.2.1", "test")
	if err != nil {
		t.Fatalf("creating session: %v", err)
	}
	return cookie
}

// prepare gives req the context Caddy's server gives every request
// (replacer, vars) and returns it with its replacer.
func prepare(req *http.Request, w http.ResponseWriter) (*http.Request, *caddy.Replacer) {
	repl := caddy.NewReplacer()
	return caddyhttp.PrepareRequest(req, repl, w, nil), repl
}

// apiRequest builds a same-origin dashboard API request, as the
// dashboard's own pages send it.
func apiRequest(method, path, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://"+testHost+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", "http://"+testHost)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

// withCookie adds the session cookie to req.
func withCookie(req *http.Request, value string) *http.Request {
	req.Header.Add("Cookie", request.SessionCookieName+"="+value)
	return req
}

// serve runs the dashboard on req and returns the recorded response.
func serve(t *testing.T, d *Dashboard, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req, _ = prepare(req, rec)
	if err := d.ServeHTTP(rec, req, nil); err != nil {
		t.Fatalf("%s %s: handler error: %v", req.Method, req.URL.Path, err)
	}
	return rec
}

// responseCookie returns the session cookie set by a response, or nil.
func responseCookie(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == request.SessionCookieName || c.Name == request.HostSessionCookieName {
			return c
		}
	}
	return nil
}

// login logs in through the API and returns the new session cookie.
func login(t *testing.T, d *Dashboard, email, password string, cookie string) string {
	t.Helper()
	req := apiRequest(http.MethodPost, "/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if cookie != "" {
		withCookie(req, cookie)
	}
	rec := serve(t, d, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: status %d, body %s", rec.Code, rec.Body)
	}
	c := responseCookie(rec)
	if c == nil || c.Value == "" {
		t.Fatalf("login: no session cookie set")
	}
	return c.Value
}

// skipAllocsUnderRace skips an allocation test when the race detector
// is on.
func skipAllocsUnderRace(t *testing.T) { t.Helper(); testkit.SkipAllocsUnderRace(t) }

// Store returns the app's store.
func (a *testApp) Store() *store.Store { return a.state.store }

// mustKeyring builds a key ring or fails the test.
func mustKeyring(t testing.TB, current string, previous ...string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(current, previous)
	if err != nil {
		t.Fatalf("keyring.New: %v", err)
	}
	return k
}

// randomSecret returns a fresh secret.
func randomSecret(t testing.TB) string { return testkit.RandomSecret(t) }

// setUserDisabled flips the disabled flag of a user directly in the
// database, behind the back of the session cache.
func setUserDisabled(t *testing.T, dbPath, userID string, disabled bool) {
	t.Helper()
	testkit.SetUserDisabled(t, dbPath, userID, disabled)
}

// host is the admin API's caller (Caddy's admin API), who may do
// anything.
var host = account.HostCaller("127.0.0.1:2019")

// testActor is who makes the route changes a test sets up.
var testActor = audit.Actor{Name: "test", Kind: audit.ActorSystem}

// rtuStaticRoute returns a valid static route answering body.
func rtuStaticRoute(id, body string, hosts ...string) *route.Route {
	r := &route.Route{ID: id, Enabled: true, Hosts: hosts, Kind: route.KindStatic, Static: &route.Static{Body: body}}
	r.Normalize()
	return r
}

// rekey gives the app another key ring, as a new config with other
// secrets would.
func (a *testApp) rekey(k *keyring.Keyring) {
	a.keys = k
	a.accounts.Keys = k
	a.routes.Keys = k
	a.dns.Keys = k
}
