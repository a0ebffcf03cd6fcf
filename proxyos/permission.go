package proxyos

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"

	"github.com/proxyos/caddy-proxyos/proxyos/route"
)

func init() {
	caddy.RegisterModule(Permission{})
}

// Permission allows on-demand certificates only for the hosts of enabled
// routes whose TLS mode is auto or internal, so a stranger pointing a DNS
// name at the server cannot make it request certificates (and exhaust
// the CA's rate limits):
//
//	{
//		on_demand_tls {
//			permission proxyos
//		}
//	}
type Permission struct {
	app *App
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
	return nil
}

// CertificateAllowed allows name if an enabled route with TLS serves it.
func (p *Permission) CertificateAllowed(_ context.Context, name string) error {
	lr := p.app.router.lookup(name)
	if lr == nil {
		return fmt.Errorf("%s: no enabled proxyos route: %w", name, caddytls.ErrPermissionDenied)
	}
	if lr.route.TLS == route.TLSOff {
		return fmt.Errorf("%s: route %s has tls off: %w", name, lr.route.ID, caddytls.ErrPermissionDenied)
	}
	return nil
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Permission)(nil)
	_ caddytls.OnDemandPermission = (*Permission)(nil)
	_ caddyfile.Unmarshaler       = (*Permission)(nil)
)
