// Package router holds the live route table — every enabled managed route
// compiled into real Caddy handlers, found by host without a lock — and
// the service by which routes change: validate, check upstreams, compile
// and provision, store, swap in, record. A change touches only its route,
// without a config reload, and the previous route stays stored and live
// when any step fails.
package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/location"
	"github.com/proxyos/caddy-proxyos/internal/metrics"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// Live is a route compiled into provisioned Caddy handlers.
type Live struct {
	// Route is the route as it was compiled, with its secrets opened.
	Route *route.Route
	// Handler serves the route's requests.
	Handler caddyhttp.Handler
	// Metrics counts the route's requests; nil when the table has no
	// metrics.
	Metrics *metrics.Route

	list   caddyhttp.RouteList
	cancel func() // stops the route's modules (see compile)
}

// Table holds the live routes. Lookups are lock-free (sync.Map loads);
// a change compiles only the route it touches and swaps its hosts one by
// one, so its cost does not depend on how many routes exist. Writers are
// serialized by mu.
type Table struct {
	ctx    caddy.Context // the parent of the routes' contexts (see newRouter)
	logger *zap.Logger
	opts   route.Options

	exact    sync.Map // host → *Live
	wildcard sync.Map // "example.com" (for *.example.com) → *Live

	// Metrics, when set before routes are added, gives each live route
	// its request counters.
	Metrics *metrics.Set

	mu   sync.Mutex
	byID map[string]*Live

	// Changed, when set before the table is used, is called (with the
	// table locked: it must not block) after routes went live or left.
	Changed func()
}

// NewTable returns a table whose routes' contexts descend from the
// app's ctx through one context of the Table's own. Cancelling a context
// made by caddy.NewContext runs the OnCancel functions of its parent,
// and the app's context carries the config's (closing its log writers):
// routes made directly under it would close the logs each time one was
// replaced. The Table's context has none, and is never cancelled
// itself: it ends with the app's.
//
// The routes' transports find guard, which checks every upstream
// connection, in their context (see Transport).
func NewTable(ctx caddy.Context, logger *zap.Logger, guard *upstream.Guard) *Table {
	base, _ := caddy.NewContext(ctx)
	base = base.WithValue(upstream.GuardKey{}, guard)
	return &Table{ctx: base, logger: logger, byID: make(map[string]*Live),
		opts: route.Options{Transport: "proxyos"}}
}

// SetErrorPages sets the default error pages of every route (the app's
// error_pages), before the table loads routes.
func (rt *Table) SetErrorPages(pages map[string]string) { rt.opts.ErrorPages = pages }

// lookup finds the live route for a request host (any case, with or
// without port): an exact host first, then a wildcard one level up.
func (rt *Table) Lookup(host string) *Live {
	host = request.NormalizeHost(host)
	if v, ok := rt.exact.Load(host); ok {
		return v.(*Live)
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if v, ok := rt.wildcard.Load(host[i+1:]); ok {
			return v.(*Live)
		}
	}
	return nil
}

// Under returns the live routes of the exact hosts that wildcard host
// w ("*.example.com") covers (one label under it), in no order; nil
// when w is not a wildcard. It ranges over every exact host: for
// changes, not for requests.
func (rt *Table) Under(w string) []*Live {
	rest, ok := strings.CutPrefix(request.NormalizeHost(w), "*.")
	if !ok {
		return nil
	}
	var out []*Live
	rt.exact.Range(func(k, v any) bool {
		h := k.(string)
		if i := strings.IndexByte(h, '.'); i > 0 && h[i+1:] == rest {
			out = append(out, v.(*Live))
		}
		return true
	})
	return out
}

// Live returns the live route id, or nil.
func (rt *Table) Live(id string) *Live {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.byID[id]
}

// Counts returns how many live routes have each kind and TLS mode.
func (rt *Table) Counts() []metrics.RouteCount {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	n := make(map[[2]string]int)
	for _, lr := range rt.byID {
		n[[2]string{lr.Route.Kind, string(lr.Route.TLS)}]++
	}
	out := make([]metrics.RouteCount, 0, len(n))
	for k, c := range n {
		out = append(out, metrics.RouteCount{Kind: k[0], TLS: k[1], N: c})
	}
	return out
}

