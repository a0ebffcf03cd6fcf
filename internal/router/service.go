package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certlimit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// Service changes routes, for one config: the live table of that config,
// the state it shares with others (store, audit log, certificate limits)
// and its key ring and upstream policy.
type Service struct {
	Table      *Table
	Store      *store.Store
	Keys       *keyring.Keyring
	Audit      *audit.Log
	Upstreams  *upstream.Guard
	CertLimits *certlimit.Limiter
	// Tokens are the verified route tokens and failed attempts, shared
	// by the configs of one database.
	Tokens *Tokens
	// Custom are the custom certificates served, shared by the configs
	// of one database.
	Custom *certs.Served

	// LoginPage reports whether the gate can send browsers without a
	// session to a login page (the app's url is set); see Warnings.
	LoginPage bool

	// Saved, when set, is called after a change of route id is stored
	// and live in this table, outside the table's lock: the node's other
	// configs reload the route (while a reload swaps configs, a change
	// saved through the old one must reach the new one's table).
	Saved func(ctx context.Context, id string)

	// DNS checks the DNS-01 settings of a route with challenge dns: that
	// its dns_credential is stored, or, without one, that the issuer
	// has a DNS provider of its own. Its errors name the field. nil
	// accepts any.
	DNS func(ctx context.Context, credential string) error
	// StreamHost, when set, returns the name of a stream that takes TLS
	// connections for host on an HTTPS port it shares with the routes,
	// or "": an HTTPS route may not take such a host (the stream would
	// get its connections).
	StreamHost func(host string) string
	// Names, shared with the stream service, is held from the check
	// against StreamHost until the route is stored and live (see
	// stream.ServerNames). nil locks nothing.
	Names *stream.ServerNames
	// Certs are this node's issuance attempts, for the routes' TLS
	// state (see TLSStatus); nil shows none.
	Certs *certs.Attempts

	Now    func() time.Time
	Logger *zap.Logger
}

// Errors of route changes, wrapped in the *fail errors the service
// returns.
var (
	ErrRouteNotFound = errors.New("no such route")
	ErrStaleVersion  = store.ErrVersionConflict
)

func notFound() error {
	return &fail.NotFoundError{Message: ErrRouteNotFound.Error(), Err: ErrRouteNotFound}
}

func stale() error {
	return &fail.ConflictError{Field: "version", Message: ErrStaleVersion.Error(), Err: ErrStaleVersion}
}

// change is what a save does, as the history and the audit log name it.
type change struct {
	action       audit.Action // RouteCreate, RouteUpdate or RouteRollback
	rolledBackTo int          // for RouteRollback
	maintenance  string       // for RouteMaintenance: "maintenance on", "maintenance off" or "maintenance scheduled"
}

// history is the change's name in the route's history.
func (c change) history() string {
	switch c.action {
	case audit.RouteCreate:
		return "create"
	case audit.RouteRollback:
		return "rollback to " + strconv.Itoa(c.rolledBackTo)
	case audit.RouteMaintenance:
		return c.maintenance
	}
	return "update"
}

// Routes lists every managed route, oldest first, its secrets sealed.
func (s *Service) Routes(ctx context.Context) ([]*route.Route, error) {
	stored, err := s.Store.ListRoutes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*route.Route, 0, len(stored))
	for _, sr := range stored {
		r, err := decodeStoredRoute(sr)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", sr.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Route returns one route, its secrets sealed.
func (s *Service) Route(ctx context.Context, id string) (*route.Route, error) {
	sr, err := s.Store.Route(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	return decodeStoredRoute(sr)
}

// Create validates, provisions, stores and publishes a new route.
func (s *Service) Create(ctx context.Context, r *route.Route, actor audit.Actor) (*route.Route, error) {
	r.ID = uuid.NewString()
	r.Version = 0
	r.CreatedAt = s.Now().UTC().Truncate(time.Millisecond) // the store keeps milliseconds
	r, err := s.save(ctx, r, nil, change{action: audit.RouteCreate}, actor)
	s.saved(ctx, r, err)
	return r, err
}

// Update replaces route id; r.Version must be the version the caller
// read (a *fail.ConflictError on version otherwise).
func (s *Service) Update(ctx context.Context, id string, r *route.Route, actor audit.Actor) (*route.Route, error) {
	cur, err := s.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Version == 0 {
		return nil, fail.Field("version", "required: the version you are changing")
	}
	if r.Version != cur.Version {
		return nil, stale()
	}
	r.ID, r.CreatedAt = id, cur.CreatedAt
	r, err = s.save(ctx, r, cur, change{action: audit.RouteUpdate}, actor)
	s.saved(ctx, r, err)
	return r, err
}

// Rollback makes a previous version of route id current again, as a new
// version.
func (s *Service) Rollback(ctx context.Context, id string, version int, actor audit.Actor) (*route.Route, error) {
	cur, err := s.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	spec, err := s.Store.RouteVersionSpec(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail.Field("version", "route has no version %d", version)
	}
	if err != nil {
		return nil, err
	}
	r := new(route.Route)
	if err := json.Unmarshal(spec, r); err != nil {
		return nil, err
	}
	r.ID, r.CreatedAt = id, cur.CreatedAt
	r, err = s.save(ctx, r, cur, change{action: audit.RouteRollback, rolledBackTo: version}, actor)
	s.saved(ctx, r, err)
	return r, err
}

// saved tells Saved of a route that save stored (err == nil).
func (s *Service) saved(ctx context.Context, r *route.Route, err error) {
	if err == nil && s.Saved != nil {
		s.Saved(ctx, r.ID)
	}
}

// Delete removes route id (at version, or any version when 0).
func (s *Service) Delete(ctx context.Context, id string, version int, actor audit.Actor) error {
	if err := s.delete(ctx, id, version, actor); err != nil {
		return err
	}
	if s.Saved != nil {
		s.Saved(ctx, id)
	}
	return nil
}

func (s *Service) delete(ctx context.Context, id string, version int, actor audit.Actor) error {
	s.Table.mu.Lock()
	defer s.Table.mu.Unlock()
	before, err := s.Route(ctx, id)
	if err != nil {
		return err
	}
	err = s.Store.DeleteRoute(ctx, id, version, actor.Name, s.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound()
	case errors.Is(err, store.ErrVersionConflict):
		return stale()
	case err != nil:
		return err
	}
	s.remove(id)
	s.Logger.Info("route deleted", zap.String("route_id", id), zap.String("actor", actor.Name))
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RouteDelete, Target: id, Before: ViewOf(before), Extra: routeContext(before)})
	return nil
}

