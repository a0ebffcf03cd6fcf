package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/proxyos/caddy-proxyos"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// benchSecret is the proxyos secret of every in-process config.
const benchSecret = "bench-secret-0123456789-abcdefghij"

// workDir holds the data and config directories and the route databases
// of this test process.
var workDir string

// quick makes every benchmark use tiny route counts (TestQuick and
// BENCH_QUICK=1), so CI exercises the code paths without the cost.
var quick = os.Getenv("BENCH_QUICK") != ""

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "proxyos-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	// Caddy reads these when it first needs its data directory: keep the
	// benchmarks out of the real home.
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	code := m.Run()
	caddy.Stop() //nolint:errcheck // nothing to do about it at exit
	os.RemoveAll(dir)
	os.Exit(code)
}

// routeCounts returns the route counts a benchmark is run at: the given
// ones, or in quick mode tiny ones (up to 10 kept, up to 1,000 → 30,
// more → 100).
func routeCounts(full ...int) []int {
	if !quick {
		return full
	}
	out := make([]int, len(full))
	for i, n := range full {
		switch {
		case n <= 10:
			out[i] = n
		case n <= 1000:
			out[i] = 30
		default:
			out[i] = 100
		}
	}
	return out
}

// global is the part of every in-process config that keeps Caddy quiet
// and off the network: no admin endpoint, no autosave, errors-only logs.
func global(apps map[string]any) []byte {
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps":    apps,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// server is an HTTP server on a random loopback port without automatic
// HTTPS, serving routes.
func server(routes []map[string]any) map[string]any {
	return map[string]any{"servers": map[string]any{"bench": map[string]any{
		"listen":          []string{"127.0.0.1:0"},
		"automatic_https": map[string]any{"disable": true},
		"routes":          routes,
	}}}
}

// proxyosConfig is a config with the proxyos app on the SQLite database
// at dbPath and a catch-all site serving its routes, as a user would run
// it.
func proxyosConfig(dbPath string) []byte {
	return global(map[string]any{
		"proxyos": map[string]any{
			"secret":   benchSecret,
			"database": map[string]any{"driver": "sqlite", "dsn": dbPath},
			"url":      "http://dash.bench.test",
		},
		"http": server([]map[string]any{{"handle": []map[string]any{
			{"handler": "proxyos_routes"},
			{"handler": "static_response", "status_code": 404, "body": "no route"},
		}}}),
	})
}

// benchActor makes the benchmarks' route changes.
var benchActor = audit.Actor{Name: "bench", Kind: audit.ActorSystem}

// loadProxyos runs the proxyos config on dbPath and returns its app.
func loadProxyos(tb testing.TB, dbPath string) *proxyos.App {
	tb.Helper()
	if err := caddy.Load(proxyosConfig(dbPath), true); err != nil {
		tb.Fatalf("loading proxyos config: %v", err)
	}
	return activeApp(tb)
}

// activeApp returns the proxyos app of the running config.
func activeApp(tb testing.TB) *proxyos.App {
	tb.Helper()
	app, err := caddy.ActiveContext().App("proxyos")
	if err != nil {
		tb.Fatalf("proxyos app: %v", err)
	}
	return app.(*proxyos.App)
}

// Hosts of the seeded routes: the first route is a static page (what
// in-process request benchmarks hit, so no upstream is involved), the
// others proxy to the upstream.
const staticHost = "static.bench.test"

func proxyHost(i int) string { return "r" + strconv.Itoa(i) + ".bench.test" }

// deadUpstream is the upstream of in-process proxy routes: they are
// compiled and provisioned but never asked to proxy.
const deadUpstream = "http://127.0.0.1:9"

// staticRoute is the route of staticHost.
func staticRoute() *route.Route {
	return &route.Route{Name: "static", Enabled: true, Hosts: []string{staticHost}, Kind: route.KindStatic,
		TLS: route.TLSOff, Static: &route.Static{Status: 200, Body: "ok", ContentType: "text/plain"}}
}

// proxyRoute is the i-th proxy route.
func proxyRoute(i int, upstream string) *route.Route {
	return &route.Route{Name: "r" + strconv.Itoa(i), Enabled: true, Hosts: []string{proxyHost(i)},
		Kind: route.KindProxy, TLS: route.TLSOff, Upstreams: []string{upstream}}
}

// routeDB is an SQLite database holding n routes, made once per process.
type routeDB struct {
	n        int
	path     string
	targetID string // a proxy route (the first) that apply benchmarks change
	version  int    // its version when seeded
}

var (
	routeDBsMu sync.Mutex
	routeDBs   = map[int]*routeDB{}
)

// seededDB returns a database with n routes (one static, n-1 proxies),
// creating it through App.CreateRoute on first use.
func seededDB(tb testing.TB, n int) *routeDB {
	tb.Helper()
	routeDBsMu.Lock()
	defer routeDBsMu.Unlock()
	if db := routeDBs[n]; db != nil {
		return db
	}
	db := &routeDB{n: n, path: filepath.Join(workDir, fmt.Sprintf("routes-%d.db", n))}
	app := loadProxyos(tb, db.path)
	ctx := context.Background()
	if _, err := app.Routes().Create(ctx, staticRoute(), benchActor); err != nil {
		tb.Fatalf("creating static route: %v", err)
	}
	for i := 1; i < n; i++ {
		r, err := app.Routes().Create(ctx, proxyRoute(i, deadUpstream), benchActor)
		if err != nil {
			tb.Fatalf("creating route %d: %v", i, err)
		}
		if i == 1 {
			db.targetID, db.version = r.ID, r.Version
		}
	}
	routeDBs[n] = db
	return db
}

// discard is a ResponseWriter that keeps nothing, reused across
// iterations.
type discard struct{ h http.Header }

func newDiscard() *discard                     { return &discard{h: http.Header{}} }
func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) reset()                      { clear(d.h) }
