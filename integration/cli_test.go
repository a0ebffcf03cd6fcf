package integration

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
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

// TestCLICertificates lists the certificates with `caddy proxyos
// certificates`: a tls internal route's name with its issuer and
// expiry, and an uploaded certificate that expires soon.
func TestCLICertificates(t *testing.T) {
	t.Parallel()
	e := rtStart(t, "")
	const host = "cli.proxyos.test"
	e.dash.create(rtProxy(host, "internal", "http://127.0.0.1:9"))
	if _, err := ctServedSerial(t, e, host, rtLocalRoot(t, e)); err != nil {
		t.Fatal(err)
	}
	ca := newCTCA(t)
	ctUpload(t, ctAPI(e.dash), ca.issue(time.Now().Add(10*24*time.Hour), "soon.proxyos.test"))

	out, err := exec.Command(caddyBin, "proxyos", "certificates", "--address", e.inst.Admin).CombinedOutput()
	if err != nil {
		t.Fatalf("caddy proxyos certificates: %v\n%s", err, out)
	}
	var row, upload string
	for _, line := range strings.Split(string(out), "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 0 && f[0] == host:
			row = line
		case strings.Contains(line, "soon.proxyos.test"):
			upload = line
		}
	}
	// The internal CA's certificates last 12 hours: within 14 days.
	if f := strings.Fields(row); len(f) < 6 || f[1] != "internal" || f[3] != "on_demand" || strings.Join(f[4:], " ") != "expires soon" {
		t.Errorf("the row of %s is %q, want issuer internal, on_demand, expires soon\n%s", host, row, out)
	} else if _, err := time.Parse(time.RFC3339, f[2]); err != nil {
		t.Errorf("the row of %s has no expiry: %q", host, row)
	}
	if !strings.Contains(upload, "expires soon") {
		t.Errorf("the uploaded certificate's row is %q, want it to expire soon\n%s", upload, out)
	}
}
