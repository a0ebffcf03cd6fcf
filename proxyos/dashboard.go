package proxyos

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/ui"
)

func init() {
	caddy.RegisterModule(Dashboard{})
}

// Dashboard serves the proxyos dashboard: its pages (setup, login, the
// logged-in shell, diagnostics), their embedded assets, and the JSON API
// under /api/ that the pages use. Place it at the root of a site:
//
//	proxy.example.com {
//		proxyos_dashboard
//	}
//
// Every response carries a strict Content-Security-Policy (scripts only
// from the dashboard itself, no inline scripts) and refuses framing.
// When the app's url is set, page requests for another host or scheme
// are redirected there first (308), so the session cookie is always set
// on the host where it will be used. Unknown paths answer 404 as a
// handler error, so the site's handle_errors applies.
//
// State-changing API calls need a JSON body and a same-origin Origin or
// Sec-Fetch-Site header (403 otherwise), so a page on another site can
// never act with a user's cookie.
type Dashboard struct {
	app    *App
	api    *api.Server
	assets http.Handler
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Dashboard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_dashboard",
		New: func() caddy.Module { return new(Dashboard) },
	}
}

// Provision finds the proxyos app.
func (d *Dashboard) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	d.app = app.(*App)
	assets, err := fs.Sub(ui.FS, "static")
	if err != nil {
		return err
	}
	d.assets = http.StripPrefix("/assets", http.FileServerFS(assets))
	d.api = d.app.newAPI(d.logger)
	return nil
}

// contentSecurityPolicy allows nothing but the dashboard's own files.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves the dashboard.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")

	if strings.HasPrefix(r.URL.Path, "/api/") {
		return d.api.ServeAPI(w, r)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	}
	if target := d.canonicalRedirect(r); target != "" {
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
		return nil
	}
	switch {
	case ui.IsPage(r.URL.Path):
		h.Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, ui.FS, "static/index.html")
		return nil
	case strings.HasPrefix(r.URL.Path, "/assets/") && !strings.HasSuffix(r.URL.Path, "/"):
		if _, err := fs.Stat(ui.FS, "static/"+strings.TrimPrefix(r.URL.Path, "/assets/")); err != nil {
			return caddyhttp.Error(http.StatusNotFound, nil)
		}
		h.Set("Cache-Control", "no-cache")
		d.assets.ServeHTTP(w, r)
		return nil
	}
	return caddyhttp.Error(http.StatusNotFound, nil)
}

// canonicalRedirect returns where to send a page request that reached the
// dashboard under a host or scheme other than the app's url, or "".
func (d *Dashboard) canonicalRedirect(r *http.Request) string {
	c := d.app.canonical
	if c == nil {
		return ""
	}
	if strings.EqualFold(r.Host, c.Host) && api.Scheme(r) == c.Scheme {
		return ""
	}
	return c.Scheme + "://" + c.Host + r.URL.RequestURI()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Dashboard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Dashboard)(nil)
)
