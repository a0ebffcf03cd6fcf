package proxyos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// call serves one API request with an optional session cookie.
func call(t *testing.T, d *Dashboard, cookie, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	if body == "" && method != http.MethodGet {
		body = "{}" // as the dashboard's pages send it
	}
	req := apiRequest(method, path, body)
	if cookie != "" {
		withCookie(req, cookie)
	}
	return serve(t, d, req)
}

// wantStatus fails the test unless rec has the status, and decodes an
// error body's field when there is one.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int, field string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if status >= 400 {
		var e api.Body
		decodeBody(t, rec, &e)
		if e.Error == "" || e.Field != field {
			t.Fatalf("error %+v, want a message and field %q", e, field)
		}
	}
}

// TestUsersAPILevels prevents privilege escalation: only admins reach
// the users API, whatever the method.
func TestUsersAPILevels(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "admin@example.com", "password1", RoleAdmin)
	a.addUser(t, "ops@example.com", "password1", RoleOperator)
	a.addUser(t, "view@example.com", "password1", RoleViewer)
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/users", ""},
		{http.MethodPost, "/api/users", `{"email":"x@example.com","password":"password1","role":"admin"}`},
		{http.MethodGet, "/api/users/" + admin.ID, ""},
		{http.MethodPut, "/api/users/" + admin.ID, `{"role":"viewer"}`},
		{http.MethodDelete, "/api/users/" + admin.ID, ""},
	} {
		for _, email := range []string{"ops@example.com", "view@example.com"} {
			t.Run(email+" "+tt.method+" "+tt.path, func(t *testing.T) {
				cookie := login(t, d, email, "password1", "")
				rec := call(t, d, cookie, tt.method, tt.path, tt.body)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("status %d, want 403; body %s", rec.Code, rec.Body)
				}
			})
		}
		t.Run("anonymous "+tt.method+" "+tt.path, func(t *testing.T) {
			if rec := call(t, d, "", tt.method, tt.path, tt.body); rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
		})
	}
	if u, err := a.state.store.UserByID(context.Background(), admin.ID); err != nil || u.Role != RoleAdmin {
		t.Fatalf("admin after the attempts: %+v %v", u, err)
	}
}

func TestUsersAPIEdgeCases(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "admin@example.com", "password1", RoleAdmin)
	ops := a.addUser(t, "ops@example.com", "password1", RoleOperator)
	cookie := login(t, d, "admin@example.com", "password1", "")

	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"create taken email", http.MethodPost, "/api/users", `{"email":"OPS@example.com","password":"password1"}`, http.StatusConflict, "email"},
		{"create bad role", http.MethodPost, "/api/users", `{"email":"new@example.com","password":"password1","role":"root"}`, http.StatusBadRequest, "role"},
		{"create short password", http.MethodPost, "/api/users", `{"email":"new@example.com","password":"short"}`, http.StatusBadRequest, "password"},
		{"create unknown field", http.MethodPost, "/api/users", `{"email":"new@example.com","password":"password1","admin":true}`, http.StatusBadRequest, "body"},
		{"get unknown", http.MethodGet, "/api/users/nope", "", http.StatusNotFound, ""},
		{"update unknown", http.MethodPut, "/api/users/nope", `{"role":"viewer"}`, http.StatusNotFound, ""},
		{"update bad role", http.MethodPut, "/api/users/" + ops.ID, `{"role":"root"}`, http.StatusBadRequest, "role"},
		{"update short password", http.MethodPut, "/api/users/" + ops.ID, `{"password":"short"}`, http.StatusBadRequest, "password"},
		{"update wrong type", http.MethodPut, "/api/users/" + ops.ID, `{"disabled":"yes"}`, http.StatusBadRequest, "body"},
		{"delete unknown", http.MethodDelete, "/api/users/nope", "", http.StatusNotFound, ""},
		{"delete self", http.MethodDelete, "/api/users/" + admin.ID, "", http.StatusConflict, ""},
		{"demote last admin", http.MethodPut, "/api/users/" + admin.ID, `{"role":"operator"}`, http.StatusConflict, ""},
		{"disable last admin", http.MethodPut, "/api/users/" + admin.ID, `{"disabled":true}`, http.StatusConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, call(t, d, cookie, tt.method, tt.path, tt.body), tt.status, tt.field)
		})
	}
	if reason := sessionReason(t, d, cookie); reason != "" {
		t.Fatalf("admin session after refused changes: %q", reason)
	}

	t.Run("list never shows hashes", func(t *testing.T) {
		rec := call(t, d, cookie, http.MethodGet, "/api/users", "")
		wantStatus(t, rec, http.StatusOK, "")
		var body struct{ Users []account.User }
		decodeBody(t, rec, &body)
		if len(body.Users) != 2 || body.Users[0].Email != "admin@example.com" || body.Users[1].Role != RoleOperator {
			t.Fatalf("users %+v", body.Users)
		}
		if s := rec.Body.String(); strings.Contains(s, "argon2") || strings.Contains(s, `"password"`) || strings.Contains(s, "password_hash") {
			t.Fatalf("list leaks a password field: %s", s)
		}
	})
}

