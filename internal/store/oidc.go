package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// OIDCLogin is a login at an OpenID provider in flight, found by the hash
// of its state. Data is sealed by the caller.
type OIDCLogin struct {
	StateHash string
	Provider  string
	Network   string // the client's network (IPv4 address or IPv6 /64), for the bounds per network
	Net56     string // its IPv6 /56, or ""
	Net48     string // its IPv6 /48, or ""
	Data      string
	ExpiresAt time.Time
}

// CreateOIDCLogin stores l, and deletes the logins that expired before
// now (abandoned ones are never taken).
func (s *Store) CreateOIDCLogin(ctx context.Context, l OIDCLogin, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM oidc_logins WHERE expires_at <= ?`), millis(now)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO oidc_logins (state_hash, provider, network, net56, net48, data, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`),
		l.StateHash, l.Provider, l.Network, l.Net56, l.Net48, l.Data, millis(l.ExpiresAt))
	return err
}

// OIDCLoginCounts are the logins in flight from a client's networks, and
// in all.
type OIDCLoginCounts struct {
	Network, Net56, Net48, All int
}

// CountOIDCLogins counts the logins in flight at now from l's networks
// (those of l that are set), and in all.
func (s *Store) CountOIDCLogins(ctx context.Context, l OIDCLogin, now time.Time) (OIDCLoginCounts, error) {
	var c OIDCLoginCounts
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(CASE WHEN network = ? THEN 1 END),
		COUNT(CASE WHEN net56 = ? AND net56 <> '' THEN 1 END), COUNT(CASE WHEN net48 = ? AND net48 <> '' THEN 1 END), COUNT(*)
		FROM oidc_logins WHERE expires_at > ?`), l.Network, l.Net56, l.Net48, millis(now)).Scan(&c.Network, &c.Net56, &c.Net48, &c.All)
	return c, err
}

// TakeOIDCLogin uses up the login whose state has the hash stateHash and
// returns it: a state works once, on every node, before it expires;
// anything else is ErrNotFound.
func (s *Store) TakeOIDCLogin(ctx context.Context, stateHash string, now time.Time) (OIDCLogin, error) {
	l := OIDCLogin{StateHash: stateHash}
	var expires int64
	err := s.db.QueryRowContext(ctx, s.q(`DELETE FROM oidc_logins WHERE state_hash = ? RETURNING provider, network, data, expires_at`), stateHash).
		Scan(&l.Provider, &l.Network, &l.Data, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCLogin{}, ErrNotFound
	}
	if err != nil {
		return OIDCLogin{}, err
	}
	if millis(now) >= expires {
		return OIDCLogin{}, ErrNotFound
	}
	l.ExpiresAt = fromMillis(expires)
	return l, nil
}

// OIDCIdentity links a subject of an OpenID provider to an account.
type OIDCIdentity struct {
	Provider    string
	Subject     string
	UserID      string
	Email       string // the email the provider last gave
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// OIDCIdentityOf returns the link of a provider's subject, or ErrNotFound.
func (s *Store) OIDCIdentityOf(ctx context.Context, provider, subject string) (OIDCIdentity, error) {
	id := OIDCIdentity{Provider: provider, Subject: subject}
	var created, last int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT user_id, email, created_at, last_login_at FROM oidc_identities
		WHERE provider = ? AND subject = ?`), provider, subject).Scan(&id.UserID, &id.Email, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCIdentity{}, ErrNotFound
	}
	id.CreatedAt, id.LastLoginAt = fromMillis(created), fromMillis(last)
	return id, err
}

// SaveOIDCIdentity stores the link id, or for a linked subject its email
// and last login.
func (s *Store) SaveOIDCIdentity(ctx context.Context, id OIDCIdentity) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO oidc_identities (provider, subject, user_id, email, created_at, last_login_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, subject) DO UPDATE SET email = excluded.email, last_login_at = excluded.last_login_at`),
		id.Provider, id.Subject, id.UserID, id.Email, millis(id.CreatedAt), millis(id.LastLoginAt))
	return err
}

// CreateOIDCUser inserts the account u, made by a login at a provider,
// with its link id, in one transaction. It returns ErrConflict when the
// email is taken.
func (s *Store) CreateOIDCUser(ctx context.Context, u User, id OIDCIdentity) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := s.insertUser(ctx, tx, u); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO oidc_identities (provider, subject, user_id, email, created_at, last_login_at)
		VALUES (?, ?, ?, ?, ?, ?)`),
		id.Provider, id.Subject, u.ID, id.Email, millis(id.CreatedAt), millis(id.LastLoginAt)); err != nil {
		if isUniqueViolation(err) {
			return ErrConflict
		}
		return err
	}
	return s.commit(ctx, tx, ChangeUser, u.ID)
}

// OIDCProviders returns the providers each user is linked to (by user
// id, providers by name), of one user when userID is not "".
func (s *Store) OIDCProviders(ctx context.Context, userID string) (map[string][]string, error) {
	query, args := `SELECT user_id, provider FROM oidc_identities ORDER BY user_id, provider`, []any{}
	if userID != "" {
		query, args = `SELECT user_id, provider FROM oidc_identities WHERE user_id = ? ORDER BY provider`, []any{userID}
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]string)
	for rows.Next() {
		var user, provider string
		if err := rows.Scan(&user, &provider); err != nil {
			return nil, err
		}
		if ps := out[user]; len(ps) == 0 || ps[len(ps)-1] != provider {
			out[user] = append(ps, provider)
		}
	}
	return out, rows.Err()
}
