package proxyos

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/authz"
)

// wantRules is who may call each endpoint, written out independently of
// the endpoint table: the least role (of a session, or of a key's owner) and the
// scope a key needs ("" takes no keys). An endpoint added to the endpoint table
// without a line here, or a rule that differs, fails
// TestEveryEndpointAuthorization.
var wantRules = map[string]struct {
	level authz.Role
	scope authz.Scope
}{
	"POST /api/setup":        {"", ""},
	"GET /api/setup/status":  {"", ""},
	"POST /api/auth/login":   {"", ""},
	"POST /api/auth/logout":  {"", ""},
	"GET /api/auth/session":  {"", ""},
	"GET /api/auth/diagnose": {"", ""},
	"GET /api/auth/verify":   {"", ""},
	"POST /api/auth/handoff": {authz.Viewer, ""},
	// Passkey logins are public; own passkeys take no keys (a leaked key
	// cannot add a way in).
	"POST /api/auth/passkey/begin":  {"", ""},
	"POST /api/auth/passkey/finish": {"", ""},
	// Logins with an OpenID provider: anyone, no keys.
	"GET /api/auth/methods":                  {"", ""},
	"GET /api/auth/oidc/{provider}":          {"", ""},
	"GET /api/auth/oidc/{provider}/callback": {"", ""},

	"GET /api/routes":                   {authz.Viewer, authz.RoutesRead},
	"POST /api/routes":                  {authz.Operator, authz.RoutesWrite},
	"GET /api/routes/{id}":              {authz.Viewer, authz.RoutesRead},
	"PUT /api/routes/{id}":              {authz.Operator, authz.RoutesWrite},
	"DELETE /api/routes/{id}":           {authz.Operator, authz.RoutesWrite},
	"GET /api/routes/{id}/versions":     {authz.Viewer, authz.RoutesRead},
	"POST /api/routes/{id}/rollback":    {authz.Operator, authz.RoutesWrite},
	"GET /api/streams":                  {authz.Viewer, authz.RoutesRead},
	"POST /api/streams":                 {authz.Operator, authz.RoutesWrite},
	"GET /api/streams/{id}":             {authz.Viewer, authz.RoutesRead},
	"PUT /api/streams/{id}":             {authz.Operator, authz.RoutesWrite},
	"DELETE /api/streams/{id}":          {authz.Operator, authz.RoutesWrite},
	"GET /api/streams/{id}/versions":    {authz.Viewer, authz.RoutesRead},
	"POST /api/streams/{id}/rollback":   {authz.Operator, authz.RoutesWrite},
	"GET /api/routes/{id}/traffic":      {authz.Viewer, authz.RoutesRead},
	"GET /api/routes/{id}/requests":     {authz.Operator, authz.RoutesWrite},
	"GET /api/overview":                 {authz.Viewer, authz.RoutesRead},
	"POST /api/routes/{id}/maintenance": {authz.Operator, authz.RoutesWrite},
	// a viewer sees a route's token names and last use, never a token
	// or its hash; only operators make and revoke them
	"GET /api/routes/{id}/tokens":            {authz.Viewer, authz.RoutesRead},
	"POST /api/routes/{id}/tokens":           {authz.Operator, authz.RoutesWrite},
	"DELETE /api/routes/{id}/tokens/{token}": {authz.Operator, authz.RoutesWrite},
	"POST /api/access/test":                  {authz.Viewer, authz.RoutesRead},
	"GET /api/certificates":                  {authz.Viewer, authz.RoutesRead},
	"POST /api/certificates":                 {authz.Operator, authz.RoutesWrite},
	"PUT /api/certificates/{id}":             {authz.Operator, authz.RoutesWrite},
	"DELETE /api/certificates/{id}":          {authz.Operator, authz.RoutesWrite},
	"POST /api/certificates/renew":           {authz.Operator, authz.RoutesWrite},
	"GET /api/certificates/root.crt":         {authz.Viewer, authz.RoutesRead},
	// DNS credentials hold API tokens for a whole zone: admins only.
	"GET /api/dns":                       {authz.Viewer, authz.RoutesRead},
	"GET /api/dns/credentials":           {authz.Admin, authz.All},
	"POST /api/dns/credentials":          {authz.Admin, authz.All},
	"PUT /api/dns/credentials/{name}":    {authz.Admin, authz.All},
	"DELETE /api/dns/credentials/{name}": {authz.Admin, authz.All},
	"GET /api/export":                    {authz.Operator, authz.RoutesRead},
	"POST /api/import":                   {authz.Operator, authz.RoutesWrite},

	"GET /api/users":         {authz.Admin, authz.UsersRead},
	"POST /api/users":        {authz.Admin, authz.UsersWrite},
	"GET /api/users/{id}":    {authz.Admin, authz.UsersRead},
	"PUT /api/users/{id}":    {authz.Admin, authz.UsersWrite},
	"DELETE /api/users/{id}": {authz.Admin, authz.UsersWrite},

	"GET /api/account":                  {authz.Viewer, ""},
	"PUT /api/account/password":         {authz.Viewer, ""},
	"POST /api/account/totp":            {authz.Viewer, ""},
	"POST /api/account/totp/confirm":    {authz.Viewer, ""},
	"POST /api/account/totp/disable":    {authz.Viewer, ""},
	"GET /api/account/passkeys":         {authz.Viewer, ""},
	"POST /api/account/passkeys":        {authz.Viewer, ""},
	"POST /api/account/passkeys/finish": {authz.Viewer, ""},
	"DELETE /api/account/passkeys/{id}": {authz.Viewer, ""},

	"GET /api/keys":         {authz.Viewer, ""},
	"POST /api/keys":        {authz.Viewer, ""},
	"DELETE /api/keys/{id}": {authz.Viewer, ""},

	"GET /api/sessions":             {authz.Viewer, authz.UsersRead},
	"DELETE /api/sessions/{id}":     {authz.Viewer, authz.UsersWrite},
	"POST /api/sessions/revoke-all": {authz.Viewer, authz.UsersWrite},

	"GET /api/audit": {authz.Admin, authz.AuditRead},
	// Admins see the nodes of a cluster; keys do not (automation reads
	// the admin API's GET /proxyos/cluster).
	"GET /api/cluster": {authz.Admin, ""},
	"GET /api/doctor":  {authz.Admin, ""},
}

