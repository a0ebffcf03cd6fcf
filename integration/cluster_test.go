package integration

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// Cluster mode: several real Caddy processes on one real PostgreSQL
// database. Each node listens on its own loopback address (127.0.0.2,
// 127.0.0.3, …) on the same ports, as nodes behind a load balancer serve
// the same ports; clients pick a node by the address they connect to,
// whatever the URL's host name.

// clusterWithin is how long a change may take to reach every node in
// these tests; the 50 ms target is measured by the propagation benchmark
// (bench/), not here, on a shared machine.
const clusterWithin = 3 * time.Second

// clusterSecret is the secret every node of a test cluster shares.
const clusterSecret = "cluster-test-secret-7f3c9a1e5d"

// Host names of a test cluster: the dashboard (the app's url, as behind
// a load balancer), the site behind proxyos_auth, the managed routes.
const (
	clusterDash = "dash.cluster.test"
	clusterApp  = "app.cluster.test"
)

type clusterNode struct {
	name string
	ip   string
	inst *instance
	hc   *http.Client // connects to this node's address for any URL host

	secret   string // clusterSecret unless a test rotates it
	previous string // the node's previous_secrets, if any
}

type clusterEnv struct {
	t        *testing.T
	dsn      string
	nodes    []*clusterNode
	DashPort int
	AppPort  int
	HTTPPort int // proxyos_routes

	// Global and Sites, when set, add global options and sites to each
	// node's config (see startClusterWith).
	Global string
	Sites  func(n *clusterNode) string
	// Bin, when set, is the Caddy binary of every node.
	Bin string

	adminEmail, adminPassword string
	adminCk                   string // the admin's session, made on the first node
}

// startCluster starts n nodes on one fresh database and sets up the first
// admin on the first node.
func startCluster(t *testing.T, n int) *clusterEnv {
	t.Helper()
	return startClusterOn(t, n, postgresDatabase(t))
}

// startClusterOn is startCluster on the database dsn.
func startClusterOn(t *testing.T, n int, dsn string) *clusterEnv {
	t.Helper()
	return startClusterWith(t, n, dsn, nil)
}

// startClusterWith is startClusterOn with the env prepared by prepare
// (which may set Global and Sites) before the nodes start.
func startClusterWith(t *testing.T, n int, dsn string, prepare func(e *clusterEnv)) *clusterEnv {
	t.Helper()
	e := &clusterEnv{t: t, dsn: dsn, DashPort: freePort(t), AppPort: freePort(t), HTTPPort: freePort(t),
		adminEmail: "admin@cluster.test", adminPassword: "cluster admin password"}
	if prepare != nil {
		prepare(e)
	}
	for i := range n {
		node := &clusterNode{name: fmt.Sprintf("node-%c", 'a'+i), ip: fmt.Sprintf("127.0.0.%d", 2+i), inst: newInstance(t), secret: clusterSecret}
		node.hc = nodeClient(node.ip)
		if e.Bin != "" {
			node.inst.Bin = e.Bin
		}
		node.inst.Configure(func() string { return e.caddyfile(node) })
		e.nodes = append(e.nodes, node)
	}
	for _, node := range e.nodes {
		node.inst.Start()
	}
	a := e.nodes[0]
	resp, raw := e.call(a, http.MethodPost, "/api/setup", "", map[string]string{
		"email": e.adminEmail, "password": e.adminPassword, "setup_code": a.inst.SetupCode()})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("setup on %s: %d %s", a.name, resp.StatusCode, raw)
	}
	e.adminCk = mustSessionCookie(t, resp).Value
	return e
}

// with returns e for the subtest t: its helpers fail t.
func (e *clusterEnv) with(t *testing.T) *clusterEnv {
	c := *e
	c.t = t
	return &c
}

// caddyfile is the config of one node: the dashboard (its url the load
// balancer's name), a site behind proxyos_auth echoing the identity, and
// the managed routes, on the node's own address.
func (e *clusterEnv) caddyfile(n *clusterNode) string {
	previous := ""
	if n.previous != "" {
		previous = "previous_secrets " + n.previous
	}
	sites := ""
	if e.Sites != nil {
		sites = e.Sites(n)
	}
	return fmt.Sprintf(`{
	admin %[1]s
	default_bind %[2]s
	skip_install_trust
	persist_config off
	%[11]s
	proxyos {
		database postgres %[3]s
		secret %[4]s
		node_name %[5]s
		url http://%[6]s:%[7]d
		%[10]s
	}
}

http://:%[7]d {
	proxyos_dashboard
}

http://:%[8]d {
	proxyos_auth
	respond "user={http.auth.user.id} role={http.auth.user.role}" 200
}

http://:%[9]d {
	proxyos_routes
	respond "no route" 404
}

%[12]s
`, n.inst.Admin, n.ip, e.dsn, n.secret, n.name, clusterDash, e.DashPort, e.AppPort, e.HTTPPort, previous, e.Global, sites)
}

