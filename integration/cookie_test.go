package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cookieAttrs parses the attributes of a Set-Cookie line into a map of
// lower-cased names to values ("" for flags).
func cookieAttrs(line string) map[string]string {
	attrs := make(map[string]string)
	parts := strings.Split(line, ";")
	for _, p := range parts[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		attrs[strings.ToLower(name)] = val
	}
	return attrs
}

// TestCookieAttributes checks the session cookie's attributes for each
// way a browser can reach the dashboard. Secure follows the real scheme
// of the browser's connection: TLS, or X-Forwarded-Proto from a proxy in
// trusted_proxies. The same header from any other peer is ignored
// (Secure-flag downgrade and scheme spoofing: a client must not be able
// to make the server believe it talks HTTPS, or the reverse).
// Domain is set only with cookie_domain and a host within it.
func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	inst := newInstance(t)
	const trustedPeer = "127.0.0.2" // Caddy listens on 127.0.0.1
	inst.Configure(func() string {
		dash, tlsPort, app := inst.Port("dash"), inst.Port("tls"), inst.Port("app")
		return testCaddyfile(inst.Admin,
			"auto_https disable_redirects\n\tservers {\n\t\ttrusted_proxies static "+trustedPeer+"/32\n\t}",
			fmt.Sprintf("url http://dash.proxyos.test:%d\n\t\tcookie_domain proxyos.test\n\t\tsession_ttl 12h", dash),
			fmt.Sprintf("http://dash.proxyos.test:%[1]d, http://localhost:%[1]d {\n\tproxyos_dashboard\n}", dash),
			fmt.Sprintf("https://localhost:%d {\n\ttls internal\n\tproxyos_dashboard\n}", tlsPort),
			fmt.Sprintf("http://app.proxyos.test:%d {\n\tproxyos_auth\n\trespond \"hello {http.auth.user.email}\"\n}", app),
		)
	})
	inst.Start()
	dash, tlsPort, app := inst.Port("dash"), inst.Port("tls"), inst.Port("app")
	inst.CreateUser("admin@example.com", "admin password", "admin")
	// Caddy obtains the internal certificate in the background after
	// start-up; a busy machine can take a moment.
	probe := hostClient(t, "")
	eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		resp, err := probe.Get(fmt.Sprintf("https://localhost:%d/api/setup/status", tlsPort))
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})

	tests := []struct {
		name       string
		base       string
		origin     string // default: base
		localIP    string
		header     http.Header
		wantSecure bool
		wantDomain string
	}{
		{name: "plain HTTP", base: fmt.Sprintf("http://localhost:%d", dash)},
		{name: "HTTPS", base: fmt.Sprintf("https://localhost:%d", tlsPort), wantSecure: true},
		{name: "X-Forwarded-Proto https from a trusted proxy", base: fmt.Sprintf("http://dash.proxyos.test:%d", dash), localIP: trustedPeer,
			// the browser talks HTTPS to the proxy, so that is its Origin
			origin: fmt.Sprintf("https://dash.proxyos.test:%d", dash),
			header: http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.7"}}, wantSecure: true, wantDomain: "proxyos.test"},
		{name: "X-Forwarded-Proto https from an untrusted peer", base: fmt.Sprintf("http://dash.proxyos.test:%d", dash), localIP: "127.0.0.1",
			header: http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.7"}}, wantDomain: "proxyos.test"},
		{name: "Forwarded proto=https from an untrusted peer", base: fmt.Sprintf("http://localhost:%d", dash),
			header: http.Header{"Forwarded": {"for=192.0.2.1;proto=https"}, "X-Forwarded-Ssl": {"on"}}},
		{name: "X-Forwarded-Proto http over HTTPS", base: fmt.Sprintf("https://localhost:%d", tlsPort),
			header: http.Header{"X-Forwarded-Proto": {"http"}}, wantSecure: true},
		{name: "host within cookie_domain", base: fmt.Sprintf("http://dash.proxyos.test:%d", dash), wantDomain: "proxyos.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := hostClient(t, tt.localIP)
			// Cookies are sent by hand: behind a TLS-terminating proxy the
			// browser sends a Secure cookie, which a jar would not over http.
			hc.Jar = nil
			origin := tt.base
			if tt.origin != "" {
				origin = tt.origin
			}
			h := http.Header{"Content-Type": {"application/json"}, "Origin": {origin}}
			for k, v := range tt.header {
				h[k] = v
			}
			resp, raw := do(t, hc, http.MethodPost, tt.base+"/api/auth/login",
				strings.NewReader(`{"email":"admin@example.com","password":"admin password"}`), h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login: %d %s", resp.StatusCode, raw)
			}
			line := setCookieLine(resp)
			ck := mustSessionCookie(t, resp)
			h.Set("Cookie", ck.Name+"="+ck.Value)
			attrs := cookieAttrs(line)
			// On HTTPS a host-only cookie has the __Host- prefix, which no
			// sibling subdomain can set.
			wantName := sessionCookieName
			if tt.wantSecure && tt.wantDomain == "" {
				wantName = hostSessionCookieName
			}
			checks := []struct {
				attr string
				ok   bool
			}{
				{"name " + wantName, ck.Name == wantName},
				{"httponly", attrs["httponly"] == "" && hasKey(attrs, "httponly")},
				{"samesite=Lax", attrs["samesite"] == "Lax"},
				{"path=/", attrs["path"] == "/"},
				{"max-age=43200 (session_ttl)", attrs["max-age"] == strconv.Itoa(12*3600)},
				{fmt.Sprintf("secure %v", tt.wantSecure), hasKey(attrs, "secure") == tt.wantSecure},
				{fmt.Sprintf("domain %q", tt.wantDomain), attrs["domain"] == tt.wantDomain && hasKey(attrs, "domain") == (tt.wantDomain != "")},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("Set-Cookie %q: want %s", line, c.attr)
				}
			}

			// The diagnose report agrees on what the server sees.
			_, raw = do(t, hc, http.MethodGet, tt.base+"/api/auth/diagnose", nil, h)
			diag := decode(t, raw)
			if diag["secure_cookie"] != tt.wantSecure || diag["session_valid"] != true {
				t.Errorf("diagnose: secure_cookie %v session_valid %v, want %v true", diag["secure_cookie"], diag["session_valid"], tt.wantSecure)
			}
			if want := map[bool]string{true: "https", false: "http"}[tt.wantSecure]; diag["scheme"] != want {
				t.Errorf("diagnose: scheme %v, want %s", diag["scheme"], want)
			}
			if diag["trusted_proxy"] != (tt.localIP == trustedPeer) {
				t.Errorf("diagnose: trusted_proxy %v", diag["trusted_proxy"])
			}
			// The client IP is Caddy's: from X-Forwarded-For only when a
			// trusted proxy sends it.
			wantIP := "127.0.0.1"
			if tt.localIP == trustedPeer {
				wantIP = tt.header.Get("X-Forwarded-For")
			}
			if diag["client_ip"] != wantIP {
				t.Errorf("diagnose: client_ip %v, want %s", diag["client_ip"], wantIP)
			}
			if tt.localIP == "127.0.0.1" && !strings.Contains(fmt.Sprint(diag["fix"]), "trusted_proxies") {
				t.Errorf("diagnose fix %q does not point at trusted_proxies", diag["fix"])
			}

			// Logout clears the cookie with the same scope.
			resp, raw = do(t, hc, http.MethodPost, tt.base+"/api/auth/logout", strings.NewReader("{}"), h)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d %s", resp.StatusCode, raw)
			}
			// It clears the cookie with the scope it was set with (and, with
			// cookie_domain, a host-only one left from before as well).
			cleared := false
			for _, l := range resp.Header.Values("Set-Cookie") {
				c := cookieAttrs(l)
				if strings.HasPrefix(l, wantName+"=;") && c["max-age"] == "0" && c["path"] == "/" && c["domain"] == tt.wantDomain {
					cleared = true
				}
			}
			if !cleared {
				t.Errorf("logout Set-Cookie %q does not clear the cookie it set (%q)", resp.Header.Values("Set-Cookie"), line)
			}
		})
	}

	t.Run("cookie_domain session reaches a subdomain", func(t *testing.T) {
		hc := hostClient(t, "")
		dashBase := fmt.Sprintf("http://dash.proxyos.test:%d", dash)
		appURL := fmt.Sprintf("http://app.proxyos.test:%d/", app)
		resp, _ := do(t, hc, http.MethodGet, appURL, nil, http.Header{"Accept": {"text/html"}})
		wantLoc := dashBase + "/login?return=" + url.QueryEscape(appURL)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLoc {
			t.Fatalf("navigation without session: %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), wantLoc)
		}
		resp, raw := do(t, hc, http.MethodPost, dashBase+"/api/auth/login",
			strings.NewReader(fmt.Sprintf(`{"email":"admin@example.com","password":"admin password","return_to":%q}`, appURL)),
			http.Header{"Content-Type": {"application/json"}, "Origin": {dashBase}})
		if resp.StatusCode != http.StatusOK || decode(t, raw)["redirect"] != appURL {
			t.Fatalf("login with return_to %s: %d %s", appURL, resp.StatusCode, raw)
		}
		resp, raw = do(t, hc, http.MethodGet, appURL, nil, nil)
		if resp.StatusCode != http.StatusOK || string(raw) != "hello admin@example.com" {
			t.Fatalf("subdomain with the shared cookie: %d %s", resp.StatusCode, raw)
		}
	})
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// TestCookieTossingIgnored prevents cookie tossing: a page on a sibling
// subdomain (evil.proxyos.test) plants proxyos_session=<the attacker's
// valid session>; Domain=proxyos.test in the victim's browser, which then
// sends it to the dashboard on dash.proxyos.test, first (its Path is
// longer than that of the victim's own cookie). On HTTPS without
// cookie_domain the dashboard reads only its __Host- cookie, which no
// other host can set: the victim stays themselves, and a browser holding
// only the planted cookie is not logged in at all.
func TestCookieTossingIgnored(t *testing.T) {
	t.Parallel()
	inst := newInstance(t)
	inst.Configure(func() string {
		port := inst.Port("https")
		return testCaddyfile(inst.Admin, "auto_https disable_redirects", fmt.Sprintf("url https://dash.proxyos.test:%d", port),
			fmt.Sprintf("https://dash.proxyos.test:%d {\n\ttls internal\n\tproxyos_dashboard\n}", port),
			// the sibling: plants the session value it is given for the parent domain
			fmt.Sprintf("https://evil.proxyos.test:%d {\n\ttls internal\n\theader Set-Cookie \"%s={query.v}; Domain=proxyos.test; Path={query.path}; Secure; HttpOnly\"\n\trespond \"planted\"\n}",
				port, sessionCookieName),
		)
	})
	inst.Start()
	port := inst.Port("https")
	dash := fmt.Sprintf("https://dash.proxyos.test:%d", port)
	inst.CreateUser("victim@example.com", "victim password", "admin")
	inst.CreateUser("attacker@example.com", "attacker password", "viewer")
	probe := hostClient(t, "")
	eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		resp, err := probe.Get(dash + "/api/setup/status")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
	login := func(hc *http.Client, email, password string) {
		t.Helper()
		resp, raw := do(t, hc, http.MethodPost, dash+"/api/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)),
			http.Header{"Content-Type": {"application/json"}, "Origin": {dash}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login %s: %d %s", email, resp.StatusCode, raw)
		}
	}
	// The attacker's own, valid session.
	attacker := hostClient(t, "")
	login(attacker, "attacker@example.com", "attacker password")
	var attackerCk string
	for _, c := range attacker.Jar.Cookies(mustURL(t, dash)) {
		attackerCk = c.Value
	}
	plant := func(hc *http.Client, path string) {
		t.Helper()
		resp, raw := do(t, hc, http.MethodGet, fmt.Sprintf("https://evil.proxyos.test:%d/?v=%s&path=%s", port, url.QueryEscape(attackerCk), url.QueryEscape(path)), nil, nil)
		if resp.StatusCode != http.StatusOK || len(hc.Jar.Cookies(mustURL(t, dash+path))) == 0 {
			t.Fatalf("planting the cookie: %d %s, jar for the dashboard %v", resp.StatusCode, raw, hc.Jar.Cookies(mustURL(t, dash)))
		}
	}
	whoami := func(hc *http.Client) (int, string) {
		t.Helper()
		resp, raw := do(t, hc, http.MethodGet, dash+"/api/auth/session", nil, nil)
		m := decode(t, raw)
		if u, ok := m["user"].(map[string]any); ok {
			return resp.StatusCode, fmt.Sprint(u["email"])
		}
		return resp.StatusCode, fmt.Sprint(m["reason"])
	}

	t.Run("planted cookie only", func(t *testing.T) {
		hc := hostClient(t, "")
		plant(hc, "/")
		if status, who := whoami(hc); status != http.StatusUnauthorized || who != "no_cookie" {
			t.Errorf("a browser holding only the planted cookie: %d %s, want 401 no_cookie", status, who)
		}
	})
	t.Run("planted beside the victim's own", func(t *testing.T) {
		hc := hostClient(t, "")
		login(hc, "victim@example.com", "victim password")
		plant(hc, "/api/") // the longer path is sent first
		if status, who := whoami(hc); status != http.StatusOK || who != "victim@example.com" {
			t.Errorf("the victim's browser with a planted cookie: %d %s, want the victim", status, who)
		}
	})
}