// TestUsersAPIRevokes checks that role changes, password resets, disabling
// and deletion take a user's sessions away at the very next request, while
// an admin editing themselves keeps their own session.
func TestUsersAPIRevokes(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "admin@example.com", "password1", RoleAdmin)
	ops := a.addUser(t, "ops@example.com", "password1", RoleOperator)
	cookie := login(t, d, "admin@example.com", "password1", "")

	for _, tt := range []struct {
		name, body string
		reason     session.Reason
	}{
		{"role change", `{"role":"viewer"}`, session.ReasonRevoked},
		{"password reset", `{"password":"new password 1"}`, session.ReasonRevoked},
		{"disable", `{"disabled":true}`, session.ReasonUserDisabled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			victim := a.newSession(t, ops)
			if reason := sessionReason(t, d, victim); reason != "" { // now cached
				t.Fatalf("fresh session: %q", reason)
			}
			wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/users/"+ops.ID, tt.body), http.StatusOK, "")
			if reason := sessionReason(t, d, victim); reason != tt.reason {
				t.Fatalf("session after %s: %q, want %q", tt.name, reason, tt.reason)
			}
			wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/users/"+ops.ID, `{"disabled":false,"role":"operator"}`), http.StatusOK, "")
		})
	}

	t.Run("admin demotes themselves while another admin exists", func(t *testing.T) {
		a.addUser(t, "second@example.com", "password1", RoleAdmin)
		other := a.newSession(t, admin)
		rec := call(t, d, cookie, http.MethodPut, "/api/users/"+admin.ID, `{"role":"viewer"}`)
		wantStatus(t, rec, http.StatusOK, "")
		if reason := sessionReason(t, d, other); reason != session.ReasonRevoked {
			t.Errorf("other session: %q, want revoked", reason)
		}
		if reason := sessionReason(t, d, cookie); reason != "" {
			t.Fatalf("own session: %q, want kept", reason)
		}
		// The kept session has the new role at once.
		if rec := call(t, d, cookie, http.MethodGet, "/api/users", ""); rec.Code != http.StatusForbidden {
			t.Fatalf("demoted admin lists users: %d", rec.Code)
		}
	})

	t.Run("delete", func(t *testing.T) {
		second := login(t, d, "second@example.com", "password1", "")
		victim := a.newSession(t, ops)
		if reason := sessionReason(t, d, victim); reason != "" {
			t.Fatalf("fresh session: %q", reason)
		}
		wantStatus(t, call(t, d, second, http.MethodDelete, "/api/users/"+ops.ID, ""), http.StatusNoContent, "")
		if reason := sessionReason(t, d, victim); reason != session.ReasonRevoked {
			t.Fatalf("deleted user's session: %q, want revoked", reason)
		}
		wantStatus(t, call(t, d, second, http.MethodGet, "/api/users/"+ops.ID, ""), http.StatusNotFound, "")
	})
}

