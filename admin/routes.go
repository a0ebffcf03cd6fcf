package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

// handleRoutes lists (GET) or creates (POST) routes.
func (a *API) handleRoutes(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		routes, err := px.Routes().Routes(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		out := make([]router.RouteJSON, 0, len(routes))
		for _, rt := range routes {
			out = append(out, px.Routes().WithStatus(rt))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"routes": out})
	case http.MethodPost:
		var in router.RouteInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		nr, err := in.Resolve(nil)
		if err != nil {
			return apiError(err)
		}
		rt, err := px.Routes().Create(r.Context(), nr, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusCreated, px.Routes().WithStatus(rt))
	}
	return methodNotAllowed(r)
}

// handleRoute serves /proxyos/routes/{id}[/versions|/rollback|/maintenance|/tokens[/{token}]|/traffic|/requests].
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
		rt, err := px.Routes().Route(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, px.Routes().WithStatus(rt))
	case sub == "" && r.Method == http.MethodPut:
		var in router.RouteInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		prev, err := px.Routes().Route(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		nr, err := in.Resolve(prev)
		if err != nil {
			return apiError(err)
		}
		rt, err := px.Routes().Update(r.Context(), id, nr, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, px.Routes().WithStatus(rt))
	case sub == "" && r.Method == http.MethodDelete:
		if err := px.Routes().Delete(r.Context(), id, 0, audit.AdminAPIActor(r.RemoteAddr)); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case sub == "versions" && r.Method == http.MethodGet:
		vs, err := px.Routes().History(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
	case sub == "rollback" && r.Method == http.MethodPost:
		var body struct {
			Version int `json:"version"`
		}
		if err := api.Decode(w, r, &body); err != nil {
			return apiError(err)
		}
		rt, err := px.Routes().Rollback(r.Context(), id, body.Version, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, px.Routes().WithStatus(rt))
	case sub == "maintenance" && r.Method == http.MethodPost:
		var in router.MaintenanceInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		rt, err := px.Routes().SetMaintenance(r.Context(), id, in, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, px.Routes().WithStatus(rt))
	case sub == "tokens" && r.Method == http.MethodGet:
		ts, err := px.Routes().RouteTokens(r.Context(), id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	case sub == "tokens" && r.Method == http.MethodPost:
		var in router.TokenInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		t, err := px.Routes().CreateToken(r.Context(), id, in, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusCreated, t)
	case strings.HasPrefix(sub, "tokens/") && r.Method == http.MethodDelete:
		if err := px.Routes().RevokeToken(r.Context(), id, strings.TrimPrefix(sub, "tokens/"), audit.AdminAPIActor(r.RemoteAddr)); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case sub == "traffic" && r.Method == http.MethodGet:
		sampler, _, _ := px.Traffic()
		series, err := api.RouteTraffic(r.Context(), px.Routes(), sampler, id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, series)
	case sub == "requests" && r.Method == http.MethodGet:
		sampler, logs, cluster := px.Traffic()
		log, err := api.RouteRequests(r.Context(), px.Routes(), sampler, logs, cluster, id)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, log)
	case sub == "" || sub == "versions" || sub == "rollback" || sub == "maintenance" || sub == "tokens" || strings.HasPrefix(sub, "tokens/") ||
		sub == "traffic" || sub == "requests":
		return methodNotAllowed(r)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such endpoint: %s", r.URL.Path)}
}

func methodNotAllowed(r *http.Request) error {
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}
