// Package audit records who did what, from where and with what result:
// every login, failed login, logout and change of a user, two-factor
// setting, API key, session or route. Entries name the real actor (a
// user, an API key by its name, the admin API) and what changed, with
// secrets removed. What clients who are not logged in can make it store
// is bounded (see Log.Record).
package audit

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// DefaultRetention is how long entries are kept by default.
const DefaultRetention = 90 * 24 * time.Hour

// Kinds of actors.
const (
	ActorUser     = "user"      // someone using the dashboard
	ActorAPIKey   = "api_key"   // an API key; the name is its owner's email
	ActorAdminAPI = "admin_api" // Caddy's admin API, and so the CLI
	ActorSystem   = "system"    // proxyos itself
)

// Anonymous is the actor of actions by someone not logged in.
const Anonymous = "anonymous"

// Outcomes of actions.
const (
	Success = "success"
	Failure = "failure"
)

// Action names what happened.
type Action string

// The actions recorded.
const (
	Setup          Action = "setup"
	Login          Action = "login"
	LoginHandoff   Action = "login.handoff"
	LoginLock      Action = "login.lock"    // a rate limit locked after too many failures
	LoginRefused   Action = "login.refused" // attempts a lock refused, recorded when it ended
	Logout         Action = "logout"
	PasswordChange Action = "account.password_change"
	TOTPEnable     Action = "totp.enable"
	TOTPDisable    Action = "totp.disable"
	PasskeyAdd     Action = "passkey.register"
	PasskeyRemove  Action = "passkey.remove"
	UserCreate     Action = "user.create"
	UserUpdate     Action = "user.update"
	UserDelete     Action = "user.delete"
	KeyCreate      Action = "key.create"
	KeyRevoke      Action = "key.revoke"
	SessionRevoke  Action = "session.revoke"
	SessionsRevoke Action = "session.revoke_all"
	RouteCreate    Action = "route.create"
	RouteUpdate    Action = "route.update"
	RouteRollback  Action = "route.rollback"
	RouteDelete    Action = "route.delete"
	RoutesImport   Action = "routes.import" // a batch of route changes applied together
	DatabaseBackup Action = "database.backup"
	Suppressed     Action = "audit.suppressed" // entries of anonymous clients beyond their budget
)

// RouteMaintenance is a route put into maintenance or back, by someone
// or by its schedule.
const RouteMaintenance Action = "route.maintenance"

// ActorRouteToken is the actor kind of a route token; the name is the
// token's.
const ActorRouteToken = "route_token"

// The actions of route tokens: created, revoked, and accepted for the
// first time since this node started or last cached the token.
const (
	RouteTokenCreate Action = "route_token.create"
	RouteTokenRevoke Action = "route_token.revoke"
	RouteTokenUse    Action = "route_token.use"
)

// The actions of certificates: custom ones uploaded, replaced and
// deleted; a managed one renewed on request.
const (
	CertificateUpload  Action = "certificate.upload"
	CertificateReplace Action = "certificate.replace"
	CertificateDelete  Action = "certificate.delete"
	CertificateRenew   Action = "certificate.renew"
)

// Reasons of failures.
const (
	BadCredentials  = "bad_credentials"
	WrongSetupCode  = "wrong_setup_code"
	TooManyFailures = "too_many_failures"
)

// Actor is who changes something and from where, as the audit log and
// the route history record it.
type Actor struct {
	Name     string // the user's email (also for their API keys), or "admin API"
	Kind     string // ActorUser, ActorAPIKey, ActorAdminAPI or ActorSystem
	ClientIP string // as Caddy computes it, trusted proxies included
	KeyID    string // the API key used, if any; recorded under "via"
	KeyName  string
}

// AnonymousFrom is the actor of an attempt by someone not logged in.
func AnonymousFrom(clientIP string) Actor {
	return Actor{Name: Anonymous, Kind: ActorUser, ClientIP: clientIP}
}

// AdminAPIActor is the actor of changes made through Caddy's admin API
// (and the caddy proxyos commands, which use it); remoteAddr is the admin
// request's.
func AdminAPIActor(remoteAddr string) Actor {
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	return Actor{Name: "admin API", Kind: ActorAdminAPI, ClientIP: ip}
}

