package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rtTestHostMatching checks case-insensitive hosts, a wildcard host one
// label deep, and an exact host winning over the wildcard.
func rtTestHostMatching(t *testing.T, e *rtEnv) {
	wild := rtNewUpstream(t, "wild", false)
	exact := rtNewUpstream(t, "exact", false)
	mixed := rtNewUpstream(t, "mixed", false)
	w := e.dash.create(rtProxy("*.wild.proxyos.test", "off", wild.URL))
	if w.Hosts[0] != "*.wild.proxyos.test" {
		t.Fatalf("wildcard host stored as %q", w.Hosts[0])
	}
	e.dash.create(rtProxy("exact.wild.proxyos.test", "off", exact.URL))
	m := e.dash.create(rtProxy("MiXeD.Proxyos.TEST", "off", mixed.URL))
	if m.Hosts[0] != "mixed.proxyos.test" {
		t.Errorf("host stored as %q, want lower case", m.Hosts[0])
	}

	e.servedBy("a.wild.proxyos.test", wild.Name)
	e.servedBy("A.WILD.proxyos.test", wild.Name)
	e.servedBy("exact.wild.proxyos.test", exact.Name)
	e.servedBy("EXACT.Wild.Proxyos.Test", exact.Name)
	e.noRoute("wild.proxyos.test")
	e.noRoute("b.a.wild.proxyos.test")
	e.servedBy("mixed.proxyos.test", mixed.Name)
	e.servedBy("MIXED.PROXYOS.TEST", mixed.Name)
}

// rtTestRoundRobin spreads requests over two upstreams.
func rtTestRoundRobin(t *testing.T, e *rtEnv) {
	a := rtNewUpstream(t, "rr-a", false)
	b := rtNewUpstream(t, "rr-b", false)
	e.dash.create(rtWith(rtProxy("rr.proxyos.test", "off", a.URL, b.URL), "load_balancing", map[string]any{"policy": "round_robin"}))
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		resp, _ := e.get("rr.proxyos.test", "/")
		seen[resp.Header.Get("X-Upstream")]++
	}
	if seen[a.Name] != 5 || seen[b.Name] != 5 {
		t.Fatalf("round_robin over 10 requests: %v, want 5 each", seen)
	}
}

// rtTestHealthCheck takes an upstream failing its active health check
// out of rotation, reports it in the route's status, puts it back when
// it recovers, and stops checking once the route is deleted.
func rtTestHealthCheck(t *testing.T, e *rtEnv) {
	good := rtNewUpstream(t, "hc-good", false)
	bad := rtNewUpstream(t, "hc-bad", false)
	bad.unhealthy.Store(true)
	r := e.dash.create(rtWith(rtProxy("hc.proxyos.test", "off", good.URL, bad.URL), "load_balancing", map[string]any{
		"policy":       "round_robin",
		"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "2s"},
	}))
	health := func(want map[string]bool) func() string {
		return func() string {
			got := e.dash.get(r.ID)
			m := map[string]bool{}
			for _, u := range got.Status.Upstreams {
				m["http://"+u.Address] = u.Healthy
			}
			for addr, h := range want {
				if v, ok := m[addr]; !ok || v != h {
					return fmt.Sprintf("status %+v, want %v", got.Status, want)
				}
			}
			return ""
		}
	}
	rtPoll(t, 20*time.Second, health(map[string]bool{good.URL: true, bad.URL: false}))
	before := bad.hits.Load()
	for i := 0; i < 8; i++ {
		e.servedBy("hc.proxyos.test", good.Name)
	}
	if n := bad.hits.Load() - before; n != 0 {
		t.Fatalf("the unhealthy upstream got %d requests", n)
	}

	bad.unhealthy.Store(false)
	rtPoll(t, 20*time.Second, health(map[string]bool{good.URL: true, bad.URL: true}))
	rtPoll(t, 10*time.Second, func() string {
		resp, _ := e.get("hc.proxyos.test", "/")
		if resp.Header.Get("X-Upstream") != bad.Name {
			return "the recovered upstream gets no traffic"
		}
		return ""
	})

	// Deleting the route stops its health checker. (Absence of checks can
	// only be observed over time: 1s is five intervals.)
	e.dash.delete(r.ID)
	time.Sleep(200 * time.Millisecond) // a check already started may land
	before = good.checks.Load()
	time.Sleep(time.Second)
	if n := good.checks.Load() - before; n != 0 {
		t.Errorf("%d health checks after the route was deleted: its checker still runs", n)
	}
}

