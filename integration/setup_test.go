package integration

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardPages checks that the dashboard pages and the assets they
// load are served with a strict Content-Security-Policy, and that the
// page shell has no inline script the policy would block.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashNoAdmin())
	c := newClient(t, e.Base)

	var shell []byte
	for _, path := range []string{"/", "/login", "/setup", "/diagnostics"} {
		t.Run(path, func(t *testing.T) {
			resp, raw := c.Get(path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("GET %s: Content-Type %q, want text/html", path, ct)
			}
			assertStrictCSP(t, resp)
			if !strings.Contains(strings.ToLower(string(raw)), "<!doctype html>") {
				t.Errorf("GET %s: not an HTML page: %.200s", path, raw)
			}
			shell = raw
		})
	}

	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllSubmatch(shell, -1)
	if len(scripts) == 0 {
		t.Fatalf("the page shell loads no script")
	}
	if inline := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`); inline.Match(shell) {
		t.Errorf("index.html has an inline event handler (CSP would block it): %s", inline.Find(shell))
	}
	src := regexp.MustCompile(`\bsrc\s*=\s*"([^"]+)"`)
	for _, s := range scripts {
		m := src.FindSubmatch(s[1])
		if m == nil || strings.TrimSpace(string(s[2])) != "" {
			t.Errorf("inline script in index.html (CSP script-src 'self' would block it): %s", s[0])
			continue
		}
		resp, body := c.Get(string(m[1]), nil)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s (script of the page shell): %d, %d bytes", m[1], resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: Content-Type %q, want JavaScript", m[1], ct)
		}
	}

	resp, _ := c.Get("/no-such-page", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no-such-page: %d, want 404", resp.StatusCode)
	}
}

// assertStrictCSP checks the security headers every dashboard response
// carries.
func assertStrictCSP(t testing.TB, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", resp.Request.URL.Path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy %q allows inline or eval'd scripts", resp.Request.URL.Path, csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", resp.Request.URL.Path, got)
	}
}