// compile provisions a route's handlers in a context of their own, so
// cancelling it cleans up exactly that route: the context's end stops
// their goroutines (active health checks, reverse_proxy's metrics
// updater) and Caddy calls Cleanup on every module loaded in it
// (reverse_proxy releases its upstreams and closes its websockets, an
// HTTP transport its idle connections).
//
// caddy.NewContext also makes a Prometheus registry holding the Go and
// process collectors: most of a small route's memory and compile time
// (about 15 KB and 0.2 ms). That is fine for a route changed from the
// API, not for thousands loaded at start-up: load uses compileShared.
func (rt *Table) compile(r *route.Route) (*Live, error) {
	ctx, cancel := caddy.NewContext(rt.ctx)
	list, err := rt.provision(r, ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return rt.newLiveRoute(r, list, cancel), nil
}

// compileShared provisions a route as compile does, but in a copy of
// shared, a context that load makes once for all the routes it loads,
// so they share its registry. caddy.Context is a struct that embeds its
// context.Context as an exported field: the copy is a caddy.Context like
// any other (same config, apps, logger and registry) whose own
// context.Context, a child of shared's, stops only this route's
// goroutines. Caddy records the modules loaded through the copy in
// shared and would clean them up only all together, if shared were
// cancelled, which it never is: the route's cancel calls Cleanup on its
// own modules, which walkModules finds (TestRouterSharedCleanups checks
// it finds what a context of the route's own would clean). shared keeps
// the modules of a replaced route reachable until none of its routes
// lives: at most the memory the routes had when they were loaded.
func (rt *Table) compileShared(r *route.Route, shared caddy.Context) (*Live, error) {
	ctx := shared
	var stop context.CancelFunc
	ctx.Context, stop = context.WithCancel(shared.Context)
	list, err := rt.provision(r, ctx)
	cancel := func() {
		stop()
		walkModules(list, func(m any) { rt.cleanUp(r.ID, m) })
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return rt.newLiveRoute(r, list, cancel), nil
}

// provision compiles r and provisions its handlers in ctx. On a
// provisioning error it also returns the list, holding the handlers
// provisioned so far.
func (rt *Table) provision(r *route.Route, ctx caddy.Context) (caddyhttp.RouteList, error) {
	list, err := route.Compile(r, rt.opts)
	if err != nil {
		return nil, err
	}
	if err := list.Provision(ctx); err != nil {
		return list, err
	}
	shareIdentityHeaders(list, r.ID)
	return list, nil
}

func (rt *Table) newLiveRoute(r *route.Route, list caddyhttp.RouteList, cancel func()) *Live {
	end := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	return &Live{Route: r, list: list, Handler: list.Compile(end), Metrics: rt.Metrics.Route(r.ID), cancel: cancel}
}

// cleanUp calls m's Cleanup, if it has one.
func (rt *Table) cleanUp(routeID string, m any) {
	if c, ok := m.(caddy.CleanerUpper); ok {
		if err := c.Cleanup(); err != nil {
			rt.logger.Error("cleaning up a route's module", zap.String("route_id", routeID), zap.Error(err))
		}
	}
}

// walkModules calls f with every module of a provisioned route list that
// may need cleaning up: matchers, handlers and, in nested routes and
// locations, theirs, and reverse_proxy's guest modules. These are all
// the modules compiled routes load.
func walkModules(list caddyhttp.RouteList, f func(any)) {
	for _, r := range list {
		for _, set := range r.MatcherSets {
			for _, m := range set {
				f(m)
			}
		}
		walkHandlers(r.Handlers, f)
	}
}

// walkHandlers calls f with handlers and the modules they hold, as
// walkModules does.
func walkHandlers(handlers []caddyhttp.MiddlewareHandler, f func(any)) {
	for _, h := range handlers {
		f(h)
		switch h := h.(type) {
		case *reverseproxy.Handler:
			for _, m := range []any{h.Transport, h.CB, h.DynamicUpstreams} {
				if m != nil {
					f(m)
				}
			}
			if h.LoadBalancing != nil && h.LoadBalancing.SelectionPolicy != nil {
				f(h.LoadBalancing.SelectionPolicy)
			}
			for _, hr := range h.HandleResponse {
				walkModules(hr.Routes, f)
			}
		case *caddyhttp.Subroute:
			walkModules(h.Routes, f)
		case *location.Handler:
			for _, l := range h.Locations {
				walkHandlers(l.Handlers, f)
			}
			walkHandlers(h.Default, f)
		}
	}
}

// handlersOf returns the handlers of a provisioned route list in order,
// those of a proxyos_locations handler in its place (each location's,
// then the default ones).
func handlersOf(list caddyhttp.RouteList) []caddyhttp.MiddlewareHandler {
	var out []caddyhttp.MiddlewareHandler
	var add func([]caddyhttp.MiddlewareHandler)
	add = func(handlers []caddyhttp.MiddlewareHandler) {
		for _, h := range handlers {
			if lh, ok := h.(*location.Handler); ok {
				for _, l := range lh.Locations {
					add(l.Handlers)
				}
				add(lh.Default)
				continue
			}
			out = append(out, h)
		}
	}
	for _, r := range list {
		add(r.Handlers)
	}
	return out
}

// Gate is what the table needs of a login gate (the proxyos_auth
// handler) in a route it compiles.
type Gate interface {
	// Managed tells the gate that it guards a managed route, whose hosts
	// proxyos knows (so logins may be handed off to them), and whether
	// every handler after it is known to leave request header values
	// alone, so requests may share the session's cached identity header
	// values. routeID names the route, whose route tokens the gate
	// accepts.
	Managed(routeID string, sharedHeaders bool)
}

// HeaderReader is a handler of a route (the proxyos_rate_limit handler)
// that only reads the request's headers: a gate before it may share
// cached header values.
type HeaderReader interface {
	ReadsHeadersOnly()
}

// shareIdentityHeaders tells the gates of a provisioned route that they
// are managed, and whether every handler after them (any location's) is
// known to leave the request's header values alone: reverse_proxy edits
// a copy of the headers, encode, rewrite, static_response and a
// HeaderReader none.
func shareIdentityHeaders(list caddyhttp.RouteList, routeID string) {
	handlers := handlersOf(list)
	for i, h := range handlers {
		if gate, ok := h.(Gate); ok {
			gate.Managed(routeID, leaveHeaders(handlers[i+1:]))
		}
	}
}

// leaveHeaders reports whether handlers are all known not to write
// request header values in place.
func leaveHeaders(handlers []caddyhttp.MiddlewareHandler) bool {
	for _, h := range handlers {
		switch h := h.(type) {
		case *reverseproxy.Handler:
			if len(h.HandleResponse) > 0 { // its routes get the request
				return false
			}
		case *encode.Encode, *rewrite.Rewrite, *caddyhttp.StaticResponse, HeaderReader:
		default:
			return false
		}
	}
	return true
}

// publish makes lr (nil to remove) the live version of route id and
// cleans up the version it replaces. Callers hold rt.mu.
func (rt *Table) publish(id string, lr *Live) {
	old := rt.byID[id]
	if lr != nil {
		for _, h := range lr.Route.Hosts {
			rt.hostMap(h).Store(hostKey(h), lr)
		}
		rt.byID[id] = lr
	} else {
		delete(rt.byID, id)
	}
	if rt.Changed != nil {
		rt.Changed()
	}
	if old == nil {
		return
	}
	for _, h := range old.Route.Hosts {
		if lr == nil || !containsHost(lr.Route.Hosts, h) {
			rt.hostMap(h).CompareAndDelete(hostKey(h), old)
		}
	}
	old.cancel()
}

func (rt *Table) hostMap(h string) *sync.Map {
	if strings.HasPrefix(h, "*.") {
		return &rt.wildcard
	}
	return &rt.exact
}

func hostKey(h string) string { return strings.TrimPrefix(h, "*.") }

func containsHost(hosts []string, h string) bool {
	for _, x := range hosts {
		if x == h {
			return true
		}
	}
	return false
}

// load compiles and publishes every enabled stored route, opening its
// sealed values with open. A route that cannot be opened or no longer
// provisions is logged and left out; the others still serve.
//
// The table is locked while it reads the store, as while it reloads a
// route another node changed (see apply): of two reads, the later one is
// published last.
func (rt *Table) Load(ctx context.Context, st *store.Store, open func(*route.Route) (*route.Route, error)) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	stored, err := st.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("loading routes: %w", err)
	}
	shared, _ := caddy.NewContext(rt.ctx) // never cancelled: see compileShared
	for _, sr := range stored {
		if !sr.Enabled {
			continue
		}
		r, err := decodeStoredRoute(sr)
		if err == nil {
			r, err = open(r)
		}
		if err != nil {
			rt.logger.Error("route cannot be read", zap.String("route_id", sr.ID), zap.Error(err))
			continue
		}
		lr, err := rt.compileShared(r, shared)
		if err != nil {
			rt.logger.Error("route cannot be provisioned", zap.String("route_id", sr.ID), zap.Error(err))
			continue
		}
		rt.publish(r.ID, lr)
	}
	return nil
}