// reload gives node n its config again (after a test changed its
// secrets) with caddy reload, as an operator would.
func (e *clusterEnv) reload(n *clusterNode) {
	e.t.Helper()
	n.inst.WriteConfig(e.caddyfile(n))
	out, err := exec.Command(caddyBin, "reload", "--config", n.inst.ConfigFile(), "--adapter", "caddyfile", "--address", n.inst.Admin).CombinedOutput()
	if err != nil {
		e.t.Fatalf("caddy reload of %s: %v\n%s", n.name, err, out)
	}
}

// nodeClient returns a client that connects to ip (on the URL's port)
// whatever the URL's host, from 127.0.0.1 (one client for every node),
// without cookies or redirects.
func nodeClient(ip string) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: noRedirects,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
			},
			DisableKeepAlives: true,
		},
	}
}

// call sends a dashboard API request to node n, as the dashboard's pages
// do, with the session cookie (if any) and a JSON body (if any).
func (e *clusterEnv) call(n *clusterNode, method, path, cookie string, body any) (*http.Response, []byte) {
	e.t.Helper()
	base := fmt.Sprintf("http://%s:%d", clusterDash, e.DashPort)
	h := http.Header{"Origin": {base}, "Accept": {"application/json"}}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	if method != http.MethodGet {
		h.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		h.Set("Cookie", sessionCookieName+"="+cookie)
	}
	return do(e.t, n.hc, method, base+path, r, h)
}

// mustCall is call that fails the test unless the answer has the status.
func (e *clusterEnv) mustCall(n *clusterNode, method, path, cookie string, body any, status int) []byte {
	e.t.Helper()
	resp, raw := e.call(n, method, path, cookie, body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s on %s: %d %s, want %d", method, path, n.name, resp.StatusCode, raw, status)
	}
	return raw
}

// login logs in on node n and returns the session cookie.
func (e *clusterEnv) login(n *clusterNode, email, password string) string {
	e.t.Helper()
	resp, raw := e.call(n, http.MethodPost, "/api/auth/login", "", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("login of %s on %s: %d %s", email, n.name, resp.StatusCode, raw)
	}
	return mustSessionCookie(e.t, resp).Value
}

// gate asks node n's site behind proxyos_auth with the session cookie.
func (e *clusterEnv) gate(n *clusterNode, cookie string) (int, string) {
	code, body, err := tryGet(n.hc, fmt.Sprintf("http://%s:%d/", clusterApp, e.AppPort), withSession(cookie, "Accept", "application/json"))
	if err != nil {
		e.t.Fatalf("gate of %s: %v", n.name, err)
	}
	return code, body
}

// route asks node n's managed routes for host.
func (e *clusterEnv) route(n *clusterNode, host string) (int, string) {
	code, body, err := tryGet(n.hc, fmt.Sprintf("http://%s:%d/", host, e.HTTPPort), nil)
	if err != nil {
		e.t.Fatalf("route %s on %s: %v", host, n.name, err)
	}
	return code, body
}

// everywhere waits until check holds on every node but except (nil for
// none), and reports how long that took.
func (e *clusterEnv) everywhere(what string, except *clusterNode, check func(n *clusterNode) (bool, string)) {
	e.t.Helper()
	start := time.Now()
	for _, n := range e.nodes {
		if n == except {
			continue
		}
		eventually(e.t, clusterWithin, 5*time.Millisecond, func() (bool, string) {
			ok, msg := check(n)
			return ok, fmt.Sprintf("%s on %s: %s", what, n.name, msg)
		})
	}
	e.t.Logf("%s: on every node after %s", what, time.Since(start).Round(time.Millisecond))
}

// gateSays waits until the gate of every node answers the cookie with
// the status (and, if not "", a body containing want).
func (e *clusterEnv) gateSays(what, cookie string, status int, want string) {
	e.t.Helper()
	e.everywhere(what, nil, func(n *clusterNode) (bool, string) {
		code, body := e.gate(n, cookie)
		return code == status && strings.Contains(body, want), fmt.Sprintf("%d %q, want %d %q", code, body, status, want)
	})
}

