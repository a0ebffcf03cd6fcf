// Package ops runs operations on a node's data for the people who run
// it: backups of the database, each recorded in the audit log.
package ops

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Service runs the operations.
type Service struct {
	Store *store.Store
	Audit *audit.Log
}

// Backup is a copy of the database that Backup wrote.
type Backup struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// Backup writes a consistent copy of the SQLite database to path, an
// absolute path of the host that does not exist yet, written by the Caddy
// process (readable by its owner only). The copy holds no secret that
// opens the sealed data: restoring it needs the same secret (the secret
// file beside the database, or the secret option). PostgreSQL databases
// are refused: pg_dump copies them.
func (s *Service) Backup(ctx context.Context, actor audit.Actor, path string) (Backup, error) {
	if path == "" || !filepath.IsAbs(path) {
		return Backup{}, fail.Field("path", "must be an absolute path on the host, such as /var/backups/proxyos.db")
	}
	path = filepath.Clean(path)
	n, err := s.Store.Backup(ctx, path)
	switch {
	case errors.Is(err, store.ErrBackupPostgres):
		return Backup{}, fail.Field("path", "%s", err)
	case errors.Is(err, fs.ErrExist):
		return Backup{}, fail.Field("path", "%s exists already: a backup never overwrites a file", path)
	case errors.Is(err, fs.ErrNotExist):
		return Backup{}, fail.Field("path", "the directory of %s does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return Backup{}, fail.Field("path", "Caddy may not write %s", path)
	case err != nil:
		return Backup{}, err
	}
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.DatabaseBackup, Target: path,
		Extra: map[string]any{"bytes": n}})
	return Backup{Path: path, Bytes: n}, nil
}
