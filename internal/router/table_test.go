package router

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // the encoders compressing routes load
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/location"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// rtuCaddyContext returns a Caddy context belonging to a configuration
// (not started), as modules get when Caddy loads a config; reverse_proxy
// needs that configuration to find the events app. It is cancelled when
// the test ends.
func rtuCaddyContext(tb testing.TB) caddy.Context {
	tb.Helper()
	root, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}})
	if err != nil {
		tb.Fatalf("caddy.ProvisionContext: %v", err)
	}
	ctx, cancel := caddy.NewContext(root)
	tb.Cleanup(cancel)
	return ctx
}

// rtuNewRouter returns an empty router whose routes provision in a real
// Caddy context; it stops every live route when the test ends.
func rtuNewRouter(t *testing.T) *Table {
	t.Helper()
	rt := NewTable(rtuCaddyContext(t), zap.NewNop(), rtuGuard())
	t.Cleanup(rt.Stop)
	return rt
}

// rtuFake returns a live route for hosts that is not provisioned, with a
// cancel that counts its calls, for tests of the host table alone.
func rtuFake(id string, hosts ...string) (*Live, *atomic.Int32) {
	var n atomic.Int32
	return &Live{Route: &route.Route{ID: id, Hosts: hosts}, cancel: func() { n.Add(1) }}, &n
}

// rtuStaticRoute returns a valid static route answering body.
func rtuStaticRoute(id, body string, hosts ...string) *route.Route {
	r := &route.Route{ID: id, Enabled: true, Hosts: hosts, Kind: route.KindStatic, Static: &route.Static{Body: body}}
	r.Normalize()
	return r
}

// rtuCompile compiles r with rt and wraps the live route's cancel to
// count its calls.
func rtuCompile(t *testing.T, rt *Table, r *route.Route) (*Live, *atomic.Int32) {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("route %s: %v", r.ID, err)
	}
	lr, err := rt.compile(r)
	if err != nil {
		t.Fatalf("compiling route %s: %v", r.ID, err)
	}
	var n atomic.Int32
	cancel := lr.cancel
	lr.cancel = func() { n.Add(1); cancel() }
	return lr, &n
}

// rtuCompileShared is rtuCompile for a route loaded at start-up: it is
// provisioned in shared, a context of many routes.
func rtuCompileShared(t *testing.T, rt *Table, r *route.Route, shared caddy.Context) (*Live, *atomic.Int32) {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("route %s: %v", r.ID, err)
	}
	lr, err := rt.compileShared(r, shared)
	if err != nil {
		t.Fatalf("compiling route %s: %v", r.ID, err)
	}
	var n atomic.Int32
	cancel := lr.cancel
	lr.cancel = func() { n.Add(1); cancel() }
	return lr, &n
}

// rtuBody serves a GET for host through lr and returns the body.
func rtuBody(t *testing.T, lr *Live, host string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil), caddy.NewReplacer(), rec, nil)
	if err := lr.Handler.ServeHTTP(rec, req); err != nil {
		t.Fatalf("serving %s: %v", host, err)
	}
	return rec.Body.String()
}

// rtuPublish publishes lr (nil to remove) as route id, holding the lock
// as callers must.
func rtuPublish(rt *Table, id string, lr *Live) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.publish(id, lr)
}

func TestRouterLookup(t *testing.T) {
	rt := NewTable(rtuCaddyContext(t), zap.NewNop(), rtuGuard())
	exact, _ := rtuFake("exact", "app.example.com", "10.0.0.1", "::1")
	wild, _ := rtuFake("wild", "*.example.com")
	specific, _ := rtuFake("specific", "x.example.com")
	deep, _ := rtuFake("deep", "*.deep.example.com")
	for _, lr := range []*Live{exact, wild, specific, deep} {
		rtuPublish(rt, lr.Route.ID, lr)
	}
	tests := []struct {
		host string
		want *Live
	}{
		{"app.example.com", exact},
		{"APP.Example.COM", exact},
		{"app.example.com:8443", exact},
		{"App.Example.com.:443", exact},
		{"app.example.com.", exact},
		{"10.0.0.1", exact},
		{"10.0.0.1:80", exact},
		{"[::1]", exact},
		{"[::1]:8443", exact},
		{"foo.example.com", wild},
		{"FOO.example.com:1", wild},
		{"deep.example.com", wild},
		{"x.example.com", specific},
		{"X.EXAMPLE.COM", specific},
		{"a.deep.example.com", deep},
		{"a.b.example.com", nil}, // a wildcard covers one level only
		{"a.b.deep.example.com", nil},
		{"example.com", nil},
		{"app.example.org", nil},
		{"10.0.0.2", nil},
		{"[::2]:443", nil},
		{"", nil},
		{":80", nil},
		{".example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got := rt.Lookup(tt.host)
			if got != tt.want {
				name := func(lr *Live) string {
					if lr == nil {
						return "nil"
					}
					return lr.Route.ID
				}
				t.Errorf("lookup(%q) = %s, want %s", tt.host, name(got), name(tt.want))
			}
		})
	}
}

func TestRouterNormalizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com:8080", "example.com"},
		{"EXAMPLE.com:8080", "example.com"},
		{"example.com.", "example.com"},
		{"example.com.:443", "example.com"},
		{"10.0.0.1:80", "10.0.0.1"},
		{"[::1]", "::1"},
		{"[::1]:8443", "::1"},
		{"[2001:DB8::1]:443", "2001:db8::1"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := request.NormalizeHost(tt.in); got != tt.want {
				t.Errorf("request.NormalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("no allocation for a lower-case host", func(t *testing.T) {
		testkit.SkipAllocsUnderRace(t)
		for _, h := range []string{"app.example.com", "app.example.com:8443", "[::1]:443"} {
			if n := testing.AllocsPerRun(100, func() { hostSink = request.NormalizeHost(h) }); n != 0 {
				t.Errorf("request.NormalizeHost(%q) allocates %v times, want 0", h, n)
			}
		}
	})
}

func TestRouterPublish(t *testing.T) {
	rt := NewTable(rtuCaddyContext(t), zap.NewNop(), rtuGuard())
	v1, v1Cancels := rtuFake("r1", "a.example.com", "b.example.com", "*.w.example.com")
	other, otherCancels := rtuFake("r2", "d.example.com")
	rtuPublish(rt, "r1", v1)
	rtuPublish(rt, "r2", other)

	v2, v2Cancels := rtuFake("r1", "b.example.com", "c.example.com")
	rtuPublish(rt, "r1", v2)
	t.Run("replacing a route", func(t *testing.T) {
		for host, want := range map[string]*Live{
			"a.example.com":   nil, // dropped
			"x.w.example.com": nil, // dropped wildcard
			"b.example.com":   v2,  // kept
			"c.example.com":   v2,  // added
			"d.example.com":   other,
		} {
			if got := rt.Lookup(host); got != want {
				t.Errorf("lookup(%s) = %p, want %p", host, got, want)
			}
		}
		if n := v1Cancels.Load(); n != 1 {
			t.Errorf("old version cancelled %d times, want 1", n)
		}
		if v2Cancels.Load() != 0 || otherCancels.Load() != 0 {
			t.Error("the new version or another route was cancelled")
		}
		if rt.byID["r1"] != v2 || rt.byID["r2"] != other {
			t.Errorf("byID = %v", rt.byID)
		}
	})

	t.Run("a host taken over by another route stays with it", func(t *testing.T) {
		// r3 takes c.example.com (the store allows it once r1 gave it up);
		// r1 giving it up afterwards must not remove r3's entry.
		r3, _ := rtuFake("r3", "c.example.com")
		rtuPublish(rt, "r3", r3)
		v3, _ := rtuFake("r1", "b.example.com")
		rtuPublish(rt, "r1", v3)
		if got := rt.Lookup("c.example.com"); got != r3 {
			t.Errorf("lookup(c.example.com) = %p, want r3 %p", got, r3)
		}
		if got := rt.Lookup("b.example.com"); got != v3 {
			t.Errorf("lookup(b.example.com) = %p, want %p", got, v3)
		}
		if n := v2Cancels.Load(); n != 1 {
			t.Errorf("replaced version cancelled %d times, want 1", n)
		}
	})

	t.Run("removing a route", func(t *testing.T) {
		rtuPublish(rt, "r3", nil)
		if rt.Lookup("c.example.com") != nil {
			t.Error("c.example.com still live after its route was removed")
		}
		if _, ok := rt.byID["r3"]; ok {
			t.Error("r3 still in byID")
		}
		if rt.Lookup("d.example.com") != other || otherCancels.Load() != 0 {
			t.Error("removing r3 touched r2")
		}
	})

	t.Run("stop removes everything", func(t *testing.T) {
		rt.Stop()
		for _, h := range []string{"b.example.com", "d.example.com"} {
			if rt.Lookup(h) != nil {
				t.Errorf("%s still live after stop", h)
			}
		}
		if otherCancels.Load() != 1 {
			t.Errorf("r2 cancelled %d times by stop, want 1", otherCancels.Load())
		}
		if len(rt.byID) != 0 {
			t.Errorf("byID = %v after stop, want empty", rt.byID)
		}
	})
}