// apply makes route sr.ID live as stored (or not live, when disabled),
// unless its live version is sr's already. A route that cannot be read
// or provisioned on this node is logged, and its live version, if any,
// kept. Callers hold rt.mu.
func (rt *Table) apply(sr store.StoredRoute, open func(*route.Route) (*route.Route, error)) {
	live := rt.byID[sr.ID]
	if !sr.Enabled {
		if live != nil {
			rt.publish(sr.ID, nil)
		}
		return
	}
	if live != nil && live.Route.Version == sr.Version {
		return
	}
	r, err := decodeStoredRoute(sr)
	if err == nil {
		r, err = open(r)
	}
	if err != nil {
		rt.logger.Error("route cannot be read", zap.String("route_id", sr.ID), zap.Int("version", sr.Version), zap.Error(err))
		return
	}
	lr, err := rt.compile(r)
	if err != nil {
		rt.logger.Error("route cannot be provisioned on this node; its previous version stays live",
			zap.String("route_id", sr.ID), zap.Int("version", sr.Version), zap.Error(err))
		return
	}
	rt.publish(sr.ID, lr)
}

// Routes returns the live routes, in no order.
func (rt *Table) Routes() []*route.Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]*route.Route, 0, len(rt.byID))
	for _, lr := range rt.byID {
		out = append(out, lr.Route)
	}
	return out
}

