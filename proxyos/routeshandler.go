package proxyos

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
)

func init() {
	caddy.RegisterModule(RoutesHandler{})
}

// RoutesHandler serves every enabled route managed in the dashboard. It
// looks up the request's host (any case; exact hosts before wildcard
// hosts such as *.example.com) and runs that route's handler chain: real
// Caddy handlers (reverse_proxy, static_response, headers, encode, …)
// compiled when the route was saved. Requests for hosts it does not know
// go to the next handler, so a site can answer them itself; so do HTTPS
// requests for a route with tls off:
//
//	https:// {
//		tls {
//			on_demand
//		}
//		proxyos_routes
//		respond "no route" 404
//	}
//
// Route changes take effect without a config reload.
type RoutesHandler struct {
	// HTTPSPort is the port HTTPS is served on, for routes that redirect
	// plain HTTP to HTTPS (force_https). Default: 443. The Caddyfile sets
	// it from the global https_port option.
	HTTPSPort int `json:"https_port,omitempty"`

	app        *App
	portSuffix string
}

// CaddyModule returns the Caddy module information.
func (RoutesHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_routes",
		New: func() caddy.Module { return new(RoutesHandler) },
	}
}

// Provision finds the proxyos app.
func (h *RoutesHandler) Provision(ctx caddy.Context) error {
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	h.app = app.(*App)
	if h.HTTPSPort != 0 && h.HTTPSPort != 443 {
		h.portSuffix = ":" + strconv.Itoa(h.HTTPSPort)
	}
	return nil
}

// ServeHTTP serves the route of the request's host, or passes it on.
func (h *RoutesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	lr := h.app.routes.Table.Lookup(r.Host)
	if lr == nil || (r.TLS != nil && lr.Route.TLS == route.TLSOff) {
		// A tls off route is plain HTTP only, even while a certificate
		// it had before is still cached.
		return next.ServeHTTP(w, r)
	}
	// Upstreams never see the dashboard session or identity headers a
	// client made up; on routes with a login the gate does this and sets
	// the real ones.
	if !lr.Route.HasGate() {
		request.StripIdentity(r.Header)
		request.StripSessionCookies(r.Header)
	}
	if h.portSuffix != "" && lr.Route.ForceHTTPS {
		caddyhttp.SetVar(r.Context(), route.HTTPSPortVar, h.portSuffix)
	}
	if lr.Metrics == nil && !lr.Route.RequestLog {
		return lr.Handler.ServeHTTP(w, r)
	}
	start := time.Now()
	method, path := r.Method, r.URL.Path // before the route's handlers rewrite them
	rec := recorders.Get().(*statusRecorder)
	rec.ResponseWriter, rec.status = w, 0
	err := lr.Handler.ServeHTTP(rec, r)
	status := rec.status
	rec.ResponseWriter = nil
	recorders.Put(rec)
	if status == 0 {
		status = http.StatusOK
		if err != nil {
			status = http.StatusInternalServerError
			var he caddyhttp.HandlerError
			if errors.As(err, &he) && he.StatusCode != 0 {
				status = he.StatusCode
			}
		}
	}
	took := time.Since(start)
	if lr.Metrics != nil {
		lr.Metrics.Observe(status, took)
	}
	if lr.Route.RequestLog {
		h.logRequest(lr.Route, r, traffic.Request{Time: start, Method: method, Path: path, Status: status,
			DurationMS: float64(took.Microseconds()) / 1000})
	}
	return err
}

// logRequest adds a request to rt's request log, with the client IP as
// Caddy computed it and the user the route's gate let in: the
// {http.auth.user.*} placeholders, which only the gate sets (a client's
// X-Proxyos-* headers are stripped and never read here). No query,
// header, cookie or body is kept.
func (h *RoutesHandler) logRequest(rt *route.Route, r *http.Request, e traffic.Request) {
	e.ClientIP, _ = caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if e.User, _ = repl.GetString("http.auth.user.email"); e.User == "" {
			e.User, _ = repl.GetString("http.auth.user.id")
		}
	}
	h.app.state.requests.Record(rt.ID, rt.RequestLogSize, e)
}

// statusRecorder notes the status a route's handlers answer with, for
// its metrics. Recorders are reused (recorders), so counting allocates
// nothing; the handlers are done with one when ServeHTTP returns.
type statusRecorder struct {
	caddyhttp.ResponseWriterWrapper
	status int
}

var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// WriteHeader notes the first final status (1xx other than 101 are
// informational).
func (rec *statusRecorder) WriteHeader(code int) {
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

// Write notes an implicit 200.
func (rec *statusRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

// ReadFrom notes an implicit 200 (io.Copy prefers it over Write).
func (rec *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriterWrapper.ReadFrom(r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*RoutesHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*RoutesHandler)(nil)
)
