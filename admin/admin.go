// Package admin adds proxyos endpoints to Caddy's admin API, for
// automation and for recovering access from the host.
package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

func init() {
	caddy.RegisterModule(API{})
}

// API serves proxyos endpoints under /proxyos/ on Caddy's admin endpoint
// (localhost:2019 by default, which only the host can reach):
//
//	GET  /proxyos/setup  {"setup_required": true, "setup_code": "…"} while no user exists
//	POST /proxyos/users  {"email","password","role"} creates a user (201)
//	PUT  /proxyos/users/{email}  {"role","password","disabled"} (any of them)
//	     changes a user; a new role or password revokes their sessions
//	GET|POST /proxyos/routes                    list, create (201)
//	GET|PUT|DELETE /proxyos/routes/{id}         read, replace (with "version"), delete (204)
//	GET  /proxyos/routes/{id}/versions          history, newest first
//	POST /proxyos/routes/{id}/rollback          {"version": n}
//
// Changes made here are recorded in the audit log (and route histories)
// with the actor "admin API" and the admin request's remote address.
//
// Errors are JSON {"error": "…"} with 400 for bad input (the message names
// the field), 409 for a taken email and 503 when proxyos is not running.
type API struct{}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.proxyos",
		New: func() caddy.Module { return new(API) },
	}
}

// Routes returns the admin routes.
func (a *API) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/proxyos/setup", Handler: caddy.AdminHandlerFunc(a.handleSetup)},
		{Pattern: "/proxyos/users", Handler: caddy.AdminHandlerFunc(a.handleUsers)},
		{Pattern: "/proxyos/users/", Handler: caddy.AdminHandlerFunc(a.handleUser)},
		{Pattern: "/proxyos/routes", Handler: caddy.AdminHandlerFunc(a.handleRoutes)},
		{Pattern: "/proxyos/routes/", Handler: caddy.AdminHandlerFunc(a.handleRoute)},
	}
}

// app returns the running proxyos app.
func app() (*proxyos.App, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("proxyos")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("proxyos is not running in the current config")}
	}
	a, ok := v.(*proxyos.App)
	if !ok {
		return nil, caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: errors.New("unexpected proxyos app type")}
	}
	return a, nil
}

func (a *API) handleSetup(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	code, err := px.SetupCode(r.Context())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	resp := map[string]any{"setup_required": code != ""}
	if code != "" {
		resp["setup_code"] = code
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (a *API) handleUsers(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	var nu proxyos.NewUser
	if err := decode(w, r, &nu); err != nil {
		return err
	}
	u, err := px.CreateUser(r.Context(), nu, proxyos.AdminAPIActor(r.RemoteAddr))
	var fe *proxyos.FieldError
	switch {
	case errors.As(err, &fe):
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fe}
	case errors.Is(err, proxyos.ErrUserExists):
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err}
	case err != nil:
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "email": u.Email, "role": u.Role})
}

func (a *API) handleUser(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPut {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	var c proxyos.UserChange
	if err := decode(w, r, &c); err != nil {
		return err
	}
	u, err := px.UpdateUser(r.Context(), strings.TrimPrefix(r.URL.Path, "/proxyos/users/"), c, proxyos.AdminAPIActor(r.RemoteAddr))
	var fe *proxyos.FieldError
	switch {
	case errors.As(err, &fe):
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fe}
	case errors.Is(err, store.ErrLastAdmin):
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: err}
	case errors.Is(err, proxyos.ErrUserNotFound):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	case err != nil:
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "role": u.Role, "disabled": u.Disabled, "totp_enabled": u.TOTPEnabled})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*API)(nil)
