package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// LoginLimit is the failure counter of one rate-limit key (an account or a
// client IP). It is persisted so restarts do not reset it.
type LoginLimit struct {
	Key         string
	Failures    int
	WindowStart time.Time
	LockedUntil time.Time
}

// LoginLimit returns the counter of key; a missing key is a zero counter.
func (s *Store) LoginLimit(ctx context.Context, key string) (LoginLimit, error) {
	var start, locked int64
	l := LoginLimit{Key: key}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT failures, window_start, locked_until FROM login_limits WHERE key = ?`), key).
		Scan(&l.Failures, &start, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	l.WindowStart, l.LockedUntil = fromMillis(start), fromMillis(locked)
	return l, nil
}

// LoginLimits returns the counters of keys, in one query; a missing key
// has no entry (a zero counter).
func (s *Store) LoginLimits(ctx context.Context, keys []string) (map[string]LoginLimit, error) {
	out := make(map[string]LoginLimit, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT key, failures, window_start, locked_until FROM login_limits WHERE key IN (?`+
		strings.Repeat(", ?", len(keys)-1)+`)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			l             LoginLimit
			start, locked int64
		)
		if err := rows.Scan(&l.Key, &l.Failures, &start, &locked); err != nil {
			return nil, err
		}
		l.WindowStart, l.LockedUntil = fromMillis(start), fromMillis(locked)
		out[l.Key] = l
	}
	return out, rows.Err()
}

// RecordLoginFailure counts one failure for key within a window that
// starts anew once window has passed or a lock has ended, and locks the
// key for lockout once
// failures reach max. It returns the updated counter. The update is one
// statement, so concurrent failures are all counted.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration, max int, lockout time.Duration) (LoginLimit, error) {
	nowMs, windowStartMin := millis(now), millis(now.Add(-window))
	lockedUntil := millis(now.Add(lockout))
	// The lock of a new key is decided here rather than in SQL: PostgreSQL
	// would infer a CASE with ELSE 0 as int4, too small for milliseconds.
	var firstLock int64
	if max <= 1 {
		firstLock = lockedUntil
	}
	var start, locked int64
	l := LoginLimit{Key: key}
	// A counter starts anew when its window has passed or its lock has
	// ended, so a locked-out account gets its tries back afterwards.
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO login_limits (key, failures, window_start, locked_until)
		VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_limits.window_start < ? OR (login_limits.locked_until > 0 AND login_limits.locked_until <= ?)
				THEN 1 ELSE login_limits.failures + 1 END,
			window_start = CASE WHEN login_limits.window_start < ? OR (login_limits.locked_until > 0 AND login_limits.locked_until <= ?)
				THEN ? ELSE login_limits.window_start END,
			locked_until = CASE
				WHEN (CASE WHEN login_limits.window_start < ? OR (login_limits.locked_until > 0 AND login_limits.locked_until <= ?)
					THEN 1 ELSE login_limits.failures + 1 END) >= ? THEN ?
				WHEN login_limits.locked_until <= ? THEN 0
				ELSE login_limits.locked_until END
		RETURNING failures, window_start, locked_until`),
		key, nowMs, firstLock,
		windowStartMin, nowMs,
		windowStartMin, nowMs, nowMs,
		windowStartMin, nowMs, max, lockedUntil,
		nowMs,
	).Scan(&l.Failures, &start, &locked)
	if err != nil {
		return l, err
	}
	l.WindowStart, l.LockedUntil = fromMillis(start), fromMillis(locked)
	return l, nil
}

// ResetLoginLimit forgets the failures of key (after a successful login).
func (s *Store) ResetLoginLimit(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM login_limits WHERE key = ?`), key)
	return err
}

// PruneLoginLimits deletes counters whose window and lock both ended
// before the given time.
func (s *Store) PruneLoginLimits(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM login_limits WHERE window_start < ? AND locked_until < ?`), millis(before), millis(before))
	return err
}

// RefundLoginAttempt takes back one counted attempt of key (an attempt
// counted before it was known to succeed). When that brings the count
// below max, a lock the attempt set is lifted too: it was not a failure.
func (s *Store) RefundLoginAttempt(ctx context.Context, key string, max int) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE login_limits SET failures = failures - 1,
		locked_until = CASE WHEN failures - 1 < ? THEN 0 ELSE locked_until END
		WHERE key = ? AND failures > 0`), max, key)
	return err
}
