package integration

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIUserRecovery checks that a locked-out admin recovers from the
// host: `caddy proxyos user add` creates an account and `caddy proxyos
// user reset-password` sets a new password and ends the old sessions,
// both through the local admin API.
func TestCLIUserRecovery(t *testing.T) {
	t.Parallel()
	e := startDashboard(t, dashNoAdmin())
	inst, base := e.inst, e.Base

	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(caddyBin, append([]string{"proxyos", "user"}, append(args, "--address", inst.Admin, "--password-stdin")...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("caddy proxyos user %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	if out := cli("first password\n", "add", "root@example.com", "--role", "admin"); !strings.Contains(out, "created root@example.com") {
		t.Errorf("user add said %q", out)
	}
	c := newClient(t, base)
	_, cookie := c.Login("root@example.com", "first password")

	cli("second password\n", "reset-password", "root@example.com")
	wantSession(t, base, cookie, "revoked")
	if resp, raw := newClient(t, base).PostJSON("/api/auth/login", map[string]string{"email": "root@example.com", "password": "first password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d %s", resp.StatusCode, raw)
	}
	newClient(t, base).Login("root@example.com", "second password")

	cmd := exec.Command(caddyBin, "proxyos", "user", "reset-password", "nobody@example.com", "--address", inst.Admin, "--password-stdin")
	cmd.Stdin = strings.NewReader("whatever password\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "404") {
		t.Errorf("reset of an unknown user: err %v, output %s", err, out)
	}
	if strings.Contains(inst.Log(), "second password") {
		t.Error("the new password appears in Caddy's log")
	}
}
