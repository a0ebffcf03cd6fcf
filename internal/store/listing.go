package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ErrLastAdmin is returned by a change that would leave no enabled admin.
var ErrLastAdmin = errors.New("this is the last enabled admin; make another user admin first")

// adminRole is the role the last-admin guard protects (proxyos.RoleAdmin).
const adminRole = "admin"

// ListUsers returns every user, ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userSelect+` FROM users ORDER BY email`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// UpdateUserKeepingAdmin stores u's role, password hash and disabled flag
// like UpdateUser, but refuses with ErrLastAdmin when u is an enabled
// admin now and would no longer be one while no other enabled admin
// exists. The check and the write share one transaction that excludes
// other user writes, so two admins demoting each other at the same time
// cannot both succeed.
func (s *Store) UpdateUserKeepingAdmin(ctx context.Context, u User) error {
	tx, err := s.lockUsers(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if u.Role != adminRole || u.Disabled {
		if err := s.checkNotLastAdmin(ctx, tx, u.ID); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET password_hash = ?, role = ?, disabled = ?, updated_at = ? WHERE id = ?`),
		u.PasswordHash, u.Role, u.Disabled, millis(u.UpdatedAt), u.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeUser, u.ID)
}

// DeleteUser deletes a user and, by cascade, their sessions. It refuses
// with ErrLastAdmin to delete the last enabled admin, atomically as
// UpdateUserKeepingAdmin does.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tx, err := s.lockUsers(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := s.checkNotLastAdmin(ctx, tx, id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeUser, id)
}

// lockUsers begins a transaction that no other user write can interleave
// with. SQLite write transactions are exclusive already (_txlock=immediate);
// PostgreSQL needs a table lock that conflicts with itself and with
// UPDATE/DELETE, while plain reads go on.
func (s *Store) lockUsers(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if s.driver == Postgres {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			tx.Rollback() //nolint:errcheck // already failing
			return nil, err
		}
	}
	return tx, nil
}

// checkNotLastAdmin returns ErrLastAdmin when the user with the id is an
// enabled admin and no other enabled admin exists, and ErrNotFound when
// there is no such user.
func (s *Store) checkNotLastAdmin(ctx context.Context, tx *sql.Tx, id string) error {
	var (
		role     string
		disabled bool
	)
	err := tx.QueryRowContext(ctx, s.q(`SELECT role, disabled FROM users WHERE id = ?`), id).Scan(&role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if role != adminRole || disabled {
		return nil
	}
	var others int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users WHERE role = ? AND disabled = ? AND id <> ?`),
		adminRole, false, id).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return ErrLastAdmin
	}
	return nil
}

const sessionColumns = `id, token_hash, user_id, created_at, expires_at, last_seen_at, revoked_at, client_ip, user_agent, parent_id, host`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var (
		ss                     Session
		created, expires, seen int64
		revoked                sql.NullInt64
	)
	err := row.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &created, &expires, &seen, &revoked, &ss.ClientIP, &ss.UserAgent, &ss.ParentID, &ss.Host)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	ss.CreatedAt, ss.ExpiresAt, ss.LastSeenAt = fromMillis(created), fromMillis(expires), fromMillis(seen)
	if revoked.Valid {
		ss.RevokedAt = fromMillis(revoked.Int64)
	}
	return ss, nil
}

// ListSessions returns a user's sessions that are neither revoked nor
// past their absolute expiry at now, most recently used first. Idle
// expiry depends on the configuration; the caller filters for it.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY last_seen_at DESC, created_at DESC`),
		userID, millis(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

// SessionByID finds a session by id, revoked or not.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	return scanSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`), id))
}
