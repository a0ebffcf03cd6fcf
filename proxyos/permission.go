package proxyos

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
)

func init() {
	caddy.RegisterModule(Permission{})
}

// Permission allows on-demand certificates only for the hosts of enabled
// routes whose TLS mode is auto or internal (custom ones are uploaded),
// and of served streams with tls terminate, so a stranger pointing a DNS
// name at the server cannot make it request certificates (and exhaust
// the CA's rate limits):
//
//	{
//		on_demand_tls {
//			permission proxyos
//		}
//	}
//
// Routes with challenge dns get their certificates in the background
// (see Issuer), never on demand: their names, and names under their
// wildcard hosts, are refused here, so a handshake cannot make the
// server obtain a certificate of their own; the wildcard certificate
// serves them from the cache once it is obtained.
//
// Names under a route's (or a stream's) wildcard host are anyone's to make up: the app's
// on_demand_limit bounds how many new ones each route gets certificates
// for per interval. Caddy asks the permission whenever a name's
// certificate is not in memory, before it loads one from storage (after
// a restart) and before it renews one: names allowed before, and names
// with a certificate in storage, are always allowed and not counted.
type Permission struct {
	app     *App
	storage certmagic.Storage
}

// CaddyModule returns the Caddy module information.
func (Permission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.permission.proxyos",
		New: func() caddy.Module { return new(Permission) },
	}
}

// Provision finds the proxyos app.
func (p *Permission) Provision(ctx caddy.Context) error {
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	p.app = app.(*App)
	p.app.permission.Store(true)
	p.storage = ctx.Storage()
	return nil
}

// CertificateAllowed allows name if an enabled route with TLS, or a
// served stream with tls terminate, serves it and, for a name under its
// wildcard host, its limit of new names allows it.
func (p *Permission) CertificateAllowed(ctx context.Context, name string) error {
	r := p.app.certRoute(name)
	if r == nil {
		return fmt.Errorf("%s: no enabled proxyos route or tls terminate stream: %w", name, caddytls.ErrPermissionDenied)
	}
	if r.TLS == route.TLSOff || r.TLS == route.TLSCustom {
		// With tls custom the uploaded certificate is served (see
		// customManager); none is obtained.
		return fmt.Errorf("%s: route %s has tls %s: %w", name, r.ID, r.TLS, caddytls.ErrPermissionDenied)
	}
	if r.TLS == route.TLSAuto && r.Challenge == route.ChallengeDNS {
		return fmt.Errorf("%s: route %s gets its certificates with the dns challenge, in the background: %w",
			name, r.ID, caddytls.ErrPermissionDenied)
	}
	host := request.NormalizeHost(name)
	if slices.Contains(r.Hosts, host) {
		return nil // an exact host
	}
	limits, id := p.app.state.certLimits, r.ID
	if limits.Known(id, host) {
		return nil
	}
	if p.stored(ctx, host) {
		limits.Remember(id, host)
		return nil
	}
	d := limits.Allow(id, host)
	if d.Report {
		limit := p.app.OnDemandLimit
		p.app.logger.Warn("on-demand certificate limit reached for route; further refusals are not logged until it resets",
			zap.String("route_id", id), zap.Int("limit", limit.Names), zap.Duration("interval", time.Duration(limit.Interval)),
			zap.Int("refused", d.Refused), zap.Time("resets_at", d.ResetAt))
	}
	if !d.Allowed {
		return fmt.Errorf("%s: route %s got certificates for its limit of new names, until %s: %w",
			name, id, d.ResetAt.UTC().Format(time.RFC3339), caddytls.ErrPermissionDenied)
	}
	return nil
}

// stored reports whether Caddy's storage holds a certificate from any
// issuer for name, or for the wildcard name covering it: Caddy then
// loads it, obtaining none.
func (p *Permission) stored(ctx context.Context, name string) bool {
	if p.storage == nil {
		return false
	}
	issuers, err := p.storage.List(ctx, "certificates", false)
	if err != nil {
		return false // none yet, or unreadable: count the name
	}
	names := []string{name}
	if _, parent, ok := strings.Cut(name, "."); ok {
		names = append(names, "*."+parent)
	}
	for _, dir := range issuers {
		for _, n := range names {
			if p.storage.Exists(ctx, certmagic.StorageKeys.SiteCert(path.Base(dir), n)) {
				return true
			}
		}
	}
	return false
}

// UnmarshalCaddyfile accepts the bare module name, as in
// `permission proxyos`; the on_demand_tls parser requires the method.
func (p *Permission) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("unrecognized subdirective '%s'", d.Val())
	}
	return nil
}

// Defaults of the on_demand_limit option.
const (
	DefaultOnDemandNames    = 20
	DefaultOnDemandInterval = time.Hour
)

// OnDemandLimit is at most Names new names per route per Interval (see
// App.OnDemandLimit).
type OnDemandLimit struct {
	// Names is how many names under its wildcard hosts a route may get
	// new certificates for in an interval, at least 1. Default: 20.
	Names int `json:"names,omitempty"`

	// Interval starts with a route's first new name; the first new name
	// after its end starts the next one. Default: 1h.
	Interval caddy.Duration `json:"interval,omitempty"`
}

// withDefaults returns a copy of l (which may be nil) with the defaults
// filled in.
func (l *OnDemandLimit) withDefaults() *OnDemandLimit {
	out := OnDemandLimit{Names: DefaultOnDemandNames, Interval: caddy.Duration(DefaultOnDemandInterval)}
	if l != nil {
		if l.Names != 0 {
			out.Names = l.Names
		}
		if l.Interval != 0 {
			out.Interval = l.Interval
		}
	}
	return &out
}

func (l *OnDemandLimit) validate() error {
	if l == nil {
		return nil
	}
	if l.Names < 0 {
		return errors.New("on_demand_limit: names must be at least 1")
	}
	if l.Interval < 0 {
		return errors.New("on_demand_limit: interval must be positive")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Permission)(nil)
	_ caddytls.OnDemandPermission = (*Permission)(nil)
	_ caddyfile.Unmarshaler       = (*Permission)(nil)
)
