package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StoredRoute is a managed route as stored: its JSON spec plus the
// columns needed to query and version it. The store does not interpret
// the spec.
type StoredRoute struct {
	ID        string
	Spec      []byte
	Version   int
	Enabled   bool
	Hosts     []string // lower case; unique across all routes
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RouteVersion is one entry of a route's history.
type RouteVersion struct {
	RouteID string
	Version int
	Action  string // create, update, "rollback to N", delete
	Spec    []byte
	Actor   string
	At      time.Time
}

// ErrVersionConflict means the route changed since the caller read it.
var ErrVersionConflict = errors.New("the route was changed by someone else; reload it and try again")

// HostConflictError means a host already belongs to another route.
type HostConflictError struct {
	Host    string
	RouteID string
}

func (e *HostConflictError) Error() string {
	return fmt.Sprintf("host %q is already used by route %s", e.Host, e.RouteID)
}

// ListRoutes returns every route, oldest first.
func (s *Store) ListRoutes(ctx context.Context) ([]StoredRoute, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, spec, version, enabled, created_at, updated_at FROM routes ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredRoute
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Route returns one route.
func (s *Store) Route(ctx context.Context, id string) (StoredRoute, error) {
	return scanRoute(s.db.QueryRowContext(ctx, s.q(`SELECT id, spec, version, enabled, created_at, updated_at FROM routes WHERE id = ?`), id))
}

func scanRoute(row interface{ Scan(...any) error }) (StoredRoute, error) {
	var (
		r                StoredRoute
		spec             string
		created, updated int64
	)
	err := row.Scan(&r.ID, &spec, &r.Version, &r.Enabled, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.Spec, r.CreatedAt, r.UpdatedAt = []byte(spec), fromMillis(created), fromMillis(updated)
	return r, err
}

// PutRoute creates r (when prevVersion is 0) or replaces the route whose
// version is prevVersion, claims its hosts and records the change in the
// history, all in one transaction. It returns ErrVersionConflict when the
// stored version differs, ErrNotFound for an unknown id, and a
// *HostConflictError when a host belongs to another route. check, if not
// nil, runs inside the transaction before commit; its error aborts the
// change (used to make sure the route provisions before it is stored).
func (s *Store) PutRoute(ctx context.Context, r StoredRoute, prevVersion int, action, actor string, check func() error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if prevVersion == 0 {
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO routes (id, spec, version, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
			r.ID, string(r.Spec), r.Version, r.Enabled, millis(r.CreatedAt), millis(r.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("route %s: %w", r.ID, ErrConflict)
		}
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, s.q(`UPDATE routes SET spec = ?, version = ?, enabled = ?, updated_at = ? WHERE id = ? AND version = ?`),
			string(r.Spec), r.Version, r.Enabled, millis(r.UpdatedAt), r.ID, prevVersion)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return s.missingOrStale(ctx, tx, r.ID)
			}
		}
	}
	if err != nil {
		return err
	}
	if err := s.claimHosts(ctx, tx, r.ID, r.Hosts); err != nil {
		return err
	}
	if err := s.addVersion(ctx, tx, RouteVersion{RouteID: r.ID, Version: r.Version, Action: action, Spec: r.Spec, Actor: actor, At: r.UpdatedAt}); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	return s.commit(ctx, tx, ChangeRoute, r.ID)
}

// RoutePut is one route a batch creates (PrevVersion 0) or replaces.
type RoutePut struct {
	Route       StoredRoute
	PrevVersion int
	Action      string // the history's name of the change
}

// RouteDeletion is one route a batch deletes, at PrevVersion.
type RouteDeletion struct {
	ID          string
	PrevVersion int
}

// PutRoutes applies a batch of route changes in one transaction: it
// deletes dels, then creates or replaces puts, their hosts claimed after
// every route of the batch gave up its old ones (so hosts may move
// between routes of the batch), each with its history row and change-log
// entry. Either all of it is committed or nothing is. Errors are those of
// PutRoute and DeleteRoute.
func (s *Store) PutRoutes(ctx context.Context, puts []RoutePut, dels []RouteDeletion, actor string, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	ids := make([]string, 0, len(puts)+len(dels))
	for _, d := range dels {
		var (
			spec    string
			version int
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT spec, version FROM routes WHERE id = ?`), d.ID).Scan(&spec, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if version != d.PrevVersion {
			return ErrVersionConflict
		}
		for _, q := range []string{`DELETE FROM route_hosts WHERE route_id = ?`, `DELETE FROM routes WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), d.ID); err != nil {
				return err
			}
		}
		if err := s.addVersion(ctx, tx, RouteVersion{RouteID: d.ID, Version: version + 1, Action: "delete", Spec: []byte(spec), Actor: actor, At: at}); err != nil {
			return err
		}
		ids = append(ids, d.ID)
	}
	for _, p := range puts {
		r := p.Route
		if p.PrevVersion == 0 {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO routes (id, spec, version, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
				r.ID, string(r.Spec), r.Version, r.Enabled, millis(r.CreatedAt), millis(r.UpdatedAt))
			if isUniqueViolation(err) {
				return fmt.Errorf("route %s: %w", r.ID, ErrConflict)
			}
		} else {
			var res sql.Result
			res, err = tx.ExecContext(ctx, s.q(`UPDATE routes SET spec = ?, version = ?, enabled = ?, updated_at = ? WHERE id = ? AND version = ?`),
				string(r.Spec), r.Version, r.Enabled, millis(r.UpdatedAt), r.ID, p.PrevVersion)
			if err == nil {
				if n, _ := res.RowsAffected(); n == 0 {
					return s.missingOrStale(ctx, tx, r.ID)
				}
			}
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM route_hosts WHERE route_id = ?`), r.ID); err != nil {
			return err
		}
		ids = append(ids, r.ID)
	}
	for _, p := range puts {
		if err := s.claimHosts(ctx, tx, p.Route.ID, p.Route.Hosts); err != nil {
			return err
		}
		if err := s.addVersion(ctx, tx, RouteVersion{RouteID: p.Route.ID, Version: p.Route.Version, Action: p.Action,
			Spec: p.Route.Spec, Actor: actor, At: p.Route.UpdatedAt}); err != nil {
			return err
		}
	}
	return s.commit(ctx, tx, ChangeRoute, ids...)
}

// versioned names the tables of an entity kept with its history (routes,
// streams): its rows, its versions and their id column, and its change
// log kind.
type versioned struct {
	table, history, idColumn, change string
}

var (
	routeTables  = versioned{table: "routes", history: "route_versions", idColumn: "route_id", change: ChangeRoute}
	streamTables = versioned{table: "streams", history: "stream_versions", idColumn: "stream_id", change: ChangeStream}
)

// DeleteRoute removes a route whose version is prevVersion (any version
// when 0) and records the deletion in its history.
func (s *Store) DeleteRoute(ctx context.Context, id string, prevVersion int, actor string, at time.Time) error {
	return s.deleteVersioned(ctx, routeTables, id, prevVersion, actor, at, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM route_hosts WHERE route_id = ?`), id)
		return err
	})
}