// TestLastAdminConcurrent prevents a lock-out: two admins demoting (or
// deleting) each other at the same moment cannot both succeed.
func TestLastAdminConcurrent(t *testing.T) {
	for _, action := range []string{"demote", "disable", "delete"} {
		t.Run(action, func(t *testing.T) {
			a := newTestApp(t)
			x := a.addUser(t, "x@example.com", "password1", RoleAdmin)
			y := a.addUser(t, "y@example.com", "password1", RoleAdmin)
			viewer, yes := authz.Viewer, true
			var (
				wg   sync.WaitGroup
				errs [2]error
			)
			for i, u := range []store.User{x, y} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					switch action {
					case "demote":
						_, errs[i] = a.accounts.UpdateUser(context.Background(), host, u.ID, account.UserChange{Role: &viewer}, "")
					case "disable":
						_, errs[i] = a.accounts.UpdateUser(context.Background(), host, u.ID, account.UserChange{Disabled: &yes}, "")
					case "delete":
						errs[i] = a.accounts.DeleteUser(context.Background(), host, u.ID)
					}
				}()
			}
			wg.Wait()
			ok, refused := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrLastAdmin):
					refused++
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("%d succeeded, %d refused; want one each (errors %v)", ok, refused, errs)
			}
			users, err := a.state.store.ListUsers(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			admins := 0
			for _, u := range users {
				if u.Role == RoleAdmin && !u.Disabled {
					admins++
				}
			}
			if admins != 1 {
				t.Fatalf("%d enabled admins left, want 1", admins)
			}
		})
	}
}

func TestChangeOwnPassword(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	a.addUser(t, "ada@example.com", "password1", RoleViewer)
	cookie := login(t, d, "ada@example.com", "password1", "")
	other := login(t, d, "ada@example.com", "password1", "")

	for _, tt := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"wrong current", `{"current":"nope nope","new":"new password 1"}`, http.StatusForbidden, "current"},
		{"short new", `{"current":"password1","new":"short"}`, http.StatusBadRequest, "new"},
		{"unknown field", `{"current":"password1","new":"new password 1","user_id":"x"}`, http.StatusBadRequest, "body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/account/password", tt.body), tt.status, tt.field)
			if reason := sessionReason(t, d, other); reason != "" {
				t.Fatalf("other session after a refused change: %q", reason)
			}
		})
	}

	rec := call(t, d, cookie, http.MethodPut, "/api/account/password", `{"current":"password1","new":"new password 1"}`)
	wantStatus(t, rec, http.StatusOK, "")
	var body struct{ Revoked int }
	if decodeBody(t, rec, &body); body.Revoked != 1 {
		t.Errorf("revoked %d, want 1", body.Revoked)
	}
	if reason := sessionReason(t, d, other); reason != session.ReasonRevoked {
		t.Errorf("other session: %q, want revoked", reason)
	}
	if reason := sessionReason(t, d, cookie); reason != "" {
		t.Errorf("this session: %q, want kept", reason)
	}
	login(t, d, "ada@example.com", "new password 1", "")

	t.Run("guessing is rate limited", func(t *testing.T) {
		var last int
		for i := range 30 {
			rec := call(t, d, cookie, http.MethodPut, "/api/account/password", fmt.Sprintf(`{"current":"guess %d!","new":"new password 2"}`, i))
			if last = rec.Code; last == http.StatusTooManyRequests {
				break
			}
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("30 wrong guesses: last status %d, want 429", last)
		}
	})
}

// sessionJSON is a session as GET /api/sessions lists it.
type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	ClientIP   string    `json:"client_ip"`
	UserAgent  string    `json:"user_agent"`
	Host       string    `json:"host,omitempty"`
	Current    bool      `json:"current"`
}

