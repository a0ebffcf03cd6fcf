package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestRouteCannotReachAdminAPI is the attack of the security review: an
// operator (or a routes:write API key) creates a route whose upstream is
// Caddy's admin endpoint and whose request headers set Host to the
// endpoint's address, so the admin endpoint's host check passes. From
// then on anyone reaching the routes port could create an admin
// (POST /proxyos/users), read /config/ or load a config serving the
// proxyos secret file. Every way to do that is refused: the Host header
// and the hop-by-hop headers are not route header edits, and no
// spelling of the admin endpoint (addresses, numeric forms, names
// resolving there when saved, or by the time of the request) is an
// upstream. The same holds for this Caddy's own listeners (proxy loops)
// and link-local addresses, unless the admin allows them.
func TestRouteCannotReachAdminAPI(t *testing.T) {
	t.Parallel()
	dnsSrv := newDNSServer(t)
	e := rtPrepare(t)
	e.ProxyosExtra = "upstream_resolvers " + dnsSrv.Addr
	e.start("")
	_, adminPort, _ := net.SplitHostPort(e.inst.Admin)

	op, _ := e.login("operator@proxyos.test", "operator")
	opAPI := rtDashAPI(t, op)
	opKey := acsMustKeyWithPassword(t, op, rtAdminPassword, "deploy", "routes:write")
	keyAPI := rtAPI{t: t, base: op.Base + "/api/routes", hc: plainHTTP,
		hdr: http.Header{"Authorization": {"Bearer " + opKey}, "Content-Type": {"application/json"}}}

	victim := "victim.proxyos.test"
	attack := rtWith(rtProxy(victim, "off", "http://127.0.0.1:"+adminPort),
		"headers", map[string]any{"request": map[string]any{"set": map[string]string{"Host": "127.0.0.1:" + adminPort}}})

	t.Run("the reported route is refused for its Host header", func(t *testing.T) {
		for _, api := range []rtAPI{opAPI, keyAPI, e.api} {
			status, raw := api.call(http.MethodPost, "", attack)
			rtWantFieldError(t, api, "route with Host header", status, raw, http.StatusBadRequest, "headers.request.set")
		}
	})

	t.Run("every hop-by-hop header is refused too", func(t *testing.T) {
		for _, h := range []string{"Connection", "Content-Length", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Proxy-Authorization", "proxy-connection", "Keep-Alive"} {
			spec := rtWith(rtProxy("hop.proxyos.test", "off", "http://10.0.0.1:80"),
				"headers", map[string]any{"request": map[string]any{"set": map[string]string{h: "x"}}})
			status, raw := opAPI.call(http.MethodPost, "", spec)
			rtWantFieldError(t, opAPI, "header "+h, status, raw, http.StatusBadRequest, "headers.request.set")
		}
	})

	dnsSrv.Set("admin.attacker.test", "127.0.0.1")
	dnsSrv.Set("admin6.attacker.test", "::1")
	spellings := []string{
		"http://127.0.0.1:" + adminPort,
		"http://localhost:" + adminPort,
		"http://127.0.0.2:" + adminPort,
		"http://[::1]:" + adminPort,
		"http://0.0.0.0:" + adminPort,
		"http://[::]:" + adminPort,
		"http://[::ffff:127.0.0.1]:" + adminPort,
		"http://[::ffff:7f00:1]:" + adminPort,
		"http://2130706433:" + adminPort,
		"http://0x7f000001:" + adminPort,
		"http://0177.0.0.1:" + adminPort,
		"http://127.1:" + adminPort,
		"http://admin.attacker.test:" + adminPort,
		"http://admin6.attacker.test:" + adminPort,
		"https://127.0.0.1:" + adminPort,
	}
	t.Run("no spelling of the admin endpoint is an upstream", func(t *testing.T) {
		for _, u := range spellings {
			for _, api := range []rtAPI{opAPI, keyAPI} {
				status, raw := api.call(http.MethodPost, "", rtProxy(victim, "off", u))
				rtWantFieldError(t, api, "upstream "+u, status, raw, http.StatusBadRequest, "upstreams[0]")
			}
		}
		// Nor as the second upstream, nor through a change of a route
		// that was fine.
		a := rtNewUpstream(t, "fine", false)
		status, raw := opAPI.call(http.MethodPost, "", rtProxy(victim, "off", a.URL, "http://localhost:"+adminPort))
		rtWantFieldError(t, opAPI, "second upstream", status, raw, http.StatusBadRequest, "upstreams[1]")
		r := opAPI.create(rtProxy(victim, "off", a.URL))
		status, raw = opAPI.call(http.MethodPut, "/"+r.ID, rtWith(rtProxy(victim, "off", "http://127.0.0.1:"+adminPort), "version", 1))
		rtWantFieldError(t, opAPI, "update to the admin endpoint", status, raw, http.StatusBadRequest, "upstreams[0]")
		e.servedBy(victim, a.Name) // the previous route stays live
		opAPI.delete(r.ID)
	})

	t.Run("a name rebound to the admin endpoint after saving is refused at dial time", func(t *testing.T) {
		// The full attack: upstream_host (a validated Host) passes the
		// admin endpoint's host check; only the dial-time check stands
		// between the route and the admin API.
		dnsSrv.Set("rebind.attacker.test", "192.0.2.1") // TEST-NET-1: fine when saved
		r := opAPI.create(rtWith(rtProxy("rebind.proxyos.test", "off", "http://rebind.attacker.test:"+adminPort),
			"upstream_host", "127.0.0.1:"+adminPort))
		dnsSrv.Set("rebind.attacker.test", "127.0.0.1")
		before := adminUserCount(t, e)
		body := strings.NewReader(`{"email":"evil@proxyos.test","password":"evil password 1","role":"admin"}`)
		resp, raw := do(t, rtHTTP, http.MethodPost, fmt.Sprintf("http://rebind.proxyos.test:%d/proxyos/users", e.HTTPPort), body,
			http.Header{"Content-Type": {"application/json"}})
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("POST /proxyos/users through the rebound route: %d %s, want 502", resp.StatusCode, raw)
		}
		if after := adminUserCount(t, e); after != before {
			t.Fatalf("the admin API was reached: %d users before, %d after", before, after)
		}
		resp, raw = do(t, rtHTTP, http.MethodGet, fmt.Sprintf("http://rebind.proxyos.test:%d/config/", e.HTTPPort), nil, nil)
		if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(raw), "proxyos") {
			t.Fatalf("GET /config/ through the rebound route: %d %s, want 502 without the config", resp.StatusCode, raw)
		}
		if !strings.Contains(e.inst.Log(), "is Caddy's admin endpoint, which routes may never reach") {
			t.Errorf("the log does not say why the upstream was refused")
		}
		opAPI.delete(r.ID)
	})

	t.Run("a stored route to where the admin endpoint moved later is refused at dial time", func(t *testing.T) {
		// Saved while nothing listens on the port, so the save-time
		// check has nothing against it; with upstream_host the admin
		// endpoint's host check would pass.
		next := freePort(t)
		nextAdmin := fmt.Sprintf("127.0.0.1:%d", next)
		r := opAPI.create(rtWith(rtProxy("moved.proxyos.test", "off", "http://"+nextAdmin), "upstream_host", nextAdmin))
		e.inst.Stop()
		e.inst.Admin = nextAdmin // the Caddyfile follows
		e.inst.Start()
		before := adminUserCount(t, e)
		body := strings.NewReader(`{"email":"evil2@proxyos.test","password":"evil password 2","role":"admin"}`)
		resp, raw := do(t, rtHTTP, http.MethodPost, fmt.Sprintf("http://moved.proxyos.test:%d/proxyos/users", e.HTTPPort), body,
			http.Header{"Content-Type": {"application/json"}})
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("POST /proxyos/users through the stored route: %d %s, want 502", resp.StatusCode, raw)
		}
		if after := adminUserCount(t, e); after != before {
			t.Fatalf("the admin API was reached: %d users before, %d after", before, after)
		}
		if !strings.Contains(e.inst.Log(), "is Caddy's admin endpoint, which routes may never reach") {
			t.Errorf("the log does not say why the upstream was refused")
		}
		// Once stored, the route cannot be saved again as it is.
		status, raw := opAPI.call(http.MethodPut, "/"+r.ID, rtWith(rtProxy("moved.proxyos.test", "off", "http://"+nextAdmin),
			"upstream_host", nextAdmin, "version", r.Version))
		rtWantFieldError(t, opAPI, "saving the moved route", status, raw, http.StatusBadRequest, "upstreams[0]")
		opAPI.delete(r.ID)
	})

	t.Run("this Caddy's own listeners and link-local addresses are refused", func(t *testing.T) {
		for _, u := range []string{
			fmt.Sprintf("http://127.0.0.1:%d", e.HTTPPort),  // a loop through the routes port
			fmt.Sprintf("http://localhost:%d", e.HTTPSPort), // the same over HTTPS
			fmt.Sprintf("http://127.0.0.1:%d", e.DashPort),  // the dashboard
			"http://169.254.169.254",                        // cloud metadata
			"http://[fe80::1]:8080",                         // IPv6 link-local
		} {
			status, raw := opAPI.call(http.MethodPost, "", rtProxy("loop.proxyos.test", "off", u))
			rtWantFieldError(t, opAPI, "upstream "+u, status, raw, http.StatusBadRequest, "upstreams[0]")
		}
		e.noRoute("loop.proxyos.test")
	})
}