// Event is one thing to record. Before and After are any values that
// marshal to JSON objects; when both are set only the fields that differ
// are kept. Secrets are removed from both and from Extra.
type Event struct {
	Actor   Actor
	Action  Action
	Target  string
	Outcome string // Success when empty
	Reason  string
	Before  any
	After   any
	Extra   map[string]any
}

// Log writes entries to the store.
type Log struct {
	store    *store.Store
	now      func() time.Time
	logger   func() *zap.Logger
	observer atomic.Pointer[func(Event)]
	budget   budget
}

// New returns a log writing to st, with the clock now and the logger the
// function returns (the current config's, which changes with reloads).
func New(st *store.Store, now func() time.Time, logger func() *zap.Logger) *Log {
	return &Log{store: st, now: now, logger: logger}
}

// Record writes ev. The action it describes has happened already, so a
// failure to record is logged and does not fail it; the entry is written
// even when the request that caused it has gone. Entries of anonymous
// actors beyond their budget are only counted (see FlushSuppressed).
func (l *Log) Record(ctx context.Context, ev Event) {
	l.observe(ev)
	now := l.now()
	if ev.Actor.Name == Anonymous && ev.Actor.Kind == ActorUser && !l.budget.allow(now) {
		return
	}
	l.record(ctx, now, ev)
}

// RecordAt writes ev as of the time at, outside the anonymous budget:
// for entries proxyos itself makes, bounded by other means.
func (l *Log) RecordAt(ctx context.Context, at time.Time, ev Event) {
	l.observe(ev)
	l.record(ctx, at, ev)
}

// Observe has f told of every event recorded from now on, before the
// anonymous budget drops any (metrics count them all).
func (l *Log) Observe(f func(Event)) { l.observer.Store(&f) }

func (l *Log) observe(ev Event) {
	if f := l.observer.Load(); f != nil {
		if ev.Outcome == "" {
			ev.Outcome = Success
		}
		(*f)(ev)
	}
}

func (l *Log) record(ctx context.Context, at time.Time, ev Event) {
	if ev.Outcome == "" {
		ev.Outcome = Success
	}
	if ev.Actor.KeyID != "" {
		// not "…_key": names ending so are redacted as secrets
		extra := map[string]any{"via": map[string]string{"api_key_id": ev.Actor.KeyID, "api_key_name": ev.Actor.KeyName}}
		for k, v := range ev.Extra {
			extra[k] = v
		}
		ev.Extra = extra
	}
	details, err := Details(ev.Before, ev.After, ev.Extra)
	if err != nil {
		l.logger().Error("encoding audit details", zap.String("action", string(ev.Action)), zap.Error(err))
	}
	_, err = l.store.AddAudit(context.WithoutCancel(ctx), store.AuditEntry{
		At: at.UTC(), Actor: ev.Actor.Name, ActorKind: ev.Actor.Kind, Action: string(ev.Action),
		Target: ev.Target, ClientIP: ev.Actor.ClientIP, Outcome: ev.Outcome, Reason: ev.Reason, Details: details,
	})
	if err != nil {
		if !store.IsUnavailable(err) { // an outage is logged once, by the cluster feed
			l.logger().Error("recording audit entry", zap.String("action", string(ev.Action)), zap.String("target", ev.Target), zap.Error(err))
		}
	}
}

// FlushSuppressed records how many anonymous entries the budget
// suppressed since the last time, as one entry.
func (l *Log) FlushSuppressed(ctx context.Context, now time.Time) {
	if n := l.budget.takeSuppressed(); n > 0 {
		l.logger().Warn("audit entries of clients who are not logged in exceeded their budget; counted only", zap.Int("count", n))
		l.RecordAt(ctx, now, Event{Actor: Actor{Name: Anonymous, Kind: ActorUser}, Action: Suppressed,
			Outcome: Failure, Extra: map[string]any{"suppressed": n}})
	}
}

// Prune deletes entries older than the retention.
func (l *Log) Prune(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	return l.store.PruneAudit(ctx, now.Add(-retention))
}

// IsChange reports whether entries of action record a change of what
// proxyos keeps (routes, users, keys, certificates, settings of an
// account), as opposed to logins, logouts and uses, for the overview's
// changes of the day.
func IsChange(action string) bool {
	switch Action(action) {
	case Login, LoginHandoff, LoginLock, LoginRefused, Logout, RouteTokenUse, Suppressed, DatabaseBackup:
		return false
	}
	return true
}
