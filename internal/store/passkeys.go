package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Passkey is a user's WebAuthn credential. Credential is sealed by the
// caller; the store never sees it in clear.
type Passkey struct {
	ID           string
	UserID       string
	Name         string
	CredentialID string // base64url of the authenticator's credential id
	Credential   string // sealed credential record
	SignCount    uint32
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero when never used
}

const passkeyColumns = `id, user_id, name, credential_id, credential, sign_count, created_at, last_used_at`

func scanPasskey(row interface{ Scan(...any) error }) (Passkey, error) {
	var (
		p       Passkey
		count   int64
		created int64
		used    sql.NullInt64
	)
	err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.CredentialID, &p.Credential, &count, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, ErrNotFound
	}
	p.SignCount, p.CreatedAt = uint32(count), fromMillis(created)
	if used.Valid {
		p.LastUsedAt = fromMillis(used.Int64)
	}
	return p, err
}

// CreatePasskey inserts p. It returns ErrConflict when its credential id
// is registered already.
func (s *Store) CreatePasskey(ctx context.Context, p Passkey) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		p.ID, p.UserID, p.Name, p.CredentialID, p.Credential, int64(p.SignCount), millis(p.CreatedAt), nullMillis(p.LastUsedAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeUser, p.UserID)
}

// UserPasskeys lists the user's passkeys, oldest first.
func (s *Store) UserPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`), userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyByCredentialID returns the passkey with the credential id.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID string) (Passkey, error) {
	return scanPasskey(s.db.QueryRowContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`), credentialID))
}

// CountPasskeys counts the user's passkeys.
func (s *Store) CountPasskeys(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM passkeys WHERE user_id = ?`), userID).Scan(&n)
	return n, err
}

// UsePasskey records a login with the passkey: its new sign counter and
// sealed record, if the stored counter is still old. It reports false
// when another login moved the counter meanwhile (or the passkey is
// gone), so two copies of a credential cannot both pass with one count.
func (s *Store) UsePasskey(ctx context.Context, id string, old, count uint32, sealed string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE passkeys SET sign_count = ?, credential = ?, last_used_at = ? WHERE id = ? AND sign_count = ?`),
		int64(count), sealed, millis(at), id, int64(old))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeletePasskey deletes the user's passkey id.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	return s.deletePasskeys(ctx, userID, `DELETE FROM passkeys WHERE user_id = ? AND id = ?`, userID, id)
}

// DeleteUserPasskeys deletes every passkey of the user.
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) error {
	err := s.deletePasskeys(ctx, userID, `DELETE FROM passkeys WHERE user_id = ?`, userID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func (s *Store) deletePasskeys(ctx context.Context, userID, query string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeUser, userID)
}

// PasskeyChallenge is the state of a WebAuthn ceremony between its two
// requests.
type PasskeyChallenge struct {
	ID        string // the hash of the id the browser holds
	Purpose   string
	UserID    string // "" for a login with a discoverable credential
	SessionID string // the session that registers, or ""
	Data      string
	ExpiresAt time.Time
}

// PutPasskeyChallenge stores c, and drops expired challenges.
func (s *Store) PutPasskeyChallenge(ctx context.Context, c PasskeyChallenge, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM passkey_challenges WHERE expires_at < ?`), millis(now)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO passkey_challenges (id, purpose, user_id, session_id, data, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`), c.ID, c.Purpose, c.UserID, c.SessionID, c.Data, millis(c.ExpiresAt))
	return err
}

// TakePasskeyChallenge returns the challenge id and deletes it, so that
// it is used once: of two takers, one gets ErrNotFound. An expired
// challenge is ErrNotFound too.
func (s *Store) TakePasskeyChallenge(ctx context.Context, id string, now time.Time) (PasskeyChallenge, error) {
	c := PasskeyChallenge{ID: id}
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT purpose, user_id, session_id, data, expires_at FROM passkey_challenges WHERE id = ?`), id).
		Scan(&c.Purpose, &c.UserID, &c.SessionID, &c.Data, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return PasskeyChallenge{}, ErrNotFound
	}
	if err != nil {
		return PasskeyChallenge{}, err
	}
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM passkey_challenges WHERE id = ?`), id)
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return PasskeyChallenge{}, ErrNotFound
	}
	c.ExpiresAt = fromMillis(exp)
	if !c.ExpiresAt.After(now) {
		return PasskeyChallenge{}, ErrNotFound
	}
	return c, nil
}

// CountPasskeyChallenges counts the ceremonies in progress at now.
func (s *Store) CountPasskeyChallenges(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM passkey_challenges WHERE expires_at >= ?`), millis(now)).Scan(&n)
	return n, err
}