// TestUpstreamNetworksOption checks the admin's upstream_networks option:
// networks it allows are reachable although refused by default (here a
// site of this Caddy), networks it denies are not, and the admin
// endpoint stays out of reach whatever it allows.
func TestUpstreamNetworksOption(t *testing.T) {
	t.Parallel()
	e := rtPrepare(t)
	e.ProxyosExtra = "upstream_networks {\n\t\t\tallow 127.0.0.0/8 ::1\n\t\t\tdeny 10.0.0.0/8\n\t\t}"
	e.Sites = func() string {
		return fmt.Sprintf("http://127.0.0.1:%d {\n\trespond \"own site\" 200\n}\n", e.inst.Port("site"))
	}
	e.start("")
	site := e.inst.Port("site")
	_, adminPort, _ := net.SplitHostPort(e.inst.Admin)

	// The site answers its own address only: upstream_host sends it
	// as the Host header.
	r := e.dash.create(rtWith(rtProxy("own.proxyos.test", "off", fmt.Sprintf("http://127.0.0.1:%d", site)),
		"upstream_host", fmt.Sprintf("127.0.0.1:%d", site)))
	resp, raw := e.get("own.proxyos.test", "/")
	if resp.StatusCode != http.StatusOK || string(raw) != "own site" {
		t.Fatalf("route to an allowed listener: %d %q", resp.StatusCode, raw)
	}
	e.dash.delete(r.ID)
	for _, u := range []string{"http://10.1.2.3", "http://127.0.0.1:" + adminPort, "http://[::1]:" + adminPort} {
		status, raw := e.dash.call(http.MethodPost, "", rtProxy("net.proxyos.test", "off", u))
		rtWantFieldError(t, e.dash, "upstream "+u, status, raw, http.StatusBadRequest, "upstreams[0]")
	}
}

// adminUserCount counts the users, as the dashboard's admin sees them.
func adminUserCount(t *testing.T, e *rtEnv) int {
	t.Helper()
	resp, raw := e.admin.Get("/api/users", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/users: %d %s", resp.StatusCode, raw)
	}
	users, _ := decode(t, raw)["users"].([]any)
	return len(users)
}

// acsMustKeyWithPassword makes an API key with the client's session,
// confirmed with password.
func acsMustKeyWithPassword(t testing.TB, c *client, password, name string, scopes ...string) string {
	t.Helper()
	resp, raw := c.PostJSON("/api/keys", map[string]any{"name": name, "scopes": scopes, "password": password})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/keys: %d %s", resp.StatusCode, raw)
	}
	key, _ := decode(t, raw)["key"].(string)
	if key == "" {
		t.Fatalf("POST /api/keys: no key in %s", raw)
	}
	return key
}