// rtTestUpstreamTLS proxies to HTTPS upstreams: certificates are verified
// by default (the test server's is not trusted: 502), skip_verify accepts
// it, and server_name sets the SNI the upstream sees.
func rtTestUpstreamTLS(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "tls-up", true)

	e.dash.create(rtProxy("tls-verify.proxyos.test", "off", up.URL))
	if resp, raw := e.get("tls-verify.proxyos.test", "/"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("untrusted upstream certificate: %d %s, want 502", resp.StatusCode, raw)
	}

	e.dash.create(rtWith(rtProxy("tls-skip.proxyos.test", "off", up.URL), "upstream_tls", map[string]any{"skip_verify": true}))
	resp, raw := e.get("tls-skip.proxyos.test", "/")
	if resp.StatusCode != http.StatusOK || rtSeenOf(t, raw).Upstream != up.Name {
		t.Fatalf("skip_verify: %d %s", resp.StatusCode, raw)
	}

	e.dash.create(rtWith(rtProxy("tls-sni.proxyos.test", "off", up.URL), "upstream_tls", map[string]any{"skip_verify": true, "server_name": "backend.internal"}))
	resp, raw = e.get("tls-sni.proxyos.test", "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("server_name: %d %s", resp.StatusCode, raw)
	}
	if sni := rtSeenOf(t, raw).SNI; sni != "backend.internal" {
		t.Errorf("upstream saw SNI %q, want backend.internal", sni)
	}
}

// rtTestHeaders sets and deletes request headers (seen by the upstream)
// and response headers (seen by the client). Values are literal: a
// placeholder in them is not expanded.
func rtTestHeaders(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "hdr", false)
	e.dash.create(rtWith(rtProxy("hdr.proxyos.test", "off", up.URL), "headers", map[string]any{
		"request": map[string]any{
			"set":    map[string]string{"X-Added": "added-value", "X-Env": "{env.PROXYOS_RT_SECRET}"},
			"delete": []string{"X-Drop-Me"},
		},
		"response": map[string]any{
			"set":    map[string]string{"X-Resp-Added": "resp-value", "X-Resp-Env": "{env.PROXYOS_RT_SECRET}"},
			"delete": []string{"X-Upstream-Secret"},
		},
	}))
	resp, raw := e.get("hdr.proxyos.test", "/", "X-Drop-Me", "1", "X-Keep-Me", "2")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	seen := rtSeenOf(t, raw)
	if seen.Header.Get("X-Added") != "added-value" || seen.Header.Get("X-Drop-Me") != "" || seen.Header.Get("X-Keep-Me") != "2" {
		t.Errorf("upstream saw headers %v, want X-Added set, X-Drop-Me deleted, X-Keep-Me kept", seen.Header)
	}
	if resp.Header.Get("X-Resp-Added") != "resp-value" || resp.Header.Get("X-Upstream-Secret") != "" || resp.Header.Get("X-Upstream") != up.Name {
		t.Errorf("client saw headers %v, want X-Resp-Added set, X-Upstream-Secret deleted", resp.Header)
	}
	if got := seen.Header.Get("X-Env"); got != "{env.PROXYOS_RT_SECRET}" {
		t.Errorf("request header X-Env reached the upstream as %q, want the literal text", got)
	}
	if got := resp.Header.Get("X-Resp-Env"); got != "{env.PROXYOS_RT_SECRET}" {
		t.Errorf("response header X-Resp-Env is %q, want the literal text", got)
	}
}

