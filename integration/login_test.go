package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLogin checks the login API: the answer, the session it starts, and
// the refusals of malformed requests.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base := e.inst, e.Base
	opsID := inst.CreateUser("ops@example.com", "operator password", "operator")

	c := newClient(t, base)
	resp, raw := c.PostJSON("/api/auth/login", map[string]string{"email": " Ops@Example.com ", "password": "operator password"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	user := userOf(t, raw)
	if user["id"] != opsID || user["email"] != "ops@example.com" || user["role"] != "operator" {
		t.Errorf("login answered user %v, want %s ops@example.com operator", user, opsID)
	}
	// has_password says whether there is one; nothing else about it.
	if strings.Contains(string(raw), "operator password") || strings.Contains(string(raw), `"password"`) ||
		strings.Contains(string(raw), "password_hash") || strings.Contains(string(raw), "$argon2") {
		t.Errorf("login answer shows the password or its hash: %s", raw)
	}
	if got := decode(t, raw)["redirect"]; got != "/" {
		t.Errorf("redirect %v, want / without return_to", got)
	}
	cookie := mustSessionCookie(t, resp)
	// Without cookie_domain and over plain HTTP: host-only and not Secure.
	attrs := cookieAttrs(setCookieLine(resp))
	if !hasKey(attrs, "httponly") || attrs["samesite"] != "Lax" || attrs["path"] != "/" || hasKey(attrs, "domain") || hasKey(attrs, "secure") {
		t.Errorf("Set-Cookie %q, want HttpOnly; SameSite=Lax; Path=/ without Domain and Secure", setCookieLine(resp))
	}
	resp, raw = c.Get("/api/auth/session", nil)
	if resp.StatusCode != http.StatusOK || userOf(t, raw)["id"] != opsID {
		t.Fatalf("GET /api/auth/session after login: %d %s", resp.StatusCode, raw)
	}
	if sid, _ := decode(t, raw)["session_id"].(string); sid == "" || strings.Contains(cookie.Value, sid) {
		t.Errorf("session_id %q: want an id that is not the token", sid)
	}

	refusals := []struct {
		name       string
		method     string
		body       string
		wantStatus int
	}{
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "email=ops@example.com", http.StatusBadRequest},
		{"unknown field", http.MethodPost, `{"email":"ops@example.com","password":"operator password","remember":true}`, http.StatusBadRequest},
		{"two values", http.MethodPost, `{"email":"ops@example.com","password":"operator password"}{}`, http.StatusBadRequest},
	}
	for _, r := range refusals {
		resp, raw := do(t, plainHTTP, r.method, base+"/api/auth/login", strings.NewReader(r.body), http.Header{
			"Content-Type": {"application/json"}, "Origin": {base},
		})
		if resp.StatusCode != r.wantStatus || sessionCookieOf(resp) != nil {
			t.Errorf("%s: %d %s (cookie %v), want %d and no cookie", r.name, resp.StatusCode, raw, sessionCookieOf(resp) != nil, r.wantStatus)
		}
	}
}

// TestLoginSessionFixation prevents session fixation: a cookie the
// browser carried before logging in (planted by an attacker, or an older
// session) never becomes the new session; login always issues a new
// token and revokes the session the browser had.
func TestLoginSessionFixation(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base := e.inst, e.Base
	inst.CreateUser("victim@example.com", "victim password", "viewer")

	// The attacker's own valid session, planted in the victim's browser.
	_, planted := newClient(t, base).Login("admin@example.com", "admin password")
	victim := newClient(t, base)
	resp, raw := do(t, victim.HTTP, http.MethodPost, base+"/api/auth/login",
		strings.NewReader(`{"email":"victim@example.com","password":"victim password"}`),
		withSession(planted, "Content-Type", "application/json", "Origin", base))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, raw)
	}
	fresh := mustSessionCookie(t, resp).Value
	if fresh == planted {
		t.Fatalf("login kept the planted session token")
	}
	wantSession(t, base, planted, "revoked")
	resp, raw = do(t, plainHTTP, http.MethodGet, base+"/api/auth/session", nil, withSession(fresh))
	if resp.StatusCode != http.StatusOK || userOf(t, raw)["email"] != "victim@example.com" {
		t.Fatalf("new session: %d %s", resp.StatusCode, raw)
	}
}

