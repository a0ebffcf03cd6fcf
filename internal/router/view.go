package router

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// RouteJSON is a route as the APIs show it: the route (request header
// values hidden, see RouteView) and its live status.
type RouteJSON struct {
	RouteView
	Status    RouteStatus    `json:"status"`
	TLSStatus *TLSStatus     `json:"tls_status,omitempty"`
	Warnings  []RouteWarning `json:"warnings,omitempty"`
}

// TLSStatus is the state of a route's certificates on this node, from
// the latest issuance attempt of each of its hosts (a wildcard host's is
// the wildcard certificate's, obtained with challenge dns).
type TLSStatus struct {
	// State is issued (every host's latest attempt succeeded), failed
	// (one failed: Name, Error and Failures tell which and why) or
	// pending (no attempt yet for Name).
	State string `json:"state"`
	Name  string `json:"name,omitempty"`
	// Error is the CA's or the DNS provider's error, verbatim.
	Error    string     `json:"error,omitempty"`
	Failures int        `json:"failures,omitempty"`
	At       *time.Time `json:"at,omitempty"`
}

// tlsStatus reports the latest attempts for r's hosts; nil for tls off.
func (s *Service) tlsStatus(r *route.Route) *TLSStatus {
	if r.TLS == route.TLSOff || s.Certs == nil {
		return nil
	}
	var pending, issued *TLSStatus
	for _, h := range r.Hosts {
		att, ok := s.Certs.Get(h)
		switch {
		case !ok:
			if pending == nil {
				pending = &TLSStatus{State: "pending", Name: h}
			}
		case att.Error != "":
			return &TLSStatus{State: "failed", Name: h, Error: att.Error, Failures: att.Failures, At: &att.At}
		case issued == nil || att.At.After(*issued.At):
			issued = &TLSStatus{State: "issued", Name: h, At: &att.At}
		}
	}
	if pending != nil {
		return pending
	}
	return issued
}

// RouteWarning explains a setting that is valid but will not work the way
// a browser user expects, naming the field as validation errors do.
type RouteWarning struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RouteInput is a route as the APIs accept it. A route is enabled unless
// "enabled" is false; a request header value of null keeps the stored
// one (the APIs show them as null), a location's the one stored for the
// location of the same path; the read-only status and warnings a client
// may send back are ignored. Locations, when not nil, replace
// Route.Locations (which InputOf fills with values given).
type RouteInput struct {
	route.Route
	Enabled   *bool           `json:"enabled,omitempty"`
	Headers   *HeadersView    `json:"headers,omitempty"`
	Locations []LocationView  `json:"locations,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
	TLSStatus json.RawMessage `json:"tls_status,omitempty"`
	Warnings  json.RawMessage `json:"warnings,omitempty"`
}

// Resolve returns the route the input describes. prev is the stored route
// it changes (nil for a new route), whose request header values (the
// route's, and those of its location of the same path) it keeps where
// the input has null. A location renamed or removed leaves its values
// behind.
//
// A kept value stays with the upstreams it was given for: where the
// input sends the requests elsewhere (other upstreams, upstream_host or
// upstream_tls; for a location, other upstreams), a null is an error
// asking for the value again. Otherwise whoever may edit a route could
// send a credential they cannot read to an upstream of their own.
func (in *RouteInput) Resolve(prev *route.Route) (*route.Route, error) {
	in.Route.Enabled = in.Enabled == nil || *in.Enabled
	moved := prev != nil && (!sameDestination(prev.Kind, in.Route.Kind, prev.Upstreams, in.Route.Upstreams) ||
		!sameUpstreamSettings(prev, &in.Route))
	h, err := resolveHeaders(in.Headers, requestSet(prev), "", moved)
	if err != nil {
		return nil, err
	}
	in.Route.Headers = h
	if in.Locations != nil {
		locs := make([]route.Location, len(in.Locations))
		for i, l := range in.Locations {
			locs[i] = l.Location
			pl := prevLocation(prev, l.Path)
			moved := pl != nil && !sameDestination(pl.Kind, l.Kind, pl.Upstreams, l.Upstreams)
			if locs[i].Headers, err = resolveHeaders(l.Headers, locationSet(prev, l.Path), fmt.Sprintf("locations[%d]", i), moved); err != nil {
				return nil, err
			}
		}
		in.Route.Locations = locs
	}
	return &in.Route, nil
}

// prevLocation returns r's location whose path is path (in any case), or
// nil (also for a nil r).
func prevLocation(r *route.Route, path string) *route.Location {
	if r == nil {
		return nil
	}
	for i := range r.Locations {
		if locationKey(r.Locations[i].Path) == locationKey(path) {
			return &r.Locations[i]
		}
	}
	return nil
}

// sameDestination reports whether a route or location of kind b with
// upstreams bu sends its requests where one of kind a with upstreams au
// did: the same upstreams, in any order and case. An input's empty kind
// is the default, proxy.
func sameDestination(a, b string, au, bu []string) bool {
	if b == "" {
		b = route.KindProxy
	}
	if a != b || len(au) != len(bu) {
		return false
	}
	norm := func(ups []string) []string {
		out := make([]string, len(ups))
		for i, u := range ups {
			out[i] = strings.ToLower(strings.TrimSpace(u))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(au), norm(bu))
}

// sameUpstreamSettings reports whether b reaches its upstreams as a did:
// the same upstream_host and upstream_tls (a certificate no longer
// verified, or verified for another name, would let another server read
// the values).
func sameUpstreamSettings(a, b *route.Route) bool {
	if !strings.EqualFold(strings.TrimSpace(a.UpstreamHost), strings.TrimSpace(b.UpstreamHost)) {
		return false
	}
	var at, bt route.UpstreamTLS
	if a.UpstreamTLS != nil {
		at = *a.UpstreamTLS
	}
	if b.UpstreamTLS != nil {
		bt = *b.UpstreamTLS
	}
	return at.SkipVerify == bt.SkipVerify && strings.EqualFold(strings.TrimSpace(at.ServerName), strings.TrimSpace(bt.ServerName))
}

// WithStatus pairs a route with its live status.
func (s *Service) WithStatus(r *route.Route) RouteJSON {
	return RouteJSON{RouteView: ViewOf(r), Status: s.Status(r.ID), TLSStatus: s.tlsStatus(r), Warnings: s.warnings(r)}
}

// warnings explains, for a route behind the login, why a browser
// would not reach the login page: without the app's url the gate cannot
// send it there. (Hosts the session cookie does not reach are fine: the
// login is handed off to them, see nextURL.)
func (s *Service) warnings(r *route.Route) []RouteWarning {
	if !r.HasGate() || s.LoginPage {
		return nil
	}
	return []RouteWarning{{Field: "auth.require_login", Message: "the proxyos app has no url, so browsers without a session get 401 " +
		"instead of the login page: set url to the dashboard's address"}}
}
