package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// acctSend calls the dashboard API with a JSON body (always, as the
// dashboard's pages do), the same-origin Origin header and exactly the
// given session cookie value.
func acctSend(t testing.TB, base, cookie, method, path string, v any) (*http.Response, []byte) {
	t.Helper()
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, plainHTTP, method, base+path, bytes.NewReader(b),
		withSession(cookie, "Content-Type", "application/json", "Origin", base))
}

// acctGet calls GET on the dashboard API with exactly the cookie value.
func acctGet(t testing.TB, base, cookie, path string) (*http.Response, []byte) {
	t.Helper()
	return do(t, plainHTTP, http.MethodGet, base+path, nil, withSession(cookie, "Accept", "application/json"))
}

// acctWant fails unless resp has the status.
func acctWant(t testing.TB, what string, resp *http.Response, raw []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, raw, status)
	}
}

// TestUsersAPIAdminCRUD creates, reads, changes and deletes a user through
// the dashboard API as an admin, and prevents privilege escalation:
// operators and viewers get 403 on every users endpoint, and nothing
// changes.
func TestUsersAPIAdminCRUD(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	base, appBase, admin := e.Base, e.AppBase, e.adminCk

	resp, raw := acctSend(t, base, admin, http.MethodPost, "/api/users", map[string]string{"email": "Ops@Example.com", "password": "ops password", "role": "operator"})
	acctWant(t, "create", resp, raw, http.StatusCreated)
	created := decode(t, raw)
	opsID, _ := created["id"].(string)
	if created["email"] != "ops@example.com" || created["role"] != "operator" || created["disabled"] != false || opsID == "" {
		t.Fatalf("created %s", raw)
	}
	resp, raw = acctSend(t, base, admin, http.MethodPost, "/api/users", map[string]string{"email": "ops@example.com", "password": "ops password"})
	acctWant(t, "create taken email", resp, raw, http.StatusConflict)
	resp, raw = acctSend(t, base, admin, http.MethodPost, "/api/users", map[string]string{"email": "view@example.com", "password": "view password", "role": "viewer"})
	acctWant(t, "create viewer", resp, raw, http.StatusCreated)

	resp, raw = acctGet(t, base, admin, "/api/users")
	acctWant(t, "list", resp, raw, http.StatusOK)
	if users, _ := decode(t, raw)["users"].([]any); len(users) != 3 || bytes.Contains(raw, []byte("argon2")) {
		t.Fatalf("list: %s", raw)
	}
	resp, raw = acctGet(t, base, admin, "/api/users/"+opsID)
	acctWant(t, "get", resp, raw, http.StatusOK)

	// Privilege escalation: the operator and the viewer try every users
	// endpoint, including making themselves admin.
	for _, who := range []struct{ email, password string }{{"ops@example.com", "ops password"}, {"view@example.com", "view password"}} {
		_, cookie := newClient(t, base).Login(who.email, who.password)
		for _, tt := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/api/users", nil},
			{http.MethodPost, "/api/users", map[string]string{"email": "evil@example.com", "password": "evil password", "role": "admin"}},
			{http.MethodGet, "/api/users/" + opsID, nil},
			{http.MethodPut, "/api/users/" + opsID, map[string]string{"role": "admin"}},
			{http.MethodDelete, "/api/users/" + opsID, nil},
		} {
			var (
				resp *http.Response
				raw  []byte
			)
			if tt.method == http.MethodGet {
				resp, raw = acctGet(t, base, cookie, tt.path)
			} else {
				resp, raw = acctSend(t, base, cookie, tt.method, tt.path, tt.body)
			}
			acctWant(t, who.email+" "+tt.method+" "+tt.path, resp, raw, http.StatusForbidden)
		}
	}
	_, raw = acctGet(t, base, admin, "/api/users/"+opsID)
	if decode(t, raw)["role"] != "operator" {
		t.Fatalf("ops after the escalation attempts: %s", raw)
	}

	_, opsCookie := newClient(t, base).Login("ops@example.com", "ops password")
	resp, raw = acctSend(t, base, admin, http.MethodPut, "/api/users/"+opsID, map[string]any{"role": "viewer"})
	acctWant(t, "role change", resp, raw, http.StatusOK)
	if decode(t, raw)["role"] != "viewer" {
		t.Fatalf("role change: %s", raw)
	}
	wantSession(t, base, opsCookie, "revoked")
	if status, reason := gateReason(t, appBase, opsCookie); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate after role change: %d %q", status, reason)
	}

	resp, raw = acctSend(t, base, admin, http.MethodPut, "/api/users/"+opsID, map[string]any{"password": "reset password 1"})
	acctWant(t, "password reset", resp, raw, http.StatusOK)
	_, opsCookie = newClient(t, base).Login("ops@example.com", "reset password 1")
	if status, _ := gateReason(t, appBase, opsCookie); status != http.StatusOK {
		t.Fatalf("gate with a fresh session: %d", status)
	}
	resp, raw = acctSend(t, base, admin, http.MethodPut, "/api/users/"+opsID, map[string]any{"disabled": true})
	acctWant(t, "disable", resp, raw, http.StatusOK)
	if status, reason := gateReason(t, appBase, opsCookie); status != http.StatusUnauthorized || reason != "user_disabled" {
		t.Fatalf("gate after disable: %d %q", status, reason)
	}
	resp, raw = acctSend(t, base, admin, http.MethodPut, "/api/users/"+opsID, map[string]any{"disabled": false})
	acctWant(t, "enable", resp, raw, http.StatusOK)

	resp, raw = acctSend(t, base, admin, http.MethodDelete, "/api/users/"+opsID, nil)
	acctWant(t, "delete", resp, raw, http.StatusNoContent)
	wantSession(t, base, opsCookie, "revoked")
	if status, reason := gateReason(t, appBase, opsCookie); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate after delete: %d %q", status, reason)
	}
	resp, raw = acctGet(t, base, admin, "/api/users/"+opsID)
	acctWant(t, "get deleted", resp, raw, http.StatusNotFound)
}