// TestSessionsAPI checks listing and revoking sessions, and that a user
// cannot see or revoke another user's session (404, as for an unknown id).
func TestSessionsAPI(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	a.addUser(t, "admin@example.com", "password1", RoleAdmin)
	ada := a.addUser(t, "ada@example.com", "password1", RoleViewer)
	bob := a.addUser(t, "bob@example.com", "password1", RoleOperator)
	adaCookie := login(t, d, "ada@example.com", "password1", "")
	adaOther := login(t, d, "ada@example.com", "password1", "")
	bobCookie := login(t, d, "bob@example.com", "password1", "")
	adminCookie := login(t, d, "admin@example.com", "password1", "")

	list := func(t *testing.T, cookie, query string) []sessionJSON {
		t.Helper()
		rec := call(t, d, cookie, http.MethodGet, "/api/sessions"+query, "")
		wantStatus(t, rec, http.StatusOK, "")
		var body struct{ Sessions []sessionJSON }
		decodeBody(t, rec, &body)
		return body.Sessions
	}
	ss := list(t, adaCookie, "")
	if len(ss) != 2 {
		t.Fatalf("ada's sessions: %+v, want 2", ss)
	}
	current := 0
	var otherID string
	for _, s := range ss {
		if s.Current {
			current++
		} else {
			otherID = s.ID
		}
		if s.ClientIP == "" || s.CreatedAt.IsZero() || s.LastSeenAt.IsZero() {
			t.Errorf("session without details: %+v", s)
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions marked current, want 1", current)
	}
	bobSessions := list(t, bobCookie, "")
	bobID := bobSessions[0].ID

	t.Run("another user's session is not found", func(t *testing.T) {
		wantStatus(t, call(t, d, adaCookie, http.MethodDelete, "/api/sessions/"+bobID, ""), http.StatusNotFound, "")
		wantStatus(t, call(t, d, adaCookie, http.MethodDelete, "/api/sessions/no-such-id", ""), http.StatusNotFound, "")
		if reason := sessionReason(t, d, bobCookie); reason != "" {
			t.Fatalf("bob's session: %q, want valid", reason)
		}
	})
	t.Run("non-admins cannot name another user", func(t *testing.T) {
		wantStatus(t, call(t, d, adaCookie, http.MethodGet, "/api/sessions?user_id="+bob.ID, ""), http.StatusForbidden, "user_id")
		wantStatus(t, call(t, d, adaCookie, http.MethodPost, "/api/sessions/revoke-all", `{"user_id":"`+bob.ID+`"}`), http.StatusForbidden, "user_id")
		if reason := sessionReason(t, d, bobCookie); reason != "" {
			t.Fatalf("bob's session: %q, want valid", reason)
		}
	})
	t.Run("admins name an unknown user", func(t *testing.T) {
		wantStatus(t, call(t, d, adminCookie, http.MethodGet, "/api/sessions?user_id=nope", ""), http.StatusNotFound, "user_id")
	})
	t.Run("revoke own other session", func(t *testing.T) {
		wantStatus(t, call(t, d, adaCookie, http.MethodDelete, "/api/sessions/"+otherID, ""), http.StatusNoContent, "")
		if reason := sessionReason(t, d, adaOther); reason != session.ReasonRevoked {
			t.Fatalf("revoked session: %q", reason)
		}
		if got := list(t, adaCookie, ""); len(got) != 1 || !got[0].Current {
			t.Fatalf("sessions after revoking: %+v", got)
		}
	})
	t.Run("revoke-all keeps the current one", func(t *testing.T) {
		extra := a.newSession(t, ada)
		rec := call(t, d, adaCookie, http.MethodPost, "/api/sessions/revoke-all", `{}`)
		wantStatus(t, rec, http.StatusOK, "")
		if reason := sessionReason(t, d, extra); reason != session.ReasonRevoked {
			t.Fatalf("other session: %q", reason)
		}
		if reason := sessionReason(t, d, adaCookie); reason != "" {
			t.Fatalf("current session: %q", reason)
		}
	})
	t.Run("admin lists and revokes another user's sessions", func(t *testing.T) {
		if got := list(t, adminCookie, "?user_id="+bob.ID); len(got) != 1 || got[0].Current {
			t.Fatalf("bob's sessions as admin: %+v", got)
		}
		wantStatus(t, call(t, d, adminCookie, http.MethodPost, "/api/sessions/revoke-all", `{"user_id":"`+bob.ID+`"}`), http.StatusOK, "")
		if reason := sessionReason(t, d, bobCookie); reason != session.ReasonRevoked {
			t.Fatalf("bob's session: %q", reason)
		}
		other := a.newSession(t, ada)
		ss := list(t, adminCookie, "?user_id="+ada.ID)
		for _, s := range ss {
			wantStatus(t, call(t, d, adminCookie, http.MethodDelete, "/api/sessions/"+s.ID, ""), http.StatusNoContent, "")
		}
		if reason := sessionReason(t, d, other); reason != session.ReasonRevoked {
			t.Fatalf("ada's session revoked by admin: %q", reason)
		}
	})
	t.Run("revoking the current session clears the cookie", func(t *testing.T) {
		c := login(t, d, "bob@example.com", "password1", "")
		ss := list(t, c, "")
		rec := call(t, d, c, http.MethodDelete, "/api/sessions/"+ss[0].ID, "")
		wantStatus(t, rec, http.StatusNoContent, "")
		if ck := responseCookie(rec); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("cookie %v, want one that deletes the session cookie", ck)
		}
		if reason := sessionReason(t, d, c); reason != session.ReasonRevoked {
			t.Fatalf("session: %q", reason)
		}
	})
}

