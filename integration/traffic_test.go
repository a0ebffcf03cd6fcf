package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trafficSeries is GET /api/routes/{id}/traffic.
type trafficSeries struct {
	Local struct {
		Node   string         `json:"node"`
		Points []trafficPoint `json:"points"`
	} `json:"local"`
	Nodes []struct {
		Node   string         `json:"node"`
		Points []trafficPoint `json:"points"`
	} `json:"nodes"`
	Sum []trafficPoint `json:"sum"`
}

type trafficPoint struct {
	T        int64     `json:"t"`
	Requests [5]uint64 `json:"requests"`
	P50      float64   `json:"p50_ms"`
	P95      float64   `json:"p95_ms"`
}

// totals adds up points' requests by class and returns the highest p50.
func trafficTotals(ps []trafficPoint) (classes [5]uint64, p50 float64) {
	for _, p := range ps {
		for i, n := range p.Requests {
			classes[i] += n
		}
		p50 = max(p50, p.P50)
	}
	return classes, p50
}

// trafficRequests is GET /api/routes/{id}/requests.
type trafficRequests struct {
	Enabled  bool `json:"enabled"`
	Size     int  `json:"size"`
	Requests []struct {
		Time       string  `json:"time"`
		ClientIP   string  `json:"client_ip"`
		Method     string  `json:"method"`
		Path       string  `json:"path"`
		Status     int     `json:"status"`
		DurationMS float64 `json:"duration_ms"`
		User       string  `json:"user"`
	} `json:"requests"`
}

// trafficOverview is GET /api/overview.
type trafficOverview struct {
	Routes struct {
		Total, Live, Disabled int
		NotLive               int `json:"not_live"`
	} `json:"routes"`
	Unhealthy []struct {
		RouteID string `json:"route_id"`
		Address string `json:"address"`
	} `json:"unhealthy_upstreams"`
	FailedLogins int               `json:"failed_logins_24h"`
	Changes      int               `json:"changes_today"`
	Doctor       []json.RawMessage `json:"doctor"`
}

func (e *rtEnv) getJSON(c *client, path string, want int, v any) {
	e.t.Helper()
	resp, raw := c.Get(path, nil)
	if resp.StatusCode != want {
		e.t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, raw, want)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			e.t.Fatalf("GET %s: %v in %s", path, err, raw)
		}
	}
}

