package router

import (
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// The values of the request headers a route sets often carry the
// upstream's credentials (Authorization: Basic …, X-Api-Key: …). They are
// write-only secrets: stored sealed with the key ring like TOTP secrets
// (re-sealed after a secret rotation), opened only to compile the route,
// and shown as null by every API answer, route version and audit entry.
// A client sends null back to keep a stored value.

// routeHeaderContext binds a sealed header value to its route and header.
func routeHeaderContext(routeID, header string) string {
	return "route-header:" + routeID + ":" + strings.ToLower(header)
}

// requestSet returns the request header values a route sets, or nil.
func requestSet(r *route.Route) map[string]string {
	if r == nil || r.Headers == nil || r.Headers.Request == nil {
		return nil
	}
	return r.Headers.Request.Set
}

// withRequestSet returns a copy of r whose request header values are
// set, sharing everything else.
func withRequestSet(r *route.Route, set map[string]string) *route.Route {
	c := *r
	h := *r.Headers
	req := *r.Headers.Request
	req.Set = set
	h.Request = &req
	c.Headers = &h
	return &c
}

// seal returns a copy of r, as it is stored: its request header
// values sealed.
func (s *Service) seal(r *route.Route) (*route.Route, error) {
	set := requestSet(r)
	if len(set) == 0 {
		return r, nil
	}
	sealed := make(map[string]string, len(set))
	for name, v := range set {
		sv, err := s.Keys.Seal([]byte(v), routeHeaderContext(r.ID, name))
		if err != nil {
			return nil, err
		}
		sealed[name] = sv
	}
	return withRequestSet(r, sealed), nil
}

// Open returns a copy of r with its sealed request header values
// opened. Values that are not sealed (typed by the client, or stored
// before values were sealed) stay as they are. A value that does not
// open is a *FieldError on headers.request.set.
func (s *Service) Open(r *route.Route) (*route.Route, error) {
	set := requestSet(r)
	if len(set) == 0 {
		return r, nil
	}
	open := make(map[string]string, len(set))
	for name, v := range set {
		if keyring.IsSealed(v) {
			pt, err := s.Keys.Open(v, routeHeaderContext(r.ID, name))
			if err != nil {
				return nil, fail.Field("headers.request.set", "the stored value of %q cannot be opened "+
					"(sealed with a secret that is no longer configured): give it again", name)
			}
			v = string(pt)
		}
		open[name] = v
	}
	return withRequestSet(r, open), nil
}

// changedSecrets lists the request headers whose values differ between
// two opened routes: the audit log names them, never their values.
func changedSecrets(before, after *route.Route) []string {
	b, a := requestSet(before), requestSet(after)
	var out []string
	for name, v := range a {
		if old, ok := b[name]; !ok || old != v {
			out = append(out, name)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// SecretHeaderOps are header edits whose set values are secrets: the APIs
// show each as null, and take null as "keep the stored value".
type SecretHeaderOps struct {
	Set    map[string]*string `json:"set,omitempty"`
	Delete []string           `json:"delete,omitempty"`
}

// HeadersView is a route's header edits as the APIs show and take them.
type HeadersView struct {
	Request  *SecretHeaderOps `json:"request,omitempty"`
	Response *route.HeaderOps `json:"response,omitempty"`
}

// RouteView is a route as the APIs, the route history and the audit log
// show it: every field, the request header values hidden.
type RouteView struct {
	*route.Route
	Headers *HeadersView `json:"headers,omitempty"`
}

// ViewOf returns the view of r.
func ViewOf(r *route.Route) RouteView {
	v := RouteView{Route: r}
	if r == nil || r.Headers == nil {
		return v
	}
	v.Headers = &HeadersView{Response: r.Headers.Response}
	if req := r.Headers.Request; req != nil {
		ops := &SecretHeaderOps{Delete: req.Delete}
		if len(req.Set) > 0 {
			ops.Set = make(map[string]*string, len(req.Set))
			for name := range req.Set {
				ops.Set[name] = nil
			}
		}
		v.Headers.Request = ops
	}
	return v
}

// resolveHeaders turns the header edits a client sent into the route's:
// a null request header value keeps the value prev stores for that header
// (sealed; saveRoute opens it), and is an error when prev has none.
func resolveHeaders(in *HeadersView, prev *route.Route) (*route.Headers, error) {
	if in == nil {
		return nil, nil
	}
	out := &route.Headers{Response: in.Response}
	if in.Request != nil {
		req := &route.HeaderOps{Delete: in.Request.Delete}
		stored := requestSet(prev)
		if len(in.Request.Set) > 0 {
			req.Set = make(map[string]string, len(in.Request.Set))
		}
		for _, name := range slices.Sorted(maps.Keys(in.Request.Set)) {
			v := in.Request.Set[name]
			if v != nil {
				req.Set[name] = *v
				continue
			}
			kept, ok := lookupHeader(stored, name)
			if !ok {
				return nil, fail.Field("headers.request.set", "%q has no stored value to keep: give its value", name)
			}
			req.Set[name] = kept
		}
		out.Request = req
	}
	return out, nil
}

// lookupHeader finds a header's value in a set, in any case.
func lookupHeader(set map[string]string, name string) (string, bool) {
	if v, ok := set[name]; ok {
		return v, true
	}
	for k, v := range set {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Reseal re-seals the request header values of every route and
// route version made with a previous key (or stored before values were
// sealed) with the current key, as resealAll does for the other secrets.
// A value sealed with a key that is not configured at all is left alone
// and logged.
func (s *Service) Reseal(ctx context.Context) {
	specs, err := s.Store.RouteSpecs(ctx)
	if err != nil {
		s.Logger.Error("listing routes to re-seal", zap.Error(err))
		return
	}
	moved := 0
	for _, rs := range specs {
		var r route.Route
		if err := json.Unmarshal(rs.Spec, &r); err != nil || len(requestSet(&r)) == 0 {
			continue
		}
		fresh := make(map[string]string, len(requestSet(&r)))
		changed := false
		for name, v := range requestSet(&r) {
			sealCtx := routeHeaderContext(rs.RouteID, name)
			var nv string
			if keyring.IsSealed(v) {
				nv, err = s.Keys.ResealIfOld(v, sealCtx)
			} else {
				nv, err = s.Keys.Seal([]byte(v), sealCtx)
			}
			if err != nil {
				s.Logger.Warn("a route's header value cannot be re-sealed", zap.String("route_id", rs.RouteID),
					zap.Int("version", rs.Version), zap.String("header", name), zap.Error(err))
				nv = ""
			}
			if nv == "" {
				nv = v
			} else {
				changed = true
			}
			fresh[name] = nv
		}
		if !changed {
			continue
		}
		r.Headers.Request.Set = fresh
		spec, err := json.Marshal(&r)
		if err != nil {
			continue
		}
		if ok, err := s.Store.ReplaceRouteSpec(ctx, rs, spec); err != nil {
			s.Logger.Error("re-sealing a route", zap.String("route_id", rs.RouteID), zap.Error(err))
			return
		} else if ok {
			moved++
		}
	}
	if moved > 0 {
		s.Logger.Info("re-sealed the header values of routes with the current key", zap.Int("count", moved),
			zap.String("key_id", s.Keys.CurrentID()))
	}
}
