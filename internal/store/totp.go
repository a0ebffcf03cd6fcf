package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// TOTP is a user's two-factor state. Secret and Pending are sealed by the
// caller; the store never sees them in clear.
type TOTP struct {
	Secret   string // sealed secret of the enabled authenticator, or ""
	Pending  string // sealed secret of an enrolment not yet confirmed, or ""
	LastStep int64  // the newest time step a code was accepted for
}

// UserTOTP returns the user's two-factor state.
func (s *Store) UserTOTP(ctx context.Context, userID string) (TOTP, error) {
	var t TOTP
	err := s.db.QueryRowContext(ctx, s.q(`SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE id = ?`), userID).
		Scan(&t.Secret, &t.Pending, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTP{}, ErrNotFound
	}
	return t, err
}

// SetTOTPPending stores the sealed secret of a new enrolment, replacing
// any earlier unconfirmed one.
func (s *Store) SetTOTPPending(ctx context.Context, userID, sealed string) error {
	return s.execOne(ctx, `UPDATE users SET totp_pending = ? WHERE id = ?`, sealed, userID)
}

// EnableTOTP turns the pending enrolment into the user's authenticator,
// if it is still the one given (so two confirmations cannot race), and
// replaces the recovery codes with the given hashes. step is the time step
// of the code that confirmed it, which cannot be used again.
func (s *Store) EnableTOTP(ctx context.Context, userID, pending string, step int64, codeHashes []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET totp_secret = totp_pending, totp_pending = '', totp_last_step = ?
		WHERE id = ? AND totp_pending = ? AND totp_pending <> ''`), step, userID, pending)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if err := s.replaceRecoveryCodes(ctx, tx, userID, codeHashes); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeUser, userID)
}

// DisableTOTP removes the user's authenticator, any pending enrolment and
// the recovery codes.
func (s *Store) DisableTOTP(ctx context.Context, userID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET totp_secret = '', totp_pending = '', totp_last_step = 0 WHERE id = ?`), userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if err := s.replaceRecoveryCodes(ctx, tx, userID, nil); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeUser, userID)
}

func (s *Store) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, hashes []string) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)`), userID, h); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep records that a code of the given time step was accepted. It
// reports false when a code of this or a later step was accepted before:
// a replay.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ? AND totp_secret <> ''`),
		step, userID, step)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseRecoveryCode marks the user's unused recovery code with the given
// hash as used. It reports false when there is no such unused code.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, codeHash string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`),
		millis(at), userID, codeHash)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`), userID).Scan(&n)
	return n, err
}

// Sealed is one sealed value in the database, for re-sealing with a new
// key: Table.Column of the row with the id.
type Sealed struct {
	Table, Column, ID string
	Value             string
}

// SealedValues lists every sealed value stored: TOTP secrets, pending
// enrolments, API key digests, passkey records and the private keys of
// custom certificates.
func (s *Store) SealedValues(ctx context.Context) ([]Sealed, error) {
	var out []Sealed
	for _, q := range []struct{ table, column string }{
		{"users", "totp_secret"}, {"users", "totp_pending"}, {"api_keys", "digest"}, {"passkeys", "credential"},
		{"custom_certificates", "key"},
	} {
		rows, err := s.db.QueryContext(ctx, `SELECT id, `+q.column+` FROM `+q.table+` WHERE `+q.column+` <> ''`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			v := Sealed{Table: q.table, Column: q.column}
			if err := rows.Scan(&v.ID, &v.Value); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReplaceSealed stores a re-sealed value if the row still holds the old
// one. It reports whether it did.
func (s *Store) ReplaceSealed(ctx context.Context, old Sealed, value string) (bool, error) {
	switch old.Table + "." + old.Column {
	case "users.totp_secret", "users.totp_pending", "api_keys.digest", "passkeys.credential", "custom_certificates.key":
	default:
		return false, errors.New("not a sealed column: " + old.Table + "." + old.Column)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE `+old.Table+` SET `+old.Column+` = ? WHERE id = ? AND `+old.Column+` = ?`),
		value, old.ID, old.Value)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// execOne runs an update that must touch one row; none is ErrNotFound.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
