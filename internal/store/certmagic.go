package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// This file keeps certmagic's storage (the caddy.storage.proxyos module,
// through internal/certstore) on PostgreSQL: its data as key → value rows
// and its locks as rows with an owner and an expiry. Keys are
// '/'-separated paths; the methods take them as the caller normalised
// them and give "the keys under k" the meaning "starting with k + '/'".
// Times come from the database's clock, which every node shares.

// ErrNeedsPostgres is returned by the certmagic methods of a store on
// another database than PostgreSQL.
var ErrNeedsPostgres = errors.New("certificate storage needs the postgres database")

// CertDataInfo describes one stored certmagic key.
type CertDataInfo struct {
	Key      string
	Modified time.Time
	Size     int64
}

// under returns the bounds of the keys strictly under key: they start
// with key + "/", so they sort (byte-wise, the column's collation) in
// [key + "/", key + "0"), '0' being the byte after '/'.
func under(key string) (from, to string) { return key + "/", key + "0" }

func (s *Store) needsPostgres() error {
	if s.driver != Postgres {
		return ErrNeedsPostgres
	}
	return nil
}

// PutCertData stores value at key, replacing any value there.
func (s *Store) PutCertData(ctx context.Context, key string, value []byte) error {
	if err := s.needsPostgres(); err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // NULL is not a value
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO certmagic_data (key, value, modified, size) VALUES ($1, $2, now(), $3)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modified = EXCLUDED.modified, size = EXCLUDED.size`,
		key, value, int64(len(value)))
	return err
}

// CertData returns the value at key, or ErrNotFound.
func (s *Store) CertData(ctx context.Context, key string) ([]byte, error) {
	if err := s.needsPostgres(); err != nil {
		return nil, err
	}
	var value []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM certmagic_data WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return value, err
}

// CertDataInfo returns what is known of the value at key without reading
// it, or ErrNotFound.
func (s *Store) CertDataInfo(ctx context.Context, key string) (CertDataInfo, error) {
	info := CertDataInfo{Key: key}
	if err := s.needsPostgres(); err != nil {
		return info, err
	}
	err := s.db.QueryRowContext(ctx, `SELECT modified, size FROM certmagic_data WHERE key = $1`, key).
		Scan(&info.Modified, &info.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return info, ErrNotFound
	}
	info.Modified = info.Modified.UTC()
	return info, err
}

// CertDataExists reports whether a value is stored at key or under it.
func (s *Store) CertDataExists(ctx context.Context, key string) (bool, error) {
	if err := s.needsPostgres(); err != nil {
		return false, err
	}
	from, to := under(key)
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM certmagic_data
		WHERE key = $1 OR (key >= $2 AND key < $3))`, key, from, to).Scan(&ok)
	return ok, err
}

// CertDataKeys returns every key under prefix ("": every key), sorted.
func (s *Store) CertDataKeys(ctx context.Context, prefix string) ([]string, error) {
	if err := s.needsPostgres(); err != nil {
		return nil, err
	}
	if prefix == "" {
		return s.certDataStrings(ctx, `SELECT key FROM certmagic_data ORDER BY key`)
	}
	from, to := under(prefix)
	return s.certDataStrings(ctx, `SELECT key FROM certmagic_data WHERE key >= $1 AND key < $2 ORDER BY key`, from, to)
}

// CertDataChildren returns the names one level under prefix ("": the
// first components of every key), each once and sorted: for the keys
// a/b/c and a/d under a, "b" and "d".
func (s *Store) CertDataChildren(ctx context.Context, prefix string) ([]string, error) {
	if err := s.needsPostgres(); err != nil {
		return nil, err
	}
	if prefix == "" {
		return s.certDataStrings(ctx, `SELECT DISTINCT split_part(key, '/', 1) AS child FROM certmagic_data ORDER BY child`)
	}
	from, to := under(prefix)
	return s.certDataStrings(ctx, `SELECT DISTINCT split_part(substr(key, char_length($1) + 1), '/', 1) AS child
		FROM certmagic_data WHERE key >= $1 AND key < $2 ORDER BY child`, from, to)
}