// TestRouterServesCompiledRoutes publishes provisioned routes and serves
// requests through the live table.
func TestRouterServesCompiledRoutes(t *testing.T) {
	rt := rtuNewRouter(t)
	v1, v1Cancels := rtuCompile(t, rt, rtuStaticRoute("r1", "one", "a.example.com"))
	rtuPublish(rt, "r1", v1)
	if got := rtuBody(t, rt.Lookup("A.example.com:443"), "a.example.com"); got != "one" {
		t.Fatalf("body %q, want one", got)
	}
	v2, _ := rtuCompile(t, rt, rtuStaticRoute("r1", "two", "a.example.com"))
	rtuPublish(rt, "r1", v2)
	if got := rtuBody(t, rt.Lookup("a.example.com"), "a.example.com"); got != "two" {
		t.Fatalf("body after replacing %q, want two", got)
	}
	if v1Cancels.Load() != 1 {
		t.Errorf("old version's context cancelled %d times, want 1", v1Cancels.Load())
	}
}

// TestRouterCleansUpReplacedRoute checks that replacing or removing a
// route stops its modules, whether it has a context of its own (changed
// from the API) or shares one with the routes loaded with it: the active
// health checker of its reverse_proxy stops probing the upstream, and
// its transport closes its idle connection to the upstream (Cleanup);
// the other route loaded with it keeps serving.
func TestRouterCleansUpReplacedRoute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		loaded bool // compiled by load, in a shared context
		next   func(rt *Table, t *testing.T) *Live
	}{
		{"replaced", false, func(rt *Table, t *testing.T) *Live {
			lr, _ := rtuCompile(t, rt, rtuStaticRoute("r1", "maintenance", "app.example.com"))
			return lr
		}},
		{"removed", false, func(*Table, *testing.T) *Live { return nil }},
		{"loaded, replaced", true, func(rt *Table, t *testing.T) *Live {
			lr, _ := rtuCompile(t, rt, rtuStaticRoute("r1", "maintenance", "app.example.com"))
			return lr
		}},
		{"loaded, removed", true, func(*Table, *testing.T) *Live { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var probes, open atomic.Int64
			upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/healthz" {
					probes.Add(1)
				}
				io.WriteString(w, "ok")
			}))
			upstream.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				switch s {
				case http.StateNew:
					open.Add(1)
				case http.StateClosed, http.StateHijacked:
					open.Add(-1)
				}
			}
			upstream.Start()
			t.Cleanup(upstream.Close)

			rt := rtuNewRouter(t)
			r := &route.Route{
				ID: "r1", Enabled: true, Hosts: []string{"app.example.com"}, Kind: route.KindProxy,
				Upstreams:     []string{upstream.URL},
				LoadBalancing: &route.LoadBalancing{HealthCheck: &route.HealthCheck{Path: "/healthz", Interval: "100ms"}},
			}
			r.Normalize()
			other := rtuStaticRoute("r2", "other", "other.example.com")
			var lr, lr2 *Live
			var cancels *atomic.Int32
			if tc.loaded {
				shared, _ := caddy.NewContext(rt.ctx)
				lr, cancels = rtuCompileShared(t, rt, r, shared)
				lr2, _ = rtuCompileShared(t, rt, other, shared)
			} else {
				lr, cancels = rtuCompile(t, rt, r)
				lr2, _ = rtuCompile(t, rt, other)
			}
			rtuPublish(rt, "r1", lr)
			rtuPublish(rt, "r2", lr2)
			// The probes go through the route's transport, which keeps
			// the connection open between them.
			rtuWaitFor(t, "the health checker to probe", func() bool { return probes.Load() >= 2 && open.Load() > 0 })

			rtuPublish(rt, "r1", tc.next(rt, t))
			if cancels.Load() != 1 {
				t.Fatalf("old route cancelled %d times, want 1", cancels.Load())
			}
			rtuWaitFor(t, "the connections to the upstream to close", func() bool { return open.Load() == 0 })
			// Probes stop: the count stays put for 10 intervals.
			deadline := time.Now().Add(10 * time.Second)
			for {
				before := probes.Load()
				time.Sleep(200 * time.Millisecond)
				if probes.Load() == before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the health checker still probes after the route was %s (%d probes)", tc.name, probes.Load())
				}
			}
			if got := rtuBody(t, rt.Lookup("other.example.com"), "other.example.com"); got != "other" {
				t.Errorf("the other route serves %q, want other", got)
			}
		})
	}
}

