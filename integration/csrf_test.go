package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCSRF prevents cross-site request forgery: a page on another site
// can make the browser send the user's cookie with a form post or a
// simple fetch, so every state-changing call needs a JSON body and a
// same-origin Origin or Sec-Fetch-Site. Refused calls answer 403 and
// change nothing: no setup, no login cookie, no logout.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashNoAdmin())
	inst, base := e.inst, e.Base
	c := newClient(t, base)

	const json = "application/json"
	forged := []struct {
		name string
		h    http.Header
	}{
		{"form post", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {base}}},
		{"multipart form", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}, "Origin": {base}}},
		{"text/plain form with a JSON body", http.Header{"Content-Type": {"text/plain"}, "Origin": {base}}},
		{"no content type", http.Header{"Origin": {base}}},
		{"foreign Origin", http.Header{"Content-Type": {json}, "Origin": {"http://evil.example"}}},
		{"Origin of another port", http.Header{"Content-Type": {json}, "Origin": {"http://localhost:1"}}},
		{"Origin with the host as a prefix", http.Header{"Content-Type": {json}, "Origin": {base + ".evil.example"}}},
		{"null Origin", http.Header{"Content-Type": {json}, "Origin": {"null"}}},
		{"Sec-Fetch-Site cross-site", http.Header{"Content-Type": {json}, "Origin": {base}, "Sec-Fetch-Site": {"cross-site"}}},
		{"Sec-Fetch-Site same-site", http.Header{"Content-Type": {json}, "Origin": {base}, "Sec-Fetch-Site": {"same-site"}}},
		{"no Origin", http.Header{"Content-Type": {json}}},
		{"no Origin, Sec-Fetch-Site none", http.Header{"Content-Type": {json}, "Sec-Fetch-Site": {"none"}}},
	}
	post := func(t *testing.T, path, body string, h http.Header) {
		t.Helper()
		resp, raw := do(t, c.HTTP, http.MethodPost, base+path, strings.NewReader(body), h)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d %s, want 403", path, resp.StatusCode, raw)
		}
		if ck := sessionCookieOf(resp); ck != nil {
			t.Errorf("POST %s: refused, but sets the session cookie %q", path, resp.Header.Values("Set-Cookie"))
		}
	}

	code := inst.SetupCode()
	setup := fmt.Sprintf(`{"email":"admin@example.com","password":"admin password","setup_code":%q}`, code)
	for _, f := range forged {
		t.Run("setup/"+f.name, func(t *testing.T) {
			post(t, "/api/setup", setup, f.h)
			assertSetupRequired(t, c, true)
		})
	}
	cookie := c.Setup(inst, "admin@example.com", "admin password")

	login := `{"email":"admin@example.com","password":"admin password"}`
	for _, f := range forged {
		t.Run("login/"+f.name, func(t *testing.T) {
			post(t, "/api/auth/login", login, f.h)
		})
	}

	for _, f := range forged {
		t.Run("logout/"+f.name, func(t *testing.T) {
			post(t, "/api/auth/logout", "{}", f.h)
			wantSession(t, base, cookie, "")
		})
	}

	// A same-origin fetch without Origin (Sec-Fetch-Site vouches) works.
	resp, raw := do(t, c.HTTP, http.MethodPost, base+"/api/auth/logout", strings.NewReader("{}"),
		http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Sec-Fetch-Site": {"same-origin"}})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("same-origin logout: %d %s, want 204", resp.StatusCode, raw)
	}
	wantSession(t, base, cookie, "revoked")
}
