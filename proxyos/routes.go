package proxyos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Errors of route changes, besides *FieldError and *store.HostConflictError.
var (
	ErrRouteNotFound = errors.New("no such route")
	ErrStaleVersion  = store.ErrVersionConflict
)

// Routes lists every managed route, oldest first.
func (a *App) Routes(ctx context.Context) ([]*route.Route, error) {
	stored, err := a.state.store.ListRoutes(ctx)
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

// Route returns one route.
func (a *App) Route(ctx context.Context, id string) (*route.Route, error) {
	sr, err := a.state.store.Route(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRouteNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeStoredRoute(sr)
}

// RouteStatus reports whether a route is live and its upstreams' health.
func (a *App) RouteStatus(id string) RouteStatus { return a.router.status(id) }

// CreateRoute validates, provisions, stores and publishes a new route.
func (a *App) CreateRoute(ctx context.Context, r *route.Route, actor Actor) (*route.Route, error) {
	r.ID = uuid.NewString()
	r.Version = 0
	r.CreatedAt = a.now().UTC().Truncate(time.Millisecond) // the store keeps milliseconds
	return a.saveRoute(ctx, r, nil, "create", actor)
}

// UpdateRoute replaces route id; r.Version must be the version the caller
// read (ErrStaleVersion otherwise).
func (a *App) UpdateRoute(ctx context.Context, id string, r *route.Route, actor Actor) (*route.Route, error) {
	cur, err := a.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Version == 0 {
		return nil, &FieldError{"version", "required: the version you are changing"}
	}
	if r.Version != cur.Version {
		return nil, ErrStaleVersion
	}
	r.ID, r.CreatedAt = id, cur.CreatedAt
	return a.saveRoute(ctx, r, cur, "update", actor)
}

// RollbackRoute makes a previous version of route id current again, as a
// new version.
func (a *App) RollbackRoute(ctx context.Context, id string, version int, actor Actor) (*route.Route, error) {
	cur, err := a.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	spec, err := a.state.store.RouteVersionSpec(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &FieldError{"version", fmt.Sprintf("route has no version %d", version)}
	}
	if err != nil {
		return nil, err
	}
	r := new(route.Route)
	if err := json.Unmarshal(spec, r); err != nil {
		return nil, err
	}
	r.ID, r.CreatedAt = id, cur.CreatedAt
	return a.saveRoute(ctx, r, cur, fmt.Sprintf("rollback to %d", version), actor)
}

// DeleteRoute removes route id (at version, or any version when 0).
func (a *App) DeleteRoute(ctx context.Context, id string, version int, actor Actor) error {
	a.router.mu.Lock()
	defer a.router.mu.Unlock()
	before, err := a.Route(ctx, id)
	if err != nil {
		return err
	}
	err = a.state.store.DeleteRoute(ctx, id, version, actor.Name, a.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return ErrRouteNotFound
	}
	if err != nil {
		return err
	}
	a.router.publish(id, nil)
	a.state.certLimits.Forget(id)
	a.logger.Info("route deleted", zap.String("route_id", id), zap.String("actor", actor.Name))
	a.audit(ctx, auditEvent{Actor: actor, Action: "route.delete", Target: id, Before: ViewOf(before), Extra: routeContext(before)})
	return nil
}

// RouteVersion is one entry of a route's history.
type RouteVersion struct {
	Version int       `json:"version"`
	Action  string    `json:"action"`
	Actor   string    `json:"actor"`
	At      string    `json:"at"`
	Route   RouteView `json:"route"`
}

// RouteHistory returns a route's versions, newest first.
func (a *App) RouteHistory(ctx context.Context, id string) ([]RouteVersion, error) {
	vs, err := a.state.store.RouteVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, ErrRouteNotFound
	}
	out := make([]RouteVersion, 0, len(vs))
	for _, v := range vs {
		r := new(route.Route)
		if err := json.Unmarshal(v.Spec, r); err != nil {
			return nil, err
		}
		out = append(out, RouteVersion{Version: v.Version, Action: v.Action, Actor: v.Actor, At: v.At.Format("2006-01-02T15:04:05.000Z07:00"), Route: ViewOf(r)})
	}
	return out, nil
}

// saveRoute is the one path by which a route changes: validate, compile
// and provision the new handlers, then commit to the store, then swap the
// new handlers in. When any step fails, the previous route stays stored
// and live. prev is the route being replaced, nil for a new one.
func (a *App) saveRoute(ctx context.Context, r *route.Route, prev *route.Route, action string, actor Actor) (*route.Route, error) {
	prevVersion := 0
	if prev != nil {
		prevVersion = prev.Version
	}
	// Request header values kept from a stored version arrive sealed.
	r, err := a.openRoute(r)
	if err != nil {
		return nil, err
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		var re *route.Error
		if errors.As(err, &re) {
			return nil, &FieldError{re.Field, re.Message}
		}
		return nil, err
	}
	if err := a.checkUpstreams(ctx, r); err != nil {
		return nil, err
	}
	r.Version = prevVersion + 1
	r.UpdatedAt = a.now().UTC().Truncate(time.Millisecond)

	a.router.mu.Lock()
	defer a.router.mu.Unlock()
	lr, err := a.router.compile(r)
	if err != nil {
		return nil, &FieldError{"route", "cannot be served: " + err.Error()}
	}
	sealed, err := a.sealRoute(r)
	if err != nil {
		lr.cancel()
		return nil, err
	}
	spec, err := json.Marshal(sealed)
	if err != nil {
		lr.cancel()
		return nil, err
	}
	err = a.state.store.PutRoute(ctx, store.StoredRoute{
		ID: r.ID, Spec: spec, Version: r.Version, Enabled: r.Enabled, Hosts: r.Hosts,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, prevVersion, action, actor.Name, nil)
	if err != nil {
		lr.cancel()
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrRouteNotFound
		}
		return nil, err
	}
	if r.Enabled {
		a.router.publish(r.ID, lr)
	} else {
		lr.cancel()
		a.router.publish(r.ID, nil)
	}
	a.logger.Info("route saved", zap.String("route_id", r.ID), zap.String("action", action),
		zap.Int("version", r.Version), zap.String("actor", actor.Name), zap.String("hosts", strings.Join(r.Hosts, ",")))
	extra := routeContext(r)
	auditAction := "route." + action
	if strings.HasPrefix(action, "rollback") {
		auditAction = "route.rollback"
		extra["rolled_back_to"] = strings.TrimPrefix(action, "rollback to ")
	}
	if prev != nil {
		if opened, err := a.openRoute(prev); err == nil {
			prev = opened
		}
	}
	if names := changedSecrets(prev, r); len(names) > 0 {
		extra["secret_headers_changed"] = names
	}
	ev := auditEvent{Actor: actor, Action: auditAction, Target: r.ID, After: ViewOf(r), Extra: extra}
	if prev != nil {
		ev.Before = ViewOf(prev)
	}
	a.audit(ctx, ev)
	return r, nil
}

// routeContext is what every audit entry about a route shows, whatever
// changed: its name and hosts.
func routeContext(r *route.Route) map[string]any {
	return map[string]any{"route_name": r.Name, "route_hosts": r.Hosts}
}
