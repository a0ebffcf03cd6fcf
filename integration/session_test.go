package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// gateReason asks the proxyos_auth site at appBase with exactly this
// cookie value as an API client would, and returns the status and the
// 401 reason.
func gateReason(t testing.TB, appBase, cookie string) (int, string) {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, appBase+"/", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusUnauthorized {
		return resp.StatusCode, ""
	}
	body := decode(t, raw)
	if body["error"] != "unauthenticated" {
		t.Errorf("gate 401 body %s, want error unauthenticated", raw)
	}
	reason, _ := body["reason"].(string)
	return resp.StatusCode, reason
}

// tamper returns the cookie value with the character at i replaced by
// another base64url character.
func tamper(cookie string, i int) string {
	b := []byte(cookie)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// padded returns the cookie value with the unused low bits of the
// base64url character at i set: another spelling of the same bytes, which
// a lenient decoder would accept as the same cookie.
func padded(cookie string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte(cookie)
	b[i] = alphabet[strings.IndexByte(alphabet, b[i])|1]
	return string(b)
}

// TestSessionReasons checks that every refused session gets the reason
// DESIGN section 9 names, alike at /api/auth/session, in the diagnose
// report and at a proxyos_auth site. The tampered cookies are the
// security test against cookie tampering and forgery: changing any part
// of a valid cookie (the token or its MAC) must not yield a session.
func TestSessionReasons(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	base, appBase, valid := e.Base, e.AppBase, e.adminCk

	c := newClient(t, base)
	_, loggedOut := c.Login("admin@example.com", "admin password")
	resp, raw := c.PostJSON("/api/auth/logout", map[string]any{})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}
	if ck := sessionCookieOf(resp); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("logout does not clear the cookie: %q", resp.Header.Values("Set-Cookie"))
	}

	// Cookie layout: <8 hex key id>.<43 base64url token>.<43 base64url MAC>.
	tests := []struct {
		name   string
		cookie string
		reason string
	}{
		{"valid", valid, ""},
		{"no cookie", "", "no_cookie"},
		{"malformed", "not-a-proxyos-session", "malformed"},
		{"truncated", valid[:len(valid)-1], "malformed"},
		{"token changed", tamper(valid, 8+1+10), "bad_signature"},
		{"MAC changed", tamper(valid, 8+1+43+1+10), "bad_signature"},
		{"token spelled differently", padded(valid, 8+1+42), "malformed"},
		{"MAC spelled differently", padded(valid, len(valid)-1), "malformed"},
		{"token of another session with this MAC", valid[:8+1+43] + loggedOut[8+1+43:], "bad_signature"},
		{"unknown key id", "0badc0de" + valid[8:], "unknown_key"},
		{"logged out (replayed cookie)", loggedOut, "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantSession(t, base, tt.cookie, tt.reason)

			resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/auth/diagnose", nil, withSession(tt.cookie))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("diagnose: %d %s", resp.StatusCode, raw)
			}
			diag := decode(t, raw)
			if got, _ := diag["reason"].(string); got != tt.reason || diag["session_valid"] != (tt.reason == "") {
				t.Errorf("diagnose: reason %q session_valid %v, want reason %q", got, diag["session_valid"], tt.reason)
			}
			if diag["cookie_received"] != (tt.cookie != "") {
				t.Errorf("diagnose: cookie_received %v for cookie %q", diag["cookie_received"], tt.cookie)
			}

			status, reason := gateReason(t, appBase, tt.cookie)
			switch {
			case tt.reason == "" && status != http.StatusOK:
				t.Errorf("gate: %d reason %q, want 200", status, reason)
			case tt.reason != "" && reason != tt.reason:
				t.Errorf("gate: %d reason %q, want 401 reason %q", status, reason, tt.reason)
			}
		})
	}

	// A logout with a refused cookie says why and still clears it.
	resp, raw = do(t, plainHTTP, http.MethodPost, base+"/api/auth/logout", strings.NewReader("{}"),
		withSession(loggedOut, "Content-Type", "application/json", "Origin", base))
	if resp.StatusCode != http.StatusUnauthorized || decode(t, raw)["reason"] != "revoked" {
		t.Errorf("logout with a revoked cookie: %d %s, want 401 revoked", resp.StatusCode, raw)
	}
	wantSession(t, base, valid, "")
}

// TestSessionLifetime checks the absolute (session_ttl) and idle
// (session_idle) expiry with short lifetimes. Cookies are sent by hand:
// a browser would drop the cookie at its Max-Age, but a stolen copy
// would not, and the server must refuse it.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		proxyos string
		reason  string
		// gap returns the pause before the n-th check (from 0).
		gap func(n int) time.Duration
	}{
		{
			// Checked every 200ms, so the session never idles, until it
			// reaches its 2s lifetime.
			name: "expired", proxyos: "session_ttl 2s", reason: "expired",
			gap: func(int) time.Duration { return 200 * time.Millisecond },
		},
		{
			// Pauses double from 250ms: the session survives pauses shorter
			// than 1s and ends at the first longer one.
			name: "idle_timeout", proxyos: "session_idle 1s", reason: "idle_timeout",
			gap: func(n int) time.Duration { return 250 * time.Millisecond << n },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startDashboard(t, dashProxyos(tt.proxyos))
			base, appBase, cookie := e.Base, e.AppBase, e.adminCk
			start := time.Now()
			for n := 0; ; n++ {
				status, reason := sessionReason(t, base, cookie)
				if status == http.StatusOK {
					if time.Since(start) > 15*time.Second {
						t.Fatalf("session still valid after %s", time.Since(start))
					}
					time.Sleep(tt.gap(n))
					continue
				}
				if n == 0 {
					t.Fatalf("a new session is refused at once: %d reason %q", status, reason)
				}
				if reason != tt.reason {
					t.Fatalf("after %s: %d reason %q, want %q", time.Since(start), status, reason, tt.reason)
				}
				break
			}
			if status, reason := gateReason(t, appBase, cookie); reason != tt.reason {
				t.Errorf("gate: %d reason %q, want %q", status, reason, tt.reason)
			}
			// The user logs in again and gets a working session.
			_, again := newClient(t, base).Login("admin@example.com", "admin password")
			wantSession(t, base, again, "")
		})
	}
}
