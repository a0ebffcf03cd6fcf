package proxyos

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/request"
)

// rulesGate returns a gate with access rules, provisioned as Provision
// compiles them.
func (a *testApp) rulesGate(t *testing.T, def string, rules ...access.Rule) *Auth {
	t.Helper()
	h := a.gate()
	h.Rules, h.Default = rules, def
	d, _ := access.ParseAction(def)
	p, err := access.Compile(rules, d)
	if err != nil {
		t.Fatal(err)
	}
	h.policy = p
	return h
}

var gateRules = []access.Rule{
	{Action: "allow", Path: "/health"},
	{Action: "deny", Path: "/admin/*"},
	{Action: "allow", Path: "/lan/*", CIDRs: []string{"192.168.0.0/16"}},
}

func TestAuthRules(t *testing.T) {
	a := newTestApp(t)
	cookie := request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleViewer))
	for _, tc := range []struct {
		name   string
		gate   *Auth
		path   string
		cookie bool
		want   int // 0: passed on
		email  string
	}{
		{"allowed path without a session", a.rulesGate(t, "", gateRules...), "/health", false, 0, ""},
		{"allowed path carries no identity, even with a session", a.rulesGate(t, "", gateRules...), "/health", true, 0, ""},
		{"denied path even with a session", a.rulesGate(t, "", gateRules...), "/admin/x", true, 403, ""},
		{"the default asks for a login", a.rulesGate(t, "", gateRules...), "/x", false, 401, ""},
		{"the default with a session", a.rulesGate(t, "", gateRules...), "/x", true, 0, "ada@example.com"},
		{"CIDR rule does not match this client", a.rulesGate(t, "", gateRules...), "/lan/x", false, 401, ""},
		{"default allow", a.rulesGate(t, "allow", access.Rule{Action: "login", Path: "/private/*"}), "/x", false, 0, ""},
		{"login rule under default allow", a.rulesGate(t, "allow", access.Rule{Action: "login", Path: "/private/*"}), "/private/x", false, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test"+tc.path, nil), rec)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("X-Proxyos-Email", "forged@example.com")
			if tc.cookie {
				req.Header.Set("Cookie", cookie)
			}
			passed := false
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				passed = true
				if got := r.Header.Get("X-Proxyos-Email"); got != tc.email {
					t.Errorf("upstream gets X-Proxyos-Email %q, want %q", got, tc.email)
				}
				if tc.email == "" && r.Header.Get("Cookie") != "" {
					t.Errorf("the session cookie passes on an allowed path: %q", r.Header.Get("Cookie"))
				}
				return nil
			})
			err := tc.gate.ServeHTTP(rec, req, next)
			status := rec.Code
			var he caddyhttp.HandlerError
			if errors.As(err, &he) {
				status = he.StatusCode
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.want == 0 && !passed || tc.want != 0 && (passed || status != tc.want) {
				t.Fatalf("passed %v, status %d; want %d (0: passed)", passed, status, tc.want)
			}
		})
	}
}

// TestAuthEmails: a route's emails admit users besides its roles.
func TestAuthEmails(t *testing.T) {
	a := newTestApp(t)
	ada := request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleViewer))
	bob := request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "bob@example.com", "password1", RoleViewer))
	h := a.gate(RoleAdmin)
	h.Emails = []string{"ADA@example.com"}
	for cookie, want := range map[string]bool{ada: true, bob: false} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
		req.Header.Set("Cookie", cookie)
		passed := false
		err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil }))
		if passed != want {
			t.Errorf("%s: passed %v (%v), want %v", cookie[:30], passed, err, want)
		}
	}
}

// TestAuthRulesAllocs: with access rules (a CIDR rule included, so the
// client IP is read), a cached session still passes without allocating,
// and so does a request an allow rule lets through.
func TestAuthRulesAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	cookieLine := []string{request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleAdmin))}
	h := a.rulesGate(t, "", gateRules...).withShared(true)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, path := range []string{"/api/items", "/health"} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test"+path, nil), rec)
		serve := func() {
			req.Header["Cookie"] = cookieLine
			if err := h.ServeHTTP(rec, req, next); err != nil {
				t.Fatal(err)
			}
		}
		serve()
		if n := testing.AllocsPerRun(100, serve); n != 0 {
			t.Errorf("%s: %.1f allocations per request, want none", path, n)
		}
	}
}

// TestAuthAllowStripsRouteTokens: a route token sent to a path an allow
// rule opens does not reach the upstream (a leak of the token to it);
// other Authorization headers are the upstream's business and pass.
func TestAuthAllowStripsRouteTokens(t *testing.T) {
	a := newTestApp(t)
	h := a.rulesGate(t, "", gateRules...)
	tok, _ := access.NewToken()
	for auth, want := range map[string]string{
		"Bearer " + tok:   "",
		"Bearer upstream": "Bearer upstream",
	} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/health", nil), rec)
		req.Header.Set("Authorization", auth)
		got := "unset"
		err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			got = r.Header.Get("Authorization")
			return nil
		}))
		if err != nil || got != want {
			t.Errorf("Authorization %.20q…: upstream got %q (%v), want %q", auth, got, err, want)
		}
	}
}
