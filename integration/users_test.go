package integration

import (
	"net/http"
	"testing"
)

// TestUserChanges checks PUT /proxyos/users/{email} on the admin API: a
// disabled user's sessions end at once with reason user_disabled (also at
// the proxyos_auth gate), stay ended after re-enabling, and they cannot
// log in; a role or password change revokes the user's sessions, so a
// stolen cookie does not keep the old role.
func TestUserChanges(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base, appURL := e.inst, e.Base, e.AppBase+"/"
	inst.CreateUser("ops@example.com", "ops password", "operator")

	c := newClient(t, base)
	_, cookie := c.Login("ops@example.com", "ops password")

	resp, raw := inst.AdminDo(http.MethodPut, "/proxyos/users/OPS@example.com", map[string]any{"disabled": true})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", resp.StatusCode, raw)
	}
	wantSession(t, base, cookie, "user_disabled")
	resp, raw = do(t, plainHTTP, http.MethodGet, appURL, nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode != http.StatusUnauthorized || decode(t, raw)["reason"] != "user_disabled" {
		t.Fatalf("gate with a disabled user's cookie: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := c.PostJSON("/api/auth/login", map[string]string{"email": "ops@example.com", "password": "ops password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login of a disabled user: %d %s", resp.StatusCode, raw)
	}

	if resp, raw := inst.AdminDo(http.MethodPut, "/proxyos/users/ops@example.com", map[string]any{"disabled": false}); resp.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d %s", resp.StatusCode, raw)
	}
	wantSession(t, base, cookie, "revoked") // disabling ended the session for good

	_, cookie = c.Login("ops@example.com", "ops password")
	if resp, raw := inst.AdminDo(http.MethodPut, "/proxyos/users/ops@example.com", map[string]any{"role": "viewer"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("role change: %d %s", resp.StatusCode, raw)
	}
	wantSession(t, base, cookie, "revoked")

	_, cookie = c.Login("ops@example.com", "ops password")
	if resp, raw := inst.AdminDo(http.MethodPut, "/proxyos/users/ops@example.com", map[string]any{"password": "new password 1"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("password change: %d %s", resp.StatusCode, raw)
	}
	wantSession(t, base, cookie, "revoked")
	c.Login("ops@example.com", "new password 1")

	// The last enabled admin cannot be demoted or disabled from here either.
	if resp, raw := inst.AdminDo(http.MethodPut, "/proxyos/users/admin@example.com", map[string]any{"role": "viewer"}); resp.StatusCode != http.StatusConflict {
		t.Errorf("demoting the last admin: %d %s, want 409", resp.StatusCode, raw)
	}
	for _, tt := range []struct {
		path string
		body map[string]any
		want int
	}{
		{"/proxyos/users/nobody@example.com", map[string]any{"disabled": true}, http.StatusNotFound},
		{"/proxyos/users/ops@example.com", map[string]any{"role": "root"}, http.StatusBadRequest},
		{"/proxyos/users/ops@example.com", map[string]any{"password": "short"}, http.StatusBadRequest},
		{"/proxyos/users/ops@example.com", map[string]any{"disabled": "yes"}, http.StatusBadRequest},
	} {
		if resp, raw := inst.AdminDo(http.MethodPut, tt.path, tt.body); resp.StatusCode != tt.want {
			t.Errorf("PUT %s %v: %d %s, want %d", tt.path, tt.body, resp.StatusCode, raw, tt.want)
		}
	}
}
