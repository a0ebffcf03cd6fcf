package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ChangeRouteToken is the change-log kind of a route token: a node
// drops the token from its cache of verified tokens.
const ChangeRouteToken = "route_token"

// RouteToken is a stored route token. The token itself is never stored:
// Hash is its argon2id hash.
type RouteToken struct {
	ID         string
	RouteID    string
	Name       string
	Username   string // "" for a bearer token; the basic-auth user name otherwise
	Hash       string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

const routeTokenColumns = `id, route_id, name, username, hash, created_by, created_at, last_used_at, revoked_at`

func scanRouteToken(row interface{ Scan(...any) error }) (RouteToken, error) {
	var (
		t             RouteToken
		created       int64
		used, revoked sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.RouteID, &t.Name, &t.Username, &t.Hash, &t.CreatedBy, &created, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return RouteToken{}, ErrNotFound
	}
	if err != nil {
		return RouteToken{}, err
	}
	t.CreatedAt = fromMillis(created)
	t.LastUsedAt, t.RevokedAt = nullTime(used), nullTime(revoked)
	return t, nil
}

// CreateRouteToken stores t.
func (s *Store) CreateRouteToken(ctx context.Context, t RouteToken) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO route_tokens (`+routeTokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.RouteID, t.Name, t.Username, t.Hash, t.CreatedBy, millis(t.CreatedAt), nullMillis(t.LastUsedAt), nullMillis(t.RevokedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeRouteToken, t.ID)
}

// RouteTokenByID finds a token by id.
func (s *Store) RouteTokenByID(ctx context.Context, id string) (RouteToken, error) {
	return scanRouteToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+routeTokenColumns+` FROM route_tokens WHERE id = ?`), id))
}

// ListRouteTokens lists the tokens of a route, newest first, revoked
// ones too.
func (s *Store) ListRouteTokens(ctx context.Context, routeID string) ([]RouteToken, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+routeTokenColumns+` FROM route_tokens WHERE route_id = ? ORDER BY created_at DESC, id`), routeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RouteToken
	for rows.Next() {
		t, err := scanRouteToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeRouteToken marks a token revoked and records the change, so
// every node drops it. It reports false when it was revoked already;
// ErrNotFound when there is no such token.
func (s *Store) RevokeRouteToken(ctx context.Context, id string, at time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE route_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), millis(at), id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, s.commit(ctx, tx, ChangeRouteToken, id)
	}
	tx.Rollback() //nolint:errcheck // nothing to keep
	if _, err := s.RouteTokenByID(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

// TouchRouteToken records a use of the token.
func (s *Store) TouchRouteToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE route_tokens SET last_used_at = ? WHERE id = ?`), millis(at), id)
	return err
}