// deleteVersioned removes row id of v whose version is prevVersion (any
// version when 0), after also running before in the transaction, and
// records the deletion in its history and the change log.
func (s *Store) deleteVersioned(ctx context.Context, v versioned, id string, prevVersion int, actor string, at time.Time, before func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var (
		spec    string
		version int
	)
	err = tx.QueryRowContext(ctx, s.q(`SELECT spec, version FROM `+v.table+` WHERE id = ?`), id).Scan(&spec, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if prevVersion != 0 && version != prevVersion {
		return ErrVersionConflict
	}
	if before != nil {
		if err := before(tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+v.table+` WHERE id = ?`), id); err != nil {
		return err
	}
	if err := s.addVersionOf(ctx, tx, v, RouteVersion{RouteID: id, Version: version + 1, Action: "delete", Spec: []byte(spec), Actor: actor, At: at}); err != nil {
		return err
	}
	return s.commit(ctx, tx, v.change, id)
}

// RouteVersions returns a route's history, newest first.
func (s *Store) RouteVersions(ctx context.Context, id string) ([]RouteVersion, error) {
	return s.versionsOf(ctx, routeTables, id)
}

// versionsOf returns the history of row id of v, newest first.
func (s *Store) versionsOf(ctx context.Context, v versioned, id string) ([]RouteVersion, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+v.idColumn+`, version, action, spec, actor, at FROM `+v.history+` WHERE `+v.idColumn+` = ? ORDER BY version DESC`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RouteVersion
	for rows.Next() {
		var (
			rv   RouteVersion
			spec string
			at   int64
		)
		if err := rows.Scan(&rv.RouteID, &rv.Version, &rv.Action, &spec, &rv.Actor, &at); err != nil {
			return nil, err
		}
		rv.Spec, rv.At = []byte(spec), fromMillis(at)
		out = append(out, rv)
	}
	return out, rows.Err()
}

// RouteVersionSpec returns the spec a route had at a version.
func (s *Store) RouteVersionSpec(ctx context.Context, id string, version int) ([]byte, error) {
	return s.versionSpecOf(ctx, routeTables, id, version)
}

// versionSpecOf returns the spec row id of v had at a version.
func (s *Store) versionSpecOf(ctx context.Context, v versioned, id string, version int) ([]byte, error) {
	var spec string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT spec FROM `+v.history+` WHERE `+v.idColumn+` = ? AND version = ? AND action <> 'delete'`), id, version).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return []byte(spec), err
}

func (s *Store) missingOrStale(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM routes WHERE id = ?`), id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return ErrVersionConflict
}

