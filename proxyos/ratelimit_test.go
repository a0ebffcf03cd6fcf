package proxyos

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// rateLimitFixture is an app loaded as Caddy loads it (rate limits find
// the app in the config), with a fake clock.
type rateLimitFixture struct {
	*testApp
	ctx    caddy.Context
	dbPath string
}

func newRateLimitFixture(t *testing.T) *rateLimitFixture {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	f := &rateLimitFixture{dbPath: filepath.Join(t.TempDir(), "proxyos.db")}
	f.ctx, f.testApp = f.load(t)
	return f
}

// load provisions a config of the fixture's database, as a reload does.
func (f *rateLimitFixture) load(t *testing.T) (caddy.Context, *testApp) {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{
		"secret": testSecret, "url": "http://" + testHost,
		"database": map[string]string{"driver": store.SQLite, "dsn": f.dbPath},
	})
	ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}, AppsRaw: caddy.ModuleMap{"proxyos": cfg}})
	if err != nil {
		t.Fatalf("provisioning the proxyos app: %v", err)
	}
	v, err := ctx.App("proxyos")
	if err != nil {
		t.Fatal(err)
	}
	a := &testApp{App: v.(*App), clock: newFakeClock()}
	if f.testApp != nil {
		a.clock = f.clock
	}
	t.Cleanup(func() { a.Cleanup() }) //nolint:errcheck // best effort
	now := a.clock.Now
	a.logger, a.now = zap.NewNop(), now
	a.state.clock.Store(&now)
	a.routes.Now = now
	return ctx, a
}

// limitedRoute is a static route on host limited by rl.
func limitedRoute(host string, rl *route.RateLimit) *route.Route {
	return &route.Route{Enabled: true, Hosts: []string{host}, Kind: route.KindStatic, TLS: route.TLSOff,
		Static: &route.Static{Status: 200, Body: "ok"}, RateLimit: rl}
}

// get serves GET http://host/ from ip through the managed routes of a.
func get(t *testing.T, a *App, host, ip string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil), rec)
	caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, ip)
	for k, v := range header {
		req.Header[k] = v
	}
	h := &RoutesHandler{app: a}
	if err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatalf("%s fell through: no route", host)
		return nil
	})); err != nil {
		t.Fatalf("serving %s: %v", host, err)
	}
	return rec
}

