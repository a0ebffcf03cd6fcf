package store

import (
	"context"
	"time"
)

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