// deniedByPolicy reports whether a response is the authorization layer's
// refusal (as opposed to a handler's own answer, such as 403 for a wrong
// current password).
func deniedByPolicy(status int, body string) bool {
	return status == http.StatusForbidden &&
		(strings.Contains(body, "cannot do this") || strings.Contains(body, "lacks the scope"))
}

// TestEveryEndpointAuthorization walks the endpoint table, the one table of API
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
	scopes := authz.Grantable(authz.Admin)
	for _, s := range scopes {
		keys[string(s)], _ = createKey(t, d, ownerCookie, fmt.Sprintf(`{"name":"walk %s","scopes":[%q]}`, s, s))
	}

	seen := map[string]bool{}
	for _, rt := range api.Endpoints() {
		want, ok := wantRules[rt.Pattern]
		if !ok {
			t.Errorf("%s has no expected rule in wantRules", rt.Pattern)
			continue
		}
		seen[rt.Pattern] = true
		if rt.Role != want.level || rt.Scope != want.scope {
			t.Errorf("%s: the table says role %q scope %q, want role %q scope %q", rt.Pattern, rt.Role, rt.Scope, want.level, want.scope)
			continue
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.NewReplacer("{id}", "walk-nonexistent").Replace(path)
		body := ""
		if method != http.MethodGet {
			body = "{}"
		}
		call := func(req *http.Request) (int, string) {
			rec := serve(t, d, req)
			if rec.Code >= 500 {
				t.Errorf("%s: %d %s", rt.Pattern, rec.Code, rec.Body)
			}
			return rec.Code, rec.Body.String()
		}

		if rt.Role == "" {
			call(apiRequest(method, path, body))
			continue
		}

		if st, b := call(apiRequest(method, path, body)); st != http.StatusUnauthorized {
			t.Errorf("%s anonymous: %d %s, want 401", rt.Pattern, st, b)
		}
		for _, role := range roles {
			st, b := call(withCookie(apiRequest(method, path, body), cookies[role]))
			allowed := authz.Role(role).AtLeast(rt.Role)
			switch {
			case st == http.StatusUnauthorized:
				t.Errorf("%s as %s: 401 %s", rt.Pattern, role, b)
			case allowed && deniedByPolicy(st, b):
				t.Errorf("%s as %s: denied (%s), but the table allows %s", rt.Pattern, role, b, role)
			case !allowed && !deniedByPolicy(st, b):
				t.Errorf("%s as %s: %d %s, want 403 from the role check", rt.Pattern, role, st, b)
			}
		}
		for _, s := range scopes {
			st, b := call(bearer(method, path, body, keys[string(s)]))
			allowed := authz.Covers([]authz.Scope{s}, rt.Scope)
			switch {
			case st == http.StatusUnauthorized:
				t.Errorf("%s with key %s: 401 %s", rt.Pattern, s, b)
			case allowed && deniedByPolicy(st, b):
				t.Errorf("%s with key %s: denied (%s), but the table allows it", rt.Pattern, s, b)
			case !allowed && !deniedByPolicy(st, b):
				t.Errorf("%s with key %s: %d %s, want 403 from the scope check", rt.Pattern, s, st, b)
			}
		}
	}
	for pattern := range wantRules {
		if !seen[pattern] {
			t.Errorf("wantRules has %s, which the endpoint table does not serve", pattern)
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