// claimHosts replaces the hosts of a route. A host held by another route
// is reported as a *HostConflictError.
func (s *Store) claimHosts(ctx context.Context, tx *sql.Tx, id string, hosts []string) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM route_hosts WHERE route_id = ?`), id); err != nil {
		return err
	}
	for _, h := range hosts {
		var owner string
		err := tx.QueryRowContext(ctx, s.q(`SELECT route_id FROM route_hosts WHERE host = ?`), h).Scan(&owner)
		if err == nil {
			return &HostConflictError{Host: h, RouteID: owner}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO route_hosts (host, route_id) VALUES (?, ?)`), h, id); err != nil {
			if isUniqueViolation(err) { // claimed concurrently
				return &HostConflictError{Host: h}
			}
			return err
		}
	}
	return nil
}

func (s *Store) addVersion(ctx context.Context, tx *sql.Tx, v RouteVersion) error {
	return s.addVersionOf(ctx, tx, routeTables, v)
}

// addVersionOf adds a version to the history of v.
func (s *Store) addVersionOf(ctx context.Context, tx *sql.Tx, v versioned, rv RouteVersion) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO `+v.history+` (`+v.idColumn+`, version, action, spec, actor, at) VALUES (?, ?, ?, ?, ?, ?)`),
		rv.RouteID, rv.Version, rv.Action, string(rv.Spec), rv.Actor, millis(rv.At))
	return err
}

// RouteSpec is the spec of a route or of one of its versions, for
// re-sealing the secrets in it.
type RouteSpec struct {
	RouteID string
	Version int // 0 for the current route in the routes table
	Spec    []byte
}

// RouteSpecs lists the specs of the routes and versions that edit
// request headers, the ones that can hold sealed values.
func (s *Store) RouteSpecs(ctx context.Context) ([]RouteSpec, error) {
	var out []RouteSpec
	// Only specs with request header edits can hold sealed values: the
	// database skips the others (a JSON string cannot hold `"request":`
	// unescaped, so no route's name or host matches), so that start-up
	// does not read every route and version.
	const withRequest = ` WHERE spec LIKE '%"request":%'`
	for _, q := range []string{`SELECT id, 0, spec FROM routes` + withRequest, `SELECT route_id, version, spec FROM route_versions` + withRequest} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				rs   RouteSpec
				spec string
			)
			if err := rows.Scan(&rs.RouteID, &rs.Version, &spec); err != nil {
				rows.Close()
				return nil, err
			}
			rs.Spec = []byte(spec)
			out = append(out, rs)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReplaceRouteSpec stores a spec with re-sealed secrets if the row still
// holds the old one. It reports whether it did.
func (s *Store) ReplaceRouteSpec(ctx context.Context, old RouteSpec, spec []byte) (bool, error) {
	var (
		res sql.Result
		err error
	)
	if old.Version == 0 {
		res, err = s.db.ExecContext(ctx, s.q(`UPDATE routes SET spec = ? WHERE id = ? AND spec = ?`), string(spec), old.RouteID, string(old.Spec))
	} else {
		res, err = s.db.ExecContext(ctx, s.q(`UPDATE route_versions SET spec = ? WHERE route_id = ? AND version = ? AND spec = ?`),
			string(spec), old.RouteID, old.Version, string(old.Spec))
	}
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ChangeRouteToken is the change-log kind of a route token: a node
// drops the token from its cache of verified tokens.
const ChangeRouteToken = "route_token"

// RouteToken is a stored route token. The token itself is never stored:
// Hash is its argon2id hash.
type RouteToken struct {
	ID         string
	RouteID    string
	Name       string
	Username   string // "" for a bearer token; the basic-auth user name otherwise
	Hash       string
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
	ExpiresAt  time.Time // zero: never expires
}

const routeTokenColumns = `id, route_id, name, username, hash, created_by, created_at, last_used_at, revoked_at, expires_at`

func scanRouteToken(row interface{ Scan(...any) error }) (RouteToken, error) {
	var (
		t             RouteToken
		created       int64
		used, revoked sql.NullInt64
		expires       sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.RouteID, &t.Name, &t.Username, &t.Hash, &t.CreatedBy, &created, &used, &revoked, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return RouteToken{}, ErrNotFound
	}
	if err != nil {
		return RouteToken{}, err
	}
	t.CreatedAt = fromMillis(created)
	t.LastUsedAt, t.RevokedAt, t.ExpiresAt = nullTime(used), nullTime(revoked), nullTime(expires)
	return t, nil
}

// CreateRouteToken stores t.
func (s *Store) CreateRouteToken(ctx context.Context, t RouteToken) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO route_tokens (`+routeTokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ID, t.RouteID, t.Name, t.Username, t.Hash, t.CreatedBy, millis(t.CreatedAt), nullMillis(t.LastUsedAt), nullMillis(t.RevokedAt), nullMillis(t.ExpiresAt))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return err
	}
	return s.commit(ctx, tx, ChangeRouteToken, t.ID)
}

