package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// proxyosCLI runs `caddy proxyos <args…> --address admin` and returns
// its standard output, standard error and exit status.
func proxyosCLI(t testing.TB, admin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(caddyBin, append(append([]string{"proxyos"}, args...), "--address", admin)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("caddy proxyos %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), 0
}

// cliOverview is what `caddy proxyos status --json` prints.
type cliOverview struct {
	Routes struct {
		Total, Live, Maintenance, Disabled int
		NotLive                            int `json:"not_live"`
	} `json:"routes"`
	RoutesAttention []struct {
		ID, Name, State string
	} `json:"routes_attention"`
	Unhealthy []struct {
		RouteID string `json:"route_id"`
		Address string `json:"address"`
	} `json:"unhealthy_upstreams"`
	Certificates []json.RawMessage `json:"certificates"`
	FailedLogins int               `json:"failed_logins_24h"`
	Changes      int               `json:"changes_today"`
}

// cliRequests is what `caddy proxyos requests --json` prints.
type cliRequests struct {
	trafficRequests
	Node    string `json:"node"`
	Cluster bool   `json:"cluster"`
}

// TestStatusTrafficRequestsCLI runs `caddy proxyos status`, `traffic`
// and `requests` against a real Caddy with traffic the test sends: a
// route in maintenance, an upstream held down, failed logins; the
// requests counted and listed newest first; a route without a request
// log said to be off; --json that parses; the exit statuses.
func TestStatusTrafficRequestsCLI(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	admin := e.inst.Admin
	up := rtNewUpstream(t, "cli", false)
	logged := e.api.create(rtWith(rtProxy("logged.cli.test", "off", up.URL), "request_log", true, "request_log_size", 10))
	plain := e.api.create(rtProxy("plain.cli.test", "off", up.URL))
	maint := e.api.create(rtProxy("maint.cli.test", "off", up.URL))
	if status, raw := e.api.call(http.MethodPost, "/"+maint.ID+"/maintenance", map[string]any{"on": true}); status != http.StatusOK {
		t.Fatalf("maintenance on: %d %s", status, raw)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there: health checks fail
	down := e.api.create(rtWith(rtProxy("down.cli.test", "off", "http://"+dead), "load_balancing",
		map[string]any{"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "1s"}}))

	// Traffic: 4 requests to the logged route, with a cookie, an
	// Authorization header and a query that the log must never hold.
	const secrets = "cli-cookie-secret|cli-bearer-secret|cli-query-secret"
	for i := range 4 {
		resp, _ := e.get("logged.cli.test", fmt.Sprintf("/cli/%d?token=cli-query-secret", i),
			"Cookie", "session=cli-cookie-secret", "Authorization", "Bearer cli-bearer-secret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("logged route: %d", resp.StatusCode)
		}
	}
	if resp, _ := e.get("plain.cli.test", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("plain route: %d", resp.StatusCode)
	}
	bad := newClient(t, e.admin.Base)
	for range 2 {
		if resp, _ := bad.PostJSON("/api/auth/login", map[string]string{"email": e.adminEmail, "password": "not the password"}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	}

	t.Run("status", func(t *testing.T) {
		var o cliOverview
		var code int
		rtPoll(t, 20*time.Second, func() string {
			out, stderr, c := proxyosCLI(t, admin, "status", "--json")
			code = c
			o = cliOverview{}
			if err := json.Unmarshal([]byte(out), &o); err != nil {
				return fmt.Sprintf("status --json (exit %d): not JSON: %v\n%s%s", c, err, out, stderr)
			}
			for _, u := range o.Unhealthy {
				if u.RouteID == down.ID && u.Address == dead {
					return ""
				}
			}
			return fmt.Sprintf("unhealthy upstreams %+v, want %s of the down route", o.Unhealthy, dead)
		})
		if code != 1 {
			t.Errorf("status --json exit %d, want 1 (something needs attention)", code)
		}
		if o.Routes.Total != 4 || o.Routes.Maintenance != 1 || o.Routes.Live != 3 || o.FailedLogins != 2 || o.Changes < 5 {
			t.Errorf("overview = %+v", o)
		}
		if len(o.RoutesAttention) != 1 || o.RoutesAttention[0].ID != maint.ID || o.RoutesAttention[0].State != "maintenance" {
			t.Errorf("routes needing attention = %+v, want the one in maintenance", o.RoutesAttention)
		}

		out, _, code := proxyosCLI(t, admin, "status")
		for _, want := range []string{
			"Routes: 4 in all: 3 live, 1 in maintenance, 0 enabled but not live, 0 disabled",
			"maintenance maint.cli.test (maint.cli.test), id " + maint.ID,
			"DOWN " + dead + " of down.cli.test, id " + down.ID,
			"Failed logins, last 24 h: 2",
			"Needs attention: ", "1 unhealthy upstream", "2 failed logins",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if code != 1 || strings.Contains(out, "\x1b[") {
			t.Errorf("status: exit %d (want 1), colours when not a terminal: %v", code, strings.Contains(out, "\x1b["))
		}
	})

	t.Run("traffic", func(t *testing.T) {
		var s trafficSeries
		rtPoll(t, 40*time.Second, func() string {
			out, stderr, code := proxyosCLI(t, admin, "traffic", logged.ID, "--json")
			s = trafficSeries{}
			if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
				return fmt.Sprintf("traffic --json: exit %d, %v\n%s%s", code, err, out, stderr)
			}
			if c, _ := trafficTotals(s.Sum); c[1] != 4 {
				return fmt.Sprintf("the summed 2xx are %v, want 4", c)
			}
			return ""
		})
		if local, p50 := trafficTotals(s.Local.Points); local[1] != 4 || p50 <= 0 {
			t.Errorf("this node's 2xx %v, p50 %v", local, p50)
		}
		// By host, for people: the node's row counts the 4 requests.
		out, stderr, code := proxyosCLI(t, admin, "traffic", "LOGGED.cli.test")
		if code != 0 {
			t.Fatalf("traffic by host: exit %d: %s", code, stderr)
		}
		node := s.Nodes[0].Node
		var row string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, node+" ") {
				row = l
			}
		}
		if f := strings.Fields(row); len(f) < 7 || f[1] != "4" || f[3] != "4" || !strings.Contains(row, " ms") || !strings.ContainsAny(row, "▁▂▃▄▅▆▇█") {
			t.Errorf("traffic row of node %s = %q in:\n%s", node, row, out)
		}
		if !strings.Contains(out, "Route logged.cli.test (logged.cli.test), id "+logged.ID) || !strings.Contains(out, "requests/s over the last minute") {
			t.Errorf("traffic:\n%s", out)
		}
		if _, stderr, code := proxyosCLI(t, admin, "traffic", "nowhere.cli.test"); code == 0 || !strings.Contains(stderr, `no route has the id or host "nowhere.cli.test"`) {
			t.Errorf("traffic of an unknown route: exit %d, %s", code, stderr)
		}
	})

	t.Run("requests newest first, without secrets", func(t *testing.T) {
		out, stderr, code := proxyosCLI(t, admin, "requests", "logged.cli.test", "--json")
		var log cliRequests
		if err := json.Unmarshal([]byte(out), &log); err != nil || code != 0 {
			t.Fatalf("requests --json: exit %d, %v\n%s%s", code, err, out, stderr)
		}
		if !log.Enabled || log.Size != 10 || len(log.Requests) != 4 || log.Node == "" || log.Cluster {
			t.Fatalf("log = %+v", log)
		}
		for i, r := range log.Requests {
			if want := fmt.Sprintf("/cli/%d", 3-i); r.Path != want || r.Status != 200 || r.Method != "GET" {
				t.Errorf("entry %d = %+v, want %s", i, r, want)
			}
		}
		text, _, code := proxyosCLI(t, admin, "requests", logged.ID)
		if code != 0 || !strings.Contains(text, "on this node ("+log.Node+"), newest first: 4 of at most 10") {
			t.Errorf("requests: exit %d:\n%s", code, text)
		}
		last := -1
		for i := 3; i >= 0; i-- {
			at := strings.Index(text, fmt.Sprintf("/cli/%d\n", i))
			if at < last {
				t.Errorf("/cli/%d is listed before a newer request:\n%s", i, text)
			}
			last = at
		}
		for _, s := range strings.Split(secrets, "|") {
			if strings.Contains(out, s) || strings.Contains(text, s) {
				t.Errorf("the request log as the CLI prints it holds %q", s)
			}
		}
	})

	// A path is the client's: decoded, it may hold the escape sequences
	// a terminal acts on (moving the cursor, rewriting lines, setting the
	// window title). The CLI prints them escaped, never raw.
	t.Run("terminal escape sequences in a path are printed escaped", func(t *testing.T) {
		if resp, _ := e.get("logged.cli.test", "/x%1b%5b2J%1b%5d0;pwned%07%e2%80%aey"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request: %d", resp.StatusCode)
		}
		text, _, code := proxyosCLI(t, admin, "requests", logged.ID)
		if code != 0 || strings.ContainsAny(text, "\x1b\x07\u202e") || !strings.Contains(text, `/x\x1b[2J\x1b]0;pwned\x07\u202ey`) {
			t.Errorf("requests: exit %d:\n%q", code, text)
		}
	})

	t.Run("a route without a request log", func(t *testing.T) {
		text, _, code := proxyosCLI(t, admin, "requests", "plain.cli.test")
		if code != 0 || !strings.Contains(text, "The request log is off for route plain.cli.test") {
			t.Errorf("requests: exit %d:\n%s", code, text)
		}
		out, _, _ := proxyosCLI(t, admin, "requests", plain.ID, "--json")
		var log cliRequests
		if err := json.Unmarshal([]byte(out), &log); err != nil || log.Enabled || len(log.Requests) != 0 {
			t.Errorf("requests --json: %v %s", err, out)
		}
	})

	t.Run("admin API", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			want         int
		}{
			{http.MethodGet, "/proxyos/routes/nope/traffic", http.StatusNotFound},
			{http.MethodGet, "/proxyos/routes/nope/requests", http.StatusNotFound},
			{http.MethodPost, "/proxyos/routes/" + logged.ID + "/traffic", http.StatusMethodNotAllowed},
			{http.MethodPost, "/proxyos/overview", http.StatusMethodNotAllowed},
			{http.MethodGet, "/proxyos/overview?day_start=yesterday", http.StatusBadRequest},
		} {
			resp, raw := do(t, http.DefaultClient, c.method, "http://"+admin+c.path, nil, nil)
			if resp.StatusCode != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, raw, c.want)
			}
		}
	})
}

// TestStatusCLIExitStatus checks `caddy proxyos status` exits 0 when
// nothing needs attention and 2 when no Caddy answers.
func TestStatusCLIExitStatus(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	out, stderr, code := proxyosCLI(t, e.inst.Admin, "status")
	if code != 0 || !strings.Contains(out, "Nothing needs attention.") {
		t.Errorf("status of a healthy instance: exit %d:\n%s%s", code, out, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, stderr, code := proxyosCLI(t, closed, "status"); code != 2 || !strings.Contains(stderr, "cannot ask the running Caddy") {
		t.Errorf("status without Caddy: exit %d, %s", code, stderr)
	}
}

// TestClusterTrafficRequestsCLI checks the CLI in cluster mode: traffic
// has a row per node and one for all of them, and each node's request
// log holds the requests that node served, named by its answer.
func TestClusterTrafficRequestsCLI(t *testing.T) {
	t.Parallel()
	e := startCluster(t, 2)
	a, b := e.nodes[0], e.nodes[1]
	const host = "log.cluster.test"
	spec := map[string]any{"name": "log", "enabled": true, "hosts": []string{host}, "kind": "static", "tls": "off",
		"static": map[string]any{"body": "hi"}, "request_log": true}
	body, _ := json.Marshal(spec)
	resp, raw := do(t, http.DefaultClient, http.MethodPost, "http://"+a.inst.Admin+"/proxyos/routes", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /proxyos/routes: %d %s", resp.StatusCode, raw)
	}
	var rt rtRoute
	json.Unmarshal(raw, &rt) //nolint:errcheck
	// Wait for node b to serve it without sending it requests.
	rtPoll(t, clusterWithin, func() string {
		var st struct {
			Status struct{ Live bool } `json:"status"`
		}
		_, raw := do(t, http.DefaultClient, http.MethodGet, "http://"+b.inst.Admin+"/proxyos/routes/"+rt.ID, nil, nil)
		if json.Unmarshal(raw, &st); !st.Status.Live {
			return "the route is not live on node-b: " + string(raw)
		}
		return ""
	})
	sent := map[*clusterNode]int{a: 3, b: 2}
	for n, count := range sent {
		for i := range count {
			if code, _, err := tryGet(n.hc, fmt.Sprintf("http://%s:%d/%s/%d", host, e.HTTPPort, n.name, i), nil); err != nil || code != http.StatusOK {
				t.Fatalf("request to %s: %d %v", n.name, code, err)
			}
		}
	}

	var s trafficSeries
	rtPoll(t, 40*time.Second, func() string {
		out, stderr, code := proxyosCLI(t, a.inst.Admin, "traffic", host, "--json")
		s = trafficSeries{}
		if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
			return fmt.Sprintf("traffic --json: exit %d, %v\n%s%s", code, err, out, stderr)
		}
		got := map[string]uint64{}
		for _, n := range s.Nodes {
			c, _ := trafficTotals(n.Points)
			got[n.Node] = c[1]
		}
		if sum, _ := trafficTotals(s.Sum); got["node-a"] != 3 || got["node-b"] != 2 || sum[1] != 5 {
			return fmt.Sprintf("2xx per node %v, summed %v; want node-a 3, node-b 2, 5 in all", got, sum)
		}
		return ""
	})
	out, _, _ := proxyosCLI(t, b.inst.Admin, "traffic", rt.ID)
	for _, want := range []string{"Now, on this node (node-b)", "\nnode-a  ", "\nnode-b  ", "\nall nodes  "} {
		if !strings.Contains(out, want) {
			t.Errorf("traffic on node-b lacks %q:\n%s", want, out)
		}
	}
	for n, count := range sent {
		out, stderr, code := proxyosCLI(t, n.inst.Admin, "requests", host, "--json")
		var log cliRequests
		if err := json.Unmarshal([]byte(out), &log); err != nil || code != 0 {
			t.Fatalf("requests --json on %s: exit %d %v\n%s%s", n.name, code, err, out, stderr)
		}
		if log.Node != n.name || !log.Cluster || len(log.Requests) != count {
			t.Errorf("requests on %s: node %q, cluster %v, %d requests; want its own %d", n.name, log.Node, log.Cluster, len(log.Requests), count)
		}
		for _, r := range log.Requests {
			if !strings.HasPrefix(r.Path, "/"+n.name+"/") {
				t.Errorf("the log of %s holds %s", n.name, r.Path)
			}
		}
		text, _, _ := proxyosCLI(t, n.inst.Admin, "requests", host)
		if !strings.Contains(text, "on this node ("+n.name+")") || !strings.Contains(text, "Each node keeps its own log") {
			t.Errorf("requests on %s:\n%s", n.name, text)
		}
	}
}
