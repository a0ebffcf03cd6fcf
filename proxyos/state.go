package proxyos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certlimit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/cluster"
	"github.com/proxyos/caddy-proxyos/internal/metrics"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
)

// pool holds the state shared by every config that uses one database.
var pool = caddy.NewUsagePool()

// state is what survives config reloads: the store, the session cache,
// the audit log, the in-memory limits, the setup code, the background
// maintenance loop and, on PostgreSQL, the cluster feed that applies the
// changes of other nodes. It logs through the latest config's logger and
// follows its settings (see follow).
type state struct {
	store      *store.Store
	sessions   *session.Cache
	audit      *audit.Log
	limits     *account.Limits
	setup      *account.SetupCodes
	certLimits *certlimit.Limiter // new on-demand names per route (see Permission)
	tokens     *router.Tokens     // verified route tokens, failed attempts
	rateLimits *caddy.UsagePool   // each rate-limited route's limiter, by route and settings (see RateLimit)
	certs      certs.Attempts     // each certificate's latest issuance attempt on this node
	metrics    *metrics.Set       // registered in each config's registry
	head       atomic.Int64       // on PostgreSQL: the change log's last seq, as the maintenance loop last read it
	custom     certs.Served       // the custom certificates, loaded
	streams    *streams           // the managed streams' listeners, kept across reloads
	names      stream.ServerNames // held by route and stream saves that check names on a shared HTTPS port
	expiring   certs.Expiring     // when each expiring custom certificate was last logged
	traffic    *traffic.Sampler   // each route's last hour of traffic
	requests   traffic.Logs       // the request logs of routes with request_log

	// certExpiries are the certificates' expiries the metrics show, as
	// listed at a time (see App.certificateExpiries).
	certExpiries struct {
		mu   sync.Mutex
		at   time.Time
		list []metrics.Certificate
	}
	clock atomic.Pointer[func() time.Time]

	logger         atomic.Pointer[zap.Logger] // of the latest config
	auditRetention atomic.Int64               // nanoseconds, of the latest config
	sessionIdle    atomic.Int64               // nanoseconds, of the latest config
	keyID          atomic.Pointer[string]     // the current key id of the latest config
	keyChange      atomic.Pointer[keyChange]  // the latest change of it
	lastAuditPrune time.Time                  // only the maintenance loop uses it

	// The node: its instance (the origin of its changes in the change
	// log), its name (of the latest config) and, on PostgreSQL, the feed
	// of the other nodes' changes.
	node     store.Node
	nodeName atomic.Pointer[string]
	feed     *cluster.Feed

	// The route services of the configs that use this state (usually
	// one; two while a reload swaps them): the feed reloads routes in
	// each.
	routersMu sync.Mutex
	routers   map[*router.Service]struct{}
	apps      map[*App]struct{} // for DNS credential changes

	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newState(a *App, driver, dsn string) (*state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	now := a.now
	s := &state{store: st, limits: account.NewLimits(), setup: new(account.SetupCodes), routers: make(map[*router.Service]struct{}),
		apps: make(map[*App]struct{})}
	s.clock.Store(&now)
	s.streams = newStreams()
	s.streams.changed = s.streamsChanged
	s.logger.Store(a.logger)
	s.node = store.Node{ID: uuid.NewString(), Version: cluster.Version(), StartedAt: now().UTC()}
	s.nodeName.Store(&a.NodeName)
	st.SetOrigin(s.node.ID)
	s.metrics = metrics.New()
	s.audit = audit.New(st, s.now, s.log)
	s.audit.Observe(s.observeAudit)
	s.sessions = session.NewCache(st, s.audit, s.now, s.log)
	s.sessions.Loaded = func(d time.Duration, err error) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.metrics.StoreError()
			return
		}
		s.metrics.SessionLoad(d)
	}
	s.traffic = &traffic.Sampler{Store: st, Node: func() (string, string) { return s.node.ID, s.name() },
		Bounds: metrics.DurationBuckets, Read: s.readCounters, Now: s.now}
	s.certLimits = certlimit.New(DefaultOnDemandNames, DefaultOnDemandInterval, s.now)
	s.tokens = router.NewTokens()
	s.rateLimits = caddy.NewUsagePool()
	if driver == store.Postgres {
		s.feed = &cluster.Feed{Store: st, DSN: dsn, Node: s.node, Name: s.name, Apply: s.apply, Own: s.applyOwn, Resync: s.resync,
			Now: s.now, Logger: s.log}
		// What the node loads from now on is at least as new as the
		// change log's last entry: the feed starts after it.
		if err := s.feed.Start(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("reading the change log: %w", err)
		}
	}
	var bg context.Context
	bg, s.cancel = context.WithCancel(context.Background())
	s.done.Add(1)
	go func() { defer s.done.Done(); s.maintain(bg) }()
	s.done.Add(1)
	go func() { defer s.done.Done(); s.sample(bg) }()
	s.done.Add(1)
	go func() { defer s.done.Done(); s.runSchedules(bg) }()
	if s.feed != nil {
		s.done.Add(1)
		go func() { defer s.done.Done(); s.feed.Run(bg) }()
	}
	return s, nil
}

