package router

import (
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// The values of the request headers a route or one of its locations
// sets often carry the upstream's credentials (Authorization: Basic …,
// X-Api-Key: …). They are write-only secrets: stored sealed with the key
// ring like TOTP secrets (re-sealed after a secret rotation), opened only
// to compile the route, and shown as null by every API answer, route
// version, diff and audit entry. A client sends null back to keep a
// stored value.

// routeHeaderContext binds a sealed header value to its route and header.
func routeHeaderContext(routeID, header string) string {
	return "route-header:" + routeID + ":" + strings.ToLower(header)
}

// locationHeaderContext binds a sealed header value of a location to its
// route, the location's path and the header: it opens nowhere else, so a
// value cannot be moved to another location or route. (A route id has no
// colon and a header name none either, so the parts stay apart.)
func locationHeaderContext(routeID, path, header string) string {
	return "route-location-header:" + routeID + ":" + locationKey(path) + ":" + strings.ToLower(header)
}

// locationKey is what a location is known by: its path, in lower case
// (Caddy matches paths in any case, and two locations may not have paths
// that differ only in case).
func locationKey(path string) string {
	return strings.ToLower(strings.TrimSpace(path))
}

// requestSet returns the request header values a route sets, or nil.
func requestSet(r *route.Route) map[string]string {
	if r == nil {
		return nil
	}
	return headerSet(r.Headers)
}

// headerSet returns the request header values of header edits, or nil.
func headerSet(h *route.Headers) map[string]string {
	if h == nil || h.Request == nil {
		return nil
	}
	return h.Request.Set
}

// withSet returns a copy of h whose request header values are set,
// sharing everything else.
func withSet(h *route.Headers, set map[string]string) *route.Headers {
	c := *h
	req := *h.Request
	req.Set = set
	c.Request = &req
	return &c
}

// locationSet returns the request header values of r's location whose
// path is path (in any case), or nil.
func locationSet(r *route.Route, path string) map[string]string {
	if l := prevLocation(r, path); l != nil {
		return headerSet(l.Headers)
	}
	return nil
}

// secretValue is one request header value of a route or a location.
type secretValue struct {
	context string // what the sealed value is bound to
	field   string // the field an error about it names
	header  string
	value   string
}

// mapSecrets returns a copy of r (sharing what does not change) whose
// request header values, the route's and its locations', are f's
// results; bound to route routeID. f sees the headers of each set in
// order of their names.
func mapSecrets(r *route.Route, routeID string, f func(secretValue) (string, error)) (*route.Route, error) {
	if r == nil {
		return nil, nil
	}
	apply := func(set map[string]string, context func(string) string, field func(string) string) (map[string]string, error) {
		out := make(map[string]string, len(set))
		for _, name := range slices.Sorted(maps.Keys(set)) {
			v, err := f(secretValue{context: context(name), field: field(name), header: name, value: set[name]})
			if err != nil {
				return nil, err
			}
			out[name] = v
		}
		return out, nil
	}
	out := r
	if set := requestSet(r); len(set) > 0 {
		fresh, err := apply(set, func(name string) string { return routeHeaderContext(routeID, name) },
			func(string) string { return "headers.request.set" })
		if err != nil {
			return nil, err
		}
		c := *r
		c.Headers = withSet(r.Headers, fresh)
		out = &c
	}
	var locs []route.Location
	for i, l := range r.Locations {
		set := headerSet(l.Headers)
		if len(set) == 0 {
			continue
		}
		fresh, err := apply(set, func(name string) string { return locationHeaderContext(routeID, l.Path, name) },
			func(name string) string { return fmt.Sprintf("locations[%d].headers.request.set.%s", i, name) })
		if err != nil {
			return nil, err
		}
		if locs == nil {
			locs = slices.Clone(r.Locations)
		}
		locs[i].Headers = withSet(l.Headers, fresh)
	}
	if locs != nil {
		if out == r {
			c := *r
			out = &c
		}
		out.Locations = locs
	}
	return out, nil
}

// seal returns a copy of r, as it is stored: its request header
// values, the route's and its locations', sealed.
func (s *Service) seal(r *route.Route) (*route.Route, error) {
	return mapSecrets(r, r.ID, func(v secretValue) (string, error) {
		return s.Keys.Seal([]byte(v.value), v.context)
	})
}

// Open returns a copy of r with its sealed request header values, the
// route's and its locations', opened. Values that are not sealed (typed
// by the client, or stored before values were sealed) stay as they are.
// A value that does not open is a *FieldError naming its field
// (headers.request.set, locations[1].headers.request.set.X-Api-Key).
func (s *Service) Open(r *route.Route) (*route.Route, error) {
	if r == nil {
		return nil, nil
	}
	return mapSecrets(r, r.ID, func(v secretValue) (string, error) {
		if !keyring.IsSealed(v.value) {
			return v.value, nil
		}
		pt, err := s.Keys.Open(v.value, v.context)
		if err != nil {
			return "", fail.Field(v.field, "the stored value of %q cannot be opened "+
				"(sealed with a secret that is no longer configured): give it again", v.header)
		}
		return string(pt), nil
	})
}

// changedSecrets lists the request headers whose values differ between
// two opened routes: the audit log names them, never their values. A
// location's header is named with its path: "X-Api-Key (location /api/*)".
func changedSecrets(before, after *route.Route) []string {
	out := changedNames(requestSet(before), requestSet(after), "")
	paths := map[string]string{} // location key → path, of after's locations, else before's
	for _, r := range []*route.Route{after, before} {
		if r == nil {
			continue
		}
		for _, l := range r.Locations {
			if _, ok := paths[locationKey(l.Path)]; !ok {
				paths[locationKey(l.Path)] = l.Path
			}
		}
	}
	for _, p := range paths {
		out = append(out, changedNames(locationSet(before, p), locationSet(after, p), " (location "+p+")")...)
	}
	slices.Sort(out)
	return out
}

// changedNames lists the headers whose values differ between sets b and
// a, each followed by suffix.
func changedNames(b, a map[string]string, suffix string) []string {
	var out []string
	for name, v := range a {
		if old, ok := b[name]; !ok || old != v {
			out = append(out, name+suffix)
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			out = append(out, name+suffix)
		}
	}
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
// show it: every field, the request header values (the route's and its
// locations') hidden.
type RouteView struct {
	*route.Route
	Headers   *HeadersView   `json:"headers,omitempty"`
	Locations []LocationView `json:"locations,omitempty"`
}

// LocationView is a location as the APIs show and take it: its request
// header values hidden (null), as the route's.
type LocationView struct {
	route.Location
	Headers *HeadersView `json:"headers,omitempty"`
}

// ViewOf returns the view of r.
func ViewOf(r *route.Route) RouteView {
	v := RouteView{Route: r}
	if r == nil {
		return v
	}
	v.Headers = viewHeaders(r.Headers)
	if len(r.Locations) > 0 {
		v.Locations = make([]LocationView, len(r.Locations))
		for i, l := range r.Locations {
			v.Locations[i] = LocationView{Location: l, Headers: viewHeaders(l.Headers)}
		}
	}
	return v
}

// viewHeaders returns header edits as the APIs show them, or nil.
func viewHeaders(h *route.Headers) *HeadersView {
	if h == nil {
		return nil
	}
	v := &HeadersView{Response: h.Response}
	if req := h.Request; req != nil {
		ops := &SecretHeaderOps{Delete: req.Delete}
		if len(req.Set) > 0 {
			ops.Set = make(map[string]*string, len(req.Set))
			for name := range req.Set {
				ops.Set[name] = nil
			}
		}
		v.Request = ops
	}
	return v
}

// resolveHeaders turns the header edits a client sent into the route's
// (location "", the field's prefix) or a location's (location
// "locations[1]"): a null request header value keeps the value stored
// holds for that header (sealed; saveRoute opens it), and is an error
// when stored has none or when moved (the requests now go to other
// upstreams than the ones the value was given for).
func resolveHeaders(in *HeadersView, stored map[string]string, location string, moved bool) (*route.Headers, error) {
	if in == nil {
		return nil, nil
	}
	out := &route.Headers{Response: in.Response}
	if in.Request != nil {
		req := &route.HeaderOps{Delete: in.Request.Delete}
		if len(in.Request.Set) > 0 {
			req.Set = make(map[string]string, len(in.Request.Set))
		}
		for _, name := range slices.Sorted(maps.Keys(in.Request.Set)) {
			v := in.Request.Set[name]
			if v != nil {
				req.Set[name] = *v
				continue
			}
			field := "headers.request.set"
			if location != "" {
				field = location + ".headers.request.set." + name
			}
			kept, ok := lookupHeader(stored, name)
			switch {
			case !ok:
				return nil, fail.Field(field, "%q has no stored value to keep: give its value", name)
			case moved:
				return nil, fail.Field(field, "%q keeps its stored value only for the upstreams it was given for: "+
					"the upstreams change, so give its value again", name)
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

// Reseal re-seals the request header values (the route's and its
// locations') of every route and route version made with a previous key
// (or stored before values were sealed) with the current key, as
// resealAll does for the other secrets. A value sealed with a key that is
// not configured at all is left alone and logged.
func (s *Service) Reseal(ctx context.Context) {
	specs, err := s.Store.RouteSpecs(ctx)
	if err != nil {
		s.Logger.Error("listing routes to re-seal", zap.Error(err))
		return
	}
	moved := 0
	for _, rs := range specs {
		var r route.Route
		if err := json.Unmarshal(rs.Spec, &r); err != nil {
			continue
		}
		changed := false
		fresh, _ := mapSecrets(&r, rs.RouteID, func(v secretValue) (string, error) {
			var nv string
			var err error
			if keyring.IsSealed(v.value) {
				nv, err = s.Keys.ResealIfOld(v.value, v.context)
			} else {
				nv, err = s.Keys.Seal([]byte(v.value), v.context)
			}
			if err != nil {
				s.Logger.Warn("a route's header value cannot be re-sealed", zap.String("route_id", rs.RouteID),
					zap.Int("version", rs.Version), zap.String("field", v.field), zap.String("header", v.header), zap.Error(err))
				return v.value, nil
			}
			if nv == "" {
				return v.value, nil
			}
			changed = true
			return nv, nil
		})
		if !changed {
			continue
		}
		spec, err := json.Marshal(fresh)
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
