package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// ImportOptions say how Import treats a batch of routes.
type ImportOptions struct {
	// DryRun computes the plan and changes nothing.
	DryRun bool
	// Remove deletes the routes that no route of the batch matches;
	// without it they stay as they are.
	Remove bool
	// Source names where the batch came from (json, npm, caddyfile),
	// for the audit log.
	Source string
}

// Plan is what an import changes, route by route.
type Plan struct {
	Added     []PlannedRoute `json:"added"`
	Changed   []PlannedRoute `json:"changed"`
	Unchanged []PlannedRoute `json:"unchanged"`
	Removed   []PlannedRoute `json:"removed"`
	Refused   []Refusal      `json:"refused"`
	// Applied is true when the changes are stored and live.
	Applied bool `json:"applied"`
}

// PlannedRoute is one route of a plan; Changes, for a changed route, are
// its fields that differ (request header values shown as "(secret)").
type PlannedRoute struct {
	ID      string              `json:"id"`
	Name    string              `json:"name"`
	Hosts   []string            `json:"hosts"`
	Changes []route.FieldChange `json:"changes,omitempty"`
}

// Refusal is a route of the batch that cannot be applied, and why.
type Refusal struct {
	Index  int      `json:"index"` // its position in the batch
	Name   string   `json:"name"`
	Hosts  []string `json:"hosts"`
	Field  string   `json:"field,omitempty"`
	Reason string   `json:"reason"`
}

// secretMark stands for a request header value in a plan.
const secretMark = "(secret)"

// planned is one route of the batch that Import will store.
type planned struct {
	r    *route.Route // resolved, opened, normalized, validated
	prev *route.Route // the stored route it replaces (sealed), nil for a new one
	live *Live
}

// Import applies a batch of routes all together, or none of them: each
// route of the batch replaces the stored route with its id, or else the
// one holding its hosts, or is created; with opts.Remove, the stored
// routes no route of the batch matches are deleted. Every route is
// resolved (a null request header value keeps the matched route's),
// validated, checked against the upstream policy and compiled before
// anything is stored; then all are committed in one transaction with
// their history rows and change-log entries, and swapped in. When a
// route is refused, the plan lists why and nothing stored or live
// changes (a *fail.FieldError on routes). A dry run stops after the
// checks.
func (s *Service) Import(ctx context.Context, batch []RouteInput, opts ImportOptions, actor audit.Actor) (*Plan, error) {
	current, err := s.Routes(ctx)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Added: []PlannedRoute{}, Changed: []PlannedRoute{}, Unchanged: []PlannedRoute{}, Removed: []PlannedRoute{}, Refused: []Refusal{}}
	todo, matched := s.planBatch(ctx, batch, current, plan)
	var dels []*route.Route
	if opts.Remove {
		for _, c := range current {
			if !matched[c.ID] {
				dels = append(dels, c)
				plan.Removed = append(plan.Removed, PlannedRoute{ID: c.ID, Name: c.Name, Hosts: c.Hosts})
			}
		}
	}
	if err := s.applyBatch(ctx, todo, batch, dels, opts, actor, plan); err != nil || !plan.Applied {
		return plan, err
	}
	if s.Saved != nil {
		for _, d := range dels {
			s.Saved(ctx, d.ID)
		}
		for _, p := range todo {
			if p != nil {
				s.Saved(ctx, p.r.ID)
			}
		}
	}
	return plan, nil
}

// applyBatch compiles the planned routes and, unless a route is refused
// or the run is dry, stores and publishes them, under the table's lock
// and Names: the hosts are checked against the streams again there, for
// a stream saved since planBatch.
func (s *Service) applyBatch(ctx context.Context, todo []*planned, batch []RouteInput, dels []*route.Route, opts ImportOptions, actor audit.Actor, plan *Plan) error {
	s.Names.Lock()
	defer s.Names.Unlock()
	s.Table.mu.Lock()
	defer s.Table.mu.Unlock()
	compiled := s.compileBatch(todo, batch, plan)
	if len(plan.Refused) > 0 || opts.DryRun {
		cancelAll(compiled)
		if len(plan.Refused) > 0 && !opts.DryRun {
			f := plan.Refused[0]
			return fail.Field("routes", "%d of the routes cannot be imported, nothing was changed; first: routes[%d] %s: %s",
				len(plan.Refused), f.Index, f.Field, f.Reason)
		}
		return nil
	}
	if err := s.commitBatch(ctx, compiled, dels, actor); err != nil {
		cancelAll(compiled)
		return err
	}
	s.publishBatch(ctx, compiled, dels, opts, actor, plan)
	plan.Applied = true
	return nil
}

