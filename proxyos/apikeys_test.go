package proxyos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// testPassword is the password of the users of the key and TOTP tests.
const testPassword = "correct horse battery"

// withPassword adds the password the key and TOTP endpoints ask for to a
// JSON object body, unless it has one.
func withPassword(t *testing.T, body string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if _, ok := m["password"]; !ok {
		m["password"] = testPassword
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// createKey makes a key through the API, confirming with testPassword,
// and returns it with its id.
func createKey(t *testing.T, d *Dashboard, cookie, body string) (string, string) {
	t.Helper()
	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", withPassword(t, body)), cookie))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create key %s: %d %s", body, rec.Code, rec.Body)
	}
	var out struct {
		Key    string      `json:"key"`
		APIKey account.Key `json:"api_key"`
	}
	decodeBody(t, rec, &out)
	return out.Key, out.APIKey.ID
}

// bearer builds an API request authenticated with key, as automation
// sends it: no cookie, no Origin.
func bearer(method, path, body, key string) *http.Request {
	req := apiRequest(method, path, body)
	req.Header.Del("Origin")
	req.Header.Del("Sec-Fetch-Site")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func TestAPIKeyFormat(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	key, id := createKey(t, d, a.newSession(t, admin), `{"name":"ci","scopes":["routes:read"]}`)
	if len(key) != 5+16+48 || !strings.HasPrefix(key, "pxos_") || key[5:21] != id {
		t.Fatalf("key %q, want pxos_, the id %s and 48 characters of secret", key, id)
	}
	k, err := a.state.store.APIKeyByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Attack: reading keys from a copy of the database. Only a sealed
	// digest is stored.
	if strings.Contains(k.Digest, key[21:]) || !strings.HasPrefix(k.Digest, "v1.") {
		t.Fatalf("stored digest %q", k.Digest)
	}
	rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/keys", ""), a.newSession(t, admin)))
	if rec.Code != 200 || strings.Contains(rec.Body.String(), key) || strings.Contains(rec.Body.String(), k.Digest) {
		t.Fatalf("list shows the key or digest: %s", rec.Body)
	}
}

func TestAPIKeyUse(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	op := a.addUser(t, "op@example.com", "correct horse battery", RoleOperator)
	cookie := a.newSession(t, op)
	key, id := createKey(t, d, cookie, `{"name":"deploy","scopes":["routes:read"],"expires_in":"1h"}`)

	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key)); rec.Code != 200 {
		t.Fatalf("GET /api/routes with routes:read: %d %s", rec.Code, rec.Body)
	}
	// Attack: a key going beyond its scope.
	if rec := serve(t, d, bearer(http.MethodPost, "/api/routes", `{}`, key)); rec.Code != http.StatusForbidden {
		t.Fatalf("POST /api/routes with routes:read: %d %s", rec.Code, rec.Body)
	}
	// Attack: a leaked key minting more keys or changing the password.
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/keys", `{"name":"x","scopes":["routes:read"]}`},
		{http.MethodPut, "/api/account/password", `{"current":"correct horse battery","new":"another long password"}`},
		{http.MethodPost, "/api/account/totp", `{}`},
	} {
		if rec := serve(t, d, bearer(c.method, c.path, c.body, key)); rec.Code != http.StatusForbidden {
			t.Fatalf("%s %s with a key: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
	k, _ := a.state.store.APIKeyByID(context.Background(), id)
	if k.LastUsedAt.IsZero() {
		t.Fatal("last_used_at not recorded")
	}

	a.clock.Advance(2 * time.Hour)
	rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), string(account.ReasonKeyExpired)) {
		t.Fatalf("expired key: %d %s", rec.Code, rec.Body)
	}

	key2, id2 := createKey(t, d, cookie, `{"name":"deploy2","scopes":["routes:write"]}`)
	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key2)); rec.Code != 200 {
		t.Fatalf("routes:write reads routes: %d", rec.Code)
	}
	if rec := serve(t, d, withCookie(apiRequest(http.MethodDelete, "/api/keys/"+id2, "{}"), cookie)); rec.Code != 204 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, bearer(http.MethodGet, "/api/routes", "", key2))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), string(account.ReasonKeyRevoked)) {
		t.Fatalf("revoked key: %d %s", rec.Code, rec.Body)
	}
	// Attack: a forged key with a real id.
	forged := key2[:len(key2)-4] + "aaaa"
	if forged == key2 {
		forged = key2[:len(key2)-4] + "bbbb"
	}
	rec = serve(t, d, bearer(http.MethodGet, "/api/routes", "", forged))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), string(account.ReasonKeyInvalid)) {
		t.Fatalf("forged key: %d %s", rec.Code, rec.Body)
	}
}

