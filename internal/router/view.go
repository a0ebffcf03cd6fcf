package router

import (
	"encoding/json"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// RouteJSON is a route as the APIs show it: the route (request header
// values hidden, see RouteView) and its live status.
type RouteJSON struct {
	RouteView
	Status   RouteStatus    `json:"status"`
	Warnings []RouteWarning `json:"warnings,omitempty"`
}

// RouteWarning explains a setting that is valid but will not work the way
// a browser user expects, naming the field as validation errors do.
type RouteWarning struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RouteInput is a route as the APIs accept it. A route is enabled unless
// "enabled" is false; a request header value of null keeps the stored
// one (the APIs show them as null); the read-only status and warnings a
// client may send back are ignored.
type RouteInput struct {
	route.Route
	Enabled  *bool           `json:"enabled,omitempty"`
	Headers  *HeadersView    `json:"headers,omitempty"`
	Status   json.RawMessage `json:"status,omitempty"`
	Warnings json.RawMessage `json:"warnings,omitempty"`
}

// Resolve returns the route the input describes. prev is the stored route
// it changes (nil for a new route), whose request header values it keeps
// where the input has null.
func (in *RouteInput) Resolve(prev *route.Route) (*route.Route, error) {
	in.Route.Enabled = in.Enabled == nil || *in.Enabled
	h, err := resolveHeaders(in.Headers, prev)
	if err != nil {
		return nil, err
	}
	in.Route.Headers = h
	return &in.Route, nil
}

// WithStatus pairs a route with its live status.
func (s *Service) WithStatus(r *route.Route) RouteJSON {
	return RouteJSON{RouteView: ViewOf(r), Status: s.Status(r.ID), Warnings: s.warnings(r)}
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
