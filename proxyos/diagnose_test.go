package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/session"

	"net/http"
	"strings"
	"testing"
)

// diagnose calls /api/auth/diagnose with optional extra setup of the
// request and returns the decoded answer and the raw body.
func diagnose(t *testing.T, d *Dashboard, setup func(*http.Request)) (api.Diagnosis, string) {
	t.Helper()
	req := apiRequest(http.MethodGet, "/api/auth/diagnose", "")
	if setup != nil {
		setup(req)
	}
	rec := serve(t, d, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("diagnose: status %d, body %s", rec.Code, rec.Body)
	}
	var g api.Diagnosis
	decodeBody(t, rec, &g)
	return g, rec.Body.String()
}

// TestDiagnoseRevealsNoSecrets prevents credential disclosure through the
// unauthenticated diagnose endpoint: it reports what the server sees
// without the secret, the session token or anyone's password.
func TestDiagnoseRevealsNoSecrets(t *testing.T) {
	const password = "diagnose-password-1"
	a := newTestApp(t, func(a *App) { a.PreviousSecrets = []string{testSecret + "-previous"} })
	a.addUser(t, "ada@example.com", password, RoleAdmin)
	d := a.dashboard()
	cookie := login(t, d, "ada@example.com", password, "")
	tok, _ := a.keys.ParseToken(cookie)

	g, body := diagnose(t, d, func(r *http.Request) { withCookie(r, cookie) })
	if !g.CookieReceived || !g.SessionValid || g.Reason != "" {
		t.Errorf("diagnosis %+v, want a valid session", g)
	}
	if g.CurrentKeyID != a.keys.CurrentID() || g.CookieKeyID != a.keys.CurrentID() {
		t.Errorf("key ids %q/%q, want %q", g.CurrentKeyID, g.CookieKeyID, a.keys.CurrentID())
	}
	for name, secret := range map[string]string{
		"secret":          testSecret,
		"previous secret": testSecret + "-previous",
		"cookie value":    cookie,
		"token part":      strings.Split(cookie, ".")[1],
		"mac part":        strings.Split(cookie, ".")[2],
		"token hash":      tok.Hash(),
		"password":        password,
	} {
		if strings.Contains(body, secret) {
			t.Errorf("diagnose answer contains the %s", name)
		}
	}
	if strings.Contains(body, "$argon2id$") {
		t.Error("diagnose answer contains a password hash")
	}
}

func TestDiagnoseReports(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	old := mustKeyring(t, randomSecret(t))
	oldCookie := old.SignToken(keyring.NewToken())

	tests := []struct {
		name    string
		setup   func(*http.Request)
		check   func(t *testing.T, g api.Diagnosis)
		wantFix string
	}{
		{"no cookie", nil, func(t *testing.T, g api.Diagnosis) {
			if g.CookieReceived || g.SessionValid || g.Reason != session.ReasonNoCookie || g.Scheme != "http" || g.SecureCookie {
				t.Errorf("%+v", g)
			}
			if g.HostMatchesCanonical == nil || !*g.HostMatchesCanonical || g.CanonicalURL != "http://dash.test" {
				t.Errorf("canonical %q, host match %v", g.CanonicalURL, g.HostMatchesCanonical)
			}
			if g.CookieDomain != "host-only" || g.RemoteAddr == "" || g.ClientIP == "" {
				t.Errorf("%+v", g)
			}
		}, "No session cookie arrived"},
		{"old key", func(r *http.Request) { withCookie(r, oldCookie) }, func(t *testing.T, g api.Diagnosis) {
			if !g.CookieReceived || g.Reason != session.ReasonUnknownKey || g.CookieKeyID != old.CurrentID() {
				t.Errorf("%+v", g)
			}
		}, "key id " + old.CurrentID()},
		{"reached by IP", func(r *http.Request) { r.Host = "192.0.2.10:2015" }, func(t *testing.T, g api.Diagnosis) {
			if g.HostMatchesCanonical == nil || *g.HostMatchesCanonical {
				t.Errorf("host match %v, want false", g.HostMatchesCanonical)
			}
		}, "Open the dashboard at http://dash.test"},
		{"untrusted proxy says https", func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }, func(t *testing.T, g api.Diagnosis) {
			if g.TrustedProxy || g.ForwardedProto != "https" || g.Scheme != "http" {
				t.Errorf("%+v", g)
			}
		}, "trusted_proxies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := diagnose(t, d, tt.setup)
			tt.check(t, g)
			if !strings.Contains(g.Fix, tt.wantFix) {
				t.Errorf("fix %q does not contain %q", g.Fix, tt.wantFix)
			}
		})
	}
}
