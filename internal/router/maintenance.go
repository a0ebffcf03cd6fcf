package router

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/route"
)

// MaintenanceInput switches a route's maintenance (POST
// /api/routes/{id}/maintenance): on or off now, with the page to show,
// and optionally a schedule. Version, when not 0, must be the route's
// current version.
type MaintenanceInput struct {
	On      bool       `json:"on"`
	Page    *string    `json:"page,omitempty"` // null keeps the stored page
	From    *time.Time `json:"from,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
	Version int        `json:"version,omitempty"`
}

// scheduleActor is who carries out maintenance schedules.
var scheduleActor = audit.Actor{Name: "maintenance schedule", Kind: audit.ActorSystem}

// SetMaintenance puts route id into maintenance or back, as a new
// version that keeps every other setting, through save like any change.
func (s *Service) SetMaintenance(ctx context.Context, id string, in MaintenanceInput, actor audit.Actor) (*route.Route, error) {
	cur, err := s.Route(ctx, id)
	if err != nil {
		return nil, err
	}
	if in.Version != 0 && in.Version != cur.Version {
		return nil, stale()
	}
	m := &route.Maintenance{On: in.On, From: in.From, Until: in.Until}
	if in.Page != nil {
		m.Page = *in.Page
	} else if cur.Maintenance != nil {
		m.Page = cur.Maintenance.Page
	}
	if m.From != nil && !m.From.After(s.Now()) {
		return nil, fail.Field("from", "must be in the future: switch maintenance on now instead")
	}
	if m.Until != nil && !m.Until.After(s.Now()) {
		return nil, fail.Field("until", "must be in the future")
	}
	return s.setMaintenance(ctx, cur, m, actor)
}

// setMaintenance saves cur with maintenance m.
func (s *Service) setMaintenance(ctx context.Context, cur *route.Route, m *route.Maintenance, actor audit.Actor) (*route.Route, error) {
	next := *cur
	if !m.On && !m.Scheduled() && m.Page == "" {
		m = nil
	}
	next.Maintenance = m
	what := "maintenance off"
	switch {
	case m != nil && m.On:
		what = "maintenance on"
	case m.Scheduled():
		what = "maintenance scheduled"
	}
	r, err := s.save(ctx, &next, cur, change{action: audit.RouteMaintenance, maintenance: what}, actor)
	s.saved(ctx, r, err)
	return r, err
}

// RunSchedules carries out the maintenance schedules that are due: each
// route whose from or until passed gets one new version, made by the
// one node whose save commits first (the others' saves find a newer
// version and change nothing). Routes are read from the store, so a
// schedule that came due while no node ran is carried out at start-up.
func (s *Service) RunSchedules(ctx context.Context) {
	for _, id := range s.Table.scheduled() {
		cur, err := s.Route(ctx, id)
		if err != nil {
			continue // deleted meanwhile, or the store is down: next round
		}
		m, due := cur.Maintenance.Due(s.Now())
		if !due {
			continue
		}
		_, err = s.setMaintenance(ctx, cur, m, scheduleActor)
		var conflict *fail.ConflictError
		if err != nil && !errors.As(err, &conflict) && ctx.Err() == nil {
			s.Logger.Error("carrying out a maintenance schedule", zap.String("route_id", id), zap.Error(err))
		}
	}
}

// scheduled returns the ids of live routes with a maintenance schedule.
func (rt *Table) scheduled() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var ids []string
	for id, lr := range rt.byID {
		if lr.Route.Maintenance.Scheduled() {
			ids = append(ids, id)
		}
	}
	return ids
}