// TestRouterSharedCleanups checks that a route loaded in a shared
// context gets the same cleaning as in a context of its own:
// walkModules finds every module with a Cleanup that Caddy records in the route's
// context (read through reflection: Caddy keeps them unexported), for
// routes using every option.
//
// Caddy cleans a route's context's modules only on cancellation, so the
// test cannot just compare what gets cleaned.
func TestRouterSharedCleanups(t *testing.T) {
	rt := rtuNewRouter(t)
	proxy := func(upstreams ...string) *route.Route {
		return &route.Route{ID: "r", Enabled: true, Hosts: []string{"app.example.com"}, Kind: route.KindProxy, Upstreams: upstreams}
	}
	full := proxy("https://10.0.0.5:443", "https://10.0.0.6:443")
	full.UpstreamTLS = &route.UpstreamTLS{SkipVerify: true, ServerName: "app.internal"}
	full.LoadBalancing = &route.LoadBalancing{Policy: "round_robin", HealthCheck: &route.HealthCheck{Path: "/healthz"}}
	full.Headers = &route.Headers{
		Request:  &route.HeaderOps{Set: map[string]string{"X-A": "1"}, Delete: []string{"X-B"}},
		Response: &route.HeaderOps{Set: map[string]string{"X-C": "1"}},
	}
	full.HSTS, full.ForceHTTPS, full.Compress, full.StripPrefix = true, true, true, "/api"
	full.Access = &route.Access{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.1.0.0/16"}}
	full.Auth = &route.Auth{RequireLogin: true, Roles: []string{"admin"}}
	redirect := &route.Route{ID: "r", Enabled: true, Hosts: []string{"old.example.com"}, Kind: route.KindRedirect,
		Redirect: &route.Redirect{To: "https://new.example.com", PreservePath: true}}
	locations := proxy("http://10.0.0.5:3000")
	locations.Locations = []route.Location{
		{Path: "/api/*", Upstreams: []string{"https://10.0.0.7:443"}, StripPrefix: "/api"},
		{Path: "/exact", Kind: route.KindStatic, Static: &route.Static{Body: "x"}},
	}
	locations.Compress = true
	for name, r := range map[string]*route.Route{
		"minimal proxy":      proxy("http://10.0.0.5:3000"),
		"every proxy option": full,
		"locations":          locations,
		"static":             rtuStaticRoute("r", "hello", "static.example.com"),
		"redirect":           redirect,
	} {
		t.Run(name, func(t *testing.T) {
			r.Normalize()
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := caddy.NewContext(rt.ctx)
			defer cancel()
			list, err := rt.provision(r, ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{} // module type and address
			instances := reflect.ValueOf(ctx).FieldByName("moduleInstances")
			if instances.Kind() != reflect.Map {
				t.Fatalf("caddy.Context.moduleInstances is %s, not a map: update this test", instances.Kind())
			}
			cleaner := reflect.TypeFor[caddy.CleanerUpper]()
			for _, id := range instances.MapKeys() {
				mods := instances.MapIndex(id)
				for i := range mods.Len() {
					if m := mods.Index(i).Elem(); m.Type().Implements(cleaner) {
						want[fmt.Sprintf("%s %#x", m.Type(), m.Pointer())] = true
					}
				}
			}
			found := map[string]bool{}
			walkModules(list, func(m any) {
				if _, ok := m.(caddy.CleanerUpper); ok {
					v := reflect.ValueOf(m)
					found[fmt.Sprintf("%s %#x", v.Type(), v.Pointer())] = true
				}
			})
			for m := range want {
				if !found[m] {
					t.Errorf("walkModules misses %s, which Caddy would clean up (found %v)", m, found)
				}
			}
			for m := range found {
				if !want[m] {
					t.Errorf("walkModules finds %s, which Caddy would not clean up", m)
				}
			}
			if name != "static" && name != "redirect" && len(want) == 0 {
				t.Error("no module to clean up in a proxy route: the comparison proves nothing")
			}
		})
	}
}

// TestRouterKeepsAppCleanups checks that replacing routes does not run
// the OnCancel functions of the app's context, which belong to the
// config (they close its log writers): cancelling a context made by
// caddy.NewContext runs those of its parent.
func TestRouterKeepsAppCleanups(t *testing.T) {
	appCtx := rtuCaddyContext(t)
	var ran atomic.Int32
	appCtx.OnCancel(func() { ran.Add(1) })
	rt := NewTable(appCtx, zap.NewNop(), rtuGuard())
	t.Cleanup(rt.Stop)
	shared, _ := caddy.NewContext(rt.ctx)
	loaded, _ := rtuCompileShared(t, rt, rtuStaticRoute("r1", "one", "a.example.com"), shared)
	rtuPublish(rt, "r1", loaded)
	for _, body := range []string{"two", "three"} {
		lr, _ := rtuCompile(t, rt, rtuStaticRoute("r1", body, "a.example.com"))
		rtuPublish(rt, "r1", lr)
	}
	rtuPublish(rt, "r1", nil)
	if n := ran.Load(); n != 0 {
		t.Errorf("the app context's OnCancel functions ran %d times", n)
	}
}

// TestRouterSharesIdentityHeaders checks which gates may hand the
// session's cached identity header values to the request: only those
// followed by handlers known not to write request header values in
// place (request_header with a replacement does).
func TestRouterSharesIdentityHeaders(t *testing.T) {
	chain := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.RouteList {
		return caddyhttp.RouteList{{Handlers: hs}}
	}
	replace := &headers.Handler{Request: &headers.HeaderOps{Replace: map[string][]headers.Replacement{"*": {{Search: "a", Replace: "b"}}}}}
	for _, tc := range []struct {
		name string
		list caddyhttp.RouteList
		want bool
	}{
		{"compiled route", chain(&headers.Handler{}, &testGate{}, &encode.Encode{}, &rewrite.Rewrite{}, &reverseproxy.Handler{}), true},
		{"static response", chain(&testGate{}, &caddyhttp.StaticResponse{}), true},
		{"header edits after", chain(&testGate{}, replace, &reverseproxy.Handler{}), false},
		{"unknown handler after", chain(&testGate{}, &caddyhttp.Subroute{}), false},
		{"in a later route", append(chain(&testGate{}), chain(replace)...), false},
		{"handle_response", chain(&testGate{}, &reverseproxy.Handler{HandleResponse: []caddyhttp.ResponseHandler{{}}}), false},
		{"locations leaving headers alone", chain(&testGate{}, &location.Handler{
			Locations: []location.Location{{Handlers: []caddyhttp.MiddlewareHandler{&rewrite.Rewrite{}, &reverseproxy.Handler{}}}},
			Default:   []caddyhttp.MiddlewareHandler{&caddyhttp.StaticResponse{}},
		}), true},
		// A location's handler writing request header values in place
		// would write into the session's cached values, which the next
		// request of the session (on any route) would send upstream.
		{"header edits in a location", chain(&testGate{}, &location.Handler{
			Locations: []location.Location{{Handlers: []caddyhttp.MiddlewareHandler{&reverseproxy.Handler{}}}, {Handlers: []caddyhttp.MiddlewareHandler{replace, &reverseproxy.Handler{}}}},
			Default:   []caddyhttp.MiddlewareHandler{&reverseproxy.Handler{}},
		}), false},
		{"header edits in the default location", chain(&testGate{}, &location.Handler{
			Locations: []location.Location{{Handlers: []caddyhttp.MiddlewareHandler{&reverseproxy.Handler{}}}},
			Default:   []caddyhttp.MiddlewareHandler{replace, &reverseproxy.Handler{}},
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shareIdentityHeaders(tc.list, "r")
			var gate *testGate
			for _, h := range tc.list[0].Handlers {
				if g, ok := h.(*testGate); ok {
					gate = g
				}
			}
			if gate.shared != tc.want {
				t.Errorf("sharedHeaders = %v, want %v", gate.shared, tc.want)
			}
		})
	}

	t.Run("a route with login", func(t *testing.T) {
		rt := rtuNewRouter(t)
		r := &route.Route{ID: "r", Enabled: true, Hosts: []string{"app.example.com"}, Kind: route.KindProxy,
			Upstreams: []string{"http://10.0.0.5:3000"}, Compress: true, Auth: &route.Auth{RequireLogin: true}}
		r.Normalize()
		lr, err := rt.compile(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lr.cancel)
		var shared []bool
		for _, h := range lr.list[len(lr.list)-1].Handlers {
			if g, ok := h.(*testGate); ok {
				shared = append(shared, g.shared)
			}
		}
		if len(shared) != 1 || !shared[0] {
			t.Errorf("gates' sharedHeaders %v, want [true]", shared)
		}
	})
}

// TestRouterStatusLocations: a route's status lists the upstreams of its
// locations (most specific first) and then its own.
func TestRouterStatusLocations(t *testing.T) {
	rt := rtuNewRouter(t)
	r := &route.Route{ID: "r", Enabled: true, Hosts: []string{"app.example.com"}, Kind: route.KindProxy,
		Upstreams: []string{"http://10.0.0.5:3000"}, Locations: []route.Location{
			{Path: "/api/*", Upstreams: []string{"http://10.0.0.6:80"}},
			{Path: "/api/v1/*", Upstreams: []string{"http://10.0.0.7:80", "http://10.0.0.8:80"}},
			{Path: "/robots.txt", Kind: route.KindStatic, Static: &route.Static{Body: "x"}},
		}}
	r.Normalize()
	lr, _ := rtuCompile(t, rt, r)
	rtuPublish(rt, "r", lr)
	t.Cleanup(func() { rtuPublish(rt, "r", nil) })
	var got []string
	for _, u := range rt.Status("r").Upstreams {
		got = append(got, u.Address)
	}
	if want := []string{"10.0.0.7:80", "10.0.0.8:80", "10.0.0.6:80", "10.0.0.5:3000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstreams %v, want %v", got, want)
	}
}

// rtuWaitFor polls cond until it holds, failing the test after 10 s.
func rtuWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostSink keeps normalizeHost's result alive in allocation tests.
var hostSink string

// rtuGuard returns an upstream guard that keeps routes from a made-up
// admin endpoint only, so the tests' loopback upstreams are reachable.
func rtuGuard() *upstream.Guard {
	return upstream.NewGuard(upstream.Policy{Admin: []upstream.Endpoint{{FirstPort: 1, LastPort: 1}}}, nil)
}

// testGate stands for the proxyos_auth gate, which the glue package
// registers: routes with a login compile to it.
type testGate struct {
	Roles  []string `json:"roles,omitempty"`
	shared bool
}

func (testGate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.proxyos_auth", New: func() caddy.Module { return new(testGate) }}
}

func (g *testGate) Managed(_ string, shared bool) { g.shared = shared }

func (g *testGate) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// testTransport stands for the proxyos transport, which the glue package
// registers: the routes' reverse_proxy handlers use it.
type testTransport struct{ reverseproxy.HTTPTransport }

func (testTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.reverse_proxy.transport.proxyos", New: func() caddy.Module { return new(testTransport) }}
}

func init() {
	caddy.RegisterModule(testGate{})
	caddy.RegisterModule(testTransport{})
}
