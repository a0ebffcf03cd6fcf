// Package admin adds proxyos endpoints to Caddy's admin API, for
// automation and for recovering access from the host.
package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
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
//	POST /proxyos/routes/{id}/maintenance       {"on","page","from","until"}: maintenance page on/off, or scheduled
//	GET|POST /proxyos/routes/{id}/tokens        route tokens: list, create {"name","username"} (201, the token once)
//	DELETE /proxyos/routes/{id}/tokens/{token}  revoke (204)
//	GET  /proxyos/routes/{id}/traffic           the last hour: this node's 10-second points, every node's minutes and their sum
//	GET  /proxyos/routes/{id}/requests          the request log on this node (its name in "node"), newest first
//	GET|POST /proxyos/streams                   TCP/UDP streams: list, create (201; any listen port)
//	GET|PUT|DELETE /proxyos/streams/{id}        read, replace (with "version"), delete (204)
//	GET  /proxyos/streams/{id}/versions         history, newest first
//	POST /proxyos/streams/{id}/rollback         {"version": n}
//	GET|POST /proxyos/certificates              names served and custom certificates; upload (201)
//	PUT|DELETE /proxyos/certificates/{id}       replace, delete (204) a custom certificate
//	POST /proxyos/certificates/renew            {"name"}: renew a managed certificate now (204)
//	GET  /proxyos/cluster  the nodes on this database: name, version, last
//	     change applied, lag, last seen, state (up or gone)
//	POST /proxyos/backup  {"path": "/abs/file"} writes a consistent copy of
//	     the SQLite database there, a file that must not exist yet (200
//	     {"path","bytes"}); PostgreSQL answers 400 (use pg_dump)
//	GET  /proxyos/overview  what needs attention (see `caddy proxyos status`):
//	     routes by state, unhealthy upstreams, certificates, failed logins,
//	     changes since ?day_start= (RFC 3339), the doctor's findings
//	GET  /proxyos/doctor  the doctor's server-side findings (see
//	     `caddy proxyos doctor`): {"at","url","findings":[{"id","severity","saw","why","fix"}]}
//	GET  /proxyos/export  the export document (?history=1, ?users=1)
//	POST /proxyos/import  ?from=json|npm|caddyfile, ?dry_run=1, ?remove=1:
//	     the plan (added, changed field by field, removed, refused) and
//	     what was not imported; applied all together or not at all
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
		{Pattern: "/proxyos/streams", Handler: caddy.AdminHandlerFunc(a.handleStreams)},
		{Pattern: "/proxyos/streams/", Handler: caddy.AdminHandlerFunc(a.handleStream)},
		{Pattern: "/proxyos/certificates", Handler: caddy.AdminHandlerFunc(a.handleCertificates)},
		{Pattern: "/proxyos/certificates/", Handler: caddy.AdminHandlerFunc(a.handleCertificate)},
		{Pattern: "/proxyos/cluster", Handler: caddy.AdminHandlerFunc(a.handleCluster)},
		{Pattern: "/proxyos/backup", Handler: caddy.AdminHandlerFunc(a.handleBackup)},
		{Pattern: "/proxyos/doctor", Handler: caddy.AdminHandlerFunc(a.handleDoctor)},
		{Pattern: "/proxyos/overview", Handler: caddy.AdminHandlerFunc(a.handleOverview)},
		{Pattern: "/proxyos/export", Handler: caddy.AdminHandlerFunc(a.handleExport)},
		{Pattern: "/proxyos/import", Handler: caddy.AdminHandlerFunc(a.handleImport)},
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

func (a *API) handleCluster(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	v, err := px.Cluster(r.Context())
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) handleBackup(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	var body struct {
		Path string `json:"path"`
	}
	if err := api.Decode(w, r, &body); err != nil {
		return apiError(err)
	}
	b, err := px.Ops().Backup(r.Context(), audit.AdminAPIActor(r.RemoteAddr), body.Path)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, b)
}

func (a *API) handleUsers(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	var nu account.NewUser
	if err := api.Decode(w, r, &nu); err != nil {
		return apiError(err)
	}
	u, err := px.Accounts().CreateUser(r.Context(), account.HostCaller(r.RemoteAddr), nu, "")
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (a *API) handleUser(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPut {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	var c account.UserChange
	if err := api.Decode(w, r, &c); err != nil {
		return apiError(err)
	}
	accounts := px.Accounts()
	u, err := accounts.UserByEmail(r.Context(), strings.TrimPrefix(r.URL.Path, "/proxyos/users/"))
	if err != nil {
		return apiError(err)
	}
	u, err = accounts.UpdateUser(r.Context(), account.HostCaller(r.RemoteAddr), u.ID, c, "")
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, u)
}

// apiError answers an error of a service as the dashboard's API does
// (api.StatusOf), in Caddy's admin error form.
func apiError(err error) error {
	status, body, _, ok := api.StatusOf(err)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return caddy.APIError{HTTPStatus: status, Err: errors.New(body.Error), Message: body.Error}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*API)(nil)
