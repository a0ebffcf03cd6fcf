package proxyos

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// wantRules is who may call each endpoint, written out independently of
// apiRoutes: the least role (of a session, or of a key's owner) and the
// scope a key needs ("" takes no keys). An endpoint added to apiRoutes
// without a line here, or a rule that differs, fails
// TestEveryEndpointAuthorization.
var wantRules = map[string]struct {
	level level
	scope string
}{
	"POST /api/setup":        {public, ""},
	"GET /api/setup/status":  {public, ""},
	"POST /api/auth/login":   {public, ""},
	"POST /api/auth/logout":  {public, ""},
	"GET /api/auth/session":  {public, ""},
	"GET /api/auth/diagnose": {public, ""},
	"POST /api/auth/handoff": {viewer, ""},

	"GET /api/routes":                {viewer, ScopeRoutesRead},
	"POST /api/routes":               {operator, ScopeRoutesWrite},
	"GET /api/routes/{id}":           {viewer, ScopeRoutesRead},
	"PUT /api/routes/{id}":           {operator, ScopeRoutesWrite},
	"DELETE /api/routes/{id}":        {operator, ScopeRoutesWrite},
	"GET /api/routes/{id}/versions":  {viewer, ScopeRoutesRead},
	"POST /api/routes/{id}/rollback": {operator, ScopeRoutesWrite},

	"GET /api/users":         {admin, ScopeUsersRead},
	"POST /api/users":        {admin, ScopeUsersWrite},
	"GET /api/users/{id}":    {admin, ScopeUsersRead},
	"PUT /api/users/{id}":    {admin, ScopeUsersWrite},
	"DELETE /api/users/{id}": {admin, ScopeUsersWrite},

	"GET /api/account":               {viewer, ""},
	"PUT /api/account/password":      {viewer, ""},
	"POST /api/account/totp":         {viewer, ""},
	"POST /api/account/totp/confirm": {viewer, ""},
	"POST /api/account/totp/disable": {viewer, ""},

	"GET /api/keys":         {viewer, ""},
	"POST /api/keys":        {viewer, ""},
	"DELETE /api/keys/{id}": {viewer, ""},

	"GET /api/sessions":             {viewer, ScopeUsersRead},
	"DELETE /api/sessions/{id}":     {viewer, ScopeUsersWrite},
	"POST /api/sessions/revoke-all": {viewer, ScopeUsersWrite},

	"GET /api/audit": {admin, ScopeAuditRead},
}

// deniedByPolicy reports whether a response is the authorization layer's
// refusal (as opposed to a handler's own answer, such as 403 for a wrong
// current password).
func deniedByPolicy(status int, body string) bool {
	return status == http.StatusForbidden &&
		(strings.Contains(body, "cannot do this") || strings.Contains(body, "lacks the scope"))
}

