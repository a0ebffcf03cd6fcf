package proxyos

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

func init() {
	caddy.RegisterModule(Issuer{})
}

// Issuer obtains each managed route's certificate the way the route asks:
// from Caddy's internal CA for tls internal, from ACME for tls auto. The
// choice is made per certificate at issuance, so route changes need no
// config reload. Use it in the catch-all site that serves the routes:
//
//	https:// {
//		tls {
//			on_demand
//			issuer proxyos
//		}
//		proxyos_routes
//	}
//
// The global email and port options apply to its ACME issuer as to
// Caddy's own. Set the CA inside it (issuer proxyos { acme { dir … } }):
// the global acme_ca would make Caddy add a second catch-all policy and
// refuse the config.
type Issuer struct {
	// ACME issues certificates for routes with tls auto. Default: Caddy's
	// ACME issuer defaults (Let's Encrypt).
	ACME *caddytls.ACMEIssuer `json:"acme,omitempty"`

	// Internal issues certificates for routes with tls internal. Default:
	// Caddy's internal CA "local".
	Internal *caddytls.InternalIssuer `json:"internal,omitempty"`

	app     *App
	ca      *caddypki.CA                      // the internal issuer's CA
	magic   *atomic.Pointer[certmagic.Config] // of the automation policy, see serve
	renewed *sync.Map                         // name → hash of the certificate renewed by hand last
}

// CaddyModule returns the Caddy module information.
func (Issuer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.issuance.proxyos",
		New: func() caddy.Module { return new(Issuer) },
	}
}

// Provision sets up both issuers.
func (iss *Issuer) Provision(ctx caddy.Context) error {
	app, err := ctx.App("proxyos")
	if err != nil {
		return err
	}
	iss.app = app.(*App)
	iss.magic = new(atomic.Pointer[certmagic.Config])
	iss.renewed = new(sync.Map)
	if iss.ACME == nil {
		iss.ACME = new(caddytls.ACMEIssuer)
	}
	if err := iss.ACME.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning acme issuer: %w", err)
	}
	if iss.Internal == nil {
		iss.Internal = new(caddytls.InternalIssuer)
	}
	if err := iss.Internal.Provision(ctx); err != nil {
		return fmt.Errorf("provisioning internal issuer: %w", err)
	}
	pki, err := ctx.App("pki")
	if err != nil {
		return err
	}
	if iss.ca, err = pki.(*caddypki.PKI).GetCA(ctx, iss.Internal.CA); err != nil {
		return fmt.Errorf("internal issuer: %w", err)
	}
	iss.app.issuer.Store(iss)
	return nil
}

// pick returns the issuer for the route serving the CSR's first name.
func (iss *Issuer) pick(csr *x509.CertificateRequest) (certmagic.Issuer, error) {
	names := csr.DNSNames
	for _, ip := range csr.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("certificate request names no host")
	}
	lr := iss.app.routes.Table.Lookup(names[0])
	if lr == nil {
		return nil, fmt.Errorf("%s: no enabled proxyos route", names[0])
	}
	switch lr.Route.TLS {
	case route.TLSInternal:
		return iss.Internal, nil
	case route.TLSAuto:
		return iss.ACME, nil
	}
	return nil, fmt.Errorf("%s: route %s has tls %s", names[0], lr.Route.ID, lr.Route.TLS)
}

// Issue obtains a certificate from the issuer the route asks for, and
// remembers the outcome (the CA's error verbatim) for the certificates page.
func (iss *Issuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	inner, err := iss.pick(csr)
	if err != nil {
		return nil, err
	}
	cert, err := inner.Issue(ctx, csr)
	if names := csr.DNSNames; len(names) > 0 {
		kind := "acme"
		if inner == iss.Internal {
			kind = "internal"
		}
		iss.app.state.certs.Record(names[0], kind, iss.app.now(), err)
	}
	return cert, err
}

// IssuerKey names the storage area of this issuer's certificates.
func (iss *Issuer) IssuerKey() string { return "proxyos" }

// PreCheck lets the ACME issuer check names before issuance.
func (iss *Issuer) PreCheck(ctx context.Context, names []string, interactive bool) error {
	if len(names) > 0 {
		if lr := iss.app.routes.Table.Lookup(names[0]); lr != nil && lr.Route.TLS == route.TLSInternal {
			return nil
		}
	}
	return iss.ACME.PreCheck(ctx, names, interactive)
}

// SetConfig makes the certmagic config serve certificates as the routes
// ask (see serve), and hands it to the ACME issuer, in a copy that
// also lists the ACME issuer among the issuers. A node answering an HTTP
// challenge that another node started (storage shared by a cluster)
// looks for it in storage under the key of each of the config's issuers,
// and the ACME issuer stored it under its own key, not under "proxyos".
func (iss *Issuer) SetConfig(cfg *certmagic.Config) {
	inner := *cfg
	inner.Issuers = append([]certmagic.Issuer{iss.ACME}, cfg.Issuers...)
	iss.ACME.SetConfig(&inner)
	iss.serve(cfg)
}

// GetACMEIssuer exposes the ACME issuer, so Caddy serves its HTTP
// challenges and the Caddyfile's global ACME options reach it.
func (iss *Issuer) GetACMEIssuer() *caddytls.ACMEIssuer {
	if iss.ACME == nil {
		iss.ACME = new(caddytls.ACMEIssuer)
	}
	return iss.ACME
}

// UnmarshalCaddyfile sets up the issuer from Caddyfile tokens:
//
//	issuer proxyos {
//		acme {
//			<acme issuer options>
//		}
//		internal {
//			<internal issuer options>
//		}
//	}
func (iss *Issuer) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "acme":
			iss.ACME = new(caddytls.ACMEIssuer)
			if err := iss.ACME.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
				return err
			}
		case "internal":
			iss.Internal = new(caddytls.InternalIssuer)
			if err := iss.Internal.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	if iss.ACME == nil {
		iss.ACME = new(caddytls.ACMEIssuer)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Issuer)(nil)
	_ certmagic.Issuer      = (*Issuer)(nil)
	_ certmagic.PreChecker  = (*Issuer)(nil)
	_ caddytls.ConfigSetter = (*Issuer)(nil)
	_ caddyfile.Unmarshaler = (*Issuer)(nil)
)
