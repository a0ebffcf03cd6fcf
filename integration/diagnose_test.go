package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestDiagnose checks GET /api/auth/diagnose: without login it reports
// what the server sees (scheme, host against the canonical url, cookie,
// client IP) and names the fix, and it never shows the secret.
func TestDiagnose(t *testing.T) {
	t.Parallel()
	const secret = "diagnose-secret-0f3a9c2b7e5d"
	inst := newInstance(t)
	inst.Configure(func() string {
		return testCaddyfile(inst.Admin, "",
			fmt.Sprintf("url http://localhost:%d\n\t\tsecret %s", inst.Port("dash"), secret),
			fmt.Sprintf("http://localhost:%[1]d, http://127.0.0.1:%[1]d {\n\tproxyos_dashboard\n}", inst.Port("dash")))
	})
	inst.Start()
	dash := inst.Port("dash")
	canonical := fmt.Sprintf("http://localhost:%d", dash)
	byIP := fmt.Sprintf("http://127.0.0.1:%d", dash)
	rec := &recorder{base: http.DefaultTransport}
	hc := &http.Client{Transport: rec, CheckRedirect: noRedirects}

	diagnose := func(t *testing.T, base, cookie string) map[string]any {
		t.Helper()
		resp, raw := do(t, hc, http.MethodGet, base+"/api/auth/diagnose", nil, withSession(cookie))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/api/auth/diagnose: %d %s", base, resp.StatusCode, raw)
		}
		return decode(t, raw)
	}
	want := func(t *testing.T, diag map[string]any, field string, v any) {
		t.Helper()
		if got := diag[field]; got != v {
			t.Errorf("%s: %v (%T), want %v", field, got, got, v)
		}
	}

	t.Run("canonical host, no cookie", func(t *testing.T) {
		diag := diagnose(t, canonical, "")
		want(t, diag, "scheme", "http")
		want(t, diag, "host", fmt.Sprintf("localhost:%d", dash))
		want(t, diag, "canonical_url", canonical)
		want(t, diag, "host_matches_canonical", true)
		want(t, diag, "scheme_matches_canonical", true)
		want(t, diag, "cookie_received", false)
		want(t, diag, "session_valid", false)
		want(t, diag, "reason", "no_cookie")
		want(t, diag, "secure_cookie", false)
		want(t, diag, "cookie_domain", "host-only")
		want(t, diag, "client_ip", "127.0.0.1")
		want(t, diag, "trusted_proxy", false)
		if fix, _ := diag["fix"].(string); !strings.Contains(fix, "log in") {
			t.Errorf("fix %q, want advice to log in", fix)
		}
	})

	t.Run("IP instead of the canonical host", func(t *testing.T) {
		diag := diagnose(t, byIP, "")
		want(t, diag, "host", fmt.Sprintf("127.0.0.1:%d", dash))
		want(t, diag, "host_matches_canonical", false)
		want(t, diag, "scheme_matches_canonical", true)
		want(t, diag, "cookie_received", false)
		if fix, _ := diag["fix"].(string); !strings.Contains(fix, canonical) {
			t.Errorf("fix %q does not name the canonical URL %s", fix, canonical)
		}
		// Pages are sent to the canonical URL before login.
		resp, _ := do(t, hc, http.MethodGet, byIP+"/login?return=%2Fx", nil, nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != canonical+"/login?return=%2Fx" {
			t.Errorf("GET %s/login: %d Location %q, want 308 to %s/login?return=%%2Fx", byIP, resp.StatusCode, loc, canonical)
		}
	})

	c := newClient(t, canonical)
	c.HTTP.Transport = rec
	cookie := c.Setup(inst, "admin@example.com", "admin password")

	t.Run("logged in", func(t *testing.T) {
		diag := diagnose(t, canonical, cookie)
		want(t, diag, "cookie_received", true)
		want(t, diag, "session_valid", true)
		want(t, diag, "cookie_key_id", cookie[:8])
		want(t, diag, "current_key_id", cookie[:8])
		if _, ok := diag["reason"]; ok {
			t.Errorf("reason %v for a valid session", diag["reason"])
		}
	})

	t.Run("cookie without a session", func(t *testing.T) {
		diag := diagnose(t, canonical, "0badc0de"+cookie[8:])
		want(t, diag, "cookie_received", true)
		want(t, diag, "session_valid", false)
		want(t, diag, "reason", "unknown_key")
		want(t, diag, "cookie_key_id", "0badc0de")
		if fix, _ := diag["fix"].(string); !strings.Contains(fix, "previous_secrets") {
			t.Errorf("fix %q, want a hint at previous_secrets", fix)
		}
	})

	for what, text := range map[string]string{"a response": rec.String(), "Caddy's log": inst.FullLog()} {
		if strings.Contains(text, secret) {
			t.Errorf("the secret appears in %s", what)
		}
	}
	if n := strings.Count(rec.String(), cookie[9:9+43]); n != 1 {
		t.Errorf("the session token appears %d times in responses, want once (its Set-Cookie)", n)
	}
}