// Version is one entry of a route's history.
type Version struct {
	Version int       `json:"version"`
	Action  string    `json:"action"` // create, update, "rollback to N"
	Actor   string    `json:"actor"`
	At      string    `json:"at"`
	Route   RouteView `json:"route"`
}

// History returns a route's versions, newest first.
func (s *Service) History(ctx context.Context, id string) ([]Version, error) {
	vs, err := s.Store.RouteVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, notFound()
	}
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		r := new(route.Route)
		if err := json.Unmarshal(v.Spec, r); err != nil {
			return nil, err
		}
		out = append(out, Version{Version: v.Version, Action: v.Action, Actor: v.Actor, At: v.At.Format("2006-01-02T15:04:05.000Z07:00"), Route: ViewOf(r)})
	}
	return out, nil
}

// applyResult is the result label of a route change's duration: ok,
// refused (the change was wrong: a field, a conflict, a stale version,
// a forbidden upstream) or error (the server failed).
func applyResult(err error) string {
	var fe *fail.FieldError
	var ce *fail.ConflictError
	var fb *fail.ForbiddenError
	var nf *fail.NotFoundError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe), errors.As(err, &ce), errors.As(err, &fb), errors.As(err, &nf):
		return "refused"
	}
	return "error"
}

// save is the one path by which a route changes: validate, check the
// upstreams, compile and provision the new handlers, then commit to the
// store, then swap the new handlers in. When any step fails, the previous
// route stays stored and live. prev is the route being replaced, nil for
// a new one.
func (s *Service) save(ctx context.Context, r *route.Route, prev *route.Route, c change, actor audit.Actor) (_ *route.Route, err error) {
	defer func(start time.Time) { s.Table.Metrics.Apply(applyResult(err), time.Since(start)) }(time.Now())
	prevVersion := 0
	if prev != nil {
		prevVersion = prev.Version
	}
	// Request header values kept from a stored version arrive sealed.
	r, err = s.Open(r)
	if err != nil {
		return nil, err
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		var re *route.Error
		if errors.As(err, &re) {
			return nil, fail.Field(re.Field, "%s", re.Message)
		}
		return nil, err
	}
	if err := s.checkUpstreams(ctx, r); err != nil {
		return nil, err
	}
	if err := s.checkCertificate(ctx, r); err != nil {
		return nil, err
	}
	if r.Challenge == route.ChallengeDNS && s.DNS != nil {
		if err := s.DNS(ctx, r.DNSCredential); err != nil {
			return nil, err
		}
	}
	r.Version = prevVersion + 1
	r.UpdatedAt = s.Now().UTC().Truncate(time.Millisecond)

	// Held until the route is stored and live: a stream saved meanwhile
	// sees its hosts, or this check sees the stream's.
	s.Names.Lock()
	defer s.Names.Unlock()
	if err := s.checkStreams(r); err != nil {
		return nil, err
	}
	s.Table.mu.Lock()
	defer s.Table.mu.Unlock()
	lr, err := s.Table.compile(r)
	if err != nil {
		return nil, fail.Field("route", "cannot be served: %s", err.Error())
	}
	sealed, err := s.seal(r)
	if err != nil {
		lr.cancel()
		return nil, err
	}
	spec, err := json.Marshal(sealed)
	if err != nil {
		lr.cancel()
		return nil, err
	}
	err = s.Store.PutRoute(ctx, store.StoredRoute{
		ID: r.ID, Spec: spec, Version: r.Version, Enabled: r.Enabled, Hosts: r.Hosts,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, prevVersion, c.history(), actor.Name, nil)
	if err != nil {
		lr.cancel()
		var hc *store.HostConflictError
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound()
		case errors.Is(err, store.ErrVersionConflict):
			return nil, stale()
		case errors.As(err, &hc):
			return nil, &fail.ConflictError{Field: "hosts", Message: err.Error(), Err: err}
		}
		return nil, err
	}
	if r.Enabled {
		s.Table.publish(r.ID, lr)
	} else {
		lr.cancel()
		s.Table.publish(r.ID, nil)
	}
	s.Logger.Info("route saved", zap.String("route_id", r.ID), zap.String("action", c.history()),
		zap.Int("version", r.Version), zap.String("actor", actor.Name), zap.String("hosts", strings.Join(r.Hosts, ",")))
	extra := routeContext(r)
	if c.action == audit.RouteRollback {
		extra["rolled_back_to"] = c.rolledBackTo
	}
	if prev != nil {
		if opened, err := s.Open(prev); err == nil {
			prev = opened
		}
	}
	if names := changedSecrets(prev, r); len(names) > 0 {
		extra["secret_headers_changed"] = names
	}
	ev := audit.Event{Actor: actor, Action: c.action, Target: r.ID, After: ViewOf(r), Extra: extra}
	if prev != nil {
		ev.Before = ViewOf(prev)
	}
	s.Audit.Record(ctx, ev)
	return r, nil
}