func (s *Store) certDataStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteCertData deletes the value at key and every value under it, and
// returns how many it deleted.
func (s *Store) DeleteCertData(ctx context.Context, key string) (int64, error) {
	if err := s.needsPostgres(); err != nil {
		return 0, err
	}
	from, to := under(key)
	res, err := s.db.ExecContext(ctx, `DELETE FROM certmagic_data WHERE key = $1 OR (key >= $2 AND key < $3)`, key, from, to)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AcquireCertLock takes the lock name for owner until ttl from now, if
// nobody holds it or its holder let it expire; it reports whether owner
// got it. The check and the write are one statement, so of nodes racing
// for a lock exactly one gets it.
func (s *Store) AcquireCertLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := s.needsPostgres(); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO certmagic_locks (name, owner, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
		WHERE certmagic_locks.expires_at <= now()`, name, owner, ttl.Seconds())
	return affectedOne(res, err)
}

// RefreshCertLock moves the expiry of owner's lock name to ttl from now;
// it reports false when owner does not hold the lock (any more).
func (s *Store) RefreshCertLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := s.needsPostgres(); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE certmagic_locks SET expires_at = now() + make_interval(secs => $3)
		WHERE name = $1 AND owner = $2`, name, owner, ttl.Seconds())
	return affectedOne(res, err)
}

// ReleaseCertLock deletes owner's lock name; it reports false when owner
// did not hold it, leaving another owner's lock alone.
func (s *Store) ReleaseCertLock(ctx context.Context, name, owner string) (bool, error) {
	if err := s.needsPostgres(); err != nil {
		return false, err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM certmagic_locks WHERE name = $1 AND owner = $2`, name, owner)
	return affectedOne(res, err)
}

func affectedOne(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Custom certificates are kept here too: like certmagic's data, they are
// certificates the nodes serve.

// CustomCertificate is an uploaded certificate. Key is sealed by the
// caller; the store never sees it in clear.
type CustomCertificate struct {
	ID        string
	Name      string
	Chain     string // PEM, leaf first
	Key       string // sealed private key
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const customCertColumns = `id, name, chain, key, created_by, created_at, updated_at`

func scanCustomCertificate(row interface{ Scan(...any) error }) (CustomCertificate, error) {
	var (
		c                CustomCertificate
		created, updated int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.Chain, &c.Key, &c.CreatedBy, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	return c, err
}

// CustomCertificates lists the custom certificates, oldest first.
func (s *Store) CustomCertificates(ctx context.Context) ([]CustomCertificate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+customCertColumns+` FROM custom_certificates ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CustomCertificate
	for rows.Next() {
		c, err := scanCustomCertificate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CustomCertificate returns custom certificate id, or ErrNotFound.
func (s *Store) CustomCertificate(ctx context.Context, id string) (CustomCertificate, error) {
	return scanCustomCertificate(s.db.QueryRowContext(ctx, s.q(`SELECT `+customCertColumns+` FROM custom_certificates WHERE id = ?`), id))
}

// PutCustomCertificate stores c, a new certificate or (replace) a
// replacement of the one with its id (ErrNotFound if there is none),
// and records the change for the other nodes.
func (s *Store) PutCustomCertificate(ctx context.Context, c CustomCertificate, replace bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if replace {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE custom_certificates SET name = ?, chain = ?, key = ?, updated_at = ? WHERE id = ?`),
			c.Name, c.Chain, c.Key, millis(c.UpdatedAt), c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
	} else if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO custom_certificates (`+customCertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Name, c.Chain, c.Key, c.CreatedBy, millis(c.CreatedAt), millis(c.UpdatedAt)); err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeCertificate, c.ID)
}

// DeleteCustomCertificate removes custom certificate id (ErrNotFound if
// there is none) and records the change for the other nodes.
func (s *Store) DeleteCustomCertificate(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM custom_certificates WHERE id = ?`), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return s.commit(ctx, tx, ChangeCertificate, id)
}