// Attack: privilege escalation through keys. An operator cannot grant
// admin scopes, and a key of a user who is demoted or disabled loses what
// the user lost.
func TestAPIKeyBoundedByOwnerRole(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	root := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	boss := a.addUser(t, "boss@example.com", "correct horse battery", RoleAdmin)
	op := a.addUser(t, "op@example.com", "correct horse battery", RoleOperator)
	for _, scope := range []authz.Scope{authz.UsersRead, authz.UsersWrite, authz.AuditRead, authz.All} {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", withPassword(t, fmt.Sprintf(`{"name":"x","scopes":[%q]}`, scope))), a.newSession(t, op)))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"scopes"`) {
			t.Fatalf("operator granting %s: %d %s", scope, rec.Code, rec.Body)
		}
	}
	key, _ := createKey(t, d, a.newSession(t, boss), `{"name":"all","scopes":["admin"]}`)
	if rec := serve(t, d, bearer(http.MethodGet, "/api/users", "", key)); rec.Code != 200 {
		t.Fatalf("admin key lists users: %d", rec.Code)
	}
	role := authz.Viewer
	if _, err := a.accounts.UpdateUser(context.Background(), host, boss.ID, account.UserChange{Role: &role}, ""); err != nil {
		t.Fatal(err)
	}
	if rec := serve(t, d, bearer(http.MethodGet, "/api/users", "", key)); rec.Code != http.StatusForbidden {
		t.Fatalf("key of a demoted admin lists users: %d", rec.Code)
	}
	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key)); rec.Code != 200 {
		t.Fatalf("key of a viewer reads routes: %d", rec.Code)
	}
	disabled := true
	if _, err := a.accounts.UpdateUser(context.Background(), host, boss.ID, account.UserChange{Disabled: &disabled}, ""); err != nil {
		t.Fatal(err)
	}
	rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), string(session.ReasonUserDisabled)) {
		t.Fatalf("key of a disabled user: %d %s", rec.Code, rec.Body)
	}
	_ = root
}

// Attack: a user revoking or listing another user's keys.
func TestAPIKeyOtherUsers(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	root := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	ada := a.addUser(t, "ada@example.com", "correct horse battery", RoleOperator)
	bob := a.addUser(t, "bob@example.com", "correct horse battery", RoleOperator)
	key, id := createKey(t, d, a.newSession(t, ada), `{"name":"ada's","scopes":["routes:read"]}`)
	bobCookie := a.newSession(t, bob)
	if rec := serve(t, d, withCookie(apiRequest(http.MethodDelete, "/api/keys/"+id, "{}"), bobCookie)); rec.Code != 404 {
		t.Fatalf("bob revoking ada's key: %d", rec.Code)
	}
	if rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/keys?user_id="+ada.ID, ""), bobCookie)); rec.Code != 403 {
		t.Fatalf("bob listing ada's keys: %d", rec.Code)
	}
	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key)); rec.Code != 200 {
		t.Fatalf("ada's key after bob's attempts: %d", rec.Code)
	}
	rootCookie := a.newSession(t, root)
	rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/keys?user_id="+ada.ID, ""), rootCookie))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), id) {
		t.Fatalf("admin listing ada's keys: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, d, withCookie(apiRequest(http.MethodDelete, "/api/keys/"+id, "{}"), rootCookie)); rec.Code != 204 {
		t.Fatalf("admin revoking ada's key: %d", rec.Code)
	}
}

func TestCreateAPIKeyValidation(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	cookie := a.newSession(t, admin)
	for _, c := range []struct{ body, field string }{
		{`{"name":"","scopes":["routes:read"]}`, "name"},
		{`{"name":"` + strings.Repeat("n", 100+1) + `","scopes":["routes:read"]}`, "name"},
		{`{"name":"a\u0000b","scopes":["routes:read"]}`, "name"},
		{`{"name":"x","scopes":[]}`, "scopes"},
		{`{"name":"x","scopes":["routes:delete"]}`, "scopes"},
		{`{"name":"x","scopes":["routes:read"],"expires_in":"soon"}`, "expires_in"},
		{`{"name":"x","scopes":["routes:read"],"expires_in":"-1h"}`, "expires_in"},
	} {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", withPassword(t, c.body)), cookie))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s, want 400 on %s", c.body, rec.Code, rec.Body, c.field)
		}
	}
	keys, _ := a.state.store.ListAPIKeys(context.Background(), admin.ID)
	if len(keys) != 0 {
		t.Fatalf("%d keys stored after refused input", len(keys))
	}
}

