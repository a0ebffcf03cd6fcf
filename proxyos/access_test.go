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

// TestAuthRulesAllocs: with access rules (a CIDR rule included, whose
// path /lan/x matches, so the client IP is read), a cached session
// still passes without allocating, and so does a request an allow rule
// lets through.
func TestAuthRulesAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	cookieLine := []string{request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ada@example.com", "password1", RoleAdmin))}
	h := a.rulesGate(t, "", gateRules...).withShared(true)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, path := range []string{"/api/items", "/health", "/lan/x"} {
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

// TestAuthRulesClientIPPerRequest: behind a proxy Caddy trusts, the
// client IP (Caddy's client_ip, from the proxy's header) differs from
// one request to the next on the same connection. A CIDR rule after a
// path rule must judge each request on its own client IP: one kept from
// an earlier request of the connection would let a second client inherit
// the first one's allow.
func TestAuthRulesClientIPPerRequest(t *testing.T) {
	a := newTestApp(t)
	h := a.rulesGate(t, "",
		access.Rule{Action: "deny", Path: "/admin/*"},
		access.Rule{Action: "allow", CIDRs: []string{"10.0.0.0/8", "2001:db8:1::/48"}},
	).withShared(true)
	for i, tc := range []struct {
		clientIP string
		want     int // 0: passed on without a session
	}{
		{"10.1.2.3", 0}, {"203.0.113.5", 401}, {"2001:db8:1::7", 0},
		{"2001:db8:2::7", 401}, {"10.1.2.3", 0}, {"", 401},
	} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/x", nil), rec)
		req.RemoteAddr = "127.0.0.1:40000" // the same proxy connection throughout
		req.Header.Set("Accept", "application/json")
		if tc.clientIP != "" {
			caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, tc.clientIP)
		}
		passed := false
		err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil }))
		if tc.want == 0 && !passed || tc.want != 0 && (passed || rec.Code != tc.want) {
			t.Errorf("request %d from %q: passed %v, status %d (%v); want %d (0: passed)", i+1, tc.clientIP, passed, rec.Code, err, tc.want)
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

// groupUser adds a user with the groups an OIDC sign-in would have
// stored, and returns a session cookie line of theirs.
func (a *testApp) groupUser(t *testing.T, email string, groups ...string) string {
	t.Helper()
	u := a.addUser(t, email, "password1", RoleViewer)
	if err := a.state.store.SetUserGroups(t.Context(), u.ID, groups); err != nil {
		t.Fatal(err)
	}
	u.Groups = groups
	return request.SessionCookieName + "=" + a.newSession(t, u)
}

// TestAuthGroups: a route's groups admit their members besides its roles
// and emails, matched exactly; the upstream gets X-Proxyos-Groups with
// the role first.
func TestAuthGroups(t *testing.T) {
	a := newTestApp(t)
	ops := a.groupUser(t, "ops@example.com", "dev", "ops")
	dev := a.groupUser(t, "dev@example.com", "dev", "Ops")
	ada := a.groupUser(t, "ada@example.com")
	h := a.gate(RoleAdmin)
	h.Emails = []string{"ada@example.com"}
	h.Groups = []string{"ops", "sre"}
	for _, tc := range []struct {
		name, cookie, wantGroups string
		want                     bool
	}{
		{"member", ops, "viewer,dev,ops", true},
		{"other groups, other case", dev, "", false},
		{"by email, no groups", ada, "viewer", true},
	} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
		req.Header.Set("Cookie", tc.cookie)
		passed, groups := false, ""
		err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			passed, groups = true, r.Header.Get("X-Proxyos-Groups")
			return nil
		}))
		if passed != tc.want || groups != tc.wantGroups {
			t.Errorf("%s: passed %v (%v), X-Proxyos-Groups %q; want %v, %q", tc.name, passed, err, groups, tc.want, tc.wantGroups)
		}
		if !tc.want && statusOf(err) != http.StatusForbidden {
			t.Errorf("%s: error %v, want 403", tc.name, err)
		}
	}
}

// statusOf is the status of a handler error.
func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// TestAuthGroupsCannotBeClaimed names the attack: a user outside a
// route's groups claims one, by sending the identity headers the
// upstream reads (X-Proxyos-Groups, any case) or by being a password user
// whose email looks like the group. Groups come only from the account's
// stored OIDC sign-in, so each is refused with 403 and the upstream never
// sees the forged header.
func TestAuthGroupsCannotBeClaimed(t *testing.T) {
	a := newTestApp(t)
	mallory := request.SessionCookieName + "=" + a.newSession(t, a.addUser(t, "ops@ops", "password1", RoleViewer))
	h := a.gate()
	h.Groups = []string{"ops", "ops@ops"}
	for _, hdr := range []map[string]string{
		{"X-Proxyos-Groups": "ops"},
		{"x-proxyos-groups": "viewer,ops", "Remote-Groups": "ops"},
		{},
	} {
		rec := httptest.NewRecorder()
		req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
		req.Header.Set("Cookie", mallory)
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		passed := false
		err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil }))
		if passed || statusOf(err) != http.StatusForbidden {
			t.Errorf("headers %v: passed %v, error %v; want 403", hdr, passed, err)
		}
	}
	// A group name with a comma would let the header split into another
	// group; such names are left out of the header.
	u := a.addUser(t, "eve@example.com", "password1", RoleViewer)
	u.Groups = []string{"dev,admins"}
	e := request.SessionCookieName + "=" + a.newSession(t, u)
	rec := httptest.NewRecorder()
	req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
	req.Header.Set("Cookie", e)
	got := ""
	if err := a.gate().ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		got = r.Header.Get("X-Proxyos-Groups")
		return nil
	})); err != nil || got != "viewer" {
		t.Errorf("X-Proxyos-Groups = %q (%v), want viewer", got, err)
	}
}

// TestAuthGroupsAllocs: a gate with roles, emails and groups admits a
// cached session by its group without allocating.
func TestAuthGroupsAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a := newTestApp(t)
	cookieLine := []string{a.groupUser(t, "ops@example.com", "a", "b", "ops")}
	h := a.gate(RoleAdmin).withShared(true)
	h.Emails = []string{"x@example.com"}
	h.Groups = []string{"sre", "ops"}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	rec := httptest.NewRecorder()
	req, _ := prepare(httptest.NewRequest(http.MethodGet, "http://app.test/", nil), rec)
	serve := func() {
		req.Header["Cookie"] = cookieLine
		if err := h.ServeHTTP(rec, req, next); err != nil {
			t.Fatal(err)
		}
	}
	serve()
	if n := testing.AllocsPerRun(100, serve); n != 0 {
		t.Errorf("%.1f allocations per request, want none", n)
	}
	if got := req.Header.Get("X-Proxyos-Groups"); got != "viewer,a,b,ops" {
		t.Errorf("X-Proxyos-Groups = %q", got)
	}
}
