package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChangeStream is the change-log kind of a managed stream: a node
// reloads it (its listener opened, changed or closed).
const ChangeStream = "stream"

// StoredStream is a managed TCP/UDP stream as stored: its JSON spec plus
// the columns needed to query and version it.
type StoredStream struct {
	ID        string
	Spec      []byte
	Version   int
	Enabled   bool
	Listen    string // network/host:port, as normalized
	CreatedAt time.Time
	UpdatedAt time.Time
}

const streamColumns = `id, spec, version, enabled, listen, created_at, updated_at`

func scanStream(row interface{ Scan(...any) error }) (StoredStream, error) {
	var (
		st               StoredStream
		spec             string
		created, updated int64
	)
	err := row.Scan(&st.ID, &spec, &st.Version, &st.Enabled, &st.Listen, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	st.Spec, st.CreatedAt, st.UpdatedAt = []byte(spec), fromMillis(created), fromMillis(updated)
	return st, err
}

// ListStreams returns every stream, oldest first.
func (s *Store) ListStreams(ctx context.Context) ([]StoredStream, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+streamColumns+` FROM streams ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredStream
	for rows.Next() {
		st, err := scanStream(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Stream returns one stream.
func (s *Store) Stream(ctx context.Context, id string) (StoredStream, error) {
	return scanStream(s.db.QueryRowContext(ctx, s.q(`SELECT `+streamColumns+` FROM streams WHERE id = ?`), id))
}

// PutStream creates st (when prevVersion is 0) or replaces the stream
// whose version is prevVersion, and records the change in its history,
// in one transaction. It returns ErrVersionConflict when the stored
// version differs and ErrNotFound for an unknown id.
func (s *Store) PutStream(ctx context.Context, st StoredStream, prevVersion int, action, actor string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if prevVersion == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO streams (`+streamColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			st.ID, string(st.Spec), st.Version, st.Enabled, st.Listen, millis(st.CreatedAt), millis(st.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("stream %s: %w", st.ID, ErrConflict)
		}
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, s.q(`UPDATE streams SET spec = ?, version = ?, enabled = ?, listen = ?, updated_at = ? WHERE id = ? AND version = ?`),
			string(st.Spec), st.Version, st.Enabled, st.Listen, millis(st.UpdatedAt), st.ID, prevVersion)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				var c int
				if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM streams WHERE id = ?`), st.ID).Scan(&c); err != nil {
					return err
				}
				if c == 0 {
					return ErrNotFound
				}
				return ErrVersionConflict
			}
		}
	}
	if err != nil {
		return err
	}
	if err := s.addVersionOf(ctx, tx, streamTables, RouteVersion{RouteID: st.ID, Version: st.Version, Action: action, Spec: st.Spec, Actor: actor, At: st.UpdatedAt}); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeStream, st.ID)
}

// DeleteStream removes a stream whose version is prevVersion (any
// version when 0) and records the deletion in its history.
func (s *Store) DeleteStream(ctx context.Context, id string, prevVersion int, actor string, at time.Time) error {
	return s.deleteVersioned(ctx, streamTables, id, prevVersion, actor, at, nil)
}

// StreamVersions returns a stream's history, newest first (RouteID is
// the stream's id).
func (s *Store) StreamVersions(ctx context.Context, id string) ([]RouteVersion, error) {
	return s.versionsOf(ctx, streamTables, id)
}

// StreamVersionSpec returns the spec a stream had at a version.
func (s *Store) StreamVersionSpec(ctx context.Context, id string, version int) ([]byte, error) {
	return s.versionSpecOf(ctx, streamTables, id, version)
}