// routeContext is what every audit entry about a route shows, whatever
// changed: its name and hosts.
func routeContext(r *route.Route) map[string]any {
	return map[string]any{"route_name": r.Name, "route_hosts": r.Hosts}
}

// checkStreams refuses an enabled HTTPS route a host that a stream on a
// shared HTTPS port takes. Callers hold Names until the route is live.
func (s *Service) checkStreams(r *route.Route) error {
	if s.StreamHost == nil || !r.Enabled || r.TLS == route.TLSOff {
		return nil
	}
	for i, h := range r.Hosts {
		if name := s.StreamHost(h); name != "" {
			return fail.Field(fmt.Sprintf("hosts[%d]", i), "%q is taken by stream %q on the HTTPS port", h, name)
		}
	}
	return nil
}

// checkUpstreams refuses a route whose upstreams reach what the upstream
// policy forbids, resolving names as they resolve now; the transport
// checks again at every connection.
func (s *Service) checkUpstreams(ctx context.Context, r *route.Route) error {
	for i, u := range r.Upstreams {
		_, dial, err := route.ParseUpstream(u)
		if err != nil {
			continue // Validate reported it
		}
		host, portStr, _ := net.SplitHostPort(dial)
		port, _ := strconv.ParseUint(portStr, 10, 16)
		if err := s.Upstreams.CheckHost(ctx, host, uint16(port)); err != nil {
			var re *upstream.RefusedError
			if errors.As(err, &re) {
				return fail.Field(fmt.Sprintf("upstreams[%d]", i), "%q: %v", u, err)
			}
			return err
		}
	}
	return nil
}

// Status reports whether route id is live and its upstreams' health.
func (s *Service) Status(id string) RouteStatus { return s.Table.Status(id) }

// Load compiles and publishes every enabled stored route into the table.
func (s *Service) Load(ctx context.Context) error { return s.Table.Load(ctx, s.Store, s.Open) }

// Reload makes route id live as the store holds it now, for a change
// another node made (see cluster.Feed): a new version is compiled and
// swapped in, a disabled or deleted route leaves the table. Reloading
// twice is harmless. It returns an error only when the store could not
// be read.
func (s *Service) Reload(ctx context.Context, id string) error {
	s.Table.mu.Lock()
	defer s.Table.mu.Unlock()
	sr, err := s.Store.Route(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.remove(id)
		return nil
	}
	if err != nil {
		return err
	}
	s.Table.apply(sr, s.Open)
	return nil
}

// Sync makes the whole table what the store holds now, for a node that
// missed changes (see cluster.Feed): routes whose version changed are
// compiled again, the others stay as they are.
func (s *Service) Sync(ctx context.Context) error {
	s.Table.mu.Lock()
	defer s.Table.mu.Unlock()
	stored, err := s.Store.ListRoutes(ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(stored))
	for _, sr := range stored {
		seen[sr.ID] = true
		s.Table.apply(sr, s.Open)
	}
	for id := range s.Table.byID {
		if !seen[id] {
			s.remove(id)
		}
	}
	return nil
}

// remove takes route id out of the table and forgets its certificate
// names. Callers hold the table's lock.
func (s *Service) remove(id string) {
	s.Table.publish(id, nil)
	s.Table.Metrics.ForgetRoute(id)
	if s.CertLimits != nil {
		s.CertLimits.Forget(id)
	}
}
