package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// EnvPostgres names the admin URL of the PostgreSQL server that tests
// create their databases on, such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvPostgres = "PROXYOS_TEST_POSTGRES"

// PostgresDSN creates a database with a random name on the server of
// PROXYOS_TEST_POSTGRES, drops it when the test ends, and returns its
// URL. Without the variable the test fails: a missing server must not
// pass silently.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	u, err := url.Parse(admin)
	if admin == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be the postgres:// URL of a PostgreSQL server the tests may create databases on, "+
			"such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", EnvPostgres)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("opening %s: %s", EnvPostgres, store.RedactError(err, admin))
	}
	raw := make([]byte, 8)
	rand.Read(raw)
	name := "proxyos_test_" + hex.EncodeToString(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		db.Close()
		t.Fatalf("creating database %s: %s", name, store.RedactError(err, admin))
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping database %s: %s", name, store.RedactError(err, admin))
		}
	})
	u.Path = "/" + name
	return u.String()
}

// OpenPostgres opens a migrated store on dsn, closed when the test ends:
// each call is one more node's connection to the database.
func OpenPostgres(t testing.TB, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Postgres, dsn)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