// TestKeysCannotMakeOrChangeAdmins prevents a leaked users:write key from
// taking over: it used to create an admin with a password of its
// choosing, which outlives revoking the key and can mint more keys. Keys
// can no longer create users, make admins, or change or delete admins;
// they still manage the other accounts.
func TestKeysCannotMakeOrChangeAdmins(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	owner := a.addUser(t, "owner@example.com", testPassword, RoleAdmin)
	other := a.addUser(t, "other-admin@example.com", testPassword, RoleAdmin)
	ops := a.addUser(t, "ops@example.com", testPassword, RoleOperator)
	key, _ := createKey(t, d, a.newSession(t, owner), `{"name":"users","scopes":["users:write"]}`)
	for _, tt := range []struct{ name, method, path, body string }{
		{"create an admin", http.MethodPost, "/api/users", `{"email":"evil@example.com","password":"evil password","role":"admin"}`},
		{"create a viewer", http.MethodPost, "/api/users", `{"email":"evil@example.com","password":"evil password","role":"viewer"}`},
		{"promote to admin", http.MethodPut, "/api/users/" + ops.ID, `{"role":"admin"}`},
		{"demote an admin", http.MethodPut, "/api/users/" + other.ID, `{"role":"viewer"}`},
		{"disable an admin", http.MethodPut, "/api/users/" + other.ID, `{"disabled":true}`},
		{"revoke an admin's keys", http.MethodPut, "/api/users/" + other.ID, `{"revoke_keys":true}`},
		{"delete an admin", http.MethodDelete, "/api/users/" + other.ID, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, d, bearer(tt.method, tt.path, tt.body, key))
			if rec.Code != http.StatusForbidden {
				t.Fatalf("%s %s with a users:write key: %d %s, want 403", tt.method, tt.path, rec.Code, rec.Body)
			}
		})
	}
	if _, err := a.state.store.UserByEmail(context.Background(), "evil@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a key created a user: %v", err)
	}
	for _, u := range []store.User{other, ops} {
		got, err := a.state.store.UserByID(context.Background(), u.ID)
		if err != nil || got.Role != u.Role || got.Disabled {
			t.Fatalf("%s after the key's attempts: %+v %v", u.Email, got, err)
		}
	}
	// What the scope is for still works: other accounts.
	if rec := serve(t, d, bearer(http.MethodPut, "/api/users/"+ops.ID, `{"role":"viewer"}`, key)); rec.Code != http.StatusOK {
		t.Fatalf("demoting an operator with the key: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, d, bearer(http.MethodPut, "/api/users/"+ops.ID, `{"disabled":true}`, key)); rec.Code != http.StatusOK {
		t.Fatalf("disabling an operator with the key: %d %s", rec.Code, rec.Body)
	}
}

