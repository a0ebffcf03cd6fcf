package proxyos

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/proxyos/route"
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
func rtuNewRouter(t *testing.T) *router {
	t.Helper()
	rt := newRouter(rtuCaddyContext(t), zap.NewNop())
	t.Cleanup(rt.stop)
	return rt
}

// rtuFake returns a live route for hosts that is not provisioned, with a
// cancel that counts its calls, for tests of the host table alone.
func rtuFake(id string, hosts ...string) (*liveRoute, *atomic.Int32) {
	var n atomic.Int32
	return &liveRoute{route: &route.Route{ID: id, Hosts: hosts}, cancel: func() { n.Add(1) }}, &n
}

// rtuStaticRoute returns a valid static route answering body.
func rtuStaticRoute(id, body string, hosts ...string) *route.Route {
	r := &route.Route{ID: id, Enabled: true, Hosts: hosts, Kind: route.KindStatic, Static: &route.Static{Body: body}}
	r.Normalize()
	return r
}

// rtuCompile compiles r with rt and wraps the live route's cancel to
// count its calls.
func rtuCompile(t *testing.T, rt *router, r *route.Route) (*liveRoute, *atomic.Int32) {
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

// rtuBody serves a GET for host through lr and returns the body.
func rtuBody(t *testing.T, lr *liveRoute, host string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil), rec)
	if err := lr.handler.ServeHTTP(rec, req); err != nil {
		t.Fatalf("serving %s: %v", host, err)
	}
	return rec.Body.String()
}

// rtuPublish publishes lr (nil to remove) as route id, holding the lock
// as callers must.
func rtuPublish(rt *router, id string, lr *liveRoute) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.publish(id, lr)
}

func TestRouterLookup(t *testing.T) {
	rt := newRouter(caddy.Context{}, zap.NewNop())
	exact, _ := rtuFake("exact", "app.example.com", "10.0.0.1", "::1")
	wild, _ := rtuFake("wild", "*.example.com")
	specific, _ := rtuFake("specific", "x.example.com")
	deep, _ := rtuFake("deep", "*.deep.example.com")
	for _, lr := range []*liveRoute{exact, wild, specific, deep} {
		rtuPublish(rt, lr.route.ID, lr)
	}
	tests := []struct {
		host string
		want *liveRoute
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
			got := rt.lookup(tt.host)
			if got != tt.want {
				name := func(lr *liveRoute) string {
					if lr == nil {
						return "nil"
					}
					return lr.route.ID
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
			if got := normalizeHost(tt.in); got != tt.want {
				t.Errorf("normalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("no allocation for a lower-case host", func(t *testing.T) {
		skipAllocsUnderRace(t)
		for _, h := range []string{"app.example.com", "app.example.com:8443", "[::1]:443"} {
			if n := testing.AllocsPerRun(100, func() { hostSink = normalizeHost(h) }); n != 0 {
				t.Errorf("normalizeHost(%q) allocates %v times, want 0", h, n)
			}
		}
	})
}

func TestRouterPublish(t *testing.T) {
	rt := newRouter(caddy.Context{}, zap.NewNop())
	v1, v1Cancels := rtuFake("r1", "a.example.com", "b.example.com", "*.w.example.com")
	other, otherCancels := rtuFake("r2", "d.example.com")
	rtuPublish(rt, "r1", v1)
	rtuPublish(rt, "r2", other)

	v2, v2Cancels := rtuFake("r1", "b.example.com", "c.example.com")
	rtuPublish(rt, "r1", v2)
	t.Run("replacing a route", func(t *testing.T) {
		for host, want := range map[string]*liveRoute{
			"a.example.com":   nil, // dropped
			"x.w.example.com": nil, // dropped wildcard
			"b.example.com":   v2,  // kept
			"c.example.com":   v2,  // added
			"d.example.com":   other,
		} {
			if got := rt.lookup(host); got != want {
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
		if got := rt.lookup("c.example.com"); got != r3 {
			t.Errorf("lookup(c.example.com) = %p, want r3 %p", got, r3)
		}
		if got := rt.lookup("b.example.com"); got != v3 {
			t.Errorf("lookup(b.example.com) = %p, want %p", got, v3)
		}
		if n := v2Cancels.Load(); n != 1 {
			t.Errorf("replaced version cancelled %d times, want 1", n)
		}
	})

	t.Run("removing a route", func(t *testing.T) {
		rtuPublish(rt, "r3", nil)
		if rt.lookup("c.example.com") != nil {
			t.Error("c.example.com still live after its route was removed")
		}
		if _, ok := rt.byID["r3"]; ok {
			t.Error("r3 still in byID")
		}
		if rt.lookup("d.example.com") != other || otherCancels.Load() != 0 {
			t.Error("removing r3 touched r2")
		}
	})

	t.Run("stop removes everything", func(t *testing.T) {
		rt.stop()
		for _, h := range []string{"b.example.com", "d.example.com"} {
			if rt.lookup(h) != nil {
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
	if got := rtuBody(t, rt.lookup("A.example.com:443"), "a.example.com"); got != "one" {
		t.Fatalf("body %q, want one", got)
	}
	v2, _ := rtuCompile(t, rt, rtuStaticRoute("r1", "two", "a.example.com"))
	rtuPublish(rt, "r1", v2)
	if got := rtuBody(t, rt.lookup("a.example.com"), "a.example.com"); got != "two" {
		t.Fatalf("body after replacing %q, want two", got)
	}
	if v1Cancels.Load() != 1 {
		t.Errorf("old version's context cancelled %d times, want 1", v1Cancels.Load())
	}
}

// TestRouterCleansUpReplacedRoute checks that replacing or removing a
// route stops its modules: the active health checker of its
// reverse_proxy stops probing the upstream.
func TestRouterCleansUpReplacedRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(rt *router, t *testing.T) *liveRoute
	}{
		{"replaced", func(rt *router, t *testing.T) *liveRoute {
			lr, _ := rtuCompile(t, rt, rtuStaticRoute("r1", "maintenance", "app.example.com"))
			return lr
		}},
		{"removed", func(*router, *testing.T) *liveRoute { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var probes atomic.Int64
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/healthz" {
					probes.Add(1)
				}
				io.WriteString(w, "ok")
			}))
			t.Cleanup(upstream.Close)

			rt := rtuNewRouter(t)
			r := &route.Route{
				ID: "r1", Enabled: true, Hosts: []string{"app.example.com"}, Kind: route.KindProxy,
				Upstreams:     []string{upstream.URL},
				LoadBalancing: &route.LoadBalancing{HealthCheck: &route.HealthCheck{Path: "/healthz", Interval: "100ms"}},
			}
			r.Normalize()
			lr, cancels := rtuCompile(t, rt, r)
			rtuPublish(rt, "r1", lr)
			rtuWaitFor(t, "the health checker to probe", func() bool { return probes.Load() >= 2 })

			rtuPublish(rt, "r1", tc.next(rt, t))
			if cancels.Load() != 1 {
				t.Fatalf("old route cancelled %d times, want 1", cancels.Load())
			}
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
		})
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
