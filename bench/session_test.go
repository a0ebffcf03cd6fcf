package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// Credentials of the benchmark user, for both gates.
const (
	benchEmail    = "bench@bench.test"
	benchUser     = "bench"
	benchPassword = "bench-password-0123"
)

// nextHandler is the handler after the gate: it does nothing, so the
// figures are the gate's own cost.
var nextHandler = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// passthrough is the "no auth" baseline: a middleware that only calls next.
type passthrough struct{}

func (passthrough) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// BenchmarkSessionVerify times one request through a gate whose
// credentials are valid and cached, as ServeHTTP with a request prepared
// like Caddy's server does (replacer, vars) and reused across iterations:
//
//   - gate=none: a middleware that only calls next (the fixture's cost);
//   - gate=proxyos_auth: the proxyos_auth handler with a valid session
//     cookie, its session in the cache;
//   - gate=proxyos_auth_route: the same in a route managed in the
//     dashboard (with require_login), as the router provisions it: there
//     it hands on the session's cached identity header values instead of
//     copying them;
//   - gate=basic_auth: Caddy's authentication handler with http_basic, a
//     bcrypt hash (Caddy's default cost) and its hash cache warm;
//   - verify=basic_auth: HTTPBasicAuth.Authenticate alone, the baseline
//     of verify=proxyos, the session cache's Verify alone (MAC check and
//     cache lookup), which is an in-package benchmark of
//     internal/session that run.sh runs in the same go test.
//
// Target (DESIGN 12): verification of a cached session ≤ 1 µs and
// 0 allocs/op; baseline: basic_auth.
func BenchmarkSessionVerify(b *testing.B) {
	app := loadProxyos(b, filepath.Join(workDir, "sessions.db"))
	cookie := newSession(b, app)
	gate := &proxyos.Auth{}
	if err := gate.Provision(caddy.ActiveContext()); err != nil {
		b.Fatalf("provisioning proxyos_auth: %v", err)
	}
	inRoute := routeGate(b)
	withRules := rulesGate(b)
	basic := basicAuth(b)

	b.Run("gate=none", func(b *testing.B) {
		benchGate(b, passthrough{}, func(h http.Header) { h.Set("Cookie", request.SessionCookieName+"="+cookie) })
	})
	b.Run("gate=proxyos_auth", func(b *testing.B) {
		benchGate(b, gate, func(h http.Header) { h.Set("Cookie", request.SessionCookieName+"="+cookie) })
	})
	b.Run("gate=proxyos_auth_route", func(b *testing.B) {
		benchGate(b, inRoute, func(h http.Header) { h.Set("Cookie", request.SessionCookieName+"="+cookie) })
	})
	b.Run("gate=proxyos_auth_rules", func(b *testing.B) {
		benchGate(b, withRules, func(h http.Header) { h.Set("Cookie", request.SessionCookieName+"="+cookie) })
	})
	b.Run("gate=basic_auth", func(b *testing.B) {
		benchGate(b, basic, func(h http.Header) { h.Set("Authorization", basicHeader()) })
	})
	b.Run("verify=basic_auth", func(b *testing.B) {
		prov := basic.Providers["http_basic"]
		w, req := preparedRequest(func(h http.Header) { h.Set("Authorization", basicHeader()) })
		if _, ok, err := prov.Authenticate(w, req); !ok || err != nil {
			b.Fatalf("basic auth refused: %v", err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, ok, _ := prov.Authenticate(w, req); !ok {
				b.Fatal("basic auth refused")
			}
		}
	})
}

// benchGate runs the middleware on one prepared request per iteration.
// Before each call the request is put back as the client sent it: the
// gate removes the session cookie and adds X-Proxyos-* headers, so the
// Cookie line is restored and the identity headers dropped (the same
// work is done for gate=none).
func benchGate(b *testing.B, h caddyhttp.MiddlewareHandler, creds func(http.Header)) {
	w, req := preparedRequest(creds)
	cookie := req.Header["Cookie"]
	reset := func() {
		if cookie != nil {
			req.Header["Cookie"] = cookie
		}
		delete(req.Header, "X-Proxyos-User")
		delete(req.Header, "X-Proxyos-Email")
		delete(req.Header, "X-Proxyos-Role")
		w.reset()
	}
	// The first call must pass the gate: a refusal would be timed as if
	// it were a verification.
	var passed bool
	check := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil })
	if err := h.ServeHTTP(w, req, check); err != nil || !passed {
		b.Fatalf("gate refused the request: %v (headers %v)", err, w.h)
	}
	reset()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, req, nextHandler) //nolint:errcheck // checked above
		reset()
	}
}