// name returns the node's name, of the latest config.
func (s *state) name() string { return *s.nodeName.Load() }

// addRoutes makes the feed reload routes in r, a config's route
// service, until removeRoutes. A config adds its service before it loads
// its routes, so no change made meanwhile is missed.
func (s *state) addRoutes(r *router.Service) {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	s.routers[r] = struct{}{}
}

// removeRoutes undoes addRoutes.
func (s *state) removeRoutes(r *router.Service) {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	delete(s.routers, r)
}

// addApp makes DNS credential changes reach a's issuer, until removeApp.
func (s *state) addApp(a *App) {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	s.apps[a] = struct{}{}
}

// removeApp undoes addApp.
func (s *state) removeApp(a *App) {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	delete(s.apps, a)
}

// credentialChanged tells every config that a DNS credential changed:
// their issuers read it again at the next attempt, and names without a
// certificate are retried at once.
func (s *state) credentialChanged() {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	for a := range s.apps {
		a.credentialChanged()
	}
}

// routeServices returns the services added.
func (s *state) routeServices() []*router.Service {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	out := make([]*router.Service, 0, len(s.routers))
	for r := range s.routers {
		out = append(out, r)
	}
	return out
}

// apply applies a change another node made (see cluster.Feed): cached
// sessions of a changed user or of a changed session are dropped, so
// the next request reads them again; a changed route is reloaded in
// every config; a changed custom certificate is loaded again (the
// configs share them), a changed DNS credential is read again by the
// issuers. API keys are read from the store on every use, so their
// changes need nothing.
func (s *state) apply(ctx context.Context, c store.Change) error {
	switch c.Kind {
	case store.ChangeUser:
		s.sessions.ForgetUser(c.Entity)
	case store.ChangeSession:
		s.sessions.Forget(c.Entity)
	case store.ChangeRouteToken:
		s.tokens.Verified.Forget(c.Entity)
	case store.ChangeDNSCredential:
		s.credentialChanged()
	case store.ChangeRoute:
		for _, r := range s.routeServices() {
			if err := r.Reload(ctx, c.Entity); err != nil {
				return err
			}
		}
	case store.ChangeStream:
		if a := s.anyApp(); a != nil {
			return a.streams.Reload(ctx, c.Entity) // the configs share the streams
		}
	case store.ChangeCertificate:
		if rs := s.routeServices(); len(rs) > 0 {
			return rs[0].ReloadCertificate(ctx, c.Entity) // one loads them for all
		}
	}
	return nil
}

// applyOwn applies a change this node made to the routes of its other
// configs: while a reload swaps configs, a route saved through the old
// config's table must reach the new one's too. The table that saved it
// has that version already and does nothing.
func (s *state) applyOwn(ctx context.Context, c store.Change) error {
	if c.Kind != store.ChangeRoute {
		return nil
	}
	for _, r := range s.routeServices() {
		if err := r.Reload(ctx, c.Entity); err != nil {
			return err
		}
	}
	return nil
}

// routeSaved returns what from, a config's route service, calls after
// saving a route on a node without a feed (SQLite): the route is
// reloaded in the node's other configs, as applyOwn does with a feed.
func (s *state) routeSaved(from *router.Service) func(context.Context, string) {
	return func(ctx context.Context, id string) {
		for _, r := range s.routeServices() {
			if r == from {
				continue
			}
			if err := r.Reload(ctx, id); err != nil {
				s.log().Error("reloading a saved route in another config", zap.String("route_id", id), zap.Error(err))
			}
		}
	}
}

// anyApp returns one of the configs that use the state, or nil.
func (s *state) anyApp() *App {
	s.routersMu.Lock()
	defer s.routersMu.Unlock()
	for a := range s.apps {
		return a
	}
	return nil
}