// rtTestNoSessionLeak checks that a route without login never hands the
// dashboard session cookie or client-made identity headers to its
// upstream: with cookie_domain, any managed app could otherwise replay an
// admin's session (session theft) or trust a forged X-Proxyos-Role
// (identity spoofing).
func rtTestNoSessionLeak(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "leak", false)
	e.dash.create(rtProxy("leak.proxyos.test", "off", up.URL))
	resp, raw := e.get("leak.proxyos.test", "/", "Cookie", "a=1; proxyos_session=stolen-token; b=2",
		"X-Proxyos-Role", "admin", "x-proxyos-user", "someone")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	seen := rtSeenOf(t, raw)
	if got := seen.Header.Get("Cookie"); strings.Contains(got, "proxyos_session") || !strings.Contains(got, "a=1") || !strings.Contains(got, "b=2") {
		t.Errorf("upstream got Cookie %q, want a=1 and b=2 without proxyos_session", got)
	}
	for name := range seen.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-proxyos-") {
			t.Errorf("upstream got the client's %s header", name)
		}
	}
	// And a route cannot be told to forge them.
	status, raw := e.dash.call(http.MethodPost, "", rtWith(rtProxy("forge.proxyos.test", "off", up.URL), "headers",
		map[string]any{"request": map[string]any{"set": map[string]string{"X-Proxyos-Role": "admin"}}}))
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "headers.request.set") {
		t.Errorf("route forging X-Proxyos-Role: %d %s, want 400 naming headers.request.set", status, raw)
	}
}

// rtTestHSTS sends Strict-Transport-Security on a TLS route.
func rtTestHSTS(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "hsts", false)
	e.dash.create(rtWith(rtProxy("hsts.proxyos.test", "internal", up.URL), "hsts", true))
	resp, raw := e.getTLS("hsts.proxyos.test", "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != up.Name {
		t.Fatalf("GET https: %d %s", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=31536000") {
		t.Errorf("Strict-Transport-Security: %q, want max-age=31536000", got)
	}
	// A route without hsts sends none.
	e.dash.create(rtProxy("nohsts.proxyos.test", "internal", up.URL))
	if resp, _ := e.getTLS("nohsts.proxyos.test", "/"); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("a route without hsts sent Strict-Transport-Security")
	}
}

// rtTestForceHTTPS redirects plain HTTP to HTTPS on the configured
// https_port, keeping path and query; HTTPS is served.
func rtTestForceHTTPS(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "force", false)
	e.dash.create(rtWith(rtProxy("force.proxyos.test", "internal", up.URL), "force_https", true))
	resp, _ := e.get("force.proxyos.test", "/some/path?q=1")
	want := "https://force.proxyos.test:" + strconv.Itoa(e.HTTPSPort) + "/some/path?q=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("http: %d Location %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, raw := e.fetch(want)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https: %d %s", resp.StatusCode, raw)
	}
	if seen := rtSeenOf(t, raw); seen.Path != "/some/path" || seen.Query != "q=1" {
		t.Errorf("upstream saw %s?%s", seen.Path, seen.Query)
	}
}

