package proxyos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/proxyos/route"
	"github.com/proxyos/caddy-proxyos/proxyos/store"
)

// liveRoute is a route compiled into provisioned Caddy handlers.
type liveRoute struct {
	route   *route.Route
	list    caddyhttp.RouteList
	handler caddyhttp.Handler
	cancel  context.CancelFunc
}

// router holds the live routes. Lookups are lock-free (sync.Map loads);
// a change compiles only the route it touches and swaps its hosts one by
// one, so its cost does not depend on how many routes exist. Writers are
// serialized by mu.
type router struct {
	ctx    caddy.Context
	logger *zap.Logger
	opts   route.Options

	exact    sync.Map // host → *liveRoute
	wildcard sync.Map // "example.com" (for *.example.com) → *liveRoute

	mu   sync.Mutex
	byID map[string]*liveRoute
}

func newRouter(ctx caddy.Context, logger *zap.Logger) *router {
	return &router{ctx: ctx, logger: logger, byID: make(map[string]*liveRoute)}
}

// lookup finds the live route for a request host (any case, with or
// without port): an exact host first, then a wildcard one level up.
func (rt *router) lookup(host string) *liveRoute {
	host = normalizeHost(host)
	if v, ok := rt.exact.Load(host); ok {
		return v.(*liveRoute)
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if v, ok := rt.wildcard.Load(host[i+1:]); ok {
			return v.(*liveRoute)
		}
	}
	return nil
}

// normalizeHost lower-cases a host and strips a port, allocating only
// when the host has upper-case letters or a port.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// compile provisions a route's handlers in a context of their own, so
// cancelling it cleans up exactly that route (health checkers stop,
// connections close).
func (rt *router) compile(r *route.Route) (*liveRoute, error) {
	list, err := route.Compile(r, rt.opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := caddy.NewContext(rt.ctx)
	if err := list.Provision(ctx); err != nil {
		cancel()
		return nil, err
	}
	end := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	return &liveRoute{route: r, list: list, handler: list.Compile(end), cancel: cancel}, nil
}

// publish makes lr (nil to remove) the live version of route id and
// cleans up the version it replaces. Callers hold rt.mu.
func (rt *router) publish(id string, lr *liveRoute) {
	old := rt.byID[id]
	if lr != nil {
		for _, h := range lr.route.Hosts {
			rt.hostMap(h).Store(hostKey(h), lr)
		}
		rt.byID[id] = lr
	} else {
		delete(rt.byID, id)
	}
	if old == nil {
		return
	}
	for _, h := range old.route.Hosts {
		if lr == nil || !containsHost(lr.route.Hosts, h) {
			rt.hostMap(h).CompareAndDelete(hostKey(h), old)
		}
	}
	old.cancel()
}

func (rt *router) hostMap(h string) *sync.Map {
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

// load compiles and publishes every enabled stored route. A route that
// no longer provisions is logged and left out; the others still serve.
func (rt *router) load(ctx context.Context, st *store.Store) error {
	stored, err := st.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("loading routes: %w", err)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, sr := range stored {
		if !sr.Enabled {
			continue
		}
		r, err := decodeStoredRoute(sr)
		if err != nil {
			rt.logger.Error("route cannot be read", zap.String("route_id", sr.ID), zap.Error(err))
			continue
		}
		lr, err := rt.compile(r)
		if err != nil {
			rt.logger.Error("route cannot be provisioned", zap.String("route_id", sr.ID), zap.Error(err))
			continue
		}
		rt.publish(r.ID, lr)
	}
	return nil
}

// stop cleans up every live route.
func (rt *router) stop() {
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
func (rt *router) status(id string) RouteStatus {
	rt.mu.Lock()
	lr := rt.byID[id]
	rt.mu.Unlock()
	if lr == nil {
		return RouteStatus{}
	}
	st := RouteStatus{Live: true}
	for _, r := range lr.list {
		for _, h := range r.Handlers {
			if rp, ok := h.(*reverseproxy.Handler); ok {
				for _, u := range rp.Upstreams {
					st.Upstreams = append(st.Upstreams, UpstreamStatus{Address: u.Dial, Healthy: u.Healthy()})
				}
			}
		}
	}
	return st
}
