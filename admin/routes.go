package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/proxyos"
)

// handleRoutes lists (GET) or creates (POST) routes.
func (a *API) handleRoutes(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		routes, err := px.Routes(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		out := make([]proxyos.RouteJSON, 0, len(routes))
		for _, rt := range routes {
			out = append(out, px.WithStatus(rt))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"routes": out})
	case http.MethodPost:
		var in proxyos.RouteInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		nr, err := in.Resolve(nil)
		if err != nil {
			return routeError(err)
		}
		rt, err := px.CreateRoute(r.Context(), nr, proxyos.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return routeError(err)
		}
		return writeJSON(w, http.StatusCreated, px.WithStatus(rt))
	}
	return methodNotAllowed(r)
}

// handleRoute serves /proxyos/routes/{id}[/versions|/rollback].
func (a *API) handleRoute(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	id, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/proxyos/routes/"), "/")
	if id == "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("missing route id")}
	}
	switch {
	case sub == "" && r.Method == http.MethodGet:
		rt, err := px.Route(r.Context(), id)
		if err != nil {
			return routeError(err)
		}
		return writeJSON(w, http.StatusOK, px.WithStatus(rt))
	case sub == "" && r.Method == http.MethodPut:
		var in proxyos.RouteInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		prev, err := px.Route(r.Context(), id)
		if err != nil {
			return routeError(err)
		}
		nr, err := in.Resolve(prev)
		if err != nil {
			return routeError(err)
		}
		rt, err := px.UpdateRoute(r.Context(), id, nr, proxyos.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return routeError(err)
		}
		return writeJSON(w, http.StatusOK, px.WithStatus(rt))
	case sub == "" && r.Method == http.MethodDelete:
		if err := px.DeleteRoute(r.Context(), id, 0, proxyos.AdminAPIActor(r.RemoteAddr)); err != nil {
			return routeError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case sub == "versions" && r.Method == http.MethodGet:
		vs, err := px.RouteHistory(r.Context(), id)
		if err != nil {
			return routeError(err)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	case sub == "rollback" && r.Method == http.MethodPost:
		var body struct {
			Version int `json:"version"`
		}
		if err := decode(w, r, &body); err != nil {
			return err
		}
		rt, err := px.RollbackRoute(r.Context(), id, body.Version, proxyos.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return routeError(err)
		}
		return writeJSON(w, http.StatusOK, px.WithStatus(rt))
	case sub == "" || sub == "versions" || sub == "rollback":
		return methodNotAllowed(r)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such endpoint: %s", r.URL.Path)}
}

// routeError maps an error of a route operation to an API error.
func routeError(err error) error {
	if status, _ := proxyos.RouteErrorStatus(err); status != 0 {
		return caddy.APIError{HTTPStatus: status, Err: err}
	}
	return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
}

func methodNotAllowed(r *http.Request) error {
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// decode reads a JSON body, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("body: not valid JSON: %v", err)}
	}
	return nil
}
