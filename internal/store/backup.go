package store

import (
	"context"
	"errors"
	"fmt"
	"os"
)

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
