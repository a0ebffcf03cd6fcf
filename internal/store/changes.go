package store

import (
	"context"
	"database/sql"
	"strconv"
	"time"
)

// The kinds of change in the change log: what another node may hold in
// memory and must reload. Entity is the id of the route, user, session
// API key or custom certificate.
const (
	ChangeRoute       = "route"
	ChangeUser        = "user"
	ChangeSession     = "session"
	ChangeAPIKey      = "api_key"
	ChangeCertificate = "certificate"
)

// ChangesChannel is the PostgreSQL notification channel on which each
// committed change's seq is announced.
const ChangesChannel = "proxyos_changes"

// changeLock is the advisory lock that writers of the change log hold
// from adding their row to commit, so that seqs are committed in order:
// a reader that saw seq n has seen every committed change before n.
const changeLock = 7268697

// Change is one entry of the change log.
type Change struct {
	Seq    int64
	Kind   string // ChangeRoute, ChangeUser, ChangeSession, ChangeAPIKey or ChangeCertificate
	Entity string
	Origin string // the node that made it (see SetOrigin)
	At     time.Time
}

// SetOrigin names the node that this store's changes come from, in the
// change log, so the node can skip its own changes. Call it once, before
// the store is used.
func (s *Store) SetOrigin(origin string) { s.origin = origin }

// Origin returns the name SetOrigin gave.
func (s *Store) Origin() string { return s.origin }

// commit records the change of kind to each entity in the change log and
// commits tx. On PostgreSQL it takes the change-log lock first (held
// until commit, a moment) and announces the last seq on ChangesChannel,
// which PostgreSQL delivers when tx commits.
func (s *Store) commit(ctx context.Context, tx *sql.Tx, kind string, entities ...string) error {
	if len(entities) > 0 {
		if s.driver == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.Itoa(changeLock)+`)`); err != nil {
				return err
			}
		}
		now := millis(time.Now())
		var seq int64
		for _, e := range entities {
			if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO changes (kind, entity, origin, at) VALUES (?, ?, ?, ?) RETURNING seq`),
				kind, e, s.origin, now).Scan(&seq); err != nil {
				return err
			}
		}
		if s.driver == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, strconv.FormatInt(seq, 10)); err != nil {
				return err
			}
		}
		if s.beforeCommit != nil {
			s.beforeCommit()
		}
	}
	return tx.Commit()
}

// ChangesAfter returns up to limit changes with a seq above after, in
// order.
func (s *Store) ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, kind, entity, origin, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var (
			c  Change
			at int64
		)
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Entity, &c.Origin, &at); err != nil {
			return nil, err
		}
		c.At = fromMillis(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// LastChange returns the highest seq in the change log (0 when empty). A
// node reading the state it keeps in memory after LastChange has seen
// every change up to it.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&seq)
	return seq.Int64, err
}

// FirstChange returns the lowest seq in the change log (0 when empty).
// A node that applied changes only up to below FirstChange()-1 may have
// missed pruned ones and must reload everything it keeps in memory.
func (s *Store) FirstChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(seq) FROM changes`).Scan(&seq)
	return seq.Int64, err
}

// PruneChanges deletes changes made before the given time, keeping the
// last one (whose seq new nodes start from).
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM changes WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes)`), millis(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Node is one node of a cluster as it reports itself (see Heartbeat).
type Node struct {
	ID        string // the node's instance, new at each start
	Name      string // node_name, default the hostname
	Version   string // of proxyos
	StartedAt time.Time
	LastSeen  time.Time
	LastSeq   int64 // the last change it applied
}

// Heartbeat records that node n is alive and how far it applied the
// change log. A node of the same name that stopped reporting before n
// started is n's previous run, restarted: it is forgotten.
func (s *Store) Heartbeat(ctx context.Context, n Node) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO nodes (id, name, version, started_at, last_seen, last_seq)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version,
			last_seen = excluded.last_seen, last_seq = excluded.last_seq`),
		n.ID, n.Name, n.Version, millis(n.StartedAt), millis(n.LastSeen), n.LastSeq); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM nodes WHERE name = ? AND id <> ? AND last_seen <= ?`),
		n.Name, n.ID, millis(n.StartedAt)); err != nil {
		return err
	}
	return tx.Commit()
}

// ListNodes returns every node that reported itself, most recently seen
// first.
func (s *Store) ListNodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, version, started_at, last_seen, last_seq FROM nodes ORDER BY last_seen DESC, name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var (
			n             Node
			started, seen int64
		)
		if err := rows.Scan(&n.ID, &n.Name, &n.Version, &started, &seen, &n.LastSeq); err != nil {
			return nil, err
		}
		n.StartedAt, n.LastSeen = fromMillis(started), fromMillis(seen)
		out = append(out, n)
	}
	return out, rows.Err()
}

// PruneNodes forgets nodes not seen since before.
func (s *Store) PruneNodes(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM nodes WHERE last_seen < ?`), millis(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