// RouteTokenByID finds a token by id.
func (s *Store) RouteTokenByID(ctx context.Context, id string) (RouteToken, error) {
	return scanRouteToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+routeTokenColumns+` FROM route_tokens WHERE id = ?`), id))
}

// ListRouteTokens lists the tokens of a route, newest first, revoked
// ones too.
func (s *Store) ListRouteTokens(ctx context.Context, routeID string) ([]RouteToken, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+routeTokenColumns+` FROM route_tokens WHERE route_id = ? ORDER BY created_at DESC, id`), routeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RouteToken
	for rows.Next() {
		t, err := scanRouteToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeRouteToken marks a token revoked and records the change, so
// every node drops it. It reports false when it was revoked already;
// ErrNotFound when there is no such token.
func (s *Store) RevokeRouteToken(ctx context.Context, id string, at time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	res, err := tx.ExecContext(ctx, s.q(`UPDATE route_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), millis(at), id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, s.commit(ctx, tx, ChangeRouteToken, id)
	}
	tx.Rollback() //nolint:errcheck // nothing to keep
	if _, err := s.RouteTokenByID(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

// TouchRouteToken records a use of the token.
func (s *Store) TouchRouteToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE route_tokens SET last_used_at = ? WHERE id = ?`), millis(at), id)
	return err
}

// TrafficRow is one node's traffic of one route in one minute.
type TrafficRow struct {
	Node     string // the node's instance
	NodeName string
	RouteID  string
	Minute   time.Time // its start
	Classes  [5]uint64 // requests by status class, 1xx … 5xx
	Buckets  []uint64  // the latency histogram's count per bucket (not cumulative)
}

// PutTraffic writes rows, replacing those of the same route, minute and
// node, in one transaction.
func (s *Store) PutTraffic(ctx context.Context, rows []TrafficRow) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	for _, r := range rows {
		b, err := json.Marshal(r.Buckets)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO route_traffic
			(node, node_name, route_id, minute, c1, c2, c3, c4, c5, buckets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (route_id, minute, node) DO UPDATE SET node_name = excluded.node_name,
				c1 = excluded.c1, c2 = excluded.c2, c3 = excluded.c3, c4 = excluded.c4, c5 = excluded.c5,
				buckets = excluded.buckets`),
			r.Node, r.NodeName, r.RouteID, r.Minute.Unix(), int64(r.Classes[0]), int64(r.Classes[1]), int64(r.Classes[2]),
			int64(r.Classes[3]), int64(r.Classes[4]), string(b)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Traffic returns every node's rows of route id from since on, oldest
// first.
func (s *Store) Traffic(ctx context.Context, id string, since time.Time) ([]TrafficRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT node, node_name, minute, c1, c2, c3, c4, c5, buckets FROM route_traffic
		WHERE route_id = ? AND minute >= ? ORDER BY minute, node_name, node`), id, since.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TrafficRow
	for rows.Next() {
		var (
			r       = TrafficRow{RouteID: id}
			minute  int64
			c       [5]int64
			buckets string
		)
		if err := rows.Scan(&r.Node, &r.NodeName, &minute, &c[0], &c[1], &c[2], &c[3], &c[4], &buckets); err != nil {
			return nil, err
		}
		r.Minute = time.Unix(minute, 0).UTC()
		for i, n := range c {
			r.Classes[i] = uint64(n)
		}
		if err := json.Unmarshal([]byte(buckets), &r.Buckets); err != nil {
			return nil, fmt.Errorf("route_traffic buckets: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneTraffic deletes the rows of minutes before before.
func (s *Store) PruneTraffic(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM route_traffic WHERE minute < ?`), before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
