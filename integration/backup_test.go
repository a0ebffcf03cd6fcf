package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupAndRestore backs up a running instance's SQLite database
// with `caddy proxyos backup`, changes something afterwards, restores the
// copy as README says (stop, put the file in place, start) and finds the
// state of the moment of the backup: users, passwords and an API key,
// whose sealed digest opens with the same secret.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	e := startDashboard(t)
	inst, base := e.inst, e.Base
	key := acsMustKeyWithPassword(t, e.admin, e.adminPassword, "backup test", "users:read")
	inst.CreateUser("before@example.com", "before password", "viewer")

	file := filepath.Join(t.TempDir(), "proxyos-backup.db")
	backup := func(path string) (string, error) {
		out, err := exec.Command(caddyBin, "proxyos", "backup", path, "--address", inst.Admin).CombinedOutput()
		return string(out), err
	}
	out, err := backup(file)
	if err != nil || !strings.Contains(out, "wrote "+file) {
		t.Fatalf("caddy proxyos backup: %v\n%s", err, out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("the backup's mode is %v, want 0600: it holds password hashes", mode)
	}
	if out, err := backup(file); err == nil || !strings.Contains(out, "exists already") {
		t.Errorf("a second backup to the same file: err %v, output %s; want a refusal that never overwrites", err, out)
	}
	resp, raw := inst.AdminDo(http.MethodPost, "/proxyos/backup", map[string]string{"path": "relative.db"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "path") {
		t.Errorf("a relative path: %d %s, want 400 naming path", resp.StatusCode, raw)
	}
	resp, raw = e.admin.Get("/api/audit?action=database.backup", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), file) {
		t.Errorf("audit log for the backup: %d %s", resp.StatusCode, raw)
	}

	inst.CreateUser("after@example.com", "after password", "viewer")
	inst.Stop()
	dbs, _ := filepath.Glob(filepath.Join(inst.Home, "*", "caddy", "proxyos", "proxyos.db"))
	if len(dbs) != 1 {
		t.Fatalf("the instance's database: found %q", dbs)
	}
	copyFile(t, file, dbs[0])
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(dbs[0] + suffix)
	}
	inst.Start()

	newClient(t, base).Login("before@example.com", "before password")
	if resp, raw := newClient(t, base).PostJSON("/api/auth/login", map[string]string{"email": "after@example.com", "password": "after password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a user made after the backup, after the restore: %d %s, want 401", resp.StatusCode, raw)
	}
	resp, raw = do(t, plainHTTP, http.MethodGet, base+"/api/users", nil, http.Header{"Authorization": {"Bearer " + key}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "before@example.com") {
		t.Errorf("the API key after the restore: %d %s", resp.StatusCode, raw)
	}
}

// copyFile copies src to dst, replacing dst.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