// TestRateLimitPerClientIP: past its limit a client gets 429 with
// Retry-After and a body, another client does not, and time earns
// requests back.
func TestRateLimitPerClientIP(t *testing.T) {
	f := newRateLimitFixture(t)
	if _, err := f.routes.Create(context.Background(), limitedRoute("limited.test", &route.RateLimit{Requests: 3, Per: "1m"}), testActor); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if rec := get(t, f.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i+1, rec.Code)
		}
	}
	rec := get(t, f.App, "limited.test", "192.0.2.1", nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "20" || rec.Body.String() != "too many requests: retry in 20s\n" {
		t.Fatalf("4th request: %d, Retry-After %q, body %q; want 429, 20, a body", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if rec := get(t, f.App, "limited.test", "192.0.2.2", nil); rec.Code != http.StatusOK {
		t.Fatalf("another client: %d, want 200", rec.Code)
	}
	// An IPv6 client rotating addresses in its /64 stays one client.
	for i, ip := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4"} {
		if want, rec := map[bool]int{true: 200, false: 429}[i < 3], get(t, f.App, "limited.test", ip, nil); rec.Code != want {
			t.Fatalf("IPv6 %s: %d, want %d", ip, rec.Code, want)
		}
	}
	f.clock.Advance(20 * time.Second)
	if rec := get(t, f.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusOK {
		t.Fatalf("after Retry-After: %d, want 200", rec.Code)
	}
}

// TestRateLimitPerHeader: with key header:X-Api-Key, each value has its
// limit; a request without the header counts against its client IP.
func TestRateLimitPerHeader(t *testing.T) {
	f := newRateLimitFixture(t)
	rl := &route.RateLimit{Requests: 1, Per: "1h", Key: "header:x-api-key"}
	if _, err := f.routes.Create(context.Background(), limitedRoute("api.test", rl), testActor); err != nil {
		t.Fatal(err)
	}
	keyA, keyB := http.Header{"X-Api-Key": {"a"}}, http.Header{"X-Api-Key": {"b"}}
	for _, step := range []struct {
		ip     string
		header http.Header
		want   int
	}{
		{"192.0.2.1", keyA, 200}, {"192.0.2.2", keyA, 429}, {"192.0.2.1", keyB, 200},
		{"192.0.2.1", nil, 200}, {"192.0.2.1", nil, 429}, {"192.0.2.2", nil, 200},
	} {
		if rec := get(t, f.App, "api.test", step.ip, step.header); rec.Code != step.want {
			t.Fatalf("%s with %v: %d, want %d", step.ip, step.header, rec.Code, step.want)
		}
	}
}

// TestRateLimitSharedAcrossChanges: the counts survive a change of the
// route's other settings and a config reload; a change of the limit
// starts afresh.
func TestRateLimitSharedAcrossChanges(t *testing.T) {
	f := newRateLimitFixture(t)
	ctx := context.Background()
	r, err := f.routes.Create(ctx, limitedRoute("limited.test", &route.RateLimit{Requests: 2, Per: "1h"}), testActor)
	if err != nil {
		t.Fatal(err)
	}
	get(t, f.App, "limited.test", "192.0.2.1", nil)
	get(t, f.App, "limited.test", "192.0.2.1", nil)

	r.Name = "renamed"
	if r, err = f.routes.Update(ctx, r.ID, r, testActor); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, f.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after a change of the name: %d, want 429 (counts kept)", rec.Code)
	}

	_, reloaded := f.load(t)
	if rec := get(t, reloaded.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after a reload: %d, want 429 (counts kept)", rec.Code)
	}
	if err := f.App.Cleanup(); err != nil { // the old config stops
		t.Fatal(err)
	}
	if rec := get(t, reloaded.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("after the old config stopped: %d, want 429 (counts kept)", rec.Code)
	}

	r.RateLimit.Requests = 3
	if _, err = reloaded.routes.Update(ctx, r.ID, r, testActor); err != nil {
		t.Fatal(err)
	}
	if rec := get(t, reloaded.App, "limited.test", "192.0.2.1", nil); rec.Code != http.StatusOK {
		t.Fatalf("after a change of the limit: %d, want 200 (a fresh limit)", rec.Code)
	}
}

// TestRateLimitReleased: a deleted route's limiter is dropped, so routes
// come and go without the state growing.
func TestRateLimitReleased(t *testing.T) {
	f := newRateLimitFixture(t)
	ctx := context.Background()
	r, err := f.routes.Create(ctx, limitedRoute("limited.test", &route.RateLimit{Requests: 2, Per: "1h"}), testActor)
	if err != nil {
		t.Fatal(err)
	}
	key := r.ID + " 2 3600000000000 0 client_ip"
	if _, ok := f.state.rateLimits.References(key); !ok {
		t.Fatalf("no limiter %q in the state", key)
	}
	if err := f.routes.Delete(ctx, r.ID, r.Version, testActor); err != nil {
		t.Fatal(err)
	}
	if n, ok := f.state.rateLimits.References(key); ok {
		t.Fatalf("the deleted route's limiter is still held (%d references)", n)
	}
}

func TestRateLimitAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	f := newRateLimitFixture(t)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, key := range []string{"client_ip", "header:X-Api-Key"} {
		h := &RateLimit{RouteID: "r1", Requests: 1 << 30, Per: caddy.Duration(time.Second), Key: key}
		if err := h.Provision(f.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Cleanup() }) //nolint:errcheck // best effort
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
		caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, "2001:db8::1")
		req.Header.Set("X-Api-Key", "k")
		serve := func() {
			if err := h.ServeHTTP(rec, req, next); err != nil {
				t.Fatal(err)
			}
		}
		serve()
		if n := testing.AllocsPerRun(100, serve); n != 0 {
			t.Errorf("key %s: %.1f allocations per allowed request, want none", key, n)
		}
	}
}

// TestRateLimitPerUser: with key user, each logged-in user has their
// limit, whatever address they come from: two users behind one address
// (a company's NAT) do not spend each other's requests.
func TestRateLimitPerUser(t *testing.T) {
	f := newRateLimitFixture(t)
	r := limitedRoute(testHost, &route.RateLimit{Requests: 1, Per: "1h", Key: "user"})
	r.Auth = &route.Auth{RequireLogin: true}
	if _, err := f.routes.Create(context.Background(), r, testActor); err != nil {
		t.Fatal(err)
	}
	cookie := func(email string) http.Header {
		s := f.newSession(t, f.addUser(t, email, "password1", RoleViewer))
		return http.Header{"Cookie": {request.SessionCookieName + "=" + s}}
	}
	ada, bob := cookie("ada@example.com"), cookie("bob@example.com")
	for _, step := range []struct {
		ip     string
		header http.Header
		want   int
	}{
		{"192.0.2.1", ada, 200}, {"192.0.2.1", bob, 200}, {"192.0.2.2", ada, 429}, {"192.0.2.1", bob, 429},
	} {
		if rec := get(t, f.App, testHost, step.ip, step.header); rec.Code != step.want {
			t.Fatalf("%s: %d %s, want %d", step.ip, rec.Code, rec.Body, step.want)
		}
	}
}