// preparedRequest returns a GET with the given credentials, prepared as
// Caddy's server prepares every request, and a writer to reuse.
func preparedRequest(creds func(http.Header)) (*discard, *http.Request) {
	req := httptest.NewRequest(http.MethodGet, "http://app.bench.test/", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	creds(req.Header)
	w := newDiscard()
	return w, caddyhttp.PrepareRequest(req, caddy.NewReplacer(), w, nil)
}

// newSession creates the benchmark user (once per database) and logs in
// through the dashboard's API, returning the session cookie's value.
func newSession(tb testing.TB, app *proxyos.App) string {
	tb.Helper()
	_, err := app.Accounts().CreateUser(context.Background(), account.HostCaller("127.0.0.1:0"),
		account.NewUser{Email: benchEmail, Password: benchPassword, Role: authz.Admin}, "")
	if err != nil && !errors.Is(err, account.ErrUserExists) {
		tb.Fatalf("creating user: %v", err)
	}
	d := &proxyos.Dashboard{}
	if err := d.Provision(caddy.ActiveContext()); err != nil {
		tb.Fatalf("provisioning dashboard: %v", err)
	}
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, benchEmail, benchPassword)
	req := httptest.NewRequest(http.MethodPost, "http://dash.bench.test/api/auth/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://dash.bench.test")
	rec := httptest.NewRecorder()
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, nil)
	if err := d.ServeHTTP(rec, req, nil); err != nil || rec.Code != http.StatusOK {
		tb.Fatalf("login: %d %v %s", rec.Code, err, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == request.SessionCookieName {
			return c.Value
		}
	}
	tb.Fatal("login set no session cookie")
	return ""
}

var (
	bcryptOnce sync.Once
	bcryptHash []byte
	bcryptErr  error
)

// routeGate returns a proxyos_auth handler as the router provisions it in
// a managed route with require_login that ends in a static response or
// reverse_proxy: managed, sharing the session's cached identity header
// values (internal/router's tests check that it does so).
func routeGate(tb testing.TB) *proxyos.Auth {
	tb.Helper()
	gate := &proxyos.Auth{}
	if err := gate.Provision(caddy.ActiveContext()); err != nil {
		tb.Fatalf("provisioning proxyos_auth: %v", err)
	}
	gate.Managed("", true)
	return gate
}

// rulesGate is routeGate with five access rules (paths, a method, CIDR
// ranges) that a request to /api/… passes one by one to the default,
// a login: the costliest case of the rules before the session check.
func rulesGate(tb testing.TB) *proxyos.Auth {
	tb.Helper()
	gate := &proxyos.Auth{Rules: []access.Rule{
		{Action: "allow", Path: "/health"},
		{Action: "allow", Path: "/hooks/*", Methods: []string{"POST"}},
		{Action: "deny", Path: "/admin/*"},
		{Action: "allow", CIDRs: []string{"192.168.0.0/16", "10.0.0.0/8"}},
		{Action: "deny", Path: "*.php"},
	}}
	if err := gate.Provision(caddy.ActiveContext()); err != nil {
		tb.Fatalf("provisioning proxyos_auth: %v", err)
	}
	gate.Managed("", true)
	return gate
}

// basicAuth provisions Caddy's authentication handler with http_basic as
// its Caddyfile directive does (bcrypt, hash cache on) and warms the
// cache with one request.
func basicAuth(tb testing.TB) *caddyauth.Authentication {
	tb.Helper()
	bcryptOnce.Do(func() { bcryptHash, bcryptErr = caddyauth.BcryptHash{}.Hash([]byte(benchPassword)) })
	if bcryptErr != nil {
		tb.Fatalf("hashing password: %v", bcryptErr)
	}
	cfg, err := json.Marshal(map[string]any{
		"hash":       map[string]any{"algorithm": "bcrypt"},
		"accounts":   []map[string]any{{"username": benchUser, "password": string(bcryptHash)}},
		"hash_cache": map[string]any{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	a := &caddyauth.Authentication{ProvidersRaw: caddy.ModuleMap{"http_basic": cfg}}
	if err := a.Provision(caddy.ActiveContext()); err != nil {
		tb.Fatalf("provisioning basic_auth: %v", err)
	}
	w, req := preparedRequest(func(h http.Header) { h.Set("Authorization", basicHeader()) })
	if err := a.ServeHTTP(w, req, nextHandler); err != nil {
		tb.Fatalf("warming basic_auth: %v", err)
	}
	return a
}

// basicHeader is the Authorization header of the benchmark user.
func basicHeader() string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(benchUser, benchPassword)
	return r.Header.Get("Authorization")
}