// planBatch resolves and checks every route of the batch against the
// current ones, filling the plan's added, changed, unchanged and refused
// lists, and returns the routes to store and the ids of the current
// routes the batch matched.
func (s *Service) planBatch(ctx context.Context, batch []RouteInput, current []*route.Route, plan *Plan) ([]*planned, map[string]bool) {
	byID := make(map[string]*route.Route, len(current))
	byHost := make(map[string]*route.Route)
	for _, c := range current {
		byID[c.ID] = c
		for _, h := range c.Hosts {
			byHost[h] = c
		}
	}
	matched := make(map[string]bool)
	hostOf := make(map[string]int) // host → index of the batch route claiming it
	todo := make([]*planned, len(batch))
	for i := range batch {
		in := &batch[i]
		refuse := func(field, format string, args ...any) {
			plan.Refused = append(plan.Refused, Refusal{Index: i, Name: in.Name, Hosts: in.Hosts, Field: field, Reason: fmt.Sprintf(format, args...)})
		}
		prev, err := matchRoute(in, byID, byHost)
		if err != nil {
			refuse("hosts", "%v", err)
			continue
		}
		if prev != nil && matched[prev.ID] {
			refuse("hosts", "matches route %s, which another route of the import replaces", prev.ID)
			continue
		}
		if prev != nil {
			matched[prev.ID] = true
		}
		r, err := in.Resolve(prev)
		if err == nil {
			r, err = s.prepare(ctx, r, prev, byID, matched)
		}
		if err != nil {
			field, msg := fieldOf(err)
			refuse(field, "%s", msg)
			continue
		}
		if j, taken := claimed(hostOf, r.Hosts, i); taken {
			refuse("hosts", "a host is also in routes[%d] of the import", j)
			continue
		}
		todo[i] = s.classify(r, prev, plan)
	}
	return todo, matched
}

// matchRoute finds the stored route an imported one replaces: the one
// with its id, else the one holding its hosts (an error when they are
// spread over several routes), else none.
func matchRoute(in *RouteInput, byID, byHost map[string]*route.Route) (*route.Route, error) {
	if prev := byID[in.ID]; in.ID != "" && prev != nil {
		return prev, nil
	}
	var prev *route.Route
	for _, h := range in.Hosts {
		c := byHost[strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")]
		switch {
		case c == nil:
		case prev == nil:
			prev = c
		case prev.ID != c.ID:
			return nil, fmt.Errorf("its hosts belong to two routes, %s and %s: import them as one route each", prev.ID, c.ID)
		}
	}
	return prev, nil
}

// prepare gives r its id and times and runs the checks of save: opened,
// normalized, validated, upstreams allowed, no host a stream takes on
// the HTTPS port.
func (s *Service) prepare(ctx context.Context, r *route.Route, prev *route.Route, byID map[string]*route.Route, matched map[string]bool) (*route.Route, error) {
	switch {
	case prev != nil:
		r.ID, r.CreatedAt, r.Version = prev.ID, prev.CreatedAt, prev.Version
	default:
		// A route exported elsewhere keeps its id, so importing the same
		// document twice changes nothing the second time.
		if _, err := uuid.Parse(r.ID); err != nil || byID[r.ID] != nil || matched[r.ID] {
			r.ID = uuid.NewString()
		}
		matched[r.ID] = true
		r.Version = 0
		r.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	}
	r, err := s.Open(r)
	if err != nil {
		return nil, err
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkUpstreams(ctx, r); err != nil {
		return nil, err
	}
	if err := s.checkStreams(r); err != nil {
		return nil, err
	}
	return r, nil
}

// classify adds r to the plan's added, changed or unchanged routes and
// returns it to be stored, or nil when it is unchanged.
func (s *Service) classify(r *route.Route, prev *route.Route, plan *Plan) *planned {
	pr := PlannedRoute{ID: r.ID, Name: r.Name, Hosts: r.Hosts}
	if prev == nil {
		plan.Added = append(plan.Added, pr)
		return &planned{r: r}
	}
	before, err := s.Open(prev)
	if err != nil {
		before = prev
	}
	pr.Changes = redactSecrets(route.Diff(before, r))
	if len(pr.Changes) == 0 {
		plan.Unchanged = append(plan.Unchanged, pr)
		return nil
	}
	plan.Changed = append(plan.Changed, pr)
	return &planned{r: r, prev: prev}
}

// redactSecrets hides request header values in a list of changes.
func redactSecrets(cs []route.FieldChange) []route.FieldChange {
	for i, c := range cs {
		if strings.HasPrefix(c.Field, "headers.request.set") {
			if c.Before != nil {
				cs[i].Before = secretMark
			}
			if c.After != nil {
				cs[i].After = secretMark
			}
		}
	}
	return cs
}

// claimed records the hosts of batch route i, reporting another batch
// route that claimed one of them first.
func claimed(hostOf map[string]int, hosts []string, i int) (int, bool) {
	for _, h := range hosts {
		if j, ok := hostOf[h]; ok && j != i {
			return j, true
		}
	}
	for _, h := range hosts {
		hostOf[h] = i
	}
	return 0, false
}

// fieldOf splits a refusal into the field it names and its message.
func fieldOf(err error) (string, string) {
	var fe *fail.FieldError
	var re *route.Error
	var ce *fail.ConflictError
	switch {
	case errors.As(err, &fe):
		return fe.Field, fe.Message
	case errors.As(err, &re):
		return re.Field, re.Message
	case errors.As(err, &ce):
		return ce.Field, ce.Message
	}
	return "", err.Error()
}

// compileBatch compiles and provisions the routes to store (callers hold
// the table's lock and Names), adding a refusal for each that a stream
// took a host of since it was planned or that cannot be served.
func (s *Service) compileBatch(todo []*planned, batch []RouteInput, plan *Plan) []*planned {
	var out []*planned
	for i, p := range todo {
		if p == nil {
			continue
		}
		if err := s.checkStreams(p.r); err != nil {
			field, msg := fieldOf(err)
			plan.Refused = append(plan.Refused, Refusal{Index: i, Name: batch[i].Name, Hosts: batch[i].Hosts, Field: field, Reason: msg})
			continue
		}
		lr, err := s.Table.compile(p.r)
		if err != nil {
			plan.Refused = append(plan.Refused, Refusal{Index: i, Name: batch[i].Name, Hosts: batch[i].Hosts,
				Field: "route", Reason: "cannot be served: " + err.Error()})
			continue
		}
		p.live = lr
		out = append(out, p)
	}
	return out
}

func cancelAll(ps []*planned) {
	for _, p := range ps {
		if p.live != nil {
			p.live.cancel()
		}
	}
}

// commitBatch stores the batch in one transaction.
func (s *Service) commitBatch(ctx context.Context, ps []*planned, dels []*route.Route, actor audit.Actor) error {
	now := s.Now().UTC().Truncate(time.Millisecond)
	puts := make([]store.RoutePut, 0, len(ps))
	for _, p := range ps {
		prevVersion := p.r.Version
		p.r.Version = prevVersion + 1
		p.r.UpdatedAt = now
		sealed, err := s.seal(p.r)
		if err != nil {
			return err
		}
		spec, err := json.Marshal(sealed)
		if err != nil {
			return err
		}
		action := "update"
		if p.prev == nil {
			action = "create"
		}
		puts = append(puts, store.RoutePut{PrevVersion: prevVersion, Action: action, Route: store.StoredRoute{
			ID: p.r.ID, Spec: spec, Version: p.r.Version, Enabled: p.r.Enabled, Hosts: p.r.Hosts,
			CreatedAt: p.r.CreatedAt, UpdatedAt: p.r.UpdatedAt}})
	}
	ds := make([]store.RouteDeletion, 0, len(dels))
	for _, d := range dels {
		ds = append(ds, store.RouteDeletion{ID: d.ID, PrevVersion: d.Version})
	}
	err := s.Store.PutRoutes(ctx, puts, ds, actor.Name, now)
	var hc *store.HostConflictError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrVersionConflict):
		return stale()
	case errors.As(err, &hc):
		return &fail.ConflictError{Field: "hosts", Message: err.Error(), Err: err}
	}
	return err
}

