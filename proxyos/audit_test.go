package proxyos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// auditEntries returns every audit entry of a, newest first.
func auditEntries(t *testing.T, a *App) []store.AuditEntry {
	t.Helper()
	es, err := a.state.store.ListAudit(context.Background(), store.AuditFilter{}, 1000, 0)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	return es
}

// findAudit returns the newest entry with the action, target and outcome.
func findAudit(t *testing.T, es []store.AuditEntry, action, target, outcome string) store.AuditEntry {
	t.Helper()
	for _, e := range es {
		if e.Action == action && e.Target == target && e.Outcome == outcome {
			return e
		}
	}
	t.Fatalf("no %s %s entry for %q in %+v", outcome, action, target, es)
	return store.AuditEntry{}
}

func auditDetailsOf(t *testing.T, e store.AuditEntry) map[string]any {
	t.Helper()
	var m map[string]any
	if len(e.Details) == 0 {
		return nil
	}
	if err := json.Unmarshal(e.Details, &m); err != nil {
		t.Fatalf("details %s: %v", e.Details, err)
	}
	return m
}

// TestAuditNoSecrets guards audit log integrity against secret leakage:
// an attacker (or a curious admin) who can read the audit log must not
// find a password, password hash, setup code, session token or a secret
// header value of a route in any entry, after setup, logins good and
// bad, logout, user changes with passwords and route changes.
func TestAuditNoSecrets(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	ctx := context.Background()
	code, err := a.SetupCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const (
		adminPW   = "admin-password-SECRET-1"
		wrongPW   = "wrong-password-SECRET-2"
		userPW    = "user-password-SECRET-3"
		newPW     = "changed-password-SECRET-4"
		headerVal = "Bearer route-header-SECRET-5"
	)
	if rec := serve(t, d, apiRequest(http.MethodPost, "/api/setup",
		fmt.Sprintf(`{"email":"x@example.com","password":%q,"setup_code":"WRONG-CODE"}`, adminPW))); rec.Code != http.StatusForbidden {
		t.Fatalf("setup with a wrong code: %d %s", rec.Code, rec.Body)
	}
	rec := serve(t, d, apiRequest(http.MethodPost, "/api/setup",
		fmt.Sprintf(`{"email":"Admin@Example.com","password":%q,"setup_code":%q}`, adminPW, code)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("setup: %d %s", rec.Code, rec.Body)
	}
	setupCookie := responseCookie(rec).Value
	if rec := serve(t, d, apiRequest(http.MethodPost, "/api/auth/login",
		fmt.Sprintf(`{"email":" ADMIN@example.com ","password":%q}`, wrongPW))); rec.Code != http.StatusUnauthorized {
		t.Fatalf("failed login: %d %s", rec.Code, rec.Body)
	}
	cookie := login(t, d, "admin@example.com", adminPW, "")
	admin := audit.Actor{Name: "admin@example.com", Kind: audit.ActorUser, ClientIP: "192.0.2.9"}
	adminCaller := account.Caller{Actor: admin, UserID: "admin", Email: "admin@example.com", Role: authz.Admin}
	ops, err := a.accounts.CreateUser(ctx, adminCaller, account.NewUser{Email: "ops@example.com", Password: userPW, Role: authz.Operator}, "")
	if err != nil {
		t.Fatal(err)
	}
	role := authz.Viewer
	pw := newPW
	if _, err := a.accounts.UpdateUser(ctx, account.HostCaller("127.0.0.1:5555"), ops.ID, account.UserChange{Role: &role, Password: &pw}, ""); err != nil {
		t.Fatal(err)
	}
	r := rtuStaticRoute("", "hello", "app.example.com")
	r.Headers = &route.Headers{Response: &route.HeaderOps{Set: map[string]string{"Authorization": headerVal, "X-Env": "prod"}}}
	created, err := a.routes.Create(ctx, r, admin)
	if err != nil {
		t.Fatalf("CreateRoute: %v", err)
	}
	next := rtuStaticRoute("", "hello again", "app.example.com")
	next.Version = created.Version
	next.Headers = &route.Headers{Response: &route.HeaderOps{Set: map[string]string{"Authorization": headerVal + "-v2", "X-Env": "prod"}}}
	if _, err := a.routes.Update(ctx, created.ID, next, admin); err != nil {
		t.Fatalf("UpdateRoute: %v", err)
	}
	if err := a.routes.Delete(ctx, created.ID, 0, admin); err != nil {
		t.Fatalf("DeleteRoute: %v", err)
	}
	if rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/auth/logout", "{}"), cookie)); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}

	es := auditEntries(t, a.App)
	all, err := json.Marshal(es)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{adminPW, wrongPW, userPW, newPW, "SECRET", code, strings.NewReplacer("-", "").Replace(code), setupCookie, cookie}
	for _, email := range []string{"admin@example.com", "ops@example.com"} {
		u, err := a.state.store.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, u.PasswordHash)
	}
	for _, c := range []string{setupCookie, cookie} { // the token part of the cookie alone
		if _, tok, ok := strings.Cut(c, "."); ok {
			secrets = append(secrets, tok)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(string(all), s) {
			t.Errorf("audit log contains the secret %q:\n%s", s, all)
		}
	}
	for _, word := range []string{`"password"`, `"password_hash"`, `"setup_code"`, `"Authorization"`} {
		if strings.Contains(string(all), word) {
			t.Errorf("audit log has a field %s", word)
		}
	}

	// The entries are there, with the right actors.
	if e := findAudit(t, es, "setup", "x@example.com", audit.Failure); e.Reason != audit.WrongSetupCode || e.Actor != audit.Anonymous {
		t.Errorf("wrong setup code entry %+v", e)
	}
	if e := findAudit(t, es, "setup", "admin@example.com", audit.Success); e.Actor != "admin@example.com" || e.ActorKind != audit.ActorUser || e.ClientIP == "" {
		t.Errorf("setup entry %+v", e)
	}
	if e := findAudit(t, es, "login", "admin@example.com", audit.Failure); e.Reason != audit.BadCredentials {
		t.Errorf("failed login entry %+v", e)
	}
	findAudit(t, es, "login", "admin@example.com", audit.Success)
	findAudit(t, es, "logout", "admin@example.com", audit.Success)
	if e := findAudit(t, es, "user.create", "ops@example.com", audit.Success); e.Actor != "admin@example.com" || e.ClientIP != "192.0.2.9" {
		t.Errorf("user.create entry %+v", e)
	}
	upd := findAudit(t, es, "user.update", "ops@example.com", audit.Success)
	if upd.Actor != "admin API" || upd.ActorKind != audit.ActorAdminAPI || upd.ClientIP != "127.0.0.1" {
		t.Errorf("user.update entry %+v", upd)
	}
	det := auditDetailsOf(t, upd)
	if det["password_changed"] != true || det["sessions_revoked"] != true {
		t.Errorf("user.update details %v, want password_changed and sessions_revoked", det)
	}
	if b, _ := det["before"].(map[string]any); b["role"] != RoleOperator {
		t.Errorf("user.update before %v, want role operator", det["before"])
	}
	routeUpd := auditDetailsOf(t, findAudit(t, es, "route.update", created.ID, audit.Success))
	after, _ := routeUpd["after"].(map[string]any)
	if _, ok := after["static"]; !ok {
		t.Errorf("route.update after %v, want the changed static body", after)
	}
	if _, ok := after["hosts"]; ok {
		t.Errorf("route.update after %v has the unchanged hosts", after)
	}
	findAudit(t, es, "route.create", created.ID, audit.Success)
	findAudit(t, es, "route.delete", created.ID, audit.Success)
}

// TestRefusedAttemptsAreNotAuditRows prevents audit.Anonymous audit-log and
// disk flooding: attempts refused by a lock write nothing; the lock is
// one entry when it starts and one, with the number it refused, once it
// has ended.
func TestRefusedAttemptsAreNotAuditRows(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	a.addUser(t, "bob@example.com", "bob password", RoleViewer)
	for range account.AccountFailures + 100 {
		serve(t, d, apiRequest(http.MethodPost, "/api/auth/login", `{"email":"Bob@example.com","password":"nope nope"}`))
	}
	es := auditEntries(t, a.App)
	if n := len(es); n != account.AccountFailures+1 {
		t.Fatalf("%d audit entries after %d failures and 100 refusals, want %d (the failures and the lock)", n, account.AccountFailures, account.AccountFailures+1)
	}
	lock := findAudit(t, es, string(audit.LoginLock), "bob@example.com", audit.Failure)
	if det := auditDetailsOf(t, lock); det["scope"] != "account_network" || det["locked_until"] == nil {
		t.Errorf("lock entry details %v", det)
	}
	// While locked, nothing more is recorded; after the lock, one entry
	// counts the refusals.
	a.state.limits.Flush(context.Background(), a.state.audit, a.now(), false)
	if n := len(auditEntries(t, a.App)); n != account.AccountFailures+1 {
		t.Fatalf("%d audit entries while locked, want %d", n, account.AccountFailures+1)
	}
	a.clock.Advance(account.LimitLockout)
	a.state.limits.Flush(context.Background(), a.state.audit, a.now(), false)
	refused := findAudit(t, auditEntries(t, a.App), string(audit.LoginRefused), "bob@example.com", audit.Failure)
	if det := auditDetailsOf(t, refused); det["refused"] != float64(100) {
		t.Errorf("refusals entry details %v, want refused: 100", det)
	}
}

func TestAPIAudit(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	adminUser := a.addUser(t, "admin@example.com", "admin password", RoleAdmin)
	adminCookie := a.newSession(t, adminUser)
	for i := range 7 {
		a.state.audit.Record(context.Background(), audit.Event{Actor: audit.Actor{Name: "alice@example.com", Kind: audit.ActorUser}, Action: "route.update", Target: fmt.Sprint("r", i%2)})
		a.clock.Advance(time.Minute)
	}
	get := func(t *testing.T, cookie string, q url.Values) (*http.Response, map[string]any) {
		t.Helper()
		rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/audit?"+q.Encode(), ""), cookie))
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body) //nolint:errcheck // checked by the callers
		return rec.Result(), body
	}

	t.Run("pages", func(t *testing.T) {
		var ids []float64
		q := url.Values{"limit": {"3"}}
		for page := 0; ; page++ {
			resp, body := get(t, adminCookie, q)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %v", resp.StatusCode, body)
			}
			es, _ := body["entries"].([]any)
			for _, e := range es {
				ids = append(ids, e.(map[string]any)["id"].(float64))
			}
			if body["next_before"] == nil {
				break
			}
			q.Set("before", fmt.Sprint(body["next_before"]))
			if page > 5 {
				t.Fatal("no end of pages")
			}
		}
		if len(ids) != 7 {
			t.Fatalf("%d entries over all pages, want 7: %v", len(ids), ids)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] >= ids[i-1] {
				t.Fatalf("not newest first: %v", ids)
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		_, body := get(t, adminCookie, url.Values{"target": {"r1"}, "actor": {"alice@example.com"}, "action": {"route.update"}})
		if es, _ := body["entries"].([]any); len(es) != 3 {
			t.Errorf("target r1: %d entries, want 3", len(es))
		}
		since := a.clock.Now().Add(-2*time.Minute - time.Second).UTC().Format(time.RFC3339)
		_, body = get(t, adminCookie, url.Values{"since": {since}})
		if es, _ := body["entries"].([]any); len(es) != 2 {
			t.Errorf("since %s: %d entries, want 2", since, len(es))
		}
	})
	for _, tt := range []struct {
		name  string
		q     url.Values
		field string
	}{
		{"bad since", url.Values{"since": {"yesterday"}}, "since"},
		{"bad until", url.Values{"until": {"2025-01-01"}}, "until"},
		{"bad limit", url.Values{"limit": {"0"}}, "limit"},
		{"bad before", url.Values{"before": {"x"}}, "before"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, adminCookie, tt.q)
			if resp.StatusCode != http.StatusBadRequest || body["field"] != tt.field {
				t.Errorf("status %d %v, want 400 on %s", resp.StatusCode, body, tt.field)
			}
		})
	}
	for _, role := range []string{RoleViewer, RoleOperator} {
		t.Run(role+" forbidden", func(t *testing.T) {
			u := a.addUser(t, role+"@example.com", "some password", role)
			if resp, _ := get(t, a.newSession(t, u), nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	t.Run("anonymous", func(t *testing.T) {
		rec := serve(t, d, apiRequest(http.MethodGet, "/api/audit", ""))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", rec.Code)
		}
	})
}

func TestPruneAuditRetention(t *testing.T) {
	a := newTestApp(t, func(a *App) { a.AuditRetention = caddy.Duration(48 * time.Hour) })
	ctx := context.Background()
	now := a.clock.Now()
	for _, age := range []time.Duration{72 * time.Hour, 49 * time.Hour, 47 * time.Hour, time.Hour} {
		if _, err := a.state.store.AddAudit(ctx, store.AuditEntry{At: now.Add(-age), Actor: "x", ActorKind: audit.ActorSystem, Action: "test", Outcome: audit.Success}); err != nil {
			t.Fatal(err)
		}
	}
	a.state.pruneAudit(ctx, now)
	if n := len(auditEntries(t, a.App)); n != 2 {
		t.Fatalf("%d entries after pruning, want the 2 younger than 48h", n)
	}
	// Within the hour nothing is pruned again; after it, it is.
	if _, err := a.state.store.AddAudit(ctx, store.AuditEntry{At: now.Add(-100 * time.Hour), Actor: "x", ActorKind: audit.ActorSystem, Action: "test", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	a.state.pruneAudit(ctx, now.Add(30*time.Minute))
	if n := len(auditEntries(t, a.App)); n != 3 {
		t.Fatalf("%d entries: pruned again within the hour", n)
	}
	a.state.pruneAudit(ctx, now.Add(time.Hour))
	if n := len(auditEntries(t, a.App)); n != 2 {
		t.Fatalf("%d entries after the next prune, want 2", n)
	}
}

func TestAuditRetentionDefault(t *testing.T) {
	a := newTestApp(t)
	if time.Duration(a.AuditRetention) != audit.DefaultRetention {
		t.Errorf("AuditRetention = %v, want %v", time.Duration(a.AuditRetention), audit.DefaultRetention)
	}
	if got := time.Duration(a.state.auditRetention.Load()); got != audit.DefaultRetention {
		t.Errorf("state retention = %v, want %v", got, audit.DefaultRetention)
	}
}