// sessionIDOf returns the id of the session the cookie belongs to, as
// its owner's session list says (the current one).
func (e *clusterEnv) sessionIDOf(n *clusterNode, cookie string) string {
	e.t.Helper()
	var out struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(e.mustCall(n, http.MethodGet, "/api/sessions", cookie, nil, http.StatusOK), &out); err != nil {
		e.t.Fatal(err)
	}
	for _, s := range out.Sessions {
		if s.Current {
			return s.ID
		}
	}
	e.t.Fatalf("no current session in the list")
	return ""
}

// TestClusterPropagation is the defect cluster mode fixes: a change made
// on one node must hold on every other node, at once, not after a
// restart or when a cache entry ends. Every kind of change that nodes
// keep in memory is made on one node and checked on the others: logins
// and logouts, revoked sessions, role changes, disabled users, password
// resets, revoked API keys, and routes created, changed, disabled and
// deleted.
func TestClusterPropagation(t *testing.T) {
	t.Parallel()
	e := startCluster(t, 3)
	a, b, c := e.nodes[0], e.nodes[1], e.nodes[2]
	const email, password = "ada@cluster.test", "ada's long password"
	uid := a.inst.CreateUser(email, password, "operator")

	// A login on one node is valid on the others (each caches it).
	ck := e.login(a, email, password)
	e.gateSays("a session made on node-a", ck, http.StatusOK, "role=operator")

	t.Run("logout", func(t *testing.T) {
		e := e.with(t)
		e.mustCall(b, http.MethodPost, "/api/auth/logout", ck, map[string]any{}, http.StatusNoContent)
		e.gateSays("a logout on node-b", ck, http.StatusUnauthorized, "")
		e.everywhere("the logged-out session's reason", nil, func(n *clusterNode) (bool, string) {
			resp, raw := e.call(n, http.MethodGet, "/api/auth/session", ck, nil)
			return resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(raw), `"reason":"revoked"`), string(raw)
		})
	})
	t.Run("role change", func(t *testing.T) {
		e := e.with(t)
		ck := e.login(c, email, password)
		e.gateSays("a new session", ck, http.StatusOK, "role=operator")
		// A new role ends the user's sessions, on every node; the next
		// login has the new role everywhere.
		e.mustCall(b, http.MethodPut, "/api/users/"+uid, e.adminCk, map[string]string{"role": "viewer"}, http.StatusOK)
		e.gateSays("a role changed on node-b", ck, http.StatusUnauthorized, "revoked")
		e.gateSays("a login after the role change", e.login(a, email, password), http.StatusOK, "role=viewer")
	})
	t.Run("disabled user", func(t *testing.T) {
		e := e.with(t)
		ck := e.login(c, email, password)
		e.gateSays("a new session", ck, http.StatusOK, "role=viewer")
		resp, raw := b.inst.AdminDo(http.MethodPut, "/proxyos/users/"+email, map[string]any{"disabled": true})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("disabling on node-b's admin API: %d %s", resp.StatusCode, raw)
		}
		e.gateSays("a user disabled on node-b", ck, http.StatusUnauthorized, "")
		if resp, raw := b.inst.AdminDo(http.MethodPut, "/proxyos/users/"+email, map[string]any{"disabled": false}); resp.StatusCode != http.StatusOK {
			t.Fatalf("enabling: %d %s", resp.StatusCode, raw)
		}
	})
	t.Run("session revoked by an admin", func(t *testing.T) {
		e := e.with(t)
		ck := e.login(a, email, password)
		e.gateSays("a new session", ck, http.StatusOK, "")
		id := e.sessionIDOf(a, ck)
		e.mustCall(c, http.MethodDelete, "/api/sessions/"+id, e.adminCk, nil, http.StatusNoContent)
		e.gateSays("a session revoked on node-c", ck, http.StatusUnauthorized, "")
	})
	t.Run("revoke all", func(t *testing.T) {
		e := e.with(t)
		ck1, ck2 := e.login(a, email, password), e.login(b, email, password)
		e.gateSays("two new sessions", ck1, http.StatusOK, "")
		e.gateSays("two new sessions", ck2, http.StatusOK, "")
		e.mustCall(c, http.MethodPost, "/api/sessions/revoke-all", ck2, map[string]any{}, http.StatusOK)
		e.gateSays("sessions revoked on node-c", ck1, http.StatusUnauthorized, "")
	})
	t.Run("password reset", func(t *testing.T) {
		e := e.with(t)
		ck := e.login(b, email, password)
		e.gateSays("a new session", ck, http.StatusOK, "")
		e.mustCall(a, http.MethodPut, "/api/users/"+uid, e.adminCk, map[string]string{"password": "a brand new password"}, http.StatusOK)
		e.gateSays("a password reset on node-a", ck, http.StatusUnauthorized, "")
	})
	t.Run("API key revoked", func(t *testing.T) {
		e := e.with(t)
		ck := e.login(a, email, "a brand new password")
		raw := e.mustCall(a, http.MethodPost, "/api/keys", ck, map[string]any{
			"name": "ci", "scopes": []string{"routes:read"}, "password": "a brand new password"}, http.StatusCreated)
		var k struct {
			Key    string `json:"key"`
			APIKey struct {
				ID string `json:"id"`
			} `json:"api_key"`
		}
		if err := json.Unmarshal(raw, &k); err != nil || k.Key == "" || k.APIKey.ID == "" {
			t.Fatalf("new key: %s", raw)
		}
		bearer := func(n *clusterNode) int {
			resp, _ := do(t, n.hc, http.MethodGet, fmt.Sprintf("http://%s:%d/api/routes", clusterDash, e.DashPort), nil,
				http.Header{"Authorization": {"Bearer " + k.Key}})
			return resp.StatusCode
		}
		e.everywhere("a new key", nil, func(n *clusterNode) (bool, string) { return bearer(n) == http.StatusOK, "" })
		e.mustCall(b, http.MethodDelete, "/api/keys/"+k.APIKey.ID, ck, nil, http.StatusNoContent)
		e.everywhere("a key revoked on node-b", nil, func(n *clusterNode) (bool, string) {
			code := bearer(n)
			return code == http.StatusUnauthorized, fmt.Sprint(code)
		})
	})
	t.Run("routes", func(t *testing.T) {
		e := e.with(t)
		const host = "r1.cluster.test"
		spec := map[string]any{"name": "r1", "hosts": []string{host}, "kind": "static", "tls": "off",
			"static": map[string]any{"status": 200, "body": "version one"}}
		var r struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, spec, http.StatusCreated), &r); err != nil {
			t.Fatal(err)
		}
		serves := func(what, want string) {
			t.Helper()
			e.everywhere(what, nil, func(n *clusterNode) (bool, string) {
				code, body := e.route(n, host)
				return body == want, fmt.Sprintf("%d %q, want %q", code, body, want)
			})
		}
		serves("a route created on node-a", "version one")

		spec["static"], spec["version"] = map[string]any{"status": 200, "body": "version two"}, r.Version
		if err := json.Unmarshal(e.mustCall(b, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, spec, http.StatusOK), &r); err != nil {
			t.Fatal(err)
		}
		serves("a route changed on node-b", "version two")

		spec["enabled"], spec["version"] = false, r.Version
		if err := json.Unmarshal(e.mustCall(c, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, spec, http.StatusOK), &r); err != nil {
			t.Fatal(err)
		}
		serves("a route disabled on node-c", "no route")

		spec["enabled"], spec["version"] = true, r.Version
		if err := json.Unmarshal(e.mustCall(a, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, spec, http.StatusOK), &r); err != nil {
			t.Fatal(err)
		}
		serves("a route enabled again on node-a", "version two")

		resp, raw := b.inst.AdminDo(http.MethodDelete, "/proxyos/routes/"+r.ID, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("deleting on node-b's admin API: %d %s", resp.StatusCode, raw)
		}
		serves("a route deleted on node-b", "no route")
	})
	// A location's request header value (sealed in the database) is
	// opened by every node, and a null sent to another node keeps it.
	t.Run("location header value", func(t *testing.T) {
		e := e.with(t)
		const host, key = "loc.cluster.test", "cluster-loc-key-5e2a90"
		web, api := rtNewUpstream(t, "c-web", false), rtNewUpstream(t, "c-api", false)
		spec := func(v any, root string) map[string]any {
			return map[string]any{"name": "loc", "hosts": []string{host}, "kind": "proxy", "tls": "off", "upstreams": []string{root},
				"locations": []map[string]any{{"path": "/api/*", "upstreams": []string{api.URL},
					"headers": map[string]any{"request": map[string]any{"set": map[string]any{"X-Api-Key": v}}}}}}
		}
		var r struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, spec(key, web.URL), http.StatusCreated), &r); err != nil {
			t.Fatal(err)
		}
		seen := func(n *clusterNode, path string) rtSeen {
			var s rtSeen
			if _, body, err := tryGet(n.hc, fmt.Sprintf("http://%s:%d%s", host, e.HTTPPort, path), nil); err == nil {
				json.Unmarshal([]byte(body), &s) //nolint:errcheck // an empty rtSeen fails the check
			}
			return s
		}
		// sends waits until every node serves / from root and sends the
		// value on /api/x only.
		sends := func(what, root string) {
			t.Helper()
			e.everywhere(what, nil, func(n *clusterNode) (bool, string) {
				r, l := seen(n, "/"), seen(n, "/api/x")
				return r.Upstream == root && r.Header.Get("X-Api-Key") == "" && l.Upstream == "c-api" && l.Header.Get("X-Api-Key") == key,
					fmt.Sprintf("/ from %q with X-Api-Key %q, /api/x from %q with %q", r.Upstream, r.Header.Get("X-Api-Key"), l.Upstream, l.Header.Get("X-Api-Key"))
			})
		}
		sends("a location's header value set on node-a", "c-web")
		s := spec(nil, api.URL)
		s["version"] = r.Version
		e.mustCall(b, http.MethodPut, "/api/routes/"+r.ID, e.adminCk, s, http.StatusOK)
		sends("the value kept by a null on node-b", "c-api")
	})
	t.Run("cluster view", func(t *testing.T) {
		eventually(t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
			resp, raw := c.inst.AdminDo(http.MethodGet, "/proxyos/cluster", nil)
			var v struct {
				Database   string `json:"database"`
				LastChange int64  `json:"last_change"`
				Nodes      []struct {
					Name       string `json:"name"`
					State      string `json:"state"`
					Lag        int64  `json:"lag"`
					LastChange int64  `json:"last_change"`
					This       bool   `json:"this"`
				} `json:"nodes"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &v) != nil || v.Database != "postgres" || len(v.Nodes) != 3 {
				return false, fmt.Sprintf("%d %s", resp.StatusCode, raw)
			}
			names := map[string]bool{}
			for _, n := range v.Nodes {
				if n.State != "up" || n.Lag != 0 || n.LastChange != v.LastChange || n.This != (n.Name == "node-c") {
					return false, string(raw)
				}
				names[n.Name] = true
			}
			return names["node-a"] && names["node-b"] && names["node-c"], string(raw)
		})
	})
	for _, n := range e.nodes {
		if strings.Contains(n.inst.FullLog(), clusterSecret) {
			t.Errorf("the secret appears in %s's log", n.name)
		}
		if strings.Contains(n.inst.FullLog(), "database unavailable") {
			t.Errorf("%s logged an outage that did not happen", n.name)
		}
	}
}

// TestClusterSecretRotation rotates the shared secret of a running
// cluster as the README says, in two rounds of reloads, without logging
// anyone out: sessions signed with either secret stay valid on every
// node while both are configured, a session made on a node that switched
// is valid on one that did not yet, and an API key (its digest sealed
// with the secret) keeps working after the old secret is dropped,
// because each node re-seals stored secrets when it switches. Only
// sessions signed with the dropped secret end, with reason unknown_key.
func TestClusterSecretRotation(t *testing.T) {
	t.Parallel()
	e := startCluster(t, 2)
	a, b := e.nodes[0], e.nodes[1]
	const email, password = "dora@cluster.test", "dora's long password"
	a.inst.CreateUser(email, password, "operator")
	oldCk := e.login(a, email, password)
	raw := e.mustCall(a, http.MethodPost, "/api/keys", oldCk, map[string]any{
		"name": "ci", "scopes": []string{"routes:read"}, "password": password}, http.StatusCreated)
	var k struct {
		Key string `json:"key"`
	}
	mustJSON(t, raw, &k)
	keyWorks := func(what string) {
		t.Helper()
		e.everywhere(what, nil, func(n *clusterNode) (bool, string) {
			resp, body := do(t, n.hc, http.MethodGet, fmt.Sprintf("http://%s:%d/api/routes", clusterDash, e.DashPort), nil,
				http.Header{"Authorization": {"Bearer " + k.Key}})
			return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, body)
		})
	}
	const newSecret = "cluster-rotated-secret-0b9e4c2a71"

	// Round 1: every node learns the new secret, still signing with the
	// old one.
	for _, n := range e.nodes {
		n.previous = newSecret
		e.reload(n)
	}
	e.gateSays("the old session after round 1", oldCk, http.StatusOK, "role=operator")
	keyWorks("the key after round 1")

	// Round 2, node by node: the new secret signs, the old one verifies.
	a.secret, a.previous = newSecret, clusterSecret
	e.reload(a)
	newCk := e.login(a, email, password) // signed with the new secret
	e.gateSays("a session signed with the new secret, while node-b has not switched", newCk, http.StatusOK, "role=operator")
	e.gateSays("the old session in the middle of round 2", oldCk, http.StatusOK, "role=operator")
	keyWorks("the key re-sealed by node-a, while node-b has not switched")
	b.secret, b.previous = newSecret, clusterSecret
	e.reload(b)
	e.gateSays("the new session after round 2", newCk, http.StatusOK, "")
	e.gateSays("the old session after round 2", oldCk, http.StatusOK, "")

	// Later: the old secret goes.
	for _, n := range e.nodes {
		n.previous = ""
		e.reload(n)
	}
	e.gateSays("the new session without the old secret", newCk, http.StatusOK, "")
	keyWorks("the key without the old secret")
	e.everywhere("the old session without the old secret", nil, func(n *clusterNode) (bool, string) {
		resp, raw := e.call(n, http.MethodGet, "/api/auth/session", oldCk, nil)
		return resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(raw), `"reason":"unknown_key"`), string(raw)
	})
	for _, n := range e.nodes {
		if log := n.inst.FullLog(); strings.Contains(log, clusterSecret) || strings.Contains(log, newSecret) {
			t.Errorf("a secret appears in %s's log", n.name)
		}
	}
}

// TestClusterLimitsAndHandoff: what lives in the database works across
// nodes. Wrong passwords tried on one node count on the others, so
// spreading guesses over the nodes gains nothing; a login handoff code
// issued by one node's dashboard is redeemed on another node, once; and
// the handed-off session ends on every node with the login it came from.
func TestClusterLimitsAndHandoff(t *testing.T) {
	t.Parallel()
	e := startCluster(t, 2)
	a, b := e.nodes[0], e.nodes[1]
	const email, password = "bob@cluster.test", "bob's long password"
	a.inst.CreateUser(email, password, "viewer")

	t.Run("login limits", func(t *testing.T) {
		e := e.with(t)
		for i := range 5 {
			n := e.nodes[i%2]
			if resp, raw := e.call(n, http.MethodPost, "/api/auth/login", "", map[string]string{"email": email, "password": "wrong"}); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password %d on %s: %d %s", i+1, n.name, resp.StatusCode, raw)
			}
		}
		for _, n := range e.nodes {
			if resp, raw := e.call(n, http.MethodPost, "/api/auth/login", "", map[string]string{"email": email, "password": password}); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the right password on %s after 5 wrong ones spread over both nodes: %d %s, want 429", n.name, resp.StatusCode, raw)
			}
		}
	})

	t.Run("handoff", func(t *testing.T) {
		e := e.with(t)
		const host = "app.handoff.test"
		spec := map[string]any{"name": "handoff", "hosts": []string{host}, "kind": "static", "tls": "off",
			"static": map[string]any{"status": 200, "body": "behind the login"}, "auth": map[string]any{"require_login": true}}
		e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, spec, http.StatusCreated)
		page := fmt.Sprintf("http://%s:%d/x", host, e.HTTPPort)
		// The browser asks node-b for the page and is sent to log in,
		// with a state cookie for the handoff.
		var state string
		e.everywhere("the login route", nil, func(n *clusterNode) (bool, string) {
			if n != b {
				return true, ""
			}
			resp, _ := do(t, b.hc, http.MethodGet, page, nil, http.Header{"Accept": {"text/html"}})
			for _, c := range resp.Cookies() {
				if c.Name == "proxyos_handoff" {
					state = c.Value
				}
			}
			return state != "", fmt.Sprint(resp.StatusCode)
		})
		// Logged in on the dashboard (node-a), the browser gets a code
		// for the page.
		raw := e.mustCall(a, http.MethodPost, "/api/auth/handoff", e.adminCk, map[string]string{"return_to": page, "state": state}, http.StatusOK)
		var out struct{ Redirect string }
		if err := json.Unmarshal(raw, &out); err != nil || !strings.Contains(out.Redirect, "code=") {
			t.Fatalf("handoff: %s", raw)
		}
		cb, err := url.Parse(out.Redirect)
		if err != nil {
			t.Fatal(err)
		}
		redeem := func(n *clusterNode) (*http.Response, string) {
			resp, _ := do(t, n.hc, http.MethodGet, cb.String(), nil, http.Header{"Accept": {"text/html"}, "Cookie": {"proxyos_handoff=" + state}})
			if ck := sessionCookieOf(resp); ck != nil {
				return resp, ck.Value
			}
			return resp, ""
		}
		resp, child := redeem(b)
		if resp.StatusCode != http.StatusFound || child == "" {
			t.Fatalf("the code issued on node-a, redeemed on node-b: %d, session %v", resp.StatusCode, child != "")
		}
		if resp, again := redeem(a); resp.StatusCode != http.StatusBadRequest || again != "" {
			t.Fatalf("the same code again on node-a: %d, session %v; want 400 and none", resp.StatusCode, again != "")
		}
		e.everywhere("the handed-off session", nil, func(n *clusterNode) (bool, string) {
			code, body, err := tryGet(n.hc, "http://"+host+":"+fmt.Sprint(e.HTTPPort)+"/", withSession(child))
			return err == nil && code == http.StatusOK && body == "behind the login", fmt.Sprintf("%d %q %v", code, body, err)
		})
		// The admin logs out on node-a: the handed-off session ends too,
		// on node-b, which cached it.
		e.mustCall(a, http.MethodPost, "/api/auth/logout", e.adminCk, map[string]any{}, http.StatusNoContent)
		e.everywhere("the handed-off session after its login ended", nil, func(n *clusterNode) (bool, string) {
			code, body, err := tryGet(n.hc, "http://"+host+":"+fmt.Sprint(e.HTTPPort)+"/", withSession(child, "Accept", "application/json"))
			return err == nil && code == http.StatusUnauthorized, fmt.Sprintf("%d %q %v", code, body, err)
		})
	})
}

// TestClusterMaintenanceSchedule runs a route's maintenance schedule on
// two nodes on one PostgreSQL database: between from and until both
// nodes answer the maintenance page, before and after they proxy; each
// step is one version and one entry of the change log, not one per node;
// and a node restarted after the schedule was set (which knows it only
// from the database) carries out the step due while the other is down.
func TestClusterMaintenanceSchedule(t *testing.T) {
	t.Parallel()
	e := startCluster(t, 2)
	a, b := e.nodes[0], e.nodes[1]
	up := rtNewUpstream(t, "scheduled", false)
	const host = "sched.cluster.test"
	var r struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, rtProxy(host, "off", up.URL), http.StatusCreated), &r); err != nil {
		t.Fatal(err)
	}

	var from, until time.Time // the schedule

	// serves is how node n answers the route now: "proxy", "maintenance"
	// (503, the default page, Retry-After until), or what else it said.
	serves := func(n *clusterNode) string {
		resp, err := n.hc.Get(fmt.Sprintf("http://%s:%d/", host, e.HTTPPort))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == http.StatusOK && resp.Header.Get("X-Upstream") == up.Name:
			return "proxy"
		case resp.StatusCode == http.StatusServiceUnavailable && string(raw) == route.DefaultMaintenancePage &&
			resp.Header.Get("Retry-After") == until.UTC().Format(http.TimeFormat):
			return "maintenance"
		}
		return fmt.Sprintf("%d %q", resp.StatusCode, raw)
	}
	// waitFor waits until each of nodes serves want.
	waitFor := func(what, want string, nodes ...*clusterNode) {
		t.Helper()
		for _, n := range nodes {
			eventually(t, clusterWithin+2*scheduleSlack, 20*time.Millisecond, func() (bool, string) {
				got := serves(n)
				return got == want, fmt.Sprintf("%s on %s: %s, want %s", what, n.name, got, want)
			})
		}
	}
	waitFor("the new route", "proxy", a, b)

	// runOf is the id of node n's current run in the node list, the
	// origin of the changes it makes.
	db, err := sql.Open("pgx", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runOf := func(n *clusterNode) string {
		t.Helper()
		var id string
		if err := db.QueryRow(`SELECT id FROM nodes WHERE name = $1 ORDER BY started_at DESC LIMIT 1`, n.name).Scan(&id); err != nil {
			t.Fatalf("the run of %s in the node list: %v", n.name, err)
		}
		return id
	}

	from = time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	until = from.Add(5 * time.Second)
	raw := e.mustCall(a, http.MethodPost, "/api/routes/"+r.ID+"/maintenance", e.adminCk,
		map[string]any{"on": false, "from": from, "until": until}, http.StatusOK)
	if err := json.Unmarshal(raw, &r); err != nil || r.Version != 2 {
		t.Fatalf("scheduling: %s", raw)
	}

	// Before from: node-b restarts and both proxy.
	b.inst.Restart()
	for _, n := range e.nodes {
		if got := serves(n); got != "proxy" {
			t.Errorf("before from (%s to go) on %s: %s, want proxy", time.Until(from).Round(time.Millisecond), n.name, got)
		}
	}
	if time.Now().After(from) {
		t.Fatalf("node-b took until after from to restart: make from later")
	}

	// From: both nodes switch, not before from, within the schedule's
	// second and the change's propagation.
	for _, n := range e.nodes {
		eventually(t, time.Until(from)+clusterWithin+scheduleSlack, 20*time.Millisecond, func() (bool, string) {
			got := serves(n)
			if got == "maintenance" && time.Now().Before(from) {
				t.Fatalf("%s in maintenance %s before from", n.name, time.Until(from))
			}
			return got == "maintenance", fmt.Sprintf("at from on %s: %s, want maintenance", n.name, got)
		})
	}
	t.Logf("both nodes in maintenance %s after from", time.Since(from).Round(time.Millisecond))

	// Between: node-a stops; node-b alone ends the maintenance at until.
	aRun := runOf(a)
	a.inst.Stop()
	if time.Now().After(until) {
		t.Fatalf("node-a took until after until to stop: make the window longer")
	}
	if got := serves(b); got != "maintenance" {
		t.Errorf("between from and until on node-b alone: %s, want maintenance", got)
	}
	eventually(t, time.Until(until)+scheduleSlack, 20*time.Millisecond, func() (bool, string) {
		got := serves(b)
		if got == "proxy" && time.Now().Before(until) {
			t.Fatalf("node-b proxies %s before until", time.Until(until))
		}
		return got == "proxy", fmt.Sprintf("at until on node-b: %s, want proxy", got)
	})
	t.Logf("node-b proxies again %s after until", time.Since(until).Round(time.Millisecond))

	// node-a, down at until, comes back proxying.
	a.inst.Start()
	waitFor("after until on node-a, restarted", "proxy", a)

	// One version per step, by the schedule, with the route otherwise
	// unchanged.
	var hist struct {
		Versions []rtVersion `json:"versions"`
	}
	if err := json.Unmarshal(e.mustCall(b, http.MethodGet, "/api/routes/"+r.ID+"/versions", e.adminCk, nil, http.StatusOK), &hist); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, v := range hist.Versions {
		steps = append(steps, fmt.Sprintf("%d %s by %s", v.Version, v.Action, v.Actor))
	}
	want := []string{"4 maintenance off by maintenance schedule", "3 maintenance on by maintenance schedule",
		"2 maintenance scheduled by " + e.adminEmail}
	if len(steps) != 4 || !slices.Equal(steps[:3], want) {
		t.Errorf("versions:\n%s\nwant, newest first:\n%s\nand the creation", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	if last := hist.Versions[0].Route; !slices.Equal(last.Upstreams, []string{up.URL}) {
		t.Errorf("the route after the schedule: %+v, want its upstream back", last)
	}

	// The change log: one entry per version, the off step made by
	// node-b in its second run (node-a was down).
	var origins []string
	rows, err := db.Query(`SELECT origin FROM changes WHERE kind = 'route' AND entity = $1 ORDER BY seq`, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		origins = append(origins, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	bRun := runOf(b)
	who := map[string]string{aRun: "node-a", bRun: "node-b after its restart"}
	var by []string
	for _, o := range origins {
		by = append(by, cmp.Or(who[o], o))
	}
	t.Logf("the route's changes made by: %q", by)
	if len(origins) != 4 || origins[0] != aRun || origins[1] != aRun || who[origins[2]] == "" || origins[3] != bRun {
		t.Errorf("the route's changes made by %q, want 4: created and scheduled by node-a, on by either node, off by node-b after its restart", by)
	}
}

// scheduleSlack is how late a node may carry out a schedule's step: it
// checks every second (see proxyos's scheduleEvery), on a busy machine.
const scheduleSlack = 2 * time.Second
