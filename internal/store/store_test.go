package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables that select the PostgreSQL server for tests.
const (
	// envPostgres holds an admin DSN; every test creates and drops its own
	// database through it.
	envPostgres = "PROXYOS_TEST_POSTGRES"
	// envNoPostgres=1 skips the PostgreSQL variants for quick local runs.
	// CI never sets it, so a missing server fails instead of skipping.
	envNoPostgres = "PROXYOS_TEST_NO_POSTGRES"
)

// forEachDriver runs fn once per driver, each in its own subtest with a
// fresh, migrated store on an empty database.
func forEachDriver(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	forEachDSN(t, func(t *testing.T, driver, dsn string) {
		fn(t, openStore(t, driver, dsn))
	})
}

// forEachDSN runs fn once per driver with the DSN of a fresh, empty
// database (not yet opened), for tests that open it themselves. The
// subtests run in parallel: each has a database of its own.
func forEachDSN(t *testing.T, fn func(t *testing.T, driver, dsn string)) {
	t.Helper()
	t.Run(SQLite, func(t *testing.T) {
		t.Parallel()
		fn(t, SQLite, filepath.Join(t.TempDir(), "proxyos.db"))
	})
	t.Run(Postgres, func(t *testing.T) {
		t.Parallel()
		fn(t, Postgres, postgresDB(t))
	})
}

// openStore opens driver/dsn and closes the store when the test ends.
func openStore(t *testing.T, driver, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// postgresDB creates a database with a random name on the server of
// PROXYOS_TEST_POSTGRES, drops it when the test ends, and returns its DSN.
func postgresDB(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(envPostgres)
	if admin == "" {
		if os.Getenv(envNoPostgres) == "1" {
			t.Skipf("%s=1: skipping PostgreSQL", envNoPostgres)
		}
		t.Fatalf("%s is not set: set it to an admin DSN of a PostgreSQL server "+
			"(e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), "+
			"or set %s=1 to skip PostgreSQL tests locally", envPostgres, envNoPostgres)
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("opening admin connection: %s", RedactError(err, admin))
	}
	defer db.Close()

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "proxyos_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("creating database %s: %s", name, RedactError(err, admin))
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("opening admin connection: %s", RedactError(err, admin))
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping database %s: %s", name, RedactError(err, admin))
		}
	})
	return withDatabase(t, admin, name)
}

// withDatabase returns dsn pointed at database name, for both URL and
// key=value DSNs.
func withDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parsing %s: %s", envPostgres, RedactError(err, dsn))
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // a later keyword overrides an earlier one
}

// TestMigrations checks that Open applies the migrations once, that
// opening an existing database again changes nothing, and that nodes
// starting at the same time on one PostgreSQL database do not trip over
// each other's migrations.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	forEachDSN(t, func(t *testing.T, driver, dsn string) {
		first := openStore(t, driver, dsn)
		want := len(mustMigrations(t, first))
		if want == 0 {
			t.Fatal("no migrations embedded")
		}
		v, err := first.SchemaVersion(ctx)
		if err != nil {
			t.Fatalf("SchemaVersion: %v", err)
		}
		if v != lastVersion(t, first) {
			t.Fatalf("SchemaVersion = %d, want %d", v, lastVersion(t, first))
		}
		appliedAt := migrationTimes(t, first)
		if len(appliedAt) != want {
			t.Fatalf("%d rows in proxyos_migrations, want %d", len(appliedAt), want)
		}
		if err := first.CreateUser(ctx, testUser("keep", "keep@example.com")); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}

		t.Run("reopen is a no-op", func(t *testing.T) {
			again := openStore(t, driver, dsn)
			v2, err := again.SchemaVersion(ctx)
			if err != nil {
				t.Fatalf("SchemaVersion: %v", err)
			}
			if v2 != v {
				t.Errorf("SchemaVersion after reopen = %d, want %d", v2, v)
			}
			if got := migrationTimes(t, again); !equalInts(got, appliedAt) {
				t.Errorf("migrations re-applied: applied_at %v, want %v", got, appliedAt)
			}
			if _, err := again.UserByID(ctx, "keep"); err != nil {
				t.Errorf("data lost on reopen: UserByID: %v", err)
			}
		})

		if driver != Postgres {
			return
		}
		t.Run("concurrent open of a fresh database", func(t *testing.T) {
			fresh := postgresDB(t)
			const nodes = 8
			var (
				wg   sync.WaitGroup
				errs = make(chan error, nodes)
			)
			for range nodes {
				wg.Go(func() {
					s, err := Open(ctx, Postgres, fresh)
					if err != nil {
						errs <- err
						return
					}
					errs <- s.Close()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent Open: %v", err)
				}
			}
			s := openStore(t, Postgres, fresh)
			if got := migrationTimes(t, s); len(got) != want {
				t.Errorf("%d rows in proxyos_migrations after concurrent open, want %d", len(got), want)
			}
		})
	})
}

