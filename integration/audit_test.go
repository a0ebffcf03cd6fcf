package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// auditEntry is an entry of GET /api/audit.
type auditEntry struct {
	ID        int64          `json:"id"`
	At        string         `json:"at"`
	Actor     string         `json:"actor"`
	ActorKind string         `json:"actor_kind"`
	Action    string         `json:"action"`
	Target    string         `json:"target"`
	ClientIP  string         `json:"client_ip"`
	Outcome   string         `json:"outcome"`
	Reason    string         `json:"reason"`
	Details   map[string]any `json:"details"`
}

type auditPage struct {
	Entries    []auditEntry `json:"entries"`
	NextBefore *int64       `json:"next_before"`
}

// auditGet calls GET /api/audit with the query as c and returns the
// status and the page.
func auditGet(t *testing.T, c *client, q url.Values) (int, auditPage, []byte) {
	t.Helper()
	resp, raw := c.Get("/api/audit?"+q.Encode(), nil)
	var p auditPage
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("GET /api/audit: %v: %s", err, raw)
		}
	}
	return resp.StatusCode, p, raw
}

// auditFind returns the newest entry of the action, target and outcome.
func auditFind(t *testing.T, es []auditEntry, action, target, outcome string) auditEntry {
	t.Helper()
	for _, e := range es {
		if e.Action == action && e.Target == target && e.Outcome == outcome {
			return e
		}
	}
	t.Fatalf("no %s %s entry for %q among %d entries", outcome, action, target, len(es))
	return auditEntry{}
}

// TestAuditLog drives a real Caddy through setup, logins good and bad,
// logout, route changes from the dashboard and the admin API and a user
// change on the admin API, and reads them back from GET /api/audit with
// the right actors, filters and pages; viewers and operators get 403.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")

	bad := newClient(t, e.admin.Base)
	if resp, raw := bad.PostJSON("/api/auth/login", map[string]string{"email": "Admin@Proxyos.test", "password": "not the password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad login: %d %s", resp.StatusCode, raw)
	}
	other := newClient(t, e.admin.Base)
	other.Login(e.adminEmail, rtAdminPassword)
	if resp, raw := other.PostJSON("/api/auth/logout", map[string]string{}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}

	viewer, _ := e.login("viewer@proxyos.test", "viewer")
	operator, _ := e.login("operator@proxyos.test", "operator")
	for name, c := range map[string]*client{"viewer": viewer, "operator": operator} {
		if status, _, raw := auditGet(t, c, nil); status != http.StatusForbidden {
			t.Errorf("%s GET /api/audit: %d %s, want 403", name, status, raw)
		}
	}
	if status, _, _ := auditGet(t, newClient(t, e.admin.Base), nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET /api/audit: %d, want 401", status)
	}

	static := func(host string) map[string]any {
		return map[string]any{"hosts": []string{host}, "kind": "static", "tls": "off", "static": map[string]any{"body": "hi"}}
	}
	dashRoute := e.dash.create(static("dash.audit.test"))
	apiRoute := e.api.create(static("api.audit.test"))
	if resp, raw := e.inst.AdminDo(http.MethodPut, "/proxyos/users/viewer@proxyos.test", map[string]any{"role": "operator", "password": "a new secret password"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("user update: %d %s", resp.StatusCode, raw)
	}

	status, page, raw := auditGet(t, e.admin, url.Values{"limit": {"500"}})
	if status != http.StatusOK {
		t.Fatalf("admin GET /api/audit: %d %s", status, raw)
	}
	if strings.Contains(string(raw), rtAdminPassword) || strings.Contains(string(raw), "a new secret password") ||
		strings.Contains(string(raw), e.adminCk) {
		t.Errorf("audit log contains a secret: %s", raw)
	}
	es := page.Entries

	if s := auditFind(t, es, "setup", e.adminEmail, "success"); s.Actor != e.adminEmail || s.ActorKind != "user" || s.ClientIP != "127.0.0.1" {
		t.Errorf("setup entry %+v", s)
	}
	if f := auditFind(t, es, "login", e.adminEmail, "failure"); f.Reason != "bad_credentials" || f.ClientIP != "127.0.0.1" {
		t.Errorf("failed login entry %+v", f)
	}
	if l := auditFind(t, es, "login", e.adminEmail, "success"); l.Actor != e.adminEmail {
		t.Errorf("login entry %+v", l)
	}
	auditFind(t, es, "logout", e.adminEmail, "success")
	if c := auditFind(t, es, "route.create", dashRoute.ID, "success"); c.Actor != e.adminEmail || c.ActorKind != "user" || c.ClientIP != "127.0.0.1" {
		t.Errorf("dashboard route.create entry %+v", c)
	} else if after, _ := c.Details["after"].(map[string]any); after["kind"] != "static" {
		t.Errorf("route.create details %v, want the route after", c.Details)
	}
	if c := auditFind(t, es, "route.create", apiRoute.ID, "success"); c.Actor != "admin API" || c.ActorKind != "admin_api" || c.ClientIP != "127.0.0.1" {
		t.Errorf("admin API route.create entry %+v", c)
	}
	u := auditFind(t, es, "user.update", "viewer@proxyos.test", "success")
	if u.Actor != "admin API" || u.Details["password_changed"] != true {
		t.Errorf("user.update entry %+v", u)
	}
	if before, _ := u.Details["before"].(map[string]any); before["role"] != "viewer" {
		t.Errorf("user.update before %v, want role viewer", u.Details["before"])
	}
	auditFind(t, es, "user.create", "operator@proxyos.test", "success")

	t.Run("filters", func(t *testing.T) {
		_, p, _ := auditGet(t, e.admin, url.Values{"actor": {"admin API"}, "action": {"route.create"}})
		if len(p.Entries) != 1 || p.Entries[0].Target != apiRoute.ID {
			t.Errorf("actor=admin API action=route.create: %+v", p.Entries)
		}
		_, p, _ = auditGet(t, e.admin, url.Values{"target": {e.adminEmail}, "action": {"login"}})
		if len(p.Entries) < 2 {
			t.Errorf("login entries of the admin: %+v", p.Entries)
		}
		for _, x := range p.Entries {
			if x.Action != "login" || x.Target != e.adminEmail {
				t.Errorf("filter let through %+v", x)
			}
		}
		_, p, _ = auditGet(t, e.admin, url.Values{"since": {"2999-01-01T00:00:00Z"}})
		if len(p.Entries) != 0 {
			t.Errorf("entries from the future: %+v", p.Entries)
		}
		if status, _, raw := auditGet(t, e.admin, url.Values{"until": {"tomorrow"}}); status != http.StatusBadRequest {
			t.Errorf("until=tomorrow: %d %s", status, raw)
		}
	})
	t.Run("pages", func(t *testing.T) {
		var seen []int64
		q := url.Values{"limit": {"2"}}
		for range len(es) {
			_, p, _ := auditGet(t, e.admin, q)
			for _, x := range p.Entries {
				seen = append(seen, x.ID)
			}
			if p.NextBefore == nil {
				break
			}
			q.Set("before", fmt.Sprint(*p.NextBefore))
		}
		if len(seen) < len(es) {
			t.Fatalf("paged through %d entries, want at least %d", len(seen), len(es))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] >= seen[i-1] {
				t.Fatalf("pages not newest first without repeats: %v", seen)
			}
		}
	})
}
