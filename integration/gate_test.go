package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// upstream is a real HTTP server behind reverse_proxy that records the
// requests it receives.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := new(upstream)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		fmt.Fprint(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

// requests returns how many requests reached the upstream.
func (u *upstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last returns the headers of the last request the upstream received.
func (u *upstream) last(t testing.TB) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return u.seen[len(u.seen)-1]
}

// gateConfig returns a Caddyfile with the dashboard on dash, the upstream
// behind proxyos_auth on app, and sites that only admins (admins) or
// admins and operators (staff) may enter.
func gateConfig(admin string, dash, app, admins, staff int, upstreamAddr string) string {
	return testCaddyfile(admin, "", fmt.Sprintf("url http://localhost:%d", dash),
		fmt.Sprintf("http://localhost:%d {\n\tproxyos_dashboard\n}", dash),
		fmt.Sprintf(`http://localhost:%d {
	proxyos_auth
	header >X-Seen-Role {http.auth.user.role}
	reverse_proxy %s {
		header_up X-Seen-Id {http.auth.user.id}
		header_up X-Seen-Email {http.auth.user.email}
	}
}`, app, upstreamAddr),
		fmt.Sprintf(`http://localhost:%d {
	proxyos_auth {
		roles admin
	}
	respond "admin area {http.auth.user.email}"
}`, admins),
		fmt.Sprintf(`http://localhost:%d {
	proxyos_auth {
		roles admin operator
	}
	respond "staff area {http.auth.user.email}"
}`, staff),
	)
}

// startGate starts Caddy with gateConfig on ports the harness picks, named
// dash, app, admins and staff.
func startGate(t testing.TB, upstreamAddr string) *instance {
	t.Helper()
	inst := newInstance(t)
	inst.Configure(func() string {
		return gateConfig(inst.Admin, inst.Port("dash"), inst.Port("app"), inst.Port("admins"), inst.Port("staff"), upstreamAddr)
	})
	inst.Start()
	return inst
}

// TestGateIdentity checks what proxyos_auth gives the upstream: the
// identity headers and placeholders of the logged-in user, and neither
// client-sent identity headers (identity-header spoofing) nor the
// session cookie (so an upstream cannot steal and replay the session).
func TestGateIdentity(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	inst := startGate(t, up.Listener.Addr().String())
	base, appURL := fmt.Sprintf("http://localhost:%d", inst.Port("dash")), fmt.Sprintf("http://localhost:%d/page?q=1", inst.Port("app"))
	newClient(t, base).Setup(inst, "admin@example.com", "admin password")
	opsID := inst.CreateUser("ops@example.com", "operator password", "operator")
	_, cookie := newClient(t, base).Login("ops@example.com", "operator password")

	spoofed := func(h http.Header) http.Header {
		// Literal (non-canonical) names, as a hostile client may send them.
		h["X-Proxyos-User"] = []string{"attacker-id"}
		h["x-proxyos-role"] = []string{"admin"}
		h["X-PROXYOS-EMAIL"] = []string{"admin@example.com"}
		h["X-Proxyos-Impersonate"] = []string{"admin@example.com"}
		return h
	}

	t.Run("no session never reaches the upstream", func(t *testing.T) {
		for _, accept := range []string{"application/json", "text/html"} {
			resp, raw := do(t, plainHTTP, http.MethodGet, appURL, nil, spoofed(http.Header{"Accept": {accept}}))
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusFound {
				t.Errorf("Accept %s, spoofed identity, no session: %d %s, want 401 or 302", accept, resp.StatusCode, raw)
			}
		}
		if n := up.requests(); n != 0 {
			t.Fatalf("%d requests without a session reached the upstream", n)
		}
	})

	t.Run("identity headers", func(t *testing.T) {
		h := spoofed(http.Header{"Cookie": {"theme=dark; " + sessionCookieName + "=" + cookie + "; lang=en"}})
		resp, raw := do(t, plainHTTP, http.MethodGet, appURL, nil, h)
		if resp.StatusCode != http.StatusOK || string(raw) != "upstream ok" {
			t.Fatalf("GET %s: %d %s", appURL, resp.StatusCode, raw)
		}
		got := up.last(t)
		want := map[string]string{
			"X-Proxyos-User":  opsID,
			"X-Proxyos-Email": "ops@example.com",
			"X-Proxyos-Role":  "operator",
			// the role, then the OIDC groups (none for a password user)
			"X-Proxyos-Groups": "operator",
			// Placeholders, via reverse_proxy's header_up.
			"X-Seen-Id":    opsID,
			"X-Seen-Email": "ops@example.com",
		}
		for name, v := range want {
			if vs := got.Values(name); len(vs) != 1 || vs[0] != v {
				t.Errorf("upstream got %s %q, want exactly %q", name, vs, v)
			}
		}
		for name, vs := range got {
			if strings.HasPrefix(strings.ToLower(name), "x-proxyos-") && want[name] == "" {
				t.Errorf("upstream got client-sent %s %q", name, vs)
			}
		}
		if c := strings.Join(got.Values("Cookie"), "; "); c != "theme=dark; lang=en" {
			t.Errorf("upstream got Cookie %q, want the other cookies without %s", c, sessionCookieName)
		}
		// Placeholder in a deferred response header.
		if role := resp.Header.Get("X-Seen-Role"); role != "operator" {
			t.Errorf("response header from {http.auth.user.role}: %q", role)
		}
	})

	t.Run("only the session cookie", func(t *testing.T) {
		resp, raw := do(t, plainHTTP, http.MethodGet, appURL, nil, withSession(cookie))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", appURL, resp.StatusCode, raw)
		}
		if c := up.last(t).Values("Cookie"); len(c) != 0 {
			t.Errorf("upstream got Cookie %q, want none", c)
		}
	})
}

