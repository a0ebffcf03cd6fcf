package proxyos

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
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
func (a *App) WithStatus(r *route.Route) RouteJSON {
	return RouteJSON{RouteView: ViewOf(r), Status: a.RouteStatus(r.ID), Warnings: a.routeWarnings(r)}
}

// routeWarnings explains, for a route behind the login, why a browser
// would not reach the login page: without the app's url the gate cannot
// send it there. (Hosts the session cookie does not reach are fine: the
// login is handed off to them, see nextURL.)
func (a *App) routeWarnings(r *route.Route) []RouteWarning {
	if r.Auth == nil || !r.Auth.RequireLogin || a.canonical != nil {
		return nil
	}
	return []RouteWarning{{Field: "auth.require_login", Message: "the proxyos app has no url, so browsers without a session get 401 " +
		"instead of the login page: set url to the dashboard's address"}}
}

// RouteErrorStatus maps an error of a route change to an HTTP status and
// the field it concerns: 400 for invalid input, 404 for an unknown route,
// 409 for a stale version or a host another route uses, 0 for anything
// unexpected.
func RouteErrorStatus(err error) (int, string) {
	var (
		fe *FieldError
		hc *store.HostConflictError
	)
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, fe.Field
	case errors.As(err, &hc):
		return http.StatusConflict, "hosts"
	case errors.Is(err, ErrRouteNotFound):
		return http.StatusNotFound, ""
	case errors.Is(err, ErrStaleVersion):
		return http.StatusConflict, "version"
	}
	return 0, ""
}

// writeRouteError answers an error of a route operation.
func (d *Dashboard) writeRouteError(w http.ResponseWriter, err error) error {
	if status, field := RouteErrorStatus(err); status != 0 {
		writeJSON(w, status, apiError{Error: err.Error(), Field: field})
		return nil
	}
	return d.writeAPIError(w, err)
}

// actorOf is the audit actor of a dashboard API request: the logged-in
// user and the client IP as Caddy computes it.
func actorOf(r *http.Request) Actor {
	if kc := callerKey(r); kc != nil {
		return Actor{Name: kc.user.Email, Kind: ActorAPIKey, ClientIP: clientIP(r), KeyID: kc.key.ID, KeyName: kc.key.Name}
	}
	name := anonymous
	if id := caller(r); id != nil {
		name = id.Email
	}
	return Actor{Name: name, Kind: ActorUser, ClientIP: clientIP(r)}
}

func (d *Dashboard) apiListRoutes(w http.ResponseWriter, r *http.Request) error {
	routes, err := d.app.Routes(r.Context())
	if err != nil {
		return d.writeAPIError(w, err)
	}
	out := make([]RouteJSON, 0, len(routes))
	for _, rt := range routes {
		out = append(out, d.app.WithStatus(rt))
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
	return nil
}

func (d *Dashboard) apiGetRoute(w http.ResponseWriter, r *http.Request) error {
	rt, err := d.app.Route(r.Context(), r.PathValue("id"))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	writeJSON(w, http.StatusOK, d.app.WithStatus(rt))
	return nil
}

func (d *Dashboard) apiCreateRoute(w http.ResponseWriter, r *http.Request) error {
	var in RouteInput
	if err := decodeJSON(w, r, &in); err != nil {
		return d.writeAPIError(w, err)
	}
	nr, err := in.Resolve(nil)
	if err != nil {
		return d.writeRouteError(w, err)
	}
	rt, err := d.app.CreateRoute(r.Context(), nr, actorOf(r))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	writeJSON(w, http.StatusCreated, d.app.WithStatus(rt))
	return nil
}

func (d *Dashboard) apiUpdateRoute(w http.ResponseWriter, r *http.Request) error {
	var in RouteInput
	if err := decodeJSON(w, r, &in); err != nil {
		return d.writeAPIError(w, err)
	}
	prev, err := d.app.Route(r.Context(), r.PathValue("id"))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	nr, err := in.Resolve(prev)
	if err != nil {
		return d.writeRouteError(w, err)
	}
	rt, err := d.app.UpdateRoute(r.Context(), r.PathValue("id"), nr, actorOf(r))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	writeJSON(w, http.StatusOK, d.app.WithStatus(rt))
	return nil
}

func (d *Dashboard) apiDeleteRoute(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &body); err != nil {
			return d.writeAPIError(w, err)
		}
	}
	if err := d.app.DeleteRoute(r.Context(), r.PathValue("id"), body.Version, actorOf(r)); err != nil {
		return d.writeRouteError(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Dashboard) apiRouteVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := d.app.RouteHistory(r.Context(), r.PathValue("id"))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (d *Dashboard) apiRollbackRoute(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version int `json:"version"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	rt, err := d.app.RollbackRoute(r.Context(), r.PathValue("id"), body.Version, actorOf(r))
	if err != nil {
		return d.writeRouteError(w, err)
	}
	writeJSON(w, http.StatusOK, d.app.WithStatus(rt))
	return nil
}
