package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID        int64
	At        time.Time
	Actor     string // user email, "admin API", …
	ActorKind string // user, api_key, admin_api or system
	Action    string // login, route.update, …
	Target    string
	ClientIP  string
	Outcome   string // success or failure
	Reason    string // why it failed
	Details   json.RawMessage
}

// AuditFilter selects audit entries; zero fields match everything. Since
// and Until are inclusive.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	Since  time.Time
	Until  time.Time
}

const auditColumns = `id, at, actor, actor_kind, action, target, client_ip, outcome, reason, details`

// AddAudit appends e (its ID is ignored) and returns the new entry's id.
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO audit_log
		(at, actor, actor_kind, action, target, client_ip, outcome, reason, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		millis(e.At), e.Actor, e.ActorKind, e.Action, e.Target, e.ClientIP, e.Outcome, e.Reason, string(e.Details),
	).Scan(&id)
	return id, err
}

// ListAudit returns up to limit entries matching f, newest first. With
// before > 0 it starts below that id, which is how pages continue.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, limit int, before int64) ([]AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		add("at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		add("at <= ?", millis(f.Until))
	}
	if before > 0 {
		add("id < ?", before)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var (
			e       AuditEntry
			at      int64
			details string
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorKind, &e.Action, &e.Target, &e.ClientIP, &e.Outcome, &e.Reason, &details); err != nil {
			return nil, err
		}
		e.At = fromMillis(at)
		if details != "" {
			e.Details = json.RawMessage(details)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneAudit deletes entries older than before and returns how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM audit_log WHERE at < ?`), millis(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AuditCount is how many entries of one action and outcome there are.
type AuditCount struct {
	Action  string
	Outcome string
	N       int
}

// CountAudit counts the entries since since by action and outcome.
func (s *Store) CountAudit(ctx context.Context, since time.Time) ([]AuditCount, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT action, outcome, COUNT(*) FROM audit_log WHERE at >= ?
		GROUP BY action, outcome ORDER BY action, outcome`), millis(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditCount
	for rows.Next() {
		var c AuditCount
		if err := rows.Scan(&c.Action, &c.Outcome, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