// TestLoginUserEnumeration prevents user enumeration: an unknown email and
// a wrong password get the same status and body, and take about as long
// (a dummy hash is verified for unknown users). Without the dummy hash an
// unknown user would be answered in a fraction of a password hash's time.
//
// Timing on a busy machine is noisy, and noise only adds time: the test
// fails when unknown users are answered in less than half the time of
// wrong passwords by the median and by the fastest attempt alike. It does
// not run in parallel, so other tests' hashing disturbs it less.
func TestLoginUserEnumeration(t *testing.T) {
	e := startDashboard(t)
	inst, base := e.inst, e.Base
	// Three accounts, so wrong passwords stay below the per-account limit
	// (5), and 1+2*9 attempts stay below the per-IP limit (20).
	accounts := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	for _, a := range accounts {
		inst.CreateUser(a, "the right password", "viewer")
	}

	attempt := func(email string) (time.Duration, int, []byte) {
		body := fmt.Sprintf(`{"email":%q,"password":"not the password"}`, email)
		start := time.Now()
		resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/auth/login", strings.NewReader(body),
			http.Header{"Content-Type": {"application/json"}, "Origin": {base}})
		return time.Since(start), resp.StatusCode, raw
	}
	attempt("warm-up@example.com") // the dummy hash is made on first use

	const samples = 9
	var wrong, unknown []time.Duration
	var first []byte
	for i := range samples {
		for _, email := range []string{accounts[i%len(accounts)], fmt.Sprintf("nobody%d@example.com", i)} {
			d, status, raw := attempt(email)
			if status != http.StatusUnauthorized {
				t.Fatalf("login %s with a wrong password: %d %s, want 401", email, status, raw)
			}
			if first == nil {
				first = raw
			} else if !bytes.Equal(raw, first) {
				t.Fatalf("answers differ, revealing which accounts exist:\n%s\n%s", first, raw)
			}
			if strings.HasPrefix(email, "nobody") {
				unknown = append(unknown, d)
			} else {
				wrong = append(wrong, d)
			}
		}
	}
	if got := decode(t, first)["error"]; got != "invalid email or password" {
		t.Errorf("error %v, want one message for both cases", got)
	}
	mw, mu := median(wrong), median(unknown)
	fw, fu := slices.Min(wrong), slices.Min(unknown)
	t.Logf("wrong password: median %s, fastest %s; unknown user: median %s, fastest %s", mw, fw, mu, fu)
	if mu < mw/2 && fu < fw/2 {
		t.Errorf("unknown users are answered in %s (fastest %s), wrong passwords in %s (fastest %s): timing reveals which accounts exist", mu, fu, mw, fw)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLoginRateLimit prevents password guessing: failures lock the account
// after 5 and the client IP after 20 (429 with Retry-After), the locks
// survive a restart, and the IP is the one Caddy computes, so sending a
// different X-Forwarded-For with each try from an untrusted peer does not
// evade the limit (rate-limit evasion by header spoofing).
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base := e.inst, e.Base
	inst.CreateUser("alice@example.com", "alice password", "viewer")
	inst.CreateUser("bob@example.com", "bob password", "viewer")

	n := 0 // spoofed addresses used so far
	login := func(email, password string) (int, string, []byte) {
		n++
		spoof := fmt.Sprintf("198.51.100.%d", n)
		resp, raw := do(t, plainHTTP, http.MethodPost, base+"/api/auth/login",
			strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)),
			http.Header{
				"Content-Type": {"application/json"}, "Origin": {base},
				"X-Forwarded-For": {spoof}, "X-Real-Ip": {spoof}, "Forwarded": {"for=" + spoof},
			})
		return resp.StatusCode, resp.Header.Get("Retry-After"), raw
	}
	wantLocked := func(what, email, password string) {
		t.Helper()
		status, retry, raw := login(email, password)
		if status != http.StatusTooManyRequests {
			t.Fatalf("%s: login %s: %d %s, want 429", what, email, status, raw)
		}
		if secs, err := strconv.Atoi(retry); err != nil || secs < 1 || secs > 15*60 {
			t.Fatalf("%s: Retry-After %q, want seconds up to the 15m lockout", what, retry)
		}
	}
	wantOK := func(what, email, password string) {
		t.Helper()
		if status, _, raw := login(email, password); status != http.StatusOK {
			t.Fatalf("%s: login %s: %d %s, want 200", what, email, status, raw)
		}
	}

	// Per account: 5 failures lock alice, even for the right password.
	for i := 1; i <= 5; i++ {
		if status, _, raw := login("alice@example.com", "wrong password"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d for alice: %d %s, want 401", i, status, raw)
		}
	}
	wantLocked("account locked", "alice@example.com", "alice password")
	wantOK("other account", "bob@example.com", "bob password")
	inst.Restart()
	wantLocked("account lock after restart", "alice@example.com", "alice password")
	wantOK("other account after restart", "bob@example.com", "bob password")

	// Per IP: 15 more failures (20 in all) on different accounts, each
	// with another spoofed client address, lock the IP for everyone.
	for i := 1; i <= 15; i++ {
		if status, _, raw := login(fmt.Sprintf("guess%d@example.com", i), "wrong password"); status != http.StatusUnauthorized {
			t.Fatalf("failure %d for the IP: %d %s, want 401", 5+i, status, raw)
		}
	}
	wantLocked("IP locked", "bob@example.com", "bob password")
	inst.Restart()
	wantLocked("IP lock after restart", "bob@example.com", "bob password")
	resp, raw := newClient(t, base).PostJSON("/api/setup", map[string]string{"email": "x@example.com", "password": "x password", "setup_code": "X"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("setup from a locked IP: %d %s, want 429", resp.StatusCode, raw)
	}
}