// A key made before a secret rotation keeps working with the old secret
// under previous_secrets, is re-sealed at start-up, and then keeps working
// after the old secret is dropped.
func TestAPIKeyAcrossSecretRotation(t *testing.T) {
	oldSecret, newSecret := randomSecret(t), randomSecret(t)
	a := newTestApp(t, func(a *App) { a.Secret = oldSecret })
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "correct horse battery", RoleAdmin)
	key, id := createKey(t, d, a.newSession(t, admin), `{"name":"ci","scopes":["routes:read"]}`)

	// A new config: the new secret, the old one under previous_secrets.
	a.rekey(mustKeyring(t, newSecret, oldSecret))
	d = a.dashboard()
	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key)); rec.Code != 200 {
		t.Fatalf("key with the old secret under previous_secrets: %d", rec.Code)
	}
	a.accounts.Reseal(context.Background())
	k, _ := a.state.store.APIKeyByID(context.Background(), id)
	if want := "v1." + a.keys.CurrentID() + "."; !strings.HasPrefix(k.Digest, want) {
		t.Fatalf("digest %q not re-sealed with the current key", k.Digest)
	}
	a.rekey(mustKeyring(t, newSecret))
	d = a.dashboard()
	if rec := serve(t, d, bearer(http.MethodGet, "/api/routes", "", key)); rec.Code != 200 {
		t.Fatalf("key after dropping the old secret: %d %s", rec.Code, rec.Body)
	}
}

// Attack: a stolen session cookie minting an API key that outlives the
// session. Creating a key needs the password; wrong ones count towards
// the login rate limits.
func TestCreateAPIKeyNeedsPassword(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", testPassword, RoleOperator)
	cookie := a.newSession(t, u)
	for _, pw := range []string{"", "wrong password!!"} {
		body := fmt.Sprintf(`{"name":"x","scopes":["routes:read"],"password":%q}`, pw)
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", body), cookie))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"password"`) {
			t.Fatalf("password %q: %d %s", pw, rec.Code, rec.Body)
		}
	}
	if keys, _ := a.state.store.ListAPIKeys(context.Background(), u.ID); len(keys) != 0 {
		t.Fatalf("%d keys made without the password", len(keys))
	}
	limited := false
	for range account.AccountFailures + 1 {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", `{"name":"x","scopes":["routes:read"],"password":"guess guess guess"}`), cookie))
		if rec.Code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("password guesses through key creation were never rate limited")
	}
}

// An account a sign-in with a provider made has no password: its owner
// confirms what a stolen session must not do (mint a key, set a first
// password) with a sign-in of the last five minutes instead. A session
// older than that cannot (a stolen cookie that is not fresh mints nothing),
// and once the account has a password, only the password confirms.
func TestPasswordlessAccountConfirmsWithRecentSignIn(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	ctx := context.Background()
	u := a.addUser(t, "ann@example.com", testPassword, RoleOperator)
	u.PasswordHash = ""
	if err := a.state.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := a.clock.Now()
	if err := a.state.store.SaveOIDCIdentity(ctx, store.OIDCIdentity{Provider: "corp", Subject: "s-ann", UserID: u.ID,
		Email: u.Email, CreatedAt: now, LastLoginAt: now}); err != nil {
		t.Fatal(err)
	}
	cookie := a.newSession(t, u)
	rec := serve(t, d, withCookie(apiRequest(http.MethodGet, "/api/account", ""), cookie))
	if !strings.Contains(rec.Body.String(), `"has_password":false`) || !strings.Contains(rec.Body.String(), `"providers":["corp"]`) {
		t.Fatalf("GET /api/account: %s", rec.Body)
	}

	keyBody := `{"name":"ci","scopes":["routes:read"]}`
	if rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", keyBody), cookie)); rec.Code != http.StatusCreated {
		t.Fatalf("a key right after the sign-in: %d %s", rec.Code, rec.Body)
	}
	a.clock.Advance(account.RecentSignIn)
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", keyBody), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"sign_in"`) {
		t.Fatalf("a key with a session older than %v: %d %s", account.RecentSignIn, rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/account/password", `{"current":"","new":"a first password 123"}`), cookie))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"sign_in"`) {
		t.Fatalf("a first password with an old session: %d %s", rec.Code, rec.Body)
	}
	if keys, _ := a.state.store.ListAPIKeys(ctx, u.ID); len(keys) != 1 {
		t.Fatalf("%d keys, want the one made after the sign-in", len(keys))
	}

	fresh := a.newSession(t, u) // signed in again
	rec = serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/account/password", `{"current":"","new":"a first password 123"}`), fresh))
	if rec.Code != http.StatusOK {
		t.Fatalf("a first password right after a sign-in: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", keyBody), fresh))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"password"`) {
		t.Fatalf("with a password set, a fresh session must not stand in for it: %d %s", rec.Code, rec.Body)
	}
	if login(t, d, "ann@example.com", "a first password 123", "") == "" {
		t.Fatal("the first password does not log in")
	}
}
