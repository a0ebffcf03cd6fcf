package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// accessRules are the rules of the access tests' route, which requires
// a login otherwise.
var accessRules = []map[string]any{
	{"action": "deny", "path": "/admin/*"},
	{"action": "allow", "path": "/status/*"},
	{"action": "allow", "path": "/hooks/*", "methods": []string{"POST"}},
	{"action": "allow", "path": "/lan/*", "cidrs": []string{"127.0.0.0/8"}},
	{"action": "allow", "path": "/office/*", "cidrs": []string{"10.0.0.0/8"}},
}

// TestAccessRulesOnManagedRoute runs a managed route with access rules
// in a real Caddy and sends it the attacks rules must withstand: every
// request the rules do not let through must never reach the upstream.
func TestAccessRulesOnManagedRoute(t *testing.T) {
	e := rtStart(t, "")
	up := rtNewUpstream(t, "app", false)
	const host = "app.access.test"
	spec := rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "rules": accessRules})
	r := e.dash.create(spec)

	send := func(method, path string, pairs ...string) (int, []byte) {
		t.Helper()
		h := http.Header{"Accept": {"application/json"}}
		for i := 0; i+1 < len(pairs); i += 2 {
			h.Add(pairs[i], pairs[i+1])
		}
		resp, raw := do(t, rtHTTP, method, "http://"+host+":"+strconv.Itoa(e.HTTPPort)+path, nil, h)
		return resp.StatusCode, raw
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		pairs  []string
		want   int
	}{
		{"allowed prefix without a login", "GET", "/status/ok", nil, 200},
		{"allowed prefix itself", "GET", "/status", nil, 200},
		{"allowed webhook method", "POST", "/hooks/deploy", nil, 200},
		{"webhook with another method needs a login", "GET", "/hooks/deploy", nil, 401},
		{"LAN rule matches the real client address", "GET", "/lan/x", nil, 200},
		{"anything else needs a login", "GET", "/", nil, 401},
		{"denied path", "GET", "/admin/users", nil, 403},
		{"denied even with a LAN rule below: first match wins", "GET", "/admin", nil, 403},
		// the attacks
		{"X-Forwarded-For spoofing a LAN address (Caddy trusts no proxy here)", "GET", "/office/x", []string{"X-Forwarded-For", "10.1.2.3"}, 401},
		{"X-Real-IP spoofing", "GET", "/office/x", []string{"X-Real-IP", "10.1.2.3"}, 401},
		{"dot-dot out of an allowed prefix into a denied one", "GET", "/status/../admin/users", nil, 403},
		{"dot-dot out of an allowed prefix", "GET", "/status/../secret", nil, 401},
		{"encoded dot-dot", "GET", "/status/%2e%2e/secret", nil, 401},
		{"encoded dot-dot and slashes", "GET", "/status%2F..%2Fsecret", nil, 401},
		{"double slash before a denied path", "GET", "//admin/users", nil, 403},
		{"upper case denied path", "GET", "/ADMIN/users", nil, 403},
		{"semicolon dot-dot", "GET", "/status/..;/admin/users", nil, 403},
		{"semicolon dot-dot out of an allowed prefix", "GET", "/status/..;/secret", nil, 401},
		{"backslash dot-dot", "GET", "/status/..%5Csecret", nil, 401},
		{"double encoding", "GET", "/status/%252e%252e/secret", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			status, raw := send(tc.method, tc.path, tc.pairs...)
			if status != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, status, raw, tc.want)
			}
			reached := up.hits.Load() > before
			if reached != (tc.want == 200) {
				t.Fatalf("%s %s: upstream reached = %v with status %d", tc.method, tc.path, reached, status)
			}
		})
	}

	// An allowed request carries no identity: a client's forged
	// identity headers are removed, and its session cookie too.
	_, raw := send("GET", "/status/ok", "X-Proxyos-User", "admin", "Cookie", sessionCookieName+"="+e.adminCk)
	seen := rtSeenOf(t, raw)
	if seen.Header.Get("X-Proxyos-User") != "" || strings.Contains(seen.Header.Get("Cookie"), e.adminCk) {
		t.Fatalf("the upstream got an identity or the session on an allowed path: %v", seen.Header)
	}

	// Rules are part of the route's versions: removing them and rolling
	// back restores them.
	r = e.dash.update(r.ID, r.Version, rtWith(spec, "auth", map[string]any{"require_login": true}))
	if status, _ := send("GET", "/status/ok"); status != 401 {
		t.Fatalf("without rules /status/ok: %d, want 401", status)
	}
	if status, raw := e.dash.call(http.MethodPost, "/"+r.ID+"/rollback", map[string]any{"version": 1}); status != 200 {
		t.Fatalf("rollback: %d %s", status, raw)
	}
	if status, _ := send("GET", "/status/ok"); status != 200 {
		t.Fatalf("after the rollback /status/ok: %d, want 200", status)
	}
}

