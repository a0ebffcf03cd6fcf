package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// postgresDatabase creates a fresh database on the server named by
// PROXYOS_TEST_POSTGRES, drops it when the test ends, and returns its
// connection URL. Without PROXYOS_TEST_POSTGRES the test fails: CI sets
// it, and a missing server must not pass silently.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PROXYOS_TEST_POSTGRES")
	if dsn == "" {
		t.Fatal("PROXYOS_TEST_POSTGRES is not set: set it to the URL of a PostgreSQL server the tests may create databases on, " +
			"such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("PROXYOS_TEST_POSTGRES must be a postgres:// URL")
	}
	server, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := make([]byte, 6)
	rand.Read(raw)
	name := "proxyos_it_" + hex.EncodeToString(raw)
	if _, err := server.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s on PROXYOS_TEST_POSTGRES: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := server.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// TestPostgres runs the dashboard flow on PostgreSQL: setup, login, the
// gate, logout revoking the session, and a restart that finds it all in
// the database.
func TestPostgres(t *testing.T) {
	t.Parallel()
	dsn := postgresDatabase(t)
	const secret = "postgres-test-secret-8f2d6b"
	e := startDashboard(t, dashNoAdmin(), dashProxyos("database postgres "+dsn, "secret "+secret))
	inst := e.inst
	if !strings.Contains(inst.Log(), `"database":"postgres"`) {
		t.Fatalf("proxyos does not report the postgres store at start-up")
	}
	base, appBase := e.Base, e.AppBase

	c := newClient(t, base)
	assertSetupRequired(t, c, true)
	adminCookie := c.Setup(inst, "admin@example.com", "admin password")
	if resp, raw := c.PostJSON("/api/setup", map[string]string{"email": "b@example.com", "password": "admin password", "setup_code": "X"}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second setup: %d %s, want 409", resp.StatusCode, raw)
	}
	opsID := inst.CreateUser("ops@example.com", "operator password", "operator")
	if resp, raw := newClient(t, base).PostJSON("/api/auth/login", map[string]string{"email": "ops@example.com", "password": "wrong password"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s, want 401", resp.StatusCode, raw)
	}
	ops := newClient(t, base)
	_, opsCookie := ops.Login("ops@example.com", "operator password")

	resp, raw := do(t, plainHTTP, http.MethodGet, appBase+"/", nil, withSession(opsCookie))
	if want := "user=" + opsID + " email=ops@example.com role=operator"; resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(raw), want) {
		t.Fatalf("gate: %d %q, want 200 %q…", resp.StatusCode, raw, want)
	}
	if resp, raw := ops.PostJSON("/api/auth/logout", map[string]any{}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, raw)
	}
	wantSession(t, base, opsCookie, "revoked")
	if status, reason := gateReason(t, appBase, opsCookie); reason != "revoked" {
		t.Fatalf("gate after logout: %d reason %q, want 401 revoked", status, reason)
	}

	// The state is in PostgreSQL, with only hashes of tokens.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var users, sessions, revoked int
	err = db.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions), (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL)`).
		Scan(&users, &sessions, &revoked)
	if err != nil {
		t.Fatalf("reading the proxyos tables: %v", err)
	}
	if users != 2 || sessions != 2 || revoked != 1 {
		t.Errorf("database holds %d users, %d sessions (%d revoked), want 2, 2 (1)", users, sessions, revoked)
	}
	rows, err := db.Query(`SELECT token_hash FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		for _, ck := range []string{adminCookie, opsCookie} {
			if strings.Contains(ck, h) || strings.Contains(h, ck[9:9+43]) {
				t.Errorf("the database keeps a session token, not its hash")
			}
		}
	}
	rows.Close()

	inst.Restart()
	wantSession(t, base, adminCookie, "")
	wantSession(t, base, opsCookie, "revoked")
	assertSetupRequired(t, c, false)
	if strings.Contains(inst.FullLog(), secret) {
		t.Errorf("the secret appears in the log")
	}
}