// streamsChanged makes every config's upstream policy learn the
// streams' listeners (no route or stream may reach them).
func (s *state) streamsChanged() {
	s.routersMu.Lock()
	apps := make([]*App, 0, len(s.apps))
	for a := range s.apps {
		apps = append(apps, a)
	}
	s.routersMu.Unlock()
	for _, a := range apps {
		a.watchListeners()
	}
}

// resync reloads everything, for a node that missed changes.
func (s *state) resync(ctx context.Context) error {
	s.sessions.ForgetAll()
	s.tokens.Verified.ForgetAll()
	s.credentialChanged()
	for _, r := range s.routeServices() {
		if err := r.LoadCertificates(ctx); err != nil {
			return err
		}
	}
	for _, r := range s.routeServices() {
		if err := r.Sync(ctx); err != nil {
			return err
		}
	}
	if a := s.anyApp(); a != nil {
		return a.streams.Load(ctx)
	}
	return nil
}

// now is the state's clock: the one of the config that opened it (a test
// may replace it).
func (s *state) now() time.Time { return (*s.clock.Load())() }

// log returns the latest config's logger.
func (s *state) log() *zap.Logger { return s.logger.Load() }

// follow makes the state use the settings of a, the config being
// provisioned: its logger, audit retention, session idle limit and
// on-demand certificate limit; it notes a change of the current key.
func (s *state) follow(a *App) {
	s.logger.Store(a.logger)
	s.nodeName.Store(&a.NodeName)
	s.auditRetention.Store(int64(a.AuditRetention))
	s.sessionIdle.Store(int64(a.SessionIdle))
	s.certLimits.SetLimit(a.OnDemandLimit.Names, time.Duration(a.OnDemandLimit.Interval))
	id := a.keys.CurrentID()
	if prev := s.keyID.Swap(&id); prev != nil && *prev != id {
		s.keyChange.Store(&keyChange{at: s.now(), from: *prev})
	}
}

// keyChange is a config with another current key (a new secret)
// replacing the running one, for the doctor.
type keyChange struct {
	at   time.Time
	from string // the key id replaced
}

// maintainEvery is how often last-seen times are written and old rows pruned.
const maintainEvery = 30 * time.Second

// changeRetention is how long the change log keeps a change: a node away
// for longer reloads everything when it comes back.
const changeRetention = 24 * time.Hour

// maintain writes last-seen times and prunes expired data until ctx ends.
func (s *state) maintain(ctx context.Context) {
	s.reportNode(ctx)
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.maintainOnce(ctx)
	}
}

// scheduleEvery is how often routes' maintenance schedules are checked:
// a schedule takes effect at most this late.
const scheduleEvery = time.Second

// runSchedules carries out the routes' maintenance schedules that are
// due, in every config, until ctx ends (see router.Service.RunSchedules;
// of two configs or nodes, one makes each change).
func (s *state) runSchedules(ctx context.Context) {
	t := time.NewTicker(scheduleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range s.routeServices() {
			r.RunSchedules(ctx)
		}
	}
}

// maintainOnce does one round of maintenance.
func (s *state) maintainOnce(ctx context.Context) {
	s.logFailure(ctx, "recording session activity", s.sessions.Flush(ctx))
	s.pruneSessionCache()
	now := s.now()
	_, err := s.store.PruneSessions(ctx, now.Add(-24*time.Hour))
	s.logFailure(ctx, "pruning sessions", err)
	s.logFailure(ctx, "pruning login limits", s.store.PruneLoginLimits(ctx, now.Add(-24*time.Hour)))
	_, err = s.store.PruneChanges(ctx, now.Add(-changeRetention))
	s.logFailure(ctx, "pruning the change log", err)
	_, err = s.store.PruneNodes(ctx, now.Add(-changeRetention))
	s.logFailure(ctx, "pruning the node list", err)
	s.reportNode(ctx)
	if s.feed != nil {
		if head, err := s.store.LastChange(ctx); err == nil {
			s.head.Store(head)
		}
	}
	s.pruneAudit(ctx, now)
	s.logFailure(ctx, "pruning route traffic", s.traffic.Prune(ctx))
	s.limits.Flush(ctx, s.audit, now, false)
	s.audit.FlushSuppressed(ctx, now)
	s.warnExpiring(now)
}

