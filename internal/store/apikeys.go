package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// APIKey is a stored API key. The key itself is never stored: Digest is
// its hash, sealed by the caller.
type APIKey struct {
	ID         string
	UserID     string
	Name       string
	Scopes     []string
	Digest     string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

const apiKeyColumns = `id, user_id, name, scopes, digest, created_at, expires_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var (
		k                        APIKey
		scopes                   string
		created                  int64
		expires, used, revokedAt sql.NullInt64
	)
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &scopes, &k.Digest, &created, &expires, &used, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt = fromMillis(created)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = nullTime(expires), nullTime(used), nullTime(revokedAt)
	return k, nil
}

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMillis(v.Int64)
}

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(t), Valid: true}
}

// CreateAPIKey stores k.
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.UserID, k.Name, strings.Join(k.Scopes, " "), k.Digest, millis(k.CreatedAt),
		nullMillis(k.ExpiresAt), nullMillis(k.LastUsedAt), nullMillis(k.RevokedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeAPIKey, k.ID)
}

// APIKeyByID finds a key by id.
func (s *Store) APIKeyByID(ctx context.Context, id string) (APIKey, error) {
	return scanAPIKey(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`), id))
}

// ListAPIKeys lists the keys of a user, newest first, revoked ones too.
func (s *Store) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id`), userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey marks a key revoked. It reports false when the key was
// revoked already; ErrNotFound when there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), millis(at), id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, s.commit(ctx, tx, ChangeAPIKey, id)
	}
	tx.Rollback() //nolint:errcheck // nothing to keep
	if _, err := s.APIKeyByID(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

// TouchAPIKey records a use of the key.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`), millis(at), id)
	return err
}

// RevokeUserAPIKeys revokes every active key of a user and returns how
// many it revoked.
func (s *Store) RevokeUserAPIKeys(ctx context.Context, userID string, at time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	ids, err := returnedIDs(tx.QueryContext(ctx, s.q(`UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id`),
		millis(at), userID))
	if err != nil {
		return 0, err
	}
	return len(ids), s.commit(ctx, tx, ChangeAPIKey, ids...)
}