// TestTraffic generates traffic on a real Caddy and reads it back: the
// per-route charts' counts and latency (the sampler reads the counters
// every 10 seconds), the request log (bounded, without cookies,
// Authorization or query strings, with the gate's user only), and the
// overview's numbers (failed logins, changes today, an upstream that
// active health checks hold down), each with the roles that may see it.
func TestTraffic(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	up := rtNewUpstream(t, "traffic", false)
	ok := e.dash.create(rtWith(rtProxy("ok.traffic.test", "off", up.URL), "request_log", true, "request_log_size", 5))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there: 502, and health checks fail
	down := e.dash.create(rtWith(rtProxy("down.traffic.test", "off", "http://"+dead), "load_balancing",
		map[string]any{"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "1s"}}))
	gated := e.dash.create(rtWith(rtProxy("gated.traffic.test", "off", up.URL), "request_log", true,
		"auth", map[string]any{"require_login": true}))

	const secrets = "cookie-secret-1|query-secret-2|bearer-secret-3"
	for i := range 8 {
		resp, _ := e.get("ok.traffic.test", fmt.Sprintf("/page/%d?token=query-secret-2", i),
			"Cookie", "theirs=cookie-secret-1", "Authorization", "Bearer bearer-secret-3",
			"X-Proxyos-Email", e.adminEmail, "X-Proxyos-User", "admin")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ok route: %d", resp.StatusCode)
		}
	}
	for range 3 {
		if resp, _ := e.get("down.traffic.test", "/"); resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("down route: %d", resp.StatusCode)
		}
	}

	viewer, _ := e.login("viewer@traffic.test", "viewer")
	operator, _ := e.login("operator@traffic.test", "operator")

	t.Run("traffic counts and latency", func(t *testing.T) {
		var s trafficSeries
		rtPoll(t, 40*time.Second, func() string {
			e.getJSON(viewer, "/api/routes/"+ok.ID+"/traffic", http.StatusOK, &s)
			if c, _ := trafficTotals(s.Sum); c[1] != 8 {
				return fmt.Sprintf("the summed 2xx are %v, want 8", c)
			}
			return ""
		})
		local, p50 := trafficTotals(s.Local.Points)
		if local[1] != 8 || len(s.Local.Points) != 360 || len(s.Sum) != 60 {
			t.Errorf("local 2xx %v over %d points, summed over %d points", local, len(s.Local.Points), len(s.Sum))
		}
		// A loopback upstream answers in well under a second.
		if p50 <= 0 || p50 > 1000 {
			t.Errorf("p50 %v ms is implausible", p50)
		}
		if len(s.Nodes) != 1 || s.Nodes[0].Node == "" {
			t.Errorf("nodes = %+v, want this one", s.Nodes)
		}
		var d trafficSeries
		rtPoll(t, 20*time.Second, func() string {
			e.getJSON(viewer, "/api/routes/"+down.ID+"/traffic", http.StatusOK, &d)
			if c, _ := trafficTotals(d.Sum); c[4] != 3 {
				return fmt.Sprintf("the down route's 5xx are %v, want 3", c)
			}
			return ""
		})
	})

	// The sampler reads only routes that served requests since its last
	// reading: a route idle for a reading or more still has its later
	// requests counted, all of them.
	t.Run("requests after an idle reading are counted", func(t *testing.T) {
		// The down route (no request log, which later subtests read):
		// its 3 requests were read above.
		time.Sleep(11 * time.Second) // longer than the sampler's 10 s
		for range 2 {
			if resp, _ := e.get("down.traffic.test", "/"); resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("down route: %d", resp.StatusCode)
			}
		}
		var s trafficSeries
		rtPoll(t, 40*time.Second, func() string {
			e.getJSON(viewer, "/api/routes/"+down.ID+"/traffic", http.StatusOK, &s)
			if c, _ := trafficTotals(s.Sum); c[4] != 5 {
				return fmt.Sprintf("the summed 5xx are %v, want 5 (3 + 2)", c)
			}
			if c, _ := trafficTotals(s.Local.Points); c[4] != 5 {
				return fmt.Sprintf("the local 5xx are %v, want 5 (3 + 2)", c)
			}
			return ""
		})
	})

	t.Run("request log is bounded and keeps no secrets", func(t *testing.T) {
		var log trafficRequests
		e.getJSON(operator, "/api/routes/"+ok.ID+"/requests", http.StatusOK, &log)
		if !log.Enabled || log.Size != 5 || len(log.Requests) != 5 {
			t.Fatalf("log: enabled %v, size %d, %d entries; want 5 of 8 requests", log.Enabled, log.Size, len(log.Requests))
		}
		if r := log.Requests[0]; r.Path != "/page/7" || r.Method != "GET" || r.Status != 200 || r.ClientIP != "127.0.0.1" || r.DurationMS <= 0 {
			t.Errorf("newest entry = %+v", r)
		}
		raw, _ := json.Marshal(log)
		for _, s := range strings.Split(secrets, "|") {
			if strings.Contains(string(raw), s) {
				t.Errorf("the request log holds %q: %s", s, raw)
			}
		}
	})

	// A client sending X-Proxyos-Email on a route without a login must
	// not be logged as that user: only the gate names users.
	t.Run("forged identity headers name no user", func(t *testing.T) {
		var log trafficRequests
		e.getJSON(operator, "/api/routes/"+ok.ID+"/requests", http.StatusOK, &log)
		for _, r := range log.Requests {
			if r.User != "" {
				t.Errorf("an anonymous request is logged as %q", r.User)
			}
		}
	})

	t.Run("the gate's user is logged, not its token", func(t *testing.T) {
		status, raw := e.dash.call(http.MethodPost, "/"+gated.ID+"/tokens", map[string]any{"name": "deploy-bot"})
		if status != http.StatusCreated {
			t.Fatalf("POST tokens: %d %s", status, raw)
		}
		var tok struct {
			Token string `json:"token"`
		}
		json.Unmarshal(raw, &tok) //nolint:errcheck
		if resp, _ := e.get("gated.traffic.test", "/in", "Authorization", "Bearer "+tok.Token, "Accept", "application/json"); resp.StatusCode != http.StatusOK {
			t.Fatalf("with the token: %d", resp.StatusCode)
		}
		if resp, _ := e.get("gated.traffic.test", "/out", "Accept", "application/json", "X-Proxyos-Email", e.adminEmail); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without a login: %d", resp.StatusCode)
		}
		resp, logRaw := operator.Get("/api/routes/"+gated.ID+"/requests", nil)
		var log trafficRequests
		if err := json.Unmarshal(logRaw, &log); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET requests: %d %v", resp.StatusCode, err)
		}
		if len(log.Requests) != 2 || log.Requests[1].User != "token:deploy-bot" || log.Requests[0].User != "" || log.Requests[0].Status != 401 {
			t.Errorf("gated log = %+v, want deploy-bot's request then an anonymous 401", log.Requests)
		}
		if strings.Contains(string(logRaw), tok.Token) {
			t.Error("the route token is in the request log")
		}
	})

	t.Run("viewers see traffic but not the request log", func(t *testing.T) {
		e.getJSON(viewer, "/api/routes/"+ok.ID+"/requests", http.StatusForbidden, nil)
		e.getJSON(viewer, "/api/routes/"+ok.ID+"/traffic", http.StatusOK, nil)
		e.getJSON(viewer, "/api/routes/nope/traffic", http.StatusNotFound, nil)
	})

	t.Run("a route that stops logging loses its log", func(t *testing.T) {
		cur := e.dash.get(ok.ID)
		e.dash.update(ok.ID, cur.Version, rtProxy("ok.traffic.test", "off", up.URL))
		var log trafficRequests
		e.getJSON(operator, "/api/routes/"+ok.ID+"/requests", http.StatusOK, &log)
		if log.Enabled || len(log.Requests) != 0 {
			t.Errorf("after request_log off: enabled %v, %d entries", log.Enabled, len(log.Requests))
		}
	})

	t.Run("overview", func(t *testing.T) {
		bad := newClient(t, e.admin.Base)
		for range 2 {
			if resp, _ := bad.PostJSON("/api/auth/login", map[string]string{"email": e.adminEmail, "password": "not the password"}); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", resp.StatusCode)
			}
		}
		var before trafficOverview
		rtPoll(t, 20*time.Second, func() string {
			e.getJSON(viewer, "/api/overview", http.StatusOK, &before)
			for _, u := range before.Unhealthy {
				if u.RouteID == down.ID && u.Address == dead {
					return ""
				}
			}
			return fmt.Sprintf("unhealthy upstreams %+v, want %s of the down route", before.Unhealthy, dead)
		})
		if before.FailedLogins != 2 {
			t.Errorf("failed logins = %d, want 2", before.FailedLogins)
		}
		if before.Routes.Total != 3 || before.Routes.Live != 3 {
			t.Errorf("routes = %+v, want 3 live", before.Routes)
		}
		if len(before.Doctor) != 0 {
			t.Error("a viewer sees the doctor's findings")
		}
		cur := e.dash.get(down.ID)
		e.dash.update(down.ID, cur.Version, rtWith(rtProxy("down.traffic.test", "off", "http://"+dead), "enabled", false))
		var after trafficOverview
		e.getJSON(viewer, "/api/overview", http.StatusOK, &after)
		if after.Changes != before.Changes+1 || before.Changes < 5 {
			t.Errorf("changes today: %d, then %d after one more; want at least 5 (3 routes, a token, an update) and one more", before.Changes, after.Changes)
		}
		if after.Routes.Disabled != 1 || len(after.Unhealthy) != 0 {
			t.Errorf("after disabling the down route: %+v, unhealthy %+v", after.Routes, after.Unhealthy)
		}
		e.getJSON(viewer, "/api/overview?day_start=yesterday", http.StatusBadRequest, nil)
	})
}
