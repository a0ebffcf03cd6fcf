package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRestartKeepsState checks that users, sessions and revocations
// confirmed before Caddy stops are there after it starts again, both
// after a graceful stop and after kill -9, with the default store and
// the generated secret.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(*instance)
	}{
		{"graceful", (*instance).Stop},
		{"kill -9", (*instance).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startDashboard(t)
			inst, base, appBase, adminCookie := e.inst, e.Base, e.AppBase, e.adminCk
			opsID := inst.CreateUser("ops@example.com", "operator password", "operator")
			_, opsCookie := newClient(t, base).Login("ops@example.com", "operator password")
			out := newClient(t, base)
			_, outCookie := out.Login("ops@example.com", "operator password")
			if resp, raw := out.PostJSON("/api/auth/logout", map[string]any{}); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: %d %s", resp.StatusCode, raw)
			}
			// Confirmed by the API before the stop.
			wantSession(t, base, adminCookie, "")
			wantSession(t, base, opsCookie, "")
			wantSession(t, base, outCookie, "revoked")

			tt.stop(inst)
			inst.Start()

			wantSession(t, base, adminCookie, "")
			wantSession(t, base, opsCookie, "")
			wantSession(t, base, outCookie, "revoked")
			resp, raw := do(t, plainHTTP, http.MethodGet, appBase+"/", nil, withSession(opsCookie))
			if want := "user=" + opsID + " email=ops@example.com role=operator"; resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(raw), want) {
				t.Errorf("gate after restart: %d %q, want 200 %q…", resp.StatusCode, raw, want)
			}
			c := newClient(t, base)
			if id, _ := c.Login("ops@example.com", "operator password"); id != opsID {
				t.Errorf("user id after restart %s, want %s", id, opsID)
			}
			assertSetupRequired(t, c, false)
			if strings.Contains(inst.Log(), "setup_code") {
				t.Errorf("a setup code is logged although users exist")
			}
			if resp, raw := inst.AdminDo(http.MethodPost, "/proxyos/users", map[string]string{"email": "ops@example.com", "password": "operator password"}); resp.StatusCode != http.StatusConflict {
				t.Errorf("re-creating a user after restart: %d %s, want 409", resp.StatusCode, raw)
			}
		})
	}
}

// TestReloadKeepsSessions checks that a config reload, through the admin
// API's /load with adapted JSON and through `caddy reload`, keeps
// sessions and revocations.
func TestReloadKeepsSessions(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashProxyos("secret reload-test-secret-5e2c8a"))
	inst, base, appBase, cookie := e.inst, e.Base, e.AppBase, e.adminCk
	out := newClient(t, base)
	_, outCookie := out.Login("admin@example.com", "admin password")
	if resp, raw := out.PostJSON("/api/auth/logout", map[string]any{}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}

	reloads := []struct {
		name   string
		reload func(t *testing.T, caddyfile string)
	}{
		{"POST /load", func(t *testing.T, caddyfile string) {
			inst.WriteConfig(caddyfile)
			adapted, err := exec.Command(caddyBin, "adapt", "--config", inst.ConfigFile(), "--adapter", "caddyfile").Output()
			if err != nil {
				t.Fatalf("caddy adapt: %v", err)
			}
			resp, raw := do(t, http.DefaultClient, http.MethodPost, "http://"+inst.Admin+"/load", bytes.NewReader(adapted),
				http.Header{"Content-Type": {"application/json"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /load: %d %s", resp.StatusCode, raw)
			}
		}},
		{"caddy reload", func(t *testing.T, caddyfile string) {
			inst.WriteConfig(caddyfile)
			out, err := exec.Command(caddyBin, "reload", "--config", inst.ConfigFile(), "--adapter", "caddyfile", "--address", inst.Admin).CombinedOutput()
			if err != nil {
				t.Fatalf("caddy reload: %v\n%s", err, out)
			}
		}},
	}
	for i, r := range reloads {
		t.Run(r.name, func(t *testing.T) {
			// Each reload changes the gated site's response, so it is
			// visibly a new config.
			marker := fmt.Sprintf("reload-%d", i)
			r.reload(t, strings.Replace(dashboardConfig(inst.Admin, e.DashPort, e.AppPort, "", "secret reload-test-secret-5e2c8a"),
				`respond "user=`, `respond "`+marker+` user=`, 1))
			eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
				code, body, err := tryGet(plainHTTP, appBase+"/", withSession(cookie))
				return err == nil && code == http.StatusOK && strings.HasPrefix(body, marker+" "), fmt.Sprintf("gate: %d %s %v", code, body, err)
			})
			wantSession(t, base, cookie, "")
			wantSession(t, base, outCookie, "revoked")
			assertSetupRequired(t, newClient(t, base), false)
		})
	}
	if strings.Contains(inst.FullLog(), "reload-test-secret-5e2c8a") {
		t.Errorf("the secret appears in the log after reloads")
	}
}