// publishBatch swaps the stored batch into the table (callers hold its
// lock) and records it: an entry per route and one for the import.
func (s *Service) publishBatch(ctx context.Context, ps []*planned, dels []*route.Route, opts ImportOptions, actor audit.Actor, plan *Plan) {
	for _, d := range dels {
		s.remove(d.ID)
	}
	for _, p := range ps {
		if p.r.Enabled {
			s.Table.publish(p.r.ID, p.live)
		} else {
			p.live.cancel()
			s.Table.publish(p.r.ID, nil)
		}
	}
	s.Logger.Info("routes imported", zap.String("source", opts.Source), zap.String("actor", actor.Name),
		zap.Int("added", len(plan.Added)), zap.Int("changed", len(plan.Changed)), zap.Int("removed", len(plan.Removed)))
	for _, d := range dels {
		extra := routeContext(d)
		extra["import"] = opts.Source
		s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RouteDelete, Target: d.ID, Before: ViewOf(d), Extra: extra})
	}
	for _, p := range ps {
		extra := routeContext(p.r)
		extra["import"] = opts.Source
		ev := audit.Event{Actor: actor, Action: audit.RouteCreate, Target: p.r.ID, After: ViewOf(p.r), Extra: extra}
		if p.prev != nil {
			ev.Action, ev.Before = audit.RouteUpdate, ViewOf(p.prev)
			if before, err := s.Open(p.prev); err == nil {
				if names := changedSecrets(before, p.r); len(names) > 0 {
					extra["secret_headers_changed"] = names
				}
			}
		}
		s.Audit.Record(ctx, ev)
	}
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RoutesImport, Target: opts.Source, Extra: map[string]any{
		"added": len(plan.Added), "changed": len(plan.Changed), "removed": len(plan.Removed), "unchanged": len(plan.Unchanged)}})
}

// InputOf returns r as the APIs would take it, its request header values
// given (for routes an importer made).
func InputOf(r *route.Route) RouteInput {
	enabled := r.Enabled
	in := RouteInput{Route: *r, Enabled: &enabled}
	in.Route.Headers = nil
	if r.Headers != nil {
		in.Headers = &HeadersView{Response: r.Headers.Response}
		if req := r.Headers.Request; req != nil {
			ops := &SecretHeaderOps{Delete: req.Delete}
			if len(req.Set) > 0 {
				ops.Set = make(map[string]*string, len(req.Set))
				for name, v := range req.Set {
					ops.Set[name] = &v
				}
			}
			in.Headers.Request = ops
		}
	}
	return in
}