// stop cleans up every live route.
func (rt *Table) Stop() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id := range rt.byID {
		rt.publish(id, nil)
	}
}

func decodeStoredRoute(sr store.StoredRoute) (*route.Route, error) {
	r := new(route.Route)
	if err := json.Unmarshal(sr.Spec, r); err != nil {
		return nil, err
	}
	r.ID, r.Version, r.Enabled, r.CreatedAt, r.UpdatedAt = sr.ID, sr.Version, sr.Enabled, sr.CreatedAt, sr.UpdatedAt
	return r, nil
}

// RouteStatus is the live state of a route, for the API.
type RouteStatus struct {
	Live      bool             `json:"live"`
	Upstreams []UpstreamStatus `json:"upstreams,omitempty"`
}

// UpstreamStatus is the health of one upstream as reverse_proxy sees it.
type UpstreamStatus struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
}

// status reports whether route id is live and its upstreams' health.
func (rt *Table) Status(id string) RouteStatus {
	rt.mu.Lock()
	lr := rt.byID[id]
	rt.mu.Unlock()
	if lr == nil {
		return RouteStatus{}
	}
	st := RouteStatus{Live: true}
	for _, h := range handlersOf(lr.list) {
		if rp, ok := h.(*reverseproxy.Handler); ok {
			for _, u := range rp.Upstreams {
				st.Upstreams = append(st.Upstreams, UpstreamStatus{Address: u.Dial, Healthy: u.Healthy()})
			}
		}
	}
	return st
}
