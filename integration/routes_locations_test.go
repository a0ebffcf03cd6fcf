package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRouteLocations runs locations, error pages and the maintenance
// switch on a real Caddy with real upstreams.
func TestRouteLocations(t *testing.T) {
	e := rtStart(t, "")
	t.Run("four paths on one host", func(t *testing.T) { rtTestFourPaths(t, e) })
	t.Run("error page when the upstream is down", func(t *testing.T) { rtTestErrorPage(t, e) })
	t.Run("maintenance keeps proxy settings", func(t *testing.T) { rtTestMaintenance(t, e) })
	t.Run("maintenance schedule", func(t *testing.T) { rtTestMaintenanceSchedule(t, e) })
	t.Run("bad location names its field", func(t *testing.T) {
		status, raw := e.dash.call(http.MethodPost, "", rtWith(rtProxy("bad.proxyos.test", "off", "http://127.0.0.1:9"),
			"locations", []map[string]any{{"path": "/a", "upstreams": []string{"http://127.0.0.1:9"}}, {"path": "api/*"}}))
		if status != http.StatusBadRequest || !strings.Contains(string(raw), `"locations[1].path"`) {
			t.Fatalf("POST: %d %s, want 400 naming locations[1].path", status, raw)
		}
		e.noRoute("bad.proxyos.test")
	})
}

// rtTestFourPaths is the Pangolin case: one host, four paths, four
// upstreams, the most specific path winning.
func rtTestFourPaths(t *testing.T, e *rtEnv) {
	web, api, v2, ws := rtNewUpstream(t, "web", false), rtNewUpstream(t, "api", false), rtNewUpstream(t, "api-v2", false), rtNewUpstream(t, "ws", false)
	e.dash.create(rtWith(rtProxy("four.proxyos.test", "off", web.URL), "locations", []map[string]any{
		{"path": "/api/*", "upstreams": []string{api.URL}},
		{"path": "/ws*", "upstreams": []string{ws.URL}},
		{"path": "/api/v2/*", "upstreams": []string{v2.URL}, "strip_prefix": "/api/v2"},
	}))
	for path, want := range map[string][2]string{
		"/":              {"web", "/"},
		"/api/users":     {"api", "/api/users"},
		"/api/v2/users":  {"api-v2", "/users"},
		"/ws/socket":     {"ws", "/ws/socket"},
		"/wsx":           {"ws", "/wsx"},
		"/apix":          {"web", "/apix"},
		"/API/V2/things": {"api-v2", "/things"},
	} {
		resp, raw := e.get("four.proxyos.test", path)
		if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != want[0] || rtSeenOf(t, raw).Path != want[1] {
			t.Errorf("GET %s: %d from %q: %s, want %s seeing %s", path, resp.StatusCode, resp.Header.Get("X-Upstream"), raw, want[0], want[1])
		}
	}
}

// rtTestErrorPage answers an upstream that is down with the route's 502
// page, its placeholders filled in and HTML-escaped.
func rtTestErrorPage(t *testing.T, e *rtEnv) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	e.dash.create(rtWith(rtProxy("*.down.proxyos.test", "off", down), "error_pages", map[string]string{
		"502": "<h1>{http.error.status_code} at {http.request.host}</h1><p>id {http.request.uuid} {env.HOME}</p>",
	}))
	resp, raw := e.get("a.down.proxyos.test", "/")
	body := string(raw)
	if resp.StatusCode != http.StatusBadGateway || !strings.HasPrefix(body, "<h1>502 at a.down.proxyos.test") ||
		!strings.Contains(body, "{env.HOME}") || strings.Contains(body, "id  ") {
		t.Fatalf("GET: %d %q, want 502 with the page, placeholders filled (the request id too), {env.HOME} left alone", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	// A Host that tries to inject markup is escaped.
	resp, raw = e.get("a'&b.down.proxyos.test", "/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(raw), "a&#39;&amp;b.down.proxyos.test") {
		t.Fatalf("crafted host: %d %q, want it HTML-escaped", resp.StatusCode, raw)
	}
}

// rtTestMaintenance switches maintenance on and off with both APIs: the
// page replaces every path, and the proxy settings come back unchanged.
func rtTestMaintenance(t *testing.T, e *rtEnv) {
	up, other := rtNewUpstream(t, "main", false), rtNewUpstream(t, "other", false)
	r := e.dash.create(rtWith(rtProxy("maint.proxyos.test", "off", up.URL), "locations",
		[]map[string]any{{"path": "/other/*", "upstreams": []string{other.URL}}}))
	for _, a := range []rtAPI{e.dash, e.api} {
		status, raw := a.call(http.MethodPost, "/"+r.ID+"/maintenance", map[string]any{"on": true, "page": "<h1>Back at 5</h1>"})
		if status != http.StatusOK {
			t.Fatalf("%s maintenance on: %d %s", a, status, raw)
		}
		for _, p := range []string{"/", "/other/x"} {
			resp, body := e.get("maint.proxyos.test", p)
			if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "<h1>Back at 5</h1>" {
				t.Fatalf("%s in maintenance: %d %q", p, resp.StatusCode, body)
			}
		}
		if status, raw := a.call(http.MethodPost, "/"+r.ID+"/maintenance", map[string]any{"on": false}); status != http.StatusOK {
			t.Fatalf("%s maintenance off: %d %s", a, status, raw)
		}
		e.servedBy("maint.proxyos.test", "main")
		if resp, _ := e.get("maint.proxyos.test", "/other/x"); resp.Header.Get("X-Upstream") != "other" {
			t.Fatalf("location lost after maintenance: %q", resp.Header.Get("X-Upstream"))
		}
	}
	got := e.dash.get(r.ID)
	if len(got.Upstreams) != 1 || got.Upstreams[0] != up.URL {
		t.Errorf("upstreams after maintenance: %v", got.Upstreams)
	}
	vs := e.dash.versions(r.ID)
	if len(vs) != 5 || vs[0].Action != "maintenance off" || vs[1].Action != "maintenance on" {
		t.Errorf("history: %+v", vs)
	}
}

// rtTestMaintenanceSchedule schedules a short window: the route goes into
// maintenance at from and comes back at until, by itself.
func rtTestMaintenanceSchedule(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "sched", false)
	r := e.dash.create(rtProxy("sched.proxyos.test", "off", up.URL))
	from, until := time.Now().Add(2*time.Second), time.Now().Add(5*time.Second)
	status, raw := e.dash.call(http.MethodPost, "/"+r.ID+"/maintenance", map[string]any{"on": false, "from": from, "until": until})
	if status != http.StatusOK {
		t.Fatalf("schedule: %d %s", status, raw)
	}
	e.servedBy("sched.proxyos.test", "sched")
	state := func(want int) func() string {
		return func() string {
			resp, body := e.get("sched.proxyos.test", "/")
			if resp.StatusCode != want {
				return fmt.Sprintf("status %d (%.40q), want %d", resp.StatusCode, body, want)
			}
			return ""
		}
	}
	rtPoll(t, 10*time.Second, state(http.StatusServiceUnavailable))
	if time.Now().Before(from) {
		t.Fatal("maintenance began before from")
	}
	rtPoll(t, 10*time.Second, state(http.StatusOK))
	if time.Now().Before(until) {
		t.Fatal("maintenance ended before until")
	}
	vs := e.dash.versions(r.ID)
	if len(vs) != 4 || vs[0].Actor != "maintenance schedule" || vs[1].Actor != "maintenance schedule" {
		t.Errorf("history: %+v, want the schedule's two changes, once each", vs)
	}
}
