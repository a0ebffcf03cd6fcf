package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretRotation checks the key ring across restarts: with the old
// secret under previous_secrets nobody is logged out; once it is removed
// its sessions end with reason unknown_key, logged once with the key id
// and never with a secret.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	const secretA, secretB = "rotation-secret-A-6d1f0e9a4c", "rotation-secret-B-93b2a7c5e8"
	e := startDashboard(t, dashEnvVars("PROXYOS_IT_SECRET="+secretB), // B comes from the environment
		dashProxyos("secret "+secretA))
	inst, base, appBase, cookieA := e.inst, e.Base, e.AppBase, e.adminCk
	keyA := cookieA[:8]
	wantSession(t, base, cookieA, "")

	e.reconfigure("secret {env.PROXYOS_IT_SECRET}", "previous_secrets "+secretA)
	inst.Restart()
	wantSession(t, base, cookieA, "")
	if status, reason := gateReason(t, appBase, cookieA); status != http.StatusOK {
		t.Fatalf("gate with the old secret under previous_secrets: %d %s", status, reason)
	}
	_, cookieB := newClient(t, base).Login("admin@example.com", "admin password")
	keyB := cookieB[:8]
	if keyB == keyA {
		t.Fatalf("new sessions are still signed with the previous key %s", keyA)
	}

	e.reconfigure("secret {env.PROXYOS_IT_SECRET}")
	inst.Restart()
	for range 3 {
		wantSession(t, base, cookieA, "unknown_key")
		if status, reason := gateReason(t, appBase, cookieA); reason != "unknown_key" {
			t.Fatalf("gate with a removed secret: %d reason %q, want 401 unknown_key", status, reason)
		}
	}
	wantSession(t, base, cookieB, "")

	// The log line may reach us just after the response did.
	eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		return strings.Contains(inst.Log(), keyA), "the log never names the unknown key id " + keyA
	})
	log := inst.Log()
	if n := strings.Count(log, keyA); n != 1 {
		t.Errorf("the log names the unknown key id %s %d times, want once:\n%s", keyA, n, log)
	}
	if !strings.Contains(log, `"key_id":"`+keyA+`"`) {
		t.Errorf("the log does not name the unknown key id %s in a key_id field", keyA)
	}
	full := inst.FullLog()
	for _, s := range []string{secretA, secretB} {
		if strings.Contains(full, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
}

// TestGeneratedSecret checks the secret generated when none is
// configured: kept in Caddy's data directory readable by its owner only,
// never logged, and the same after a restart, so sessions survive.
func TestGeneratedSecret(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, cookie := e.inst, e.Base, e.adminCk

	path := filepath.Join(inst.Home, "data", "caddy", "proxyos", "secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, mode)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(before))
	if len(secret) < 32 {
		t.Fatalf("generated secret is %d characters, want at least 32", len(secret))
	}

	inst.Restart()
	wantSession(t, base, cookie, "")
	after, err := os.ReadFile(path)
	if err != nil || string(after) != string(before) {
		t.Fatalf("the secret file changed across a restart (err %v)", err)
	}
	if strings.Contains(inst.FullLog(), secret) {
		t.Errorf("the generated secret appears in the log")
	}
}

// TestSecretNeverLeaks prevents secret leakage: with secret and
// previous_secrets configured, no response of the dashboard API, the
// gate or the admin API, and no line of Caddy's log, ever contains them,
// whatever the request (valid, refused, malformed, forged).
func TestSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	const secret, previous = "leak-test-current-4b8e1d7c2a9f", "leak-test-previous-7c3a5e0b9d1f"
	e := startDashboard(t, dashNoAdmin(), dashProxyos("secret "+secret, "previous_secrets "+previous))
	inst, base, appBase := e.inst, e.Base, e.AppBase
	rec := &recorder{base: http.DefaultTransport}
	hc := &http.Client{Transport: rec, CheckRedirect: noRedirects}
	c := newClient(t, base)
	c.HTTP.Transport = rec
	json := http.Header{"Content-Type": {"application/json"}, "Origin": {base}}
	send := func(method, url, body string, h http.Header) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		do(t, hc, method, url, r, h)
	}

	for _, p := range []string{"/", "/login", "/api/setup/status", "/api/auth/session", "/api/auth/diagnose", "/api/nope"} {
		send(http.MethodGet, base+p, "", nil)
	}
	send(http.MethodGet, "http://"+inst.Admin+"/proxyos/setup", "", nil)
	send(http.MethodPost, base+"/api/setup", `{"email":"a@example.com","password":"admin password","setup_code":"WRONG"}`, json)
	send(http.MethodPost, base+"/api/setup", `{"email":"a@example.com","password":"admin password","setup_code":"`, json)
	cookie := c.Setup(inst, "admin@example.com", "admin password")
	send(http.MethodPost, base+"/api/setup", `{"email":"b@example.com","password":"admin password","setup_code":"X"}`, json)
	send(http.MethodPost, base+"/api/auth/login", `{"email":"admin@example.com","password":"wrong password"}`, json)
	send(http.MethodPost, base+"/api/auth/login", `{"email":"nobody@example.com","password":"wrong password"}`, json)
	send(http.MethodPost, base+"/api/auth/login", `{"email":"admin@example.com","password":"admin password"}`, http.Header{"Content-Type": {"text/plain"}})
	for _, ck := range []string{cookie, tamper(cookie, 20), "0badc0de" + cookie[8:], "garbage", secret, previous} {
		for _, u := range []string{base + "/api/auth/session", base + "/api/auth/diagnose", appBase + "/", appBase + "/?json"} {
			h := withSession(ck)
			if strings.HasSuffix(u, "/") {
				h.Set("Accept", "text/html")
			}
			send(http.MethodGet, u, "", h)
		}
	}
	for _, body := range []string{
		`{"email":"ops@example.com","password":"operator password","role":"operator"}`,
		`{"email":"ops@example.com","password":"operator password","role":"operator"}`,
		`{"email":"x@example.com","password":"short","role":"viewer"}`,
		`{"email":"x@example.com","password":"` + secret + `","role":"wizard"}`,
	} {
		send(http.MethodPost, "http://"+inst.Admin+"/proxyos/users", body, http.Header{"Content-Type": {"application/json"}})
	}
	resp, raw := c.PostJSON("/api/auth/logout", map[string]any{})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}
	send(http.MethodGet, base+"/api/auth/diagnose", "", withSession(cookie))

	seen := rec.String()
	if !strings.Contains(seen, "unknown_key") || !strings.Contains(seen, "bad_signature") || !strings.Contains(seen, "revoked") {
		t.Errorf("the requests did not reach the refusals they should have:\n%s", seen)
	}
	for _, s := range []string{secret, previous} {
		// A cookie that is the secret itself is only ever sent, never
		// answered; the password of a refused user is never echoed.
		if strings.Contains(seen, s) {
			t.Errorf("a response contains the secret %q", s)
		}
		if strings.Contains(inst.FullLog(), s) {
			t.Errorf("Caddy's log contains the secret %q", s)
		}
	}
}