// TestMakingAnAdminNeedsThePassword prevents a stolen admin session from
// adding an admin that outlives it: creating an admin or promoting
// someone to admin asks for the caller's own password; a wrong one
// counts towards the login limits.
func TestMakingAnAdminNeedsThePassword(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	owner := a.addUser(t, "owner@example.com", testPassword, RoleAdmin)
	ops := a.addUser(t, "ops@example.com", testPassword, RoleOperator)
	cookie := a.newSession(t, owner)

	create := `{"email":"second@example.com","password":"second password","role":"admin"%s}`
	wantStatus(t, call(t, d, cookie, http.MethodPost, "/api/users", fmt.Sprintf(create, "")), http.StatusBadRequest, "confirm_password")
	wantStatus(t, call(t, d, cookie, http.MethodPost, "/api/users", fmt.Sprintf(create, `,"confirm_password":"wrong password"`)), http.StatusBadRequest, "confirm_password")
	wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/users/"+ops.ID, `{"role":"admin"}`), http.StatusBadRequest, "confirm_password")
	if got, _ := a.state.store.UserByID(context.Background(), ops.ID); got.Role != RoleOperator {
		t.Fatalf("promoted without the password: %+v", got)
	}
	wantStatus(t, call(t, d, cookie, http.MethodPost, "/api/users", fmt.Sprintf(create, fmt.Sprintf(`,"confirm_password":%q`, testPassword))), http.StatusCreated, "")
	wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/users/"+ops.ID, fmt.Sprintf(`{"role":"admin","confirm_password":%q}`, testPassword)), http.StatusOK, "")
	// Other changes need no password, and neither do non-admins.
	wantStatus(t, call(t, d, cookie, http.MethodPost, "/api/users", `{"email":"viewer@example.com","password":"viewer password","role":"viewer"}`), http.StatusCreated, "")
	wantStatus(t, call(t, d, cookie, http.MethodPut, "/api/users/"+ops.ID, `{"disabled":true}`), http.StatusOK, "")
}

// A role change that also revokes the user's keys leaves the same audit
// details whoever makes it: an admin in the dashboard or Caddy's admin
// API (which calls the account service as the host caller). The
// dashboard's entry used to lack api_keys_revoked and sessions_revoked.
func TestRoleChangeAuditSameFromEverySurface(t *testing.T) {
	a := newTestApp(t)
	d := a.dashboard()
	admin := a.addUser(t, "root@example.com", "password1", RoleAdmin)
	viaDashboard := a.addUser(t, "ada@example.com", "password1", RoleOperator)
	viaAdminAPI := a.addUser(t, "bob@example.com", "password1", RoleOperator)
	for _, u := range []store.User{viaDashboard, viaAdminAPI} {
		a.newSession(t, u)
	}

	rec := serve(t, d, withCookie(apiRequest(http.MethodPut, "/api/users/"+viaDashboard.ID, `{"role":"viewer","revoke_keys":true}`), a.newSession(t, admin)))
	if rec.Code != http.StatusOK {
		t.Fatalf("dashboard role change: %d %s", rec.Code, rec.Body)
	}
	viewer, yes := authz.Viewer, true
	if _, err := a.accounts.UpdateUser(context.Background(), host, viaAdminAPI.ID, account.UserChange{Role: &viewer, RevokeKeys: &yes}, ""); err != nil {
		t.Fatalf("admin API role change: %v", err)
	}

	details := func(email string) map[string]any {
		t.Helper()
		entries, err := a.state.store.ListAudit(context.Background(), store.AuditFilter{Action: string(audit.UserUpdate), Target: email}, 10, 0)
		if err != nil || len(entries) != 1 {
			t.Fatalf("user.update entries of %s: %v %+v", email, err, entries)
		}
		var m map[string]any
		if err := json.Unmarshal(entries[0].Details, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "via")
		return m
	}
	fromDashboard, fromAdminAPI := details(viaDashboard.Email), details(viaAdminAPI.Email)
	for _, key := range []string{"api_keys_revoked", "sessions_revoked", "before", "after"} {
		if _, ok := fromDashboard[key]; !ok {
			t.Errorf("the dashboard's entry has no %s: %v", key, fromDashboard)
		}
		if _, ok := fromAdminAPI[key]; !ok {
			t.Errorf("the admin API's entry has no %s: %v", key, fromAdminAPI)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(fromDashboard)), slices.Sorted(maps.Keys(fromAdminAPI))) {
		t.Errorf("details differ by surface:\n dashboard %v\n admin API %v", fromDashboard, fromAdminAPI)
	}
}
