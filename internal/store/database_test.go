package store

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"testing"
	"time"
)

// Errors of an unreachable database are told apart from errors of a
// query, so that the API answers 503 for the first and keeps the second
// an internal error.
func TestIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	db, err := sql.Open("pgx", "postgres://proxyos@"+closed+"/proxyos?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	refused := db.PingContext(ctx)
	if refused == nil || !IsUnavailable(refused) || !IsUnavailable(fmt.Errorf("reading user: %w", refused)) {
		t.Fatalf("a refused connection (%v) is not unavailable", refused)
	}

	s := openStore(t, Postgres, postgresDB(t))
	_, queryErr := s.db.ExecContext(ctx, `SELECT * FROM no_such_table`)
	for _, err := range []error{queryErr, ErrNotFound, ErrConflict, ErrLastAdmin, nil, context.Canceled} {
		if IsUnavailable(err) {
			t.Errorf("%v counted as an unreachable database", err)
		}
	}
}