// rtTestCompress gzips a large text response for clients that accept it,
// and leaves it alone on a route without compress.
func rtTestCompress(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "gz", false)
	e.dash.create(rtWith(rtProxy("gz.proxyos.test", "off", up.URL), "compress", true))
	e.dash.create(rtProxy("nogz.proxyos.test", "off", up.URL))

	resp, raw := e.get("gz.proxyos.test", "/big", "Accept-Encoding", "gzip")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("compress: %d Content-Encoding %q, want 200 gzip", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < rtBigBody || !strings.HasPrefix(string(plain), "upstream gz says hello") || len(raw) >= len(plain)/4 {
		t.Errorf("gzip body: %d bytes compressed, %d plain", len(raw), len(plain))
	}

	resp, _ = e.get("nogz.proxyos.test", "/big", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("a route without compress answered Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

// rtTestStripPrefix removes a path prefix before proxying.
func rtTestStripPrefix(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "strip", false)
	e.dash.create(rtWith(rtProxy("strip.proxyos.test", "off", up.URL), "strip_prefix", "/api"))
	resp, raw := e.get("strip.proxyos.test", "/api/x?y=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	if seen := rtSeenOf(t, raw); seen.Path != "/x" || seen.Query != "y=1" {
		t.Errorf("/api/x?y=1 reached the upstream as %s?%s, want /x?y=1", seen.Path, seen.Query)
	}
}

// rtTestAccess applies IP allow and deny lists to the client address
// (127.0.0.1 here).
func rtTestAccess(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "acl", false)
	cases := []struct {
		host   string
		access map[string]any
		want   int
	}{
		{"deny.acl.test", map[string]any{"deny": []string{"127.0.0.1"}}, http.StatusForbidden},
		{"allow-other.acl.test", map[string]any{"allow": []string{"10.0.0.0/8"}}, http.StatusForbidden},
		{"allow-us.acl.test", map[string]any{"allow": []string{"127.0.0.0/8"}}, http.StatusOK},
		{"deny-wins.acl.test", map[string]any{"allow": []string{"127.0.0.0/8"}, "deny": []string{"127.0.0.1/32"}}, http.StatusForbidden},
		{"deny-other.acl.test", map[string]any{"deny": []string{"192.168.0.0/16", "::1"}}, http.StatusOK},
	}
	for _, c := range cases {
		e.dash.create(rtWith(rtProxy(c.host, "off", up.URL), "access", c.access))
		before := up.hits.Load()
		resp, raw := e.get(c.host, "/")
		if resp.StatusCode != c.want {
			t.Errorf("%s %v: %d %s, want %d", c.host, c.access, resp.StatusCode, raw, c.want)
		}
		if c.want == http.StatusForbidden && up.hits.Load() != before {
			t.Errorf("%s: a denied request reached the upstream", c.host)
		}
	}
}

// rtTestRedirect checks redirect statuses and preserve_path.
func rtTestRedirect(t *testing.T, e *rtEnv) {
	e.dash.create(map[string]any{"enabled": true, "hosts": []string{"r301.proxyos.test"}, "kind": "redirect", "tls": "off",
		"redirect": map[string]any{"to": "https://new.proxyos.test/", "status": 301, "preserve_path": true}})
	e.dash.create(map[string]any{"enabled": true, "hosts": []string{"r308.proxyos.test"}, "kind": "redirect", "tls": "off",
		"redirect": map[string]any{"to": "https://new.proxyos.test/landing", "status": 308}})
	e.dash.create(map[string]any{"enabled": true, "hosts": []string{"r302.proxyos.test"}, "kind": "redirect", "tls": "off",
		"redirect": map[string]any{"to": "http://new.proxyos.test:8080", "status": 302, "preserve_path": true}})
	for _, c := range []struct {
		host, path, loc string
		status          int
	}{
		{"r301.proxyos.test", "/a/b?c=1", "https://new.proxyos.test/a/b?c=1", 301},
		{"r308.proxyos.test", "/a/b?c=1", "https://new.proxyos.test/landing", 308},
		{"r302.proxyos.test", "/x", "http://new.proxyos.test:8080/x", 302},
	} {
		resp, _ := e.get(c.host, c.path)
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.loc {
			t.Errorf("%s%s: %d Location %q, want %d %q", c.host, c.path, resp.StatusCode, resp.Header.Get("Location"), c.status, c.loc)
		}
	}
}

// rtTestStaticNoPlaceholders serves a 503 maintenance page with its
// content type. It prevents placeholder injection: a route author who
// writes {env.*} or {file.*} into a body, header or redirect must not be
// able to read the server's environment or files through Caddy's
// replacer.
func rtTestStaticNoPlaceholders(t *testing.T, e *rtEnv) {
	body := "<h1>Down for maintenance</h1> {env.PROXYOS_RT_SECRET} {env.HOME} {file./etc/hostname} {http.request.host}"
	e.dash.create(map[string]any{"enabled": true, "hosts": []string{"maint.proxyos.test"}, "kind": "static", "tls": "off",
		"static":  map[string]any{"status": 503, "body": body, "content_type": "text/html; charset=utf-8"},
		"headers": map[string]any{"response": map[string]any{"set": map[string]string{"Retry-After": "{env.PROXYOS_RT_SECRET}"}}}})
	resp, raw := e.get("maint.proxyos.test", "/anything", "X-Secret", "{env.PROXYOS_RT_SECRET}")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("maintenance page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if string(raw) != body {
		t.Errorf("body %q, want the literal %q", raw, body)
	}
	if strings.Contains(string(raw), rtSecret) || strings.Contains(fmt.Sprint(resp.Header), rtSecret) {
		t.Fatalf("the response leaks PROXYOS_RT_SECRET")
	}
	if got := resp.Header.Get("Retry-After"); got != "{env.PROXYOS_RT_SECRET}" {
		t.Errorf("Retry-After %q, want the literal text", got)
	}

	// A redirect target with braces is refused rather than expanded.
	status, raw := e.dash.call(http.MethodPost, "", map[string]any{"enabled": true, "hosts": []string{"leak.proxyos.test"}, "kind": "redirect", "tls": "off",
		"redirect": map[string]any{"to": "https://x.test/{env.PROXYOS_RT_SECRET}"}})
	rtWantFieldError(t, e.dash, "redirect to with a placeholder", status, raw, http.StatusBadRequest, "redirect.to")
}

// rtTestRequireLogin puts the dashboard login in front of a route:
// without a session an API client gets 401 JSON and a browser a redirect
// to the login page; an admin passes (the upstream learns who, never the
// cookie); a viewer lacks the role.
func rtTestRequireLogin(t *testing.T, e *rtEnv) {
	up := rtNewUpstream(t, "login", false)
	const host = "private.proxyos.test"
	created := e.dash.create(rtWith(rtProxy(host, "off", up.URL), "auth", map[string]any{"require_login": true, "roles": []string{"admin"}}))
	if len(created.Warnings) != 0 {
		t.Errorf("warnings of a login route on an app with url: %+v, want none", created.Warnings)
	}

	resp, raw := e.get(host, "/x", "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session: %d %s, want 401", resp.StatusCode, raw)
	}
	var body struct{ Error, Reason string }
	if err := json.Unmarshal(raw, &body); err != nil || body.Error != "unauthenticated" || body.Reason != "no_cookie" {
		t.Errorf("401 body %s, want {error: unauthenticated, reason: no_cookie}", raw)
	}
	resp, _ = e.get(host, "/x?y=1", "Accept", "text/html")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Host != "localhost:"+strconv.Itoa(e.DashPort) || loc.Path != "/login" ||
		loc.Query().Get("return") != "http://"+host+":"+strconv.Itoa(e.HTTPPort)+"/x?y=1" {
		t.Errorf("browser without a session: %d Location %q, want 302 to the dashboard login returning here", resp.StatusCode, resp.Header.Get("Location"))
	}
	if up.hits.Load() != 0 {
		t.Fatalf("an unauthenticated request reached the upstream")
	}

	resp, raw = e.get(host, "/x", "Cookie", sessionCookieName+"="+e.adminCk+"; other=1", "X-Proxyos-Email", "spoof@evil.test")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin session: %d %s", resp.StatusCode, raw)
	}
	seen := rtSeenOf(t, raw)
	if seen.Header.Get("X-Proxyos-Email") != e.adminEmail || strings.Contains(seen.Header.Get("Cookie"), sessionCookieName) || seen.Header.Get("Cookie") != "other=1" {
		t.Errorf("upstream saw X-Proxyos-Email %q Cookie %q, want %s and only other=1", seen.Header.Get("X-Proxyos-Email"), seen.Header.Get("Cookie"), e.adminEmail)
	}

	// The dashboard's cookie is host-only for localhost, so the browser
	// never sends it to this host: the login is handed off with a
	// one-time code to the route's callback, which sets a cookie of this
	// host's own.
	// The gate gives the browser a state cookie and names the state in
	// the login URL, so that only this browser can use the code.
	ret := "http://" + host + ":" + strconv.Itoa(e.HTTPPort) + "/x?y=1"
	resp, _ = e.get(host, "/x?y=1", "Accept", "text/html")
	var stateCk *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "proxyos_handoff" {
			stateCk = c
		}
	}
	loginURL, _ := url.Parse(resp.Header.Get("Location"))
	if stateCk == nil || loginURL == nil || loginURL.Query().Get("state") != stateCk.Value {
		t.Fatalf("gate redirect %q with cookies %v, want a handoff state cookie named in the login URL", resp.Header.Get("Location"), resp.Cookies())
	}
	resp, raw = do(t, rtHTTP, http.MethodPost, "http://localhost:"+strconv.Itoa(e.DashPort)+"/api/auth/handoff",
		strings.NewReader(`{"return_to":`+strconv.Quote(ret)+`,"state":`+strconv.Quote(stateCk.Value)+`}`), http.Header{
			"Content-Type": {"application/json"}, "Origin": {"http://localhost:" + strconv.Itoa(e.DashPort)},
			"Cookie": {sessionCookieName + "=" + e.adminCk},
		})
	var handoff struct{ Redirect string }
	if err := json.Unmarshal(raw, &handoff); err != nil || resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(handoff.Redirect, "http://"+host+":"+strconv.Itoa(e.HTTPPort)+"/.proxyos/callback?code=") {
		t.Fatalf("handoff: %d %s, want a callback URL on %s", resp.StatusCode, raw, host)
	}
	if resp, _ := e.fetch(handoff.Redirect, "Accept", "text/html"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the code in a browser without the state cookie (login CSRF): %d, want 400", resp.StatusCode)
	}
	resp, raw = do(t, rtHTTP, http.MethodPost, "http://localhost:"+strconv.Itoa(e.DashPort)+"/api/auth/handoff",
		strings.NewReader(`{"return_to":`+strconv.Quote(ret)+`,"state":`+strconv.Quote(stateCk.Value)+`}`), http.Header{
			"Content-Type": {"application/json"}, "Origin": {"http://localhost:" + strconv.Itoa(e.DashPort)},
			"Cookie": {sessionCookieName + "=" + e.adminCk},
		})
	if err := json.Unmarshal(raw, &handoff); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second handoff: %d %s", resp.StatusCode, raw)
	}
	resp, _ = e.fetch(handoff.Redirect, "Accept", "text/html", "Cookie", "proxyos_handoff="+stateCk.Value)
	var child string
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookieName && c.Domain == "" {
			child = c.Value
		}
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/x?y=1" || child == "" {
		t.Fatalf("callback: %d Location %q, want 302 to /x?y=1 with a host-only session cookie", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, raw := e.get(host, "/x", "Cookie", sessionCookieName+"="+child); resp.StatusCode != http.StatusOK || rtSeenOf(t, raw).Header.Get("X-Proxyos-Email") != e.adminEmail {
		t.Errorf("the handed-off session on %s: %d %s", host, resp.StatusCode, raw)
	}
	if resp, _ := e.fetch(handoff.Redirect, "Cookie", "proxyos_handoff="+stateCk.Value); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the same code again: %d, want 400", resp.StatusCode)
	}

	_, viewerCk := e.login("viewer-login@proxyos.test", "viewer")
	if resp, raw := e.get(host, "/x", "Cookie", sessionCookieName+"="+viewerCk); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer session on an admin-only route: %d %s, want 403", resp.StatusCode, raw)
	}
}