func mustMigrations(t *testing.T, s *Store) []migration {
	t.Helper()
	ms, err := s.migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	return ms
}

func lastVersion(t *testing.T, s *Store) int {
	t.Helper()
	ms := mustMigrations(t, s)
	return ms[len(ms)-1].version
}

// migrationTimes returns applied_at of every migration row by version.
func migrationTimes(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.db.Query(`SELECT applied_at FROM proxyos_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("reading proxyos_migrations: %v", err)
	}
	defer rows.Close()
	var ts []int64
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ts
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOpenSQLitePath checks that the database lands exactly at the given
// path, whatever characters it holds, and that reopening finds the data.
func TestOpenSQLitePath(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		rel  string // below a fresh temporary directory
	}{
		{"plain", "proxyos.db"},
		{"missing directories", filepath.Join("a", "b", "proxyos.db")},
		{"hash", "data#1/proxyos#test.db"},
		{"question mark", "what?/proxyos?mode=ro.db"},
		{"percent", "100%/proxyos%20.db"},
		{"space", "my data/proxyos.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.rel)
			s, err := Open(ctx, SQLite, path)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			if err := s.CreateUser(ctx, testUser("u1", "u1@example.com")); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database not at %q: %v", path, err)
			}
			top := strings.SplitN(filepath.ToSlash(tt.rel), "/", 2)[0]
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != top && !strings.HasPrefix(e.Name(), top+"-") {
					t.Errorf("stray file %q next to %q", e.Name(), top)
				}
			}
			again := openStore(t, SQLite, path)
			if _, err := again.UserByID(ctx, "u1"); err != nil {
				t.Errorf("reopened database lost the user: %v", err)
			}
		})
	}
}

func TestOpenUnknownDriver(t *testing.T) {
	for _, driver := range []string{"", "mysql", "SQLite", "pgx"} {
		t.Run(driver, func(t *testing.T) {
			s, err := Open(context.Background(), driver, filepath.Join(t.TempDir(), "x.db"))
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", driver)
			}
			if !strings.Contains(err.Error(), "unknown database driver") {
				t.Errorf("Open(%q) error = %q, want it to name the unknown driver", driver, err)
			}
		})
	}
}

// TestOpenUnreachablePostgresHidesPassword guards against credential leaks
// via error messages: a failed connection is logged and shown in the admin
// API, so its error must never contain the password from the DSN.
func TestOpenUnreachablePostgresHidesPassword(t *testing.T) {
	const pw = "s3cr3t-Pa55word"
	tests := []struct {
		name string
		dsn  string
	}{
		{"url", "postgres://proxyos:" + pw + "@127.0.0.1:1/proxyos?sslmode=disable&connect_timeout=5"},
		{"url without database", "postgresql://proxyos:" + pw + "@127.0.0.1:1?sslmode=disable"},
		{"key=value", "host=127.0.0.1 port=1 user=proxyos password=" + pw + " dbname=proxyos sslmode=disable"},
		{"key=value quoted", "host=127.0.0.1 port=1 user=proxyos password='" + pw + "' sslmode=disable"},
		{"unparsable url", "postgres://proxyos:" + pw + "@127.0.0.1:notaport/proxyos"},
		{"unescaped # in password", "postgres://proxyos:a#" + pw + "@127.0.0.1:1/proxyos"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), Postgres, tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded against 127.0.0.1:1, want an error")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error leaks the password: %v", err)
			}
			if !strings.Contains(err.Error(), "postgres") {
				t.Errorf("error %q does not say which database failed", err)
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	const pw = "hunter2-xyz"
	tests := []struct {
		name string
		dsn  string
		msg  string
	}{
		{
			name: "url",
			dsn:  "postgres://admin:" + pw + "@db.internal:5432/proxyos",
			msg:  "cannot connect with admin:" + pw + "@db.internal",
		},
		{
			name: "url with escaped password",
			dsn:  "postgres://admin:" + url.QueryEscape("p@ss/"+pw) + "@db.internal/proxyos",
			msg:  "auth failed for password p@ss/" + pw,
		},
		{
			name: "key=value",
			dsn:  "host=db.internal user=admin password=" + pw + " dbname=proxyos",
			msg:  "server said: password " + pw + " is wrong",
		},
		{
			name: "key=value quoted",
			dsn:  "host=db.internal user=admin password='" + pw + "' dbname=proxyos",
			msg:  "server said: password " + pw + " is wrong",
		},
		{
			name: "key=value quoted with spaces and escapes",
			dsn:  `host=db.internal password = 'it\'s ` + pw + `' user=admin`,
			msg:  "server said: password it's " + pw + " is wrong",
		},
		{
			name: "url with unescaped # in password",
			dsn:  "postgres://admin:a#" + pw + "@db.internal/proxyos",
			msg:  "cannot parse postgres://admin:a#" + pw + "@db.internal/proxyos",
		},
		{
			name: "password repeated",
			dsn:  "postgres://admin:" + pw + "@db.internal/proxyos",
			msg:  pw + " and again " + pw,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactError(errors.New(tt.msg), tt.dsn)
			if strings.Contains(got, pw) {
				t.Errorf("RedactError = %q, still contains the password", got)
			}
			if !strings.Contains(got, "xxxxx") {
				t.Errorf("RedactError = %q, want the password replaced by xxxxx", got)
			}
		})
	}

	t.Run("no password leaves message alone", func(t *testing.T) {
		const msg = "dial tcp 127.0.0.1:1: connection refused"
		for _, dsn := range []string{
			"postgres://admin@127.0.0.1:1/proxyos",
			"host=127.0.0.1 port=1 user=admin",
			"/var/lib/caddy/proxyos.db",
		} {
			if got := RedactError(errors.New(msg), dsn); got != msg {
				t.Errorf("RedactError(%q) = %q, want %q", dsn, got, msg)
			}
		}
	})
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, postgres string
	}{
		{"none", `SELECT 1`, `SELECT 1`},
		{"one", `SELECT * FROM users WHERE id = ?`, `SELECT * FROM users WHERE id = $1`},
		{"many", `INSERT INTO t (a, b, c) VALUES (?, ?, ?)`, `INSERT INTO t (a, b, c) VALUES ($1, $2, $3)`},
		{"two digits", strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
		{"adjacent", `??`, `$1$2`},
	}
	pg := &Store{driver: Postgres}
	lite := &Store{driver: SQLite}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pg.q(tt.in); got != tt.postgres {
				t.Errorf("postgres q(%q) = %q, want %q", tt.in, got, tt.postgres)
			}
			if got := lite.q(tt.in); got != tt.in {
				t.Errorf("sqlite q(%q) = %q, want it unchanged", tt.in, got)
			}
		})
	}
}

// testUser returns a valid user with fixed, millisecond-precise times.
func testUser(id, email string) User {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	return User{
		ID:           id,
		Email:        email,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Role:         "admin",
		CreatedAt:    at,
		UpdatedAt:    at,
	}
}
