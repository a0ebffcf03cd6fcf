package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
)

// Session is a server-side login session. Only a hash of its token is
// stored; the token itself lives in the user's cookie.
type Session struct {
	ID         string
	TokenHash  string // hex SHA-256 of the random token
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	RevokedAt  time.Time // zero while active
	ClientIP   string
	UserAgent  string
	ParentID   string // the session a handoff made this one from, or ""
	Host       string // the only host a handoff session is valid on, or ""
}

// SessionUser is a session together with the user it belongs to, as the
// session verifier needs it.
type SessionUser struct {
	Session
	Email    string
	Role     string
	Disabled bool
	Groups   []string // see User.Groups
}

// CreateSession inserts a new session.
func (s *Store) CreateSession(ctx context.Context, ss Session) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions
		(id, token_hash, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent, parent_id, host)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.TokenHash, ss.UserID, millis(ss.CreatedAt), millis(ss.ExpiresAt), millis(ss.LastSeenAt), ss.ClientIP, ss.UserAgent,
		ss.ParentID, ss.Host); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeSession, ss.ID)
}

// SessionByTokenHash loads a session and its user by token hash.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash string) (SessionUser, error) {
	return s.sessionUser(ctx, "s.token_hash", tokenHash)
}

// sessionUser loads the session whose column (of sessions s) is value,
// with its user.
func (s *Store) sessionUser(ctx context.Context, column, value string) (SessionUser, error) {
	var (
		su                     SessionUser
		created, expires, seen int64
		revoked                sql.NullInt64
		groups                 string
	)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT s.id, s.token_hash, s.user_id, s.created_at, s.expires_at,
			s.last_seen_at, s.revoked_at, s.client_ip, s.user_agent, s.parent_id, s.host, u.email, u.role, u.disabled, u.oidc_groups
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE `+column+` = ?`), value).
		Scan(&su.ID, &su.TokenHash, &su.UserID, &created, &expires, &seen, &revoked,
			&su.ClientIP, &su.UserAgent, &su.ParentID, &su.Host, &su.Email, &su.Role, &su.Disabled, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		return SessionUser{}, ErrNotFound
	}
	if err != nil {
		return SessionUser{}, err
	}
	su.CreatedAt, su.ExpiresAt, su.LastSeenAt = fromMillis(created), fromMillis(expires), fromMillis(seen)
	su.Groups = splitGroups(groups)
	if revoked.Valid {
		su.RevokedAt = fromMillis(revoked.Int64)
	}
	return su, nil
}

// RevokeSession marks a session revoked, with the handoff sessions made
// from it, and returns the ids it revoked. Revoking twice keeps the
// first time.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) ([]string, error) {
	return s.revokeReturning(ctx, `UPDATE sessions SET revoked_at = ?
		WHERE (id = ? OR parent_id = ?) AND revoked_at IS NULL RETURNING id`, millis(at), id, id)
}

// revokeReturning runs an UPDATE … RETURNING id of sessions and records
// the ids it returns in the change log, in one transaction.
func (s *Store) revokeReturning(ctx context.Context, query string, args ...any) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	ids, err := returnedIDs(tx.QueryContext(ctx, s.q(query), args...))
	if err != nil {
		return nil, err
	}
	return ids, s.commit(ctx, tx, ChangeSession, ids...)
}

// returnedIDs reads the ids of a query's rows.
func returnedIDs(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RevokeUserSessions revokes every active session of a user except the
// one with id except (which may be empty). It returns the revoked ids.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	// except's handoff sessions belong to the same login and stay too
	return s.revokeReturning(ctx, `UPDATE sessions SET revoked_at = ?
		WHERE user_id = ? AND id <> ? AND NOT (parent_id <> '' AND parent_id = ?) AND revoked_at IS NULL RETURNING id`,
		millis(at), userID, except, except)
}

// TouchSessions records last-seen times, batched by the caller.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	stmt, err := tx.PrepareContext(ctx, s.q(`UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for id, at := range seen {
		if _, err := stmt.ExecContext(ctx, millis(at), id, millis(at)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// PruneSessions deletes sessions that expired or were revoked before the
// given time, and returns how many went.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM handoff_codes WHERE expires_at < ?`), millis(before)); err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?`), millis(before), millis(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// HandoffTarget is where a handoff code may be redeemed: the scheme, host
// and port of the callback URL it was issued for.
type HandoffTarget struct {
	Scheme string
	Host   string
	Port   int
}

// CreateHandoff stores the hash of a one-time handoff code for the
// session, valid at target until expiresAt for the browser holding the
// state whose hash is stateHash.
func (s *Store) CreateHandoff(ctx context.Context, codeHash, sessionID string, target HandoffTarget, stateHash string, expiresAt time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO handoff_codes (code_hash, session_id, host, scheme, port, state_hash, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`),
		codeHash, sessionID, target.Host, target.Scheme, target.Port, stateHash, millis(expiresAt))
	return err
}

// RedeemHandoff uses up a handoff code presented at target and returns
// its session with the user. A code works once, at its scheme, host and
// port, with its browser's state, before it expires; anything else is
// ErrNotFound (and the code is used up).
func (s *Store) RedeemHandoff(ctx context.Context, codeHash string, target HandoffTarget, stateHash string, now time.Time) (SessionUser, error) {
	var (
		sessionID, codeState string
		code                 HandoffTarget
		expires              int64
	)
	err := s.db.QueryRowContext(ctx, s.q(`DELETE FROM handoff_codes WHERE code_hash = ?
		RETURNING session_id, host, scheme, port, state_hash, expires_at`), codeHash).
		Scan(&sessionID, &code.Host, &code.Scheme, &code.Port, &codeState, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return SessionUser{}, ErrNotFound
	}
	if err != nil {
		return SessionUser{}, err
	}
	if code != target || code.Scheme == "" || code.Port == 0 || codeState != stateHash || stateHash == "" || millis(now) >= expires {
		return SessionUser{}, ErrNotFound
	}
	return s.sessionUser(ctx, "s.id", sessionID)
}

// SaveChildSession stores the handoff session of ss.ParentID on ss.Host.
// A parent has at most one active handoff session per host: when it has
// one, that row gets ss's token hash, client and last-seen time (its id,
// creation and expiry stay) and SaveChildSession returns its id and the
// token hash it replaced, which no longer verifies; else ss is inserted
// and replaced is "".
func (s *Store) SaveChildSession(ctx context.Context, ss Session) (id, replaced string, err error) {
	if ss.ParentID == "" || ss.Host == "" {
		return "", "", errors.New("handoff session: missing parent or host")
	}
	// Compare-and-swap on the token hash, so that of two handoffs racing
	// for one parent and host each learns the token it replaced; the
	// unique index sessions_parent_host keeps a second row out.
	for range 5 {
		var cur string
		err := s.db.QueryRowContext(ctx, s.q(`SELECT id, token_hash FROM sessions
			WHERE parent_id = ? AND host = ? AND revoked_at IS NULL`), ss.ParentID, ss.Host).Scan(&id, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			err := s.CreateSession(ctx, ss)
			if isUniqueViolation(err) {
				continue // another handoff for this parent and host came first
			}
			if err != nil {
				return "", "", err
			}
			return ss.ID, "", nil
		}
		if err != nil {
			return "", "", err
		}
		if ok, err := s.replaceToken(ctx, id, cur, ss); err != nil {
			return "", "", err
		} else if ok {
			return id, cur, nil
		}
	}
	return "", "", errors.New("handoff session: too many concurrent handoffs for one session and host")
}

// replaceToken gives the active session id, if its token hash is still
// cur, the token hash, client and last-seen time of ss. The old token no
// longer verifies on any node: the change log says so.
func (s *Store) replaceToken(ctx context.Context, id, cur string, ss Session) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET token_hash = ?, last_seen_at = ?, client_ip = ?, user_agent = ?
		WHERE id = ? AND token_hash = ? AND revoked_at IS NULL`),
		ss.TokenHash, millis(ss.LastSeenAt), ss.ClientIP, ss.UserAgent, id, cur)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	return true, s.commit(ctx, tx, ChangeSession, id)
}

// CapUserSessions keeps a user at no more than limit active sessions (not
// revoked, not expired at now): beyond that it revokes the least recently
// used ones, never those in keep, with the handoff sessions made from
// them, and returns the ids it revoked.
func (s *Store) CapUserSessions(ctx context.Context, userID string, limit int, keep []string, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		ORDER BY last_seen_at DESC, created_at DESC, id DESC`), userID, millis(now))
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) <= limit {
		return nil, nil
	}
	room := limit
	var others []string
	for _, id := range ids {
		if slices.Contains(keep, id) {
			room--
		} else {
			others = append(others, id)
		}
	}
	if room >= len(others) {
		return nil, nil
	}
	victims := others[max(room, 0):]
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(victims)), ", ")
	args := make([]any, 0, 1+2*len(victims))
	args = append(args, millis(now))
	for range 2 {
		for _, id := range victims {
			args = append(args, id)
		}
	}
	return s.revokeReturning(ctx, `UPDATE sessions SET revoked_at = ?
		WHERE (id IN (`+marks+`) OR parent_id IN (`+marks+`)) AND revoked_at IS NULL RETURNING id`, args...)
}