// TestGateRoles checks `roles`: users of other roles get 403, and the
// placeholders work in respond.
func TestGateRoles(t *testing.T) {
	t.Parallel()
	inst := startGate(t, "127.0.0.1:9")
	admins, staff := inst.Port("admins"), inst.Port("staff")
	base := fmt.Sprintf("http://localhost:%d", inst.Port("dash"))
	sessions := map[string]string{"admin": newClient(t, base).Setup(inst, "admin@example.com", "admin password")}
	for _, role := range []string{"operator", "viewer"} {
		inst.CreateUser(role+"@example.com", role+" password", role)
		_, sessions[role] = newClient(t, base).Login(role+"@example.com", role+" password")
	}
	tests := []struct {
		site  int
		area  string
		allow map[string]bool
	}{
		{admins, "admin area", map[string]bool{"admin": true}},
		{staff, "staff area", map[string]bool{"admin": true, "operator": true}},
	}
	for _, tt := range tests {
		for _, role := range []string{"admin", "operator", "viewer"} {
			t.Run(tt.area+"/"+role, func(t *testing.T) {
				resp, raw := do(t, plainHTTP, http.MethodGet, fmt.Sprintf("http://localhost:%d/", tt.site), nil, withSession(sessions[role]))
				switch {
				case tt.allow[role] && (resp.StatusCode != http.StatusOK || string(raw) != tt.area+" "+role+"@example.com"):
					t.Errorf("%s: %d %q, want 200 %q", role, resp.StatusCode, raw, tt.area+" "+role+"@example.com")
				case !tt.allow[role] && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s: %d %q, want 403", role, resp.StatusCode, raw)
				}
			})
		}
	}
}

// TestGateLoginRedirect checks how proxyos_auth sends users without a
// session to the dashboard login and how the login sends them back: a
// browser navigation is redirected with the full original URL, which the
// login answers as its redirect; scripts get 401 JSON; and a return URL
// to another site is never followed (open redirect).
func TestGateLoginRedirect(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	base, app := e.Base, e.AppPort
	original := fmt.Sprintf("http://localhost:%d/reports/q3?year=2024&tags=a%%20b&x=%%2F#top", app)
	requested := strings.TrimSuffix(original, "#top") // browsers do not send the fragment
	wantLocation := base + "/login?return=" + url.QueryEscape(requested)

	refusals := []struct {
		name     string
		method   string
		header   http.Header
		redirect bool
	}{
		{"navigation by Accept", http.MethodGet, http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}, true},
		{"navigation by Sec-Fetch-Mode", http.MethodGet, http.Header{"Sec-Fetch-Mode": {"navigate"}, "Accept": {"*/*"}}, true},
		{"HEAD navigation", http.MethodHead, http.Header{"Sec-Fetch-Mode": {"navigate"}}, true},
		{"fetch", http.MethodGet, http.Header{"Sec-Fetch-Mode": {"cors"}, "Accept": {"text/html"}}, false},
		{"XHR", http.MethodGet, http.Header{"Accept": {"application/json"}, "X-Requested-With": {"XMLHttpRequest"}}, false},
		{"no Accept", http.MethodGet, nil, false},
		{"form post", http.MethodPost, http.Header{"Accept": {"text/html"}}, false},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			resp, raw := do(t, plainHTTP, r.method, requested, nil, r.header)
			if r.redirect {
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLocation {
					t.Fatalf("%d Location %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), wantLocation)
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
				t.Fatalf("%d %s (Location %q), want 401", resp.StatusCode, raw, resp.Header.Get("Location"))
			}
			body := decode(t, raw)
			if body["error"] != "unauthenticated" || body["reason"] != "no_cookie" {
				t.Fatalf("401 body %s, want error unauthenticated, reason no_cookie", raw)
			}
		})
	}

	// The login page passes the return parameter to the login API.
	loc, err := url.Parse(wantLocation)
	if err != nil {
		t.Fatal(err)
	}
	returnTo := loc.Query().Get("return")
	if returnTo != requested {
		t.Fatalf("return parameter %q, want the requested URL %q", returnTo, requested)
	}
	returns := []struct {
		name, returnTo, want string
	}{
		{"the gated page", returnTo, requested},
		{"with fragment", original, original},
		{"dashboard path", "/diagnostics?x=1", "/diagnostics?x=1"},
		{"other site", "https://evil.example/", "/"},
		{"scheme-relative", "//evil.example", "/"},
		{"scheme-relative with path", "//evil.example/login", "/"},
		{"backslash", `/\evil.example`, "/"},
		{"triple slash", "///evil.example", "/"},
		{"javascript", "javascript:alert(document.cookie)", "/"},
		{"data", "data:text/html,<script>alert(1)</script>", "/"},
		{"credentials", fmt.Sprintf("http://localhost@evil.example:%d/", app), "/"},
		{"look-alike host", "http://localhost.evil.example/", "/"},
		{"tab in the URL", "/\t/evil.example", "/"},
	}
	for _, r := range returns {
		t.Run("return "+r.name, func(t *testing.T) {
			resp, raw := newClient(t, base).PostJSON("/api/auth/login", map[string]string{
				"email": "admin@example.com", "password": "admin password", "return_to": r.returnTo,
			})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login: %d %s", resp.StatusCode, raw)
			}
			if got := decode(t, raw)["redirect"]; got != r.want {
				t.Errorf("return_to %q: redirect %v, want %q", r.returnTo, got, r.want)
			}
		})
	}
}
