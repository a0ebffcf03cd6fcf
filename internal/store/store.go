// Package store keeps proxyos state (users, sessions, login limits) in SQLite
// or PostgreSQL through database/sql with pure-Go drivers.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Drivers accepted by Open.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Errors callers can test for with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

//go:embed migrations
var migrationsFS embed.FS

// Store is a handle on the proxyos database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	driver string
	origin string // see SetOrigin

	// beforeCommit, when a test sets it, runs after a change is added
	// to the change log and before its transaction commits.
	beforeCommit func()
}

// Open connects to the database of the given driver ("sqlite" with a file
// path, or "postgres" with a connection URL or DSN) and applies pending
// migrations, each in its own transaction.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	var (
		db  *sql.DB
		err error
	)
	switch driver {
	case SQLite:
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("creating database directory: %w", err)
			}
		}
		db, err = sql.Open("sqlite", sqliteDSN(dsn))
		if err == nil {
			// One writer at a time is what SQLite allows anyway; a small pool
			// keeps readers concurrent under WAL.
			db.SetMaxOpenConns(4)
		}
	case Postgres:
		db, err = sql.Open("pgx", dsn)
		if err == nil {
			db.SetMaxOpenConns(10)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		return nil, fmt.Errorf("unknown database driver %q (want sqlite or postgres)", driver)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", driver, err)
	}
	s := &Store{db: db, driver: driver}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s database: %s", driver, RedactError(err, dsn))
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating %s database: %w", driver, err)
	}
	return s, nil
}

// sqliteDSN turns a file path into a modernc.org/sqlite DSN with WAL,
// a busy timeout, foreign keys and write transactions that take the lock
// up front (so concurrent writers wait instead of failing). The path is
// escaped for SQLite's URI syntax: an unescaped '#' or '?' would cut it
// short and open a different file.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// After a checkpoint the WAL is cut back to this size, so a burst of
	// writes does not leave a large file behind.
	q.Add("_pragma", "journal_size_limit(8388608)")
	q.Set("_txlock", "immediate")
	return "file:" + sqlitePathEscaper.Replace(path) + "?" + q.Encode()
}

// sqlitePathEscaper escapes what SQLite's URI parser would not take as
// part of a file path.
var sqlitePathEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Driver reports which driver the store uses.
func (s *Store) Driver() string { return s.driver }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM proxyos_migrations`).Scan(&v)
	return int(v.Int64), err
}

// KnownSchemaVersion returns the newest migration this proxyos knows.
func (s *Store) KnownSchemaVersion() (int, error) {
	ms, err := s.migrations()
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return ms[len(ms)-1].version, nil
}

// Clock returns the database server's time, on PostgreSQL; ok is false
// on SQLite, whose clock is this machine's.
func (s *Store) Clock(ctx context.Context) (t time.Time, ok bool, err error) {
	if s.driver != Postgres {
		return time.Time{}, false, nil
	}
	err = s.db.QueryRowContext(ctx, `SELECT CURRENT_TIMESTAMP`).Scan(&t)
	return t, err == nil, err
}

type migration struct {
	version int
	name    string
	sql     string
}

func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + s.driver
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(migrationsFS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies every migration newer than the database's version. Each
// runs in its own transaction together with its bookkeeping row; on
// PostgreSQL an advisory lock serializes nodes migrating at the same time.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.createMigrationsTable(ctx); err != nil {
		return err
	}
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	// A node of a newer proxyos may have migrated the database during a
	// rolling upgrade: nodes that run keep working (migrations only add),
	// but one that starts refuses, so it is not run against a schema it
	// does not know.
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if known := ms[len(ms)-1].version; v > known {
		return fmt.Errorf("the database's schema is version %d, newer than the version %d this proxyos knows: upgrade this node to the proxyos that migrated it", v, known)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// createMigrationsTable creates the bookkeeping table under the migration
// lock: concurrent CREATE TABLE IF NOT EXISTS on PostgreSQL can fail with a
// unique violation in pg_type when several nodes start at once.
func (s *Store) createMigrationsTable(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := s.lockMigrations(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS proxyos_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	return tx.Commit()
}

// lockMigrations serializes migrating nodes on PostgreSQL until tx ends.
// SQLite needs nothing: its write transactions are exclusive already.
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.driver != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7268696)`)
	return err
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := s.lockMigrations(ctx, tx); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM proxyos_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO proxyos_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// q rewrites the ? placeholders of a query for the store's driver.
func (s *Store) q(query string) string {
	if s.driver != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// isUniqueViolation reports whether err is a unique-constraint failure in
// either database.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || // SQLite
		strings.Contains(msg, "SQLSTATE 23505") // PostgreSQL
}

// RedactError returns err's message with any password of the DSN removed,
// so connection errors can be logged and returned safely.
func RedactError(err error, dsn string) string {
	msg := err.Error()
	for _, pw := range dsnPasswords(dsn) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// dsnPasswords returns the password of a URL or key=value DSN in every
// spelling an error message might quote it: decoded and as written.
func dsnPasswords(dsn string) []string {
	var pws []string
	add := func(pw string) {
		if pw != "" && !slices.Contains(pws, pw) {
			pws = append(pws, pw)
		}
	}
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			pw, _ := u.User.Password()
			add(pw)
		}
		// Also cut the user info by hand, for passwords url.Parse
		// misreads (an unescaped '#', '/' or '?').
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, raw, ok := strings.Cut(rest[:at], ":"); ok {
				add(raw)
				if pw, err := url.PathUnescape(raw); err == nil {
					add(pw)
				}
			}
		}
		return pws
	}
	// key=value: "key = value" or "key='quoted \' value'" pairs.
	s := dsn
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return pws
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		var val, raw string
		if strings.HasPrefix(s, "'") {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			val, raw = b.String(), s[1:min(i, len(s))]
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			val, raw = s[:end], s[:end]
			s = s[end:]
		}
		if key == "password" {
			add(val)
			add(raw)
		}
	}
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// ErrUnavailable is what callers answer when the database cannot be
// reached (see IsUnavailable).
var ErrUnavailable = errors.New("database unavailable")

// IsUnavailable reports whether err means the database could not be
// reached (refused or lost connections, timeouts connecting, a server
// shutting down), as opposed to an error of the query itself. Nothing
// was written then: every write is one transaction.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err) {
		return true
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		// Class 08: connection exception; 57P01–57P03: the server is
		// shutting down or starting.
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03")
	}
	return pgconn.Timeout(err) && !errors.Is(err, context.Canceled)
}

// ErrBackupPostgres is why Backup refuses a PostgreSQL database: its
// server's own tools (pg_dump) copy it consistently.
var ErrBackupPostgres = errors.New("the database is PostgreSQL: back it up with pg_dump")

// Backup writes a consistent copy of the SQLite database, as of one
// moment, to path while it stays in use, and returns the copy's size.
// path must not exist; the copy is readable by its owner only (it holds
// password hashes and sealed secrets).
func (s *Store) Backup(ctx context.Context, path string) (int64, error) {
	if s.driver != SQLite {
		return 0, ErrBackupPostgres
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	f.Close()
	// VACUUM INTO writes into an empty file; it reads in one transaction.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return 0, fmt.Errorf("copying the database: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
