package proxyos

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"
)

// Attack: cookie tossing. A page on a sibling subdomain sets
// proxyos_session=<the attacker's own session>; Domain=<parent>, so that
// the victim's browser sends it to the dashboard and the victim works in
// the attacker's account (typing secrets into it, or being logged out of
// their own). On HTTPS without cookie_domain the dashboard and the gate
// read only the __Host- cookie, which no other host can set, and ignore
// the planted one.
func TestPlantedCookieIgnoredOnHTTPS(t *testing.T) {
	a := newTestApp(t)
	victim := a.newSession(t, a.addUser(t, "ada@example.com", testPassword, RoleAdmin))
	attacker := a.newSession(t, a.addUser(t, "eve@example.com", testPassword, RoleViewer))
	d := a.dashboard()
	sessionOf := func(cookies ...*http.Cookie) (int, string) {
		t.Helper()
		req := apiRequest(http.MethodGet, "/api/auth/session", "")
		req.TLS = &tls.ConnectionState{}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := serve(t, d, req)
		var body struct {
			User   struct{ Email string }
			Reason string
		}
		decodeBody(t, rec, &body)
		return rec.Code, body.User.Email + body.Reason
	}
	planted := &http.Cookie{Name: request.SessionCookieName, Value: attacker}
	if code, got := sessionOf(planted); code != http.StatusUnauthorized || got != string(session.ReasonNoCookie) {
		t.Errorf("only the planted cookie: %d %q, want 401 %s", code, got, session.ReasonNoCookie)
	}
	// the browser sends the planted cookie first (its path is as long and
	// it may be older)
	if code, got := sessionOf(planted, &http.Cookie{Name: request.HostSessionCookieName, Value: victim}); code != http.StatusOK || got != "ada@example.com" {
		t.Errorf("planted and own cookie: %d %q, want the victim's own session", code, got)
	}
	// The gate of a host on HTTPS ignores it too.
	req := httptest.NewRequest(http.MethodGet, "https://app.test/x", nil)
	req.AddCookie(planted)
	rec, next, err := gate(t, a.gate(), req)
	if err != nil || next.called || rec.Code != http.StatusUnauthorized {
		t.Errorf("gate with the planted cookie: err %v passed %v status %d, want 401", err, next.called, rec.Code)
	}
	// Over plain HTTP there is no __Host- cookie: the plain name is it.
	req = apiRequest(http.MethodGet, "/api/auth/session", "")
	req.AddCookie(&http.Cookie{Name: request.SessionCookieName, Value: victim})
	if rec := serve(t, d, req); rec.Code != http.StatusOK {
		t.Errorf("plain HTTP with proxyos_session: %d, want 200", rec.Code)
	}
}

// Over HTTPS the dashboard sets the __Host- cookie (Secure, Path=/, no
// Domain) and clears it, with the plain name, on logout; with
// cookie_domain covering the host it keeps the plain name with Domain.
func TestSessionCookieNameOnHTTPS(t *testing.T) {
	for _, tt := range []struct {
		name         string
		cookieDomain string
		wantName     string
		wantDomain   string
	}{
		{"host-only", "", request.HostSessionCookieName, ""},
		{"cookie_domain", "test", request.SessionCookieName, "test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, func(a *App) { a.CookieDomain = tt.cookieDomain })
			a.addUser(t, "ada@example.com", testPassword, RoleViewer)
			d := a.dashboard()
			req := apiRequest(http.MethodPost, "/api/auth/login", `{"email":"ada@example.com","password":"`+testPassword+`"}`)
			req.TLS = &tls.ConnectionState{}
			req.Header.Set("Origin", "https://"+testHost)
			rec := serve(t, d, req)
			c := responseCookie(rec)
			if rec.Code != http.StatusOK || c == nil || c.Name != tt.wantName || c.Domain != tt.wantDomain || !c.Secure || c.Path != "/" {
				t.Fatalf("login over HTTPS: %d cookie %v, want %s with Domain %q, Secure, Path=/", rec.Code, c, tt.wantName, tt.wantDomain)
			}
			req = apiRequest(http.MethodPost, "/api/auth/logout", "{}")
			req.TLS = &tls.ConnectionState{}
			req.Header.Set("Origin", "https://"+testHost)
			req.AddCookie(c)
			rec = serve(t, d, req)
			cleared := map[string]bool{}
			for _, rc := range rec.Result().Cookies() {
				if rc.MaxAge < 0 {
					cleared[rc.Name+"|"+rc.Domain] = true
				}
			}
			if rec.Code != http.StatusNoContent || !cleared[tt.wantName+"|"+tt.wantDomain] || !cleared[request.HostSessionCookieName+"|"] {
				t.Errorf("logout: %d, cleared %v, want %s (Domain %q) and %s", rec.Code, cleared, tt.wantName, tt.wantDomain, request.HostSessionCookieName)
			}
		})
	}
}

// TestAuthHostCookieAllocs guards the hot path on HTTPS: passing the gate
// with a cached session in the __Host- cookie, beside a planted plain
// one, allocates nothing where the gate may share its cached values.
func TestAuthHostCookieAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	cookieLine := []string{request.SessionCookieName + "=planted; " + request.HostSessionCookieName + "=" +
		a.newSession(t, a.addUser(t, "ada@example.com", testPassword, RoleAdmin))}
	h := a.gate().withShared(true)
	rec := httptest.NewRecorder()
	req, _ := prepare(httptest.NewRequest(http.MethodGet, "https://App.test/x", nil), rec)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	serve := func() {
		req.Header["Cookie"] = cookieLine
		if err := h.ServeHTTP(rec, req, next); err != nil {
			t.Fatal(err)
		}
	}
	serve()
	if got := req.Header.Get("X-Proxyos-Email"); got != "ada@example.com" {
		t.Fatalf("X-Proxyos-Email = %q: the __Host- session did not pass", got)
	}
	if n := testing.AllocsPerRun(100, serve); n != 0 {
		t.Errorf("%.1f allocations per request, want none", n)
	}
}
