package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is what callers answer when the database cannot be
// reached (see IsUnavailable).
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means the database could not be
// reached (refused or lost connections, timeouts connecting, a server
// shutting down), as opposed to an error of the query itself. Nothing
// was written then: every write is one transaction.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err) {
		return true
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		// Class 08: connection exception; 57P01–57P03: the server is
		// shutting down or starting.
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03")
	}
	return pgconn.Timeout(err) && !errors.Is(err, context.Canceled)
}

// ErrBackupPostgres is why Backup refuses a PostgreSQL database: its
// server's own tools (pg_dump) copy it consistently.
var ErrBackupPostgres = errors.New("the database is PostgreSQL: back it up with pg_dump")

// Backup writes a consistent copy of the SQLite database, as of one
// moment, to path while it stays in use, and returns the copy's size.
// path must not exist; the copy is readable by its owner only (it holds
// password hashes and sealed secrets).
func (s *Store) Backup(ctx context.Context, path string) (int64, error) {
	if s.driver != SQLite {
		return 0, ErrBackupPostgres
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	f.Close()
	// VACUUM INTO writes into an empty file; it reads in one transaction.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return 0, fmt.Errorf("copying the database: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