// TestUsersAPILastAdmin prevents a lock-out: the last enabled admin cannot
// be demoted, disabled or deleted, also not when two admins demote each
// other at the same moment.
func TestUsersAPILastAdmin(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, admin := e.inst, e.Base, e.adminCk
	_, raw := acctGet(t, base, admin, "/api/auth/session")
	adminID, _ := decode(t, raw)["user"].(map[string]any)["id"].(string)
	var resp *http.Response

	for _, body := range []map[string]any{{"role": "operator"}, {"disabled": true}} {
		resp, raw = acctSend(t, base, admin, http.MethodPut, "/api/users/"+adminID, body)
		acctWant(t, fmt.Sprintf("last admin %v", body), resp, raw, http.StatusConflict)
		if msg, _ := decode(t, raw)["error"].(string); msg == "" {
			t.Fatalf("409 without a message: %s", raw)
		}
	}

	secondID := inst.CreateUser("second@example.com", "second password", "admin")
	_, second := newClient(t, base).Login("second@example.com", "second password")
	resp, raw = acctSend(t, base, second, http.MethodDelete, "/api/users/"+adminID, nil)
	acctWant(t, "delete one of two admins", resp, raw, http.StatusNoContent)
	resp, raw = acctSend(t, base, second, http.MethodDelete, "/api/users/"+secondID, nil)
	acctWant(t, "delete self", resp, raw, http.StatusConflict)

	// Two admins demote each other at once: exactly one may win.
	for round := range 5 {
		xEmail, yEmail := fmt.Sprintf("x%d@example.com", round), fmt.Sprintf("y%d@example.com", round)
		xID := inst.CreateUser(xEmail, "x password 1", "admin")
		yID := inst.CreateUser(yEmail, "y password 1", "admin")
		// Leave x and y as the only enabled admins.
		resp, raw = acctSend(t, base, second, http.MethodPut, "/api/users/"+secondID, map[string]any{"role": "viewer"})
		acctWant(t, "second steps down", resp, raw, http.StatusOK)
		_, xCookie := newClient(t, base).Login(xEmail, "x password 1")
		_, yCookie := newClient(t, base).Login(yEmail, "y password 1")
		var (
			wg       sync.WaitGroup
			statuses [2]int
		)
		for i, p := range []struct{ cookie, target string }{{xCookie, yID}, {yCookie, xID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequest(http.MethodPut, base+"/api/users/"+p.target, bytes.NewReader([]byte(`{"role":"viewer"}`)))
				if err != nil {
					return
				}
				req.Header = withSession(p.cookie, "Content-Type", "application/json", "Origin", base)
				if resp, err := plainHTTP.Do(req); err == nil {
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				conflict++
			case http.StatusUnauthorized:
				// The winner's request revoked the loser's session first.
				conflict++
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, statuses)
		}
		// Hand admin back to second for the next round, as the winner.
		winner := xCookie
		if statuses[1] == http.StatusOK {
			winner = yCookie
		}
		winnerPassword := "x password 1"
		if winner == yCookie {
			winnerPassword = "y password 1"
		}
		resp, raw = acctSend(t, base, winner, http.MethodPut, "/api/users/"+secondID,
			map[string]any{"role": "admin", "confirm_password": winnerPassword})
		acctWant(t, "restore second", resp, raw, http.StatusOK)
		_, second = newClient(t, base).Login("second@example.com", "second password")
		for _, id := range []string{xID, yID} {
			resp, raw = acctSend(t, base, second, http.MethodDelete, "/api/users/"+id, nil)
			acctWant(t, "clean up", resp, raw, http.StatusNoContent)
		}
	}
}

// TestSessionsAPIRevocation prevents the session revocation race: a
// session revoked through the API is refused at the very next request,
// at the dashboard API and at a proxyos_auth site, even while it was
// cached. It also prevents editing another user's session: that answers
// 404 like an unknown id, and the session stays valid.
func TestSessionsAPIRevocation(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, appBase, admin := e.inst, e.Base, e.AppBase, e.adminCk
	inst.CreateUser("ada@example.com", "ada password", "viewer")
	bobID := inst.CreateUser("bob@example.com", "bob password", "operator")

	_, adaLaptop := newClient(t, base).Login("ada@example.com", "ada password")
	_, adaPhone := newClient(t, base).Login("ada@example.com", "ada password")
	_, adaTablet := newClient(t, base).Login("ada@example.com", "ada password")
	_, bob := newClient(t, base).Login("bob@example.com", "bob password")
	for _, c := range []string{adaLaptop, adaPhone, adaTablet, bob} {
		if status, _ := gateReason(t, appBase, c); status != http.StatusOK { // cache every session
			t.Fatalf("gate with a fresh session: %d", status)
		}
	}

	sessionsOf := func(cookie, query string) []map[string]any {
		t.Helper()
		resp, raw := acctGet(t, base, cookie, "/api/sessions"+query)
		acctWant(t, "GET /api/sessions"+query, resp, raw, http.StatusOK)
		var body struct{ Sessions []map[string]any }
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		return body.Sessions
	}
	ada := sessionsOf(adaLaptop, "")
	if len(ada) != 3 {
		t.Fatalf("ada's sessions: %v", ada)
	}
	var others []string
	for _, s := range ada {
		if s["current"] == true {
			continue
		}
		if s["client_ip"] == "" || s["user_agent"] == "" || s["created_at"] == nil || s["last_seen_at"] == nil {
			t.Errorf("session without details: %v", s)
		}
		others = append(others, s["id"].(string))
	}
	if len(others) != 2 {
		t.Fatalf("want exactly one current session among %v", ada)
	}
	bobSessions := sessionsOf(bob, "")
	bobSession := bobSessions[0]["id"].(string)

	// Editing another user's session: 404, and bob stays logged in.
	resp, raw := acctSend(t, base, adaLaptop, http.MethodDelete, "/api/sessions/"+bobSession, nil)
	acctWant(t, "ada revokes bob's session", resp, raw, http.StatusNotFound)
	resp, raw = acctSend(t, base, adaLaptop, http.MethodPost, "/api/sessions/revoke-all", map[string]string{"user_id": bobID})
	acctWant(t, "ada revokes all of bob's sessions", resp, raw, http.StatusForbidden)
	resp, raw = acctGet(t, base, adaLaptop, "/api/sessions?user_id="+bobID)
	acctWant(t, "ada lists bob's sessions", resp, raw, http.StatusForbidden)
	wantSession(t, base, bob, "")

	// Revoke one session, then use its cookie at once, at both places.
	resp, raw = acctSend(t, base, adaLaptop, http.MethodDelete, "/api/sessions/"+others[0], nil)
	acctWant(t, "revoke one", resp, raw, http.StatusNoContent)
	revoked, kept := adaPhone, adaTablet
	if status, _ := sessionReason(t, base, adaPhone); status == http.StatusOK {
		revoked, kept = adaTablet, adaPhone
	}
	if status, reason := gateReason(t, appBase, revoked); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate right after revoking: %d %q", status, reason)
	}
	wantSession(t, base, revoked, "revoked")
	wantSession(t, base, kept, "")

	// revoke-all keeps the current session only.
	resp, raw = acctSend(t, base, adaLaptop, http.MethodPost, "/api/sessions/revoke-all", nil)
	acctWant(t, "revoke-all", resp, raw, http.StatusOK)
	if status, reason := gateReason(t, appBase, kept); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate right after revoke-all: %d %q", status, reason)
	}
	wantSession(t, base, kept, "revoked")
	wantSession(t, base, adaLaptop, "")
	if got := sessionsOf(adaLaptop, ""); len(got) != 1 || got[0]["current"] != true {
		t.Fatalf("sessions after revoke-all: %v", got)
	}

	// An admin revokes all of bob's sessions.
	if got := sessionsOf(admin, "?user_id="+bobID); len(got) != 1 || got[0]["current"] != false {
		t.Fatalf("bob's sessions as admin: %v", got)
	}
	resp, raw = acctSend(t, base, admin, http.MethodPost, "/api/sessions/revoke-all", map[string]string{"user_id": bobID})
	acctWant(t, "admin revokes bob", resp, raw, http.StatusOK)
	if status, reason := gateReason(t, appBase, bob); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate after admin revoke-all: %d %q", status, reason)
	}
}