// TestAccessTestEndpoint: the dashboard's "test a request" box answers
// with the gate's evaluator, path cleaning included.
func TestAccessTestEndpoint(t *testing.T) {
	e := rtStart(t, "")
	viewer, _ := e.login("viewer@proxyos.test", "viewer")
	api := rtDashAPI(t, viewer)
	api.base = viewer.Base + "/api/access/test"
	status, raw := api.call(http.MethodPost, "", map[string]any{
		"rules": accessRules, "method": "GET", "path": "/status/%2e%2e/admin/x", "ip": "10.1.2.3"})
	if status != 200 {
		t.Fatalf("POST /api/access/test: %d %s", status, raw)
	}
	var v struct {
		Action string   `json:"action"`
		Rule   int      `json:"rule"`
		Path   string   `json:"path"`
		Why    []string `json:"why"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Action != "deny" || v.Rule != 1 || v.Path != "/admin/x" {
		t.Fatalf("verdict %s (%v), want deny by rule 1 on /admin/x", raw, err)
	}
	status, raw = api.call(http.MethodPost, "", map[string]any{"rules": []map[string]any{{"action": "allow", "cidrs": []string{"lan"}}}, "path": "/"})
	if status != 400 || !strings.Contains(string(raw), "rules[0].cidrs[0]") {
		t.Fatalf("bad rule: %d %s, want 400 naming rules[0].cidrs[0]", status, raw)
	}
}

// rtTokens calls a route's token endpoints.
func rtTokens(a rtAPI, routeID string) rtAPI {
	a.base += "/" + routeID + "/tokens"
	return a
}

// TestRouteTokensOnManagedRoute: scripts get through a route behind the
// login with a bearer token or a basic-auth user; the upstream sees the
// token's name, never the token; viewers never read a token or its
// hash; a revoked token stops working; guessing is cut off.
func TestRouteTokensOnManagedRoute(t *testing.T) {
	e := rtStart(t, "")
	up := rtNewUpstream(t, "app", false)
	const host = "tokens.access.test"
	r := e.dash.create(rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "roles": []string{"admin"}}))
	tokens := rtTokens(e.dash, r.ID)

	status, raw := tokens.call(http.MethodPost, "", map[string]any{"name": "backup script"})
	if status != http.StatusCreated {
		t.Fatalf("create token: %d %s", status, raw)
	}
	var bearer struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(raw, &bearer) //nolint:errcheck // checked below
	status, raw = tokens.call(http.MethodPost, "", map[string]any{"name": "phone", "username": "bob"})
	var basic struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(raw, &basic) //nolint:errcheck // checked below
	if bearer.Token == "" || basic.Token == "" || status != http.StatusCreated {
		t.Fatalf("tokens not shown once: %s", raw)
	}

	get := func(pairs ...string) (*http.Response, []byte) {
		t.Helper()
		return e.get(host, "/x", append([]string{"Accept", "application/json"}, pairs...)...)
	}
	// The admin API makes them too (recorded as made by "admin API").
	status, raw = rtTokens(e.api, r.ID).call(http.MethodPost, "", map[string]any{"name": "cli"})
	var cli struct {
		Token     string `json:"token"`
		CreatedBy string `json:"created_by"`
	}
	if json.Unmarshal(raw, &cli); status != http.StatusCreated || cli.CreatedBy != "admin API" {
		t.Fatalf("admin API token: %d %s", status, raw)
	}
	if resp, raw := get("Authorization", "Bearer "+cli.Token); resp.StatusCode != 200 {
		t.Fatalf("admin API token: %d %s", resp.StatusCode, raw)
	}
	resp, raw := get("Authorization", "Bearer "+bearer.Token)
	if resp.StatusCode != 200 {
		t.Fatalf("bearer token: %d %s", resp.StatusCode, raw)
	}
	seen := rtSeenOf(t, raw)
	if seen.Header.Get("X-Proxyos-User") != "token:backup script" || seen.Header.Get("X-Proxyos-Role") != "token" || seen.Header.Get("Authorization") != "" {
		t.Fatalf("upstream got %v: want the token's name and no Authorization header", seen.Header)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth("bob", basic.Token)
	if resp, raw := get("Authorization", req.Header.Get("Authorization")); resp.StatusCode != 200 {
		t.Fatalf("basic-auth user: %d %s", resp.StatusCode, raw)
	}
	req.SetBasicAuth("alice", basic.Token)
	if resp, raw := get("Authorization", req.Header.Get("Authorization")); resp.StatusCode != 401 || !strings.Contains(string(raw), "invalid_token") {
		t.Fatalf("basic token with another user name: %d %s, want 401 invalid_token", resp.StatusCode, raw)
	}

	// A viewer (and a routes:read key) lists names, never tokens or hashes,
	// and cannot make one.
	viewer, _ := e.login("viewer@proxyos.test", "viewer")
	vt := rtTokens(rtDashAPI(t, viewer), r.ID)
	status, raw = vt.call(http.MethodGet, "", nil)
	if status != 200 || !strings.Contains(string(raw), "backup script") {
		t.Fatalf("viewer lists tokens: %d %s", status, raw)
	}
	if strings.Contains(string(raw), bearer.Token) || strings.Contains(string(raw), basic.Token) || strings.Contains(string(raw), "argon2") || strings.Contains(string(raw), "prt_") {
		t.Fatalf("the token list shows a token or a hash: %s", raw)
	}
	if status, raw := vt.call(http.MethodPost, "", map[string]any{"name": "mine"}); status != http.StatusForbidden {
		t.Fatalf("viewer creates a token: %d %s, want 403", status, raw)
	}
	if log := e.inst.FullLog(); strings.Contains(log, bearer.Token) || strings.Contains(log, basic.Token) {
		t.Fatal("a token is in Caddy's log")
	}

	// Revoked: refused at once, though verified and cached before.
	if status, raw := tokens.call(http.MethodDelete, "/"+bearer.ID, nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	if resp, raw := get("Authorization", "Bearer "+bearer.Token); resp.StatusCode != 401 {
		t.Fatalf("revoked token: %d %s, want 401", resp.StatusCode, raw)
	}

	// Brute force: after ten wrong tokens (two above) the client waits.
	guess := basic.Token[:len(basic.Token)-4] + "AAAA"
	for i := range 8 {
		if resp, raw := get("Authorization", "Bearer "+guess); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d %s, want 401", i, resp.StatusCode, raw)
		}
	}
	req.SetBasicAuth("bob", basic.Token)
	if resp, raw := get("Authorization", req.Header.Get("Authorization")); resp.StatusCode != 200 {
		// verified before the guesses: cached, so not refused
		t.Fatalf("a cached token after guesses: %d %s", resp.StatusCode, raw)
	}
	resp, raw = get("Authorization", "Bearer "+guess)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("guess past the limit: %d %s, want 429 with Retry-After", resp.StatusCode, raw)
	}

	// The audit log has the token's life, without the token.
	_, raw = e.admin.Get("/api/audit?target="+r.ID, http.Header{"Accept": {"application/json"}})
	for _, action := range []string{"route_token.create", "route_token.use", "route_token.revoke"} {
		if !strings.Contains(string(raw), action) {
			t.Errorf("no %s in the audit log: %s", action, raw)
		}
	}
	if strings.Contains(string(raw), bearer.Token) || strings.Contains(string(raw), basic.Token) {
		t.Fatal("a token is in the audit log")
	}
}

// TestAccessRulesCannotOpenDashboard: an allow rule in front of the
// dashboard grants nothing there, since every dashboard endpoint checks
// its caller itself; a rule decides only whether the gate asks for a
// login.
func TestAccessRulesCannotOpenDashboard(t *testing.T) {
	e := rtPrepare(t)
	e.Sites = func() string {
		return fmt.Sprintf("http://localhost:%d {\n\tproxyos_auth {\n\t\tallow\n\t}\n\tproxyos_dashboard\n}\n", e.inst.Port("open"))
	}
	e.start("")
	base := fmt.Sprintf("http://localhost:%d", e.inst.Port("open"))
	for _, path := range []string{"/api/users", "/api/routes", "/api/audit"} {
		resp, raw := do(t, rtHTTP, http.MethodGet, base+path, nil, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s behind allow-all rules: %d %s, want 401", path, resp.StatusCode, raw)
		}
	}
}

// TestRouteTokenRevokedOnEveryNode: a token verified and cached on two
// nodes of a cluster, revoked on one, stops working on the other too
// (through the change log), not only where it was revoked.
func TestRouteTokenRevokedOnEveryNode(t *testing.T) {
	e := startCluster(t, 2)
	a, b := e.nodes[0], e.nodes[1]
	const host = "tok.cluster.test"
	spec := map[string]any{"name": "tok", "hosts": []string{host}, "kind": "static", "tls": "off",
		"static": map[string]any{"status": 200, "body": "inside"}, "auth": map[string]any{"require_login": true}}
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(e.mustCall(a, http.MethodPost, "/api/routes", e.adminCk, spec, http.StatusCreated), &r); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(e.mustCall(a, http.MethodPost, "/api/routes/"+r.ID+"/tokens", e.adminCk, map[string]any{"name": "ci"}, http.StatusCreated), &tok); err != nil {
		t.Fatal(err)
	}
	withToken := func(n *clusterNode) (int, string) {
		code, body, err := tryGet(n.hc, fmt.Sprintf("http://%s:%d/", host, e.HTTPPort), http.Header{"Authorization": {"Bearer " + tok.Token}, "Accept": {"application/json"}})
		if err != nil {
			t.Fatalf("route on %s: %v", n.name, err)
		}
		return code, body
	}
	e.everywhere("the token works", nil, func(n *clusterNode) (bool, string) {
		code, body := withToken(n)
		return code == 200 && body == "inside", fmt.Sprintf("%d %q", code, body)
	})
	e.mustCall(a, http.MethodDelete, "/api/routes/"+r.ID+"/tokens/"+tok.ID, e.adminCk, nil, http.StatusNoContent)
	e.everywhere("the token revoked on node-a", nil, func(n *clusterNode) (bool, string) {
		code, body := withToken(n)
		return code == 401, fmt.Sprintf("%d %q", code, body)
	})
	// node-b had it cached: it must not serve it from memory
	if code, body := withToken(b); code != 401 {
		t.Fatalf("node-b: %d %q after the revocation", code, body)
	}
}

// TestAccessRulesTrustedProxy: behind a proxy Caddy trusts
// (trusted_proxies), a CIDR rule matches the client address the proxy
// reports, as Caddy computed it; the proxy's own address no longer
// counts.
func TestAccessRulesTrustedProxy(t *testing.T) {
	e := rtStart(t, "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}")
	up := rtNewUpstream(t, "app", false)
	const host = "proxied.access.test"
	e.dash.create(rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "rules": accessRules}))
	for _, tc := range []struct {
		path, xff string
		want      int
	}{
		{"/office/x", "10.1.2.3", 200},
		{"/office/x", "203.0.113.5", 401},
		{"/lan/x", "203.0.113.5", 401}, // the proxy's loopback address is not the client's
		{"/lan/x", "", 200},
	} {
		pairs := []string{"Accept", "application/json"}
		if tc.xff != "" {
			pairs = append(pairs, "X-Forwarded-For", tc.xff)
		}
		if resp, raw := e.get(host, tc.path, pairs...); resp.StatusCode != tc.want {
			t.Errorf("GET %s from %q: %d %s, want %d", tc.path, tc.xff, resp.StatusCode, raw, tc.want)
		}
	}
}

// TestAccessRulesTrustedProxyKeepAlive: a proxy Caddy trusts sends the
// requests of several clients on one keep-alive connection, each with
// its own X-Forwarded-For. A CIDR rule (after path rules) must judge
// each request on its own client IP: a client IP kept per connection
// would let the second client inherit the first one's allow, reaching
// the upstream without a login. IPv6 clients included.
func TestAccessRulesTrustedProxyKeepAlive(t *testing.T) {
	e := rtStart(t, "servers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}")
	up := rtNewUpstream(t, "app", false)
	const host = "keepalive.access.test"
	rules := []map[string]any{
		{"action": "deny", "path": "/admin/*"},
		{"action": "allow", "path": "/status/*"},
		{"action": "allow", "cidrs": []string{"10.0.0.0/8", "2001:db8:1::/48"}},
	}
	e.dash.create(rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "rules": rules}))
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	br := bufio.NewReader(conn)
	for i, tc := range []struct {
		path, xff string
		want      int
	}{
		{"/x", "10.1.2.3", 200},
		{"/x", "203.0.113.5", 401}, // the first client's allow is not inherited
		{"/status/x", "203.0.113.5", 200},
		{"/x", "2001:db8:1::7", 200},
		{"/x", "2001:db8:2::7", 401},
		{"/x", "10.1.2.3", 200},
		{"/x", "198.51.100.7", 401},
	} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nX-Forwarded-For: %s\r\n\r\n", tc.path, host, tc.xff)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("request %d on the connection, GET %s from %s: %d %s, want %d", i+1, tc.path, tc.xff, resp.StatusCode, body, tc.want)
		}
		if resp.Close {
			t.Fatalf("request %d: Caddy closed the connection, so the test would not show one connection's requests", i+1)
		}
	}
}
