package proxyos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Attack: account takeover with a stolen admin session or a leaked admin
// key. The users API changes passwords and two-factor without proof of
// the old ones, so it refuses both for the caller's own account and for
// API keys; the admin's own changes go through My account.
func TestUsersAPIRefusesSelfAndKeyTakeover(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	root := a.addUser(t, "root@example.com", testPassword, RoleAdmin)
	other := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	cookie := a.newSession(t, root)
	key, _ := createKey(t, d, cookie, `{"name":"all","scopes":["admin"]}`)

	for _, body := range []string{`{"password":"attacker chosen pw"}`, `{"reset_totp":true}`} {
		rec := serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/users/"+root.ID, body), cookie))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("admin session changing own account with %s: %d %s, want 400", body, rec.Code, rec.Body)
		}
		for _, target := range []string{root.ID, other.ID} {
			rec := serve(t, d, bearer(http.MethodPut, "/api/users/"+target, body, key))
			if rec.Code != http.StatusForbidden {
				t.Errorf("admin key changing %s with %s: %d %s, want 403", target, body, rec.Code, rec.Body)
			}
		}
	}
	if _, err := a.accounts.Login(context.Background(), account.Attempt{Email: root.Email, Password: testPassword, ClientIP: "192.0.2.9"}); err != nil {
		t.Fatalf("the admin's password changed: %v", err)
	}
	// What stays allowed: an admin session resetting someone else, a key
	// changing a role.
	if rec := serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/users/"+other.ID, `{"password":"a new long password"}`), cookie)); rec.Code != 200 {
		t.Fatalf("admin resetting another user's password: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, d, bearer(http.MethodPut, "/api/users/"+other.ID, `{"role":"operator"}`, key)); rec.Code != 200 {
		t.Fatalf("admin key changing a role: %d %s", rec.Code, rec.Body)
	}
}

// Attack: guessing the password with a stolen session by firing many
// re-authentications at once. Every attempt is counted before the hash
// is checked, so no more guesses are evaluated than a login allows.
func TestPasswordConfirmationParallelGuesses(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", testPassword, RoleOperator)
	cookie := a.newSession(t, u)
	const n = 20
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		evaluated, limited int
	)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"name":"x","scopes":["routes:read"],"password":"guess number %02d"}`, i)
			rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", body), cookie))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case rec.Code == http.StatusBadRequest && strings.Contains(rec.Body.String(), `"field":"password"`):
				evaluated++
			case rec.Code == http.StatusTooManyRequests:
				limited++
			default:
				t.Errorf("guess %d: %d %s", i, rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if evaluated > account.AccountFailures || evaluated+limited != n {
		t.Fatalf("%d of %d parallel guesses were checked (%d limited), want at most %d", evaluated, n, limited, account.AccountFailures)
	}
}

// The password step of a two-factor login is taken back, lock included:
// a user with a few typos behind them still gets in with the right code.
func TestTOTPPasswordStepDoesNotLock(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", testPassword, RoleViewer)
	secret, _ := enrolTOTP(t, a, d, a.newSession(t, u))
	for range account.AccountFailures - 1 {
		if st, _ := loginTOTP(t, d, u.Email, "a wrong password", ""); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", st)
		}
	}
	if st, reason := loginTOTP(t, d, u.Email, testPassword, ""); reason != account.ReasonTOTPRequired {
		t.Fatalf("password step: %d %s", st, reason)
	}
	a.clock.Advance(totpPeriod)
	if st, reason := loginTOTP(t, d, u.Email, testPassword, account.TOTPCode(secret, a.clock.Now())); st != http.StatusOK {
		t.Fatalf("right code after %d typos and the password step: %d %s", account.AccountFailures-1, st, reason)
	}
}

// Attack: a key name that reads as something else (right-to-left
// override) in the key list and the audit log.
func TestAPIKeyNameFormatCharacters(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "ada@example.com", testPassword, RoleOperator)
	rec := serve(t, d, withCookie(apiRequest(http.MethodPost, "/api/keys", withPassword(t, `{"name":"ci\u202egpj.exe","scopes":["routes:read"]}`)), a.newSession(t, u)))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"field":"name"`) {
		t.Fatalf("name with U+202E: %d %s", rec.Code, rec.Body)
	}
}

// What a key does is recorded as its owner's, with the key: filtering the
// audit log by a user finds what their keys did, and a key's free-text
// name cannot pose as another actor.
func TestAuditActorOfKey(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	u := a.addUser(t, "op@example.com", testPassword, RoleOperator)
	key, id := createKey(t, d, a.newSession(t, u), `{"name":"root@example.com","scopes":["routes:write"]}`)
	body := `{"name":"k","hosts":["k.example.com"],"kind":"static","static":{"status":200,"body":"hi"}}`
	if rec := serve(t, d, bearer(http.MethodPost, "/api/routes", body, key)); rec.Code != http.StatusCreated {
		t.Fatalf("create route with key: %d %s", rec.Code, rec.Body)
	}
	entries, err := a.state.store.ListAudit(context.Background(), store.AuditFilter{Actor: u.Email, Action: "route.create"}, 10, 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit entries of %s: %v %+v", u.Email, err, entries)
	}
	e := entries[0]
	var details struct {
		Via map[string]string `json:"via"`
	}
	json.Unmarshal(e.Details, &details) //nolint:errcheck // checked below
	if e.ActorKind != audit.ActorAPIKey || details.Via["api_key_id"] != id || details.Via["api_key_name"] != "root@example.com" {
		t.Fatalf("entry %+v details %s", e, e.Details)
	}
	if strings.Contains(string(e.Details), key) {
		t.Fatal("the audit entry holds the key")
	}
}