// TestAccountPasswordChange checks PUT /api/account/password: a wrong
// current password is refused (403, field current) and changes nothing;
// the change revokes the user's other sessions at once, at the gate too,
// and keeps this one.
func TestAccountPasswordChange(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, appBase := e.inst, e.Base, e.AppBase
	inst.CreateUser("ada@example.com", "ada password", "viewer")
	_, here := newClient(t, base).Login("ada@example.com", "ada password")
	_, elsewhere := newClient(t, base).Login("ada@example.com", "ada password")
	if status, _ := gateReason(t, appBase, elsewhere); status != http.StatusOK {
		t.Fatalf("gate: %d", status)
	}

	resp, raw := acctSend(t, base, here, http.MethodPut, "/api/account/password", map[string]string{"current": "wrong password", "new": "new password 1"})
	acctWant(t, "wrong current", resp, raw, http.StatusForbidden)
	if decode(t, raw)["field"] != "current" {
		t.Fatalf("wrong current: %s", raw)
	}
	wantSession(t, base, elsewhere, "")

	resp, raw = acctSend(t, base, here, http.MethodPut, "/api/account/password", map[string]string{"current": "ada password", "new": "new password 1"})
	acctWant(t, "change", resp, raw, http.StatusOK)
	if status, reason := gateReason(t, appBase, elsewhere); status != http.StatusUnauthorized || reason != "revoked" {
		t.Fatalf("gate with the other session: %d %q", status, reason)
	}
	wantSession(t, base, elsewhere, "revoked")
	wantSession(t, base, here, "")
	if resp, _ := newClient(t, base).PostJSON("/api/auth/login", map[string]string{"email": "ada@example.com", "password": "ada password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with the old password: %d", resp.StatusCode)
	}
	newClient(t, base).Login("ada@example.com", "new password 1")
}
