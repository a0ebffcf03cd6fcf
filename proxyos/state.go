package proxyos

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certlimit"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// pool holds the state shared by every config that uses one database.
var pool = caddy.NewUsagePool()

// state is what survives config reloads: the store, the session cache,
// the audit log, the in-memory limits, the setup code and the background
// maintenance loop. It logs through the latest config's logger and
// follows its settings (see follow).
type state struct {
	store      *store.Store
	sessions   *session.Cache
	audit      *audit.Log
	limits     *account.Limits
	setup      *account.SetupCodes
	certLimits *certlimit.Limiter // new on-demand names per route (see Permission)
	clock      atomic.Pointer[func() time.Time]

	logger         atomic.Pointer[zap.Logger] // of the latest config
	auditRetention atomic.Int64               // nanoseconds, of the latest config
	sessionIdle    atomic.Int64               // nanoseconds, of the latest config
	lastAuditPrune time.Time                  // only the maintenance loop uses it

	cancel context.CancelFunc
	done   chan struct{}
}

func newState(logger *zap.Logger, driver, dsn string, now func() time.Time) (*state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := &state{store: st, limits: account.NewLimits(), setup: new(account.SetupCodes), done: make(chan struct{})}
	s.clock.Store(&now)
	s.logger.Store(logger)
	s.audit = audit.New(st, s.now, s.log)
	s.sessions = session.NewCache(st, s.audit, s.now, s.log)
	s.certLimits = certlimit.New(DefaultOnDemandNames, DefaultOnDemandInterval, s.now)
	var bg context.Context
	bg, s.cancel = context.WithCancel(context.Background())
	go s.maintain(bg)
	return s, nil
}

// now is the state's clock: the one of the config that opened it (a test
// may replace it).
func (s *state) now() time.Time { return (*s.clock.Load())() }

// log returns the latest config's logger.
func (s *state) log() *zap.Logger { return s.logger.Load() }

// follow makes the state use the settings of a, the config being
// provisioned: its logger, audit retention, session idle limit and
// on-demand certificate limit.
func (s *state) follow(a *App) {
	s.logger.Store(a.logger)
	s.auditRetention.Store(int64(a.AuditRetention))
	s.sessionIdle.Store(int64(a.SessionIdle))
	s.certLimits.SetLimit(a.OnDemandLimit.Names, time.Duration(a.OnDemandLimit.Interval))
}

// maintainEvery is how often last-seen times are written and old rows pruned.
const maintainEvery = 30 * time.Second

// maintain writes last-seen times and prunes expired data until ctx ends.
func (s *state) maintain(ctx context.Context) {
	defer close(s.done)
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

// maintainOnce does one round of maintenance.
func (s *state) maintainOnce(ctx context.Context) {
	if err := s.sessions.Flush(ctx); err != nil && ctx.Err() == nil {
		s.log().Error("recording session activity", zap.Error(err))
	}
	s.pruneSessionCache()
	now := s.now()
	if _, err := s.store.PruneSessions(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
		s.log().Error("pruning sessions", zap.Error(err))
	}
	if err := s.store.PruneLoginLimits(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
		s.log().Error("pruning login limits", zap.Error(err))
	}
	s.pruneAudit(ctx, now)
	s.limits.Flush(ctx, s.audit, now, false)
	s.audit.FlushSuppressed(ctx, now)
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
	s.cancel()
	<-s.done
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