// warnExpiring logs, once a day each, the custom certificates served
// that expire within certs.ExpiryWarning: nobody renews them.
func (s *state) warnExpiring(now time.Time) {
	for id, leaf := range s.custom.Leaves() {
		if s.expiring.Due(id, leaf, now) {
			s.log().Warn("custom certificate expires soon; upload a replacement",
				zap.String("certificate_id", id), zap.Strings("names", leaf.DNSNames),
				zap.Time("not_after", leaf.NotAfter), zap.Duration("left", leaf.NotAfter.Sub(now).Round(time.Minute)))
		}
	}
}

// sample reads the routes' counters into their traffic rings every
// traffic.Slot until ctx ends, and drops the request logs of routes that
// were deleted or stopped logging.
func (s *state) sample(ctx context.Context) {
	t := time.NewTicker(traffic.Slot)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.logFailure(ctx, "recording route traffic", s.traffic.Sample(ctx))
		s.requests.Keep(s.logsRequests)
	}
}

// readCounters calls f with each route's counters, read only when the
// route counted a request since the previous call (see
// traffic.Sampler).
func (s *state) readCounters(f func(id string, changed bool, c traffic.Counts)) {
	s.metrics.EachRoute(func(id string, r *metrics.Route) {
		if !r.Touched() {
			f(id, false, traffic.Counts{})
			return
		}
		classes, buckets := r.Snapshot()
		f(id, true, traffic.Counts{Classes: classes, Buckets: buckets})
	})
}

// logsRequests reports whether route id is live with request_log in a
// config of this node.
func (s *state) logsRequests(id string) bool {
	for _, r := range s.routeServices() {
		if lr := r.Table.Live(id); lr != nil && lr.Route.RequestLog {
			return true
		}
	}
	return false
}

// reportNode records this node in the node list, for SQLite: on
// PostgreSQL the feed does it every few seconds.
func (s *state) reportNode(ctx context.Context) {
	if s.feed != nil {
		return
	}
	n := s.node
	n.Name, n.LastSeen = s.name(), s.now()
	var err error
	n.LastSeq, err = s.store.LastChange(ctx)
	if err == nil {
		err = s.store.Heartbeat(ctx, n)
	}
	s.logFailure(ctx, "reporting this node", err)
}

// logFailure logs a failed maintenance step, unless the database is
// unreachable (the feed logs that once) or the state is closing.
func (s *state) logFailure(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		s.metrics.StoreError()
		if !store.IsUnavailable(err) {
			s.log().Error(what, zap.Error(err))
		}
	}
}

// observeAudit counts the logins among audit events, by method (the
// event's, else password) and outcome.
func (s *state) observeAudit(ev audit.Event) {
	if ev.Action != audit.Login {
		return
	}
	method, _ := ev.Extra["method"].(string)
	if method == "" {
		method = "password"
	}
	s.metrics.Login(method, ev.Outcome == audit.Success)
}

// pruneSessionCache drops cached sessions that expired or went idle
// under the latest config's session_idle, so that the cache holds the
// sessions in use rather than every session made until its absolute
// expiry.
func (s *state) pruneSessionCache() {
	s.sessions.Prune(time.Duration(s.sessionIdle.Load()))
}

// auditPruneEvery is how often old audit entries are deleted.
const auditPruneEvery = time.Hour

// pruneAudit deletes audit entries older than the retention, at most once
// per auditPruneEvery. Only the maintenance loop calls it.
func (s *state) pruneAudit(ctx context.Context, now time.Time) {
	if !s.lastAuditPrune.IsZero() && now.Sub(s.lastAuditPrune) < auditPruneEvery {
		return
	}
	retention := time.Duration(s.auditRetention.Load())
	if retention <= 0 {
		return
	}
	s.lastAuditPrune = now
	n, err := s.audit.Prune(ctx, now, retention)
	if err != nil {
		if ctx.Err() == nil {
			s.log().Error("pruning audit log", zap.Error(err))
		}
		return
	}
	if n > 0 {
		s.log().Info("audit log pruned", zap.Int64("entries", n), zap.Duration("retention", retention))
	}
}

// Destruct stops background work, records activity and closes the store.
func (s *state) Destruct() error {
	s.streams.stop()
	s.cancel()
	s.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.sessions.Flush(ctx); err != nil {
		s.log().Error("recording session activity", zap.Error(err))
	}
	s.limits.Flush(ctx, s.audit, s.now(), true)
	s.audit.FlushSuppressed(ctx, s.now())
	return s.store.Close()
}

// Interface guards
var _ caddy.Destructor = (*state)(nil)