// TestFirstRunSetup walks through the first run: the setup code is in
// Caddy's log and on the admin API, the dashboard's setup needs it, and
// once the first admin exists setup is closed for good.
func TestFirstRunSetup(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashNoAdmin())
	inst, c := e.inst, newClient(t, e.Base)

	assertSetupRequired(t, c, true)
	m := regexp.MustCompile(`"setup_code":"([^"]+)"`).FindStringSubmatch(inst.Log())
	if m == nil {
		t.Fatalf("no setup code in Caddy's log:\n%s", inst.Log())
	}
	code := inst.SetupCode()
	if m[1] != code {
		t.Fatalf("setup code in the log %q differs from GET /proxyos/setup's %q", m[1], code)
	}
	if _, raw := c.Get("/api/setup/status", nil); strings.Contains(string(raw), code) {
		t.Fatalf("/api/setup/status reveals the setup code: %s", raw)
	}

	const email, password = "admin@example.com", "correct horse battery"
	steps := []struct {
		name       string
		body       map[string]string
		wantStatus int
		wantField  string
		wantCookie bool
	}{
		{"wrong code", map[string]string{"email": email, "password": password, "setup_code": "AAAA-BBBB-CCCC-DDDD"}, http.StatusForbidden, "setup_code", false},
		{"empty code", map[string]string{"email": email, "password": password, "setup_code": ""}, http.StatusForbidden, "setup_code", false},
		{"bad email", map[string]string{"email": "admin", "password": password, "setup_code": code}, http.StatusBadRequest, "email", false},
		{"short password", map[string]string{"email": email, "password": "short", "setup_code": code}, http.StatusBadRequest, "password", false},
		{"right code, typed in lower case", map[string]string{"email": email, "password": password, "setup_code": strings.ToLower(code)}, http.StatusCreated, "", true},
		{"again", map[string]string{"email": "other@example.com", "password": password, "setup_code": code}, http.StatusConflict, "", false},
	}
	for _, s := range steps {
		resp, raw := c.PostJSON("/api/setup", s.body)
		if resp.StatusCode != s.wantStatus {
			t.Fatalf("%s: POST /api/setup: %d %s, want %d", s.name, resp.StatusCode, raw, s.wantStatus)
		}
		body := decode(t, raw)
		if s.wantField != "" && body["field"] != s.wantField {
			t.Errorf("%s: field %v, want %q (%s)", s.name, body["field"], s.wantField, raw)
		}
		if got := sessionCookieOf(resp) != nil; got != s.wantCookie {
			t.Errorf("%s: session cookie set %v, want %v", s.name, got, s.wantCookie)
		}
		if s.wantStatus == http.StatusCreated {
			user := userOf(t, raw)
			if user["email"] != email || user["role"] != "admin" || user["id"] == "" {
				t.Errorf("%s: user %v, want the admin %s", s.name, user, email)
			}
		} else if s.wantStatus != http.StatusConflict {
			assertSetupRequired(t, c, true)
		}
	}

	assertSetupRequired(t, c, false)
	resp, raw := c.Get("/api/auth/session", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"role":"admin"`) {
		t.Fatalf("session after setup: %d %s", resp.StatusCode, raw)
	}
	resp, raw = inst.AdminDo(http.MethodGet, "/proxyos/setup", nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(raw)) != `{"setup_required":false}` {
		t.Fatalf("GET /proxyos/setup after setup: %d %s, want {\"setup_required\":false}", resp.StatusCode, raw)
	}
	if _, raw := c.PostJSON("/api/auth/login", map[string]string{"email": "ADMIN@example.com", "password": password}); !strings.Contains(string(raw), email) {
		t.Fatalf("the first admin cannot log in (email in another case): %s", raw)
	}
}

func assertSetupRequired(t testing.TB, c *client, want bool) {
	t.Helper()
	resp, raw := c.Get("/api/setup/status", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/setup/status: %d %s", resp.StatusCode, raw)
	}
	if got := decode(t, raw)["setup_required"]; got != want {
		t.Fatalf("GET /api/setup/status: setup_required %v, want %v", got, want)
	}
}

// TestAdminAPIUsers checks POST /proxyos/users on Caddy's admin API:
// created users can log in, and bad input is refused naming the field.
func TestAdminAPIUsers(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashNoAdmin())
	inst := e.inst

	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantError  string // prefix of the error message: the field
		wantRole   string
	}{
		{"operator", map[string]string{"email": "ops@example.com", "password": "operator pass", "role": "operator"}, http.StatusCreated, "", "operator"},
		{"role defaults to viewer", map[string]string{"email": "view@example.com", "password": "viewer pass"}, http.StatusCreated, "", "viewer"},
		{"duplicate email in another case", map[string]string{"email": "OPS@example.com", "password": "operator pass", "role": "operator"}, http.StatusConflict, "a user with this email already exists", ""},
		{"unknown role", map[string]string{"email": "root@example.com", "password": "root password", "role": "root"}, http.StatusBadRequest, "role: ", ""},
		{"short password", map[string]string{"email": "short@example.com", "password": "1234567", "role": "viewer"}, http.StatusBadRequest, "password: ", ""},
		{"bad email", map[string]string{"email": "not-an-email", "password": "good password", "role": "viewer"}, http.StatusBadRequest, "email: ", ""},
		{"email with a display name", map[string]string{"email": "Eve <eve@example.com>", "password": "good password", "role": "viewer"}, http.StatusBadRequest, "email: ", ""},
		{"unknown field", map[string]any{"email": "x@example.com", "password": "good password", "admin": true}, http.StatusBadRequest, "body: ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := inst.AdminDo(http.MethodPost, "/proxyos/users", tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("POST /proxyos/users: %d %s, want %d", resp.StatusCode, raw, tt.wantStatus)
			}
			body := decode(t, raw)
			if tt.wantStatus == http.StatusCreated {
				if body["role"] != tt.wantRole || body["id"] == "" {
					t.Errorf("created %s, want role %s and an id", raw, tt.wantRole)
				}
				pw, _ := tt.body.(map[string]string)
				if strings.Contains(string(raw), pw["password"]) || strings.Contains(string(raw), `"password"`) ||
					strings.Contains(string(raw), "password_hash") || strings.Contains(string(raw), "$argon2") {
					t.Errorf("response shows the password or its hash: %s", raw)
				}
				return
			}
			if msg, _ := body["error"].(string); !strings.HasPrefix(msg, tt.wantError) {
				t.Errorf("error %q, want it to start with %q", msg, tt.wantError)
			}
		})
	}
	if resp, raw := inst.AdminDo(http.MethodGet, "/proxyos/users", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /proxyos/users: %d %s, want 405", resp.StatusCode, raw)
	}

	c := newClient(t, e.Base)
	c.Login("ops@example.com", "operator pass")
	resp, raw := c.Get("/api/auth/session", nil)
	if resp.StatusCode != http.StatusOK || userOf(t, raw)["role"] != "operator" {
		t.Fatalf("session of the created operator: %d %s", resp.StatusCode, raw)
	}
	assertSetupRequired(t, c, false)
}

// userOf returns the "user" object of an API response.
func userOf(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	user, ok := decode(t, raw)["user"].(map[string]any)
	if !ok {
		t.Fatalf("no user in %s", raw)
	}
	return user
}
