package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is an account that can log in to the dashboard.
type User struct {
	ID           string
	Email        string // always lower case
	PasswordHash string // modular-crypt format
	Role         string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	TOTPEnabled  bool // read only; see SetTOTP
	Passkeys     bool // read only: the user has a passkey (see CreatePasskey)
	// Groups are those the user's latest sign-in with an OpenID
	// provider brought; none for other users. Read only; see
	// SetUserGroups.
	Groups []string
}

const userColumns = `id, email, password_hash, role, disabled, created_at, updated_at`

// userSelect is userColumns and what scanUser derives from other columns.
const userSelect = userColumns + `, totp_secret <> '', EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = users.id), oidc_groups`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u                User
		created, updated int64
		groups           string
	)
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &created, &updated, &u.TOTPEnabled, &u.Passkeys, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	u.Groups = splitGroups(groups)
	return u, err
}

// SetUserGroups stores the groups of a user's latest sign-in with an
// OpenID provider, and records a change of the user so that every node
// reloads its cached sessions (which carry the groups). Groups must not
// contain a line break (the column holds one per line).
func (s *Store) SetUserGroups(ctx context.Context, userID string, groups []string) error {
	for _, g := range groups {
		if strings.ContainsAny(g, "\r\n") {
			return fmt.Errorf("group %q has a line break", g)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET oidc_groups = ? WHERE id = ?`), strings.Join(groups, "\n"), userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeUser, userID)
}

// splitGroups reads the oidc_groups column.
func splitGroups(col string) []string {
	if col == "" {
		return nil
	}
	return strings.Split(col, "\n")
}

// insertUser inserts u in tx: ErrConflict when the email is taken.
func (s *Store) insertUser(ctx context.Context, tx *sql.Tx, u User) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// CreateUser inserts u. It returns ErrConflict when the email is taken.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := s.insertUser(ctx, tx, u); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeUser, u.ID)
}

// CreateFirstUser inserts u only if no user exists yet, atomically. It
// returns ErrConflict when a user already exists.
func (s *Store) CreateFirstUser(ctx context.Context, u User) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if s.driver == Postgres {
		// serialize concurrent setups across nodes
		if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN EXCLUSIVE MODE`); err != nil {
			return err
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrConflict
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, u.Role, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt)); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeUser, u.ID)
}

// UserByEmail finds a user by (lower-case) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userSelect+` FROM users WHERE email = ?`), email))
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userSelect+` FROM users WHERE id = ?`), id))
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// UpdateUser stores u's role, password hash and disabled flag.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
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