// TestEveryEndpointAuthorization walks apiRoutes, the one table of API
// endpoints, and calls every endpoint anonymously, with a session of each
// role and with a key of each scope, asserting that exactly the callers
// the table allows get past authorization. Attack: privilege escalation
// (an operator calling admin endpoints, a key beyond its scope, a key
// doing what only a logged-in person may).
func TestEveryEndpointAuthorization(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	roles := []string{RoleViewer, RoleOperator, RoleAdmin}
	cookies := map[string]string{}
	for _, role := range roles {
		u := a.addUser(t, role+"@example.com", "correct horse battery", role)
		cookies[role] = a.newSession(t, u)
	}
	// Keys belong to an admin of their own, so that a key revoking its
	// owner's sessions does not log out the sessions above.
	owner := a.addUser(t, "keys@example.com", "correct horse battery", RoleAdmin)
	ownerCookie := a.newSession(t, owner)
	keys := map[string]string{}
	for _, s := range scopeLevels {
		keys[s.scope], _ = createKey(t, d, ownerCookie, fmt.Sprintf(`{"name":"walk %s","scopes":[%q]}`, s.scope, s.scope))
	}

	seen := map[string]bool{}
	for _, rt := range apiRoutes {
		want, ok := wantRules[rt.pattern]
		if !ok {
			t.Errorf("%s has no expected rule in wantRules", rt.pattern)
			continue
		}
		seen[rt.pattern] = true
		if rt.level != want.level || rt.scope != want.scope {
			t.Errorf("%s: apiRoutes says level %d scope %q, want level %d scope %q", rt.pattern, rt.level, rt.scope, want.level, want.scope)
			continue
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.NewReplacer("{id}", "walk-nonexistent").Replace(path)
		body := ""
		if method != http.MethodGet {
			body = "{}"
		}
		call := func(req *http.Request) (int, string) {
			rec := serve(t, d, req)
			if rec.Code >= 500 {
				t.Errorf("%s: %d %s", rt.pattern, rec.Code, rec.Body)
			}
			return rec.Code, rec.Body.String()
		}

		if rt.level == public {
			call(apiRequest(method, path, body))
			continue
		}

		if st, b := call(apiRequest(method, path, body)); st != http.StatusUnauthorized {
			t.Errorf("%s anonymous: %d %s, want 401", rt.pattern, st, b)
		}
		for _, role := range roles {
			st, b := call(withCookie(apiRequest(method, path, body), cookies[role]))
			allowed := roleLevel(role) >= rt.level
			switch {
			case st == http.StatusUnauthorized:
				t.Errorf("%s as %s: 401 %s", rt.pattern, role, b)
			case allowed && deniedByPolicy(st, b):
				t.Errorf("%s as %s: denied (%s), but the table allows %s", rt.pattern, role, b, role)
			case !allowed && !deniedByPolicy(st, b):
				t.Errorf("%s as %s: %d %s, want 403 from the role check", rt.pattern, role, st, b)
			}
		}
		for _, s := range scopeLevels {
			st, b := call(bearer(method, path, body, keys[s.scope]))
			allowed := scopesCover([]string{s.scope}, rt.scope)
			switch {
			case st == http.StatusUnauthorized:
				t.Errorf("%s with key %s: 401 %s", rt.pattern, s.scope, b)
			case allowed && deniedByPolicy(st, b):
				t.Errorf("%s with key %s: denied (%s), but the table allows it", rt.pattern, s.scope, b)
			case !allowed && !deniedByPolicy(st, b):
				t.Errorf("%s with key %s: %d %s, want 403 from the scope check", rt.pattern, s.scope, st, b)
			}
		}
	}
	for pattern := range wantRules {
		if !seen[pattern] {
			t.Errorf("wantRules has %s, which apiRoutes does not serve", pattern)
		}
	}
}

// A key on a session-only endpoint is refused even with a valid session
// cookie alongside: the key decides, never the cookie.
func TestBearerWinsOverCookie(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	cookie := a.newSession(t, admin)
	key, _ := createKey(t, d, cookie, `{"name":"ro","scopes":["routes:read"]}`)
	req := withCookie(bearer(http.MethodGet, "/api/users", "", key), cookie)
	if rec := serve(t, d, req); rec.Code != http.StatusForbidden {
		t.Fatalf("routes:read key with an admin cookie on /api/users: %d %s", rec.Code, rec.Body)
	}
	req = withCookie(bearer(http.MethodGet, "/api/routes", "", "pxos_garbage"), cookie)
	if rec := serve(t, d, req); rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad key with a good cookie: %d %s", rec.Code, rec.Body)
	}
}

// Revoking "all other sessions" when there are none must not end the
// current one (a nil list of revoked ids once meant "all" to the cache).
func TestRevokeAllWithoutOtherSessions(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", "correct horse battery", RoleViewer)
	cookie := a.newSession(t, u)
	for i := 0; i < 2; i++ {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/sessions/revoke-all", "{}"), cookie))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"revoked":0`) {
			t.Fatalf("revoke-all: %d %s", rec.Code, rec.Body)
		}
		if rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/auth/session", ""), cookie)); rec.Code != http.StatusOK {
			t.Fatalf("after revoke-all with no other sessions, own session: %d %s", rec.Code, rec.Body)
		}
	}
}
