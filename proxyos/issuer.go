package proxyos

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"

	"github.com/proxyos/caddy-proxyos/internal/dnsprov"
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
//
// Routes with challenge dns get their certificates with the DNS-01
// challenge, obtained and renewed in the background (never at a
// handshake), from the same CA: through the DNS provider of a stored
// credential the route names, or else through the provider set here
// (dns <provider> …), one of the dns.providers modules this Caddy was
// built with (xcaddy build --with github.com/caddy-dns/<provider>). A
// wildcard host gets one wildcard certificate, which serves every name
// under it.
type Issuer struct {
	// ACME issues certificates for routes with tls auto. Default: Caddy's
	// ACME issuer defaults (Let's Encrypt).
	ACME *caddytls.ACMEIssuer `json:"acme,omitempty"`

	// Internal issues certificates for routes with tls internal. Default:
	// Caddy's internal CA "local".
	Internal *caddytls.InternalIssuer `json:"internal,omitempty"`

	// DNS is the DNS-01 challenge of routes with challenge dns: its
	// provider is the default of routes that name no stored credential;
	// its other options (resolvers, propagation_timeout, …) apply to
	// the providers of stored credentials too. Default: no provider, so
	// such routes must name a credential.
	DNS *caddytls.DNSChallengeConfig `json:"dns,omitempty"`

	app      *App
	ca       *caddypki.CA                      // the internal issuer's CA
	magic    *atomic.Pointer[certmagic.Config] // of the automation policy, see serve
	renewed  *sync.Map                         // name → hash of the certificate renewed by hand last
	ctx      caddy.Context
	acmeJSON []byte               // ACME as configured, the template of the DNS-01 issuers
	dnsACME  *caddytls.ACMEIssuer // with DNS's provider; nil without one
	inner    *certmagic.Config    // the config SetConfig gave the ACME issuers
	creds    *credIssuers
	certs    *dnsCerts
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
	iss.ctx = ctx
	iss.creds = new(credIssuers)
	if iss.ACME == nil {
		iss.ACME = new(caddytls.ACMEIssuer)
	}
	if iss.acmeJSON, err = json.Marshal(iss.ACME); err != nil {
		return err
	}
	if iss.DNS != nil && iss.DNS.ProviderRaw != nil {
		if iss.dnsACME, err = iss.newDNSIssuer(ctx, iss.DNS.ProviderRaw); err != nil {
			return fmt.Errorf("provisioning dns-01 issuer: %w", err)
		}
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

// newDNSIssuer returns an ACME issuer configured like ACME, solving
// DNS-01 challenges with the provider module JSON, provisioned in ctx.
func (iss *Issuer) newDNSIssuer(ctx caddy.Context, provider json.RawMessage) (*caddytls.ACMEIssuer, error) {
	acme := new(caddytls.ACMEIssuer)
	if err := json.Unmarshal(iss.acmeJSON, acme); err != nil {
		return nil, err
	}
	var dns caddytls.DNSChallengeConfig
	if iss.DNS != nil {
		dns.TTL, dns.PropagationDelay, dns.PropagationTimeout = iss.DNS.TTL, iss.DNS.PropagationDelay, iss.DNS.PropagationTimeout
		dns.Resolvers, dns.OverrideDomain = iss.DNS.Resolvers, iss.DNS.OverrideDomain
	}
	dns.ProviderRaw = provider
	if acme.Challenges == nil {
		acme.Challenges = new(caddytls.ChallengesConfig)
	}
	acme.Challenges.DNS = &dns
	if err := acme.Provision(ctx); err != nil {
		return nil, err
	}
	if iss.inner != nil {
		acme.SetConfig(iss.inner)
	}
	return acme, nil
}

// DNSProvider returns the name of the provider of the issuer's own DNS
// config, or "".
func (iss *Issuer) DNSProvider() string {
	if iss.DNS == nil || iss.dnsACME == nil {
		return ""
	}
	var m struct {
		Name string `json:"name"`
	}
	json.Unmarshal(iss.DNS.ProviderRaw, &m) //nolint:errcheck // loaded fine in Provision
	return m.Name
}

// pick returns the issuer for the route serving the CSR's first name.
func (iss *Issuer) pick(ctx context.Context, csr *x509.CertificateRequest) (certmagic.Issuer, error) {
	names := csr.DNSNames
	for _, ip := range csr.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("certificate request names no host")
	}
	r := iss.app.certRoute(names[0])
	if r == nil {
		return nil, fmt.Errorf("%s: no enabled proxyos route or tls terminate stream", names[0])
	}
	switch r.TLS {
	case route.TLSInternal:
		return iss.Internal, nil
	case route.TLSAuto:
		if r.Challenge == route.ChallengeDNS {
			return iss.dnsIssuer(ctx, r.DNSCredential)
		}
		return iss.ACME, nil
	}
	return nil, fmt.Errorf("%s: route %s has tls %s", names[0], r.ID, r.TLS)
}

// dnsIssuer returns the DNS-01 issuer of a route naming credential
// (none: the issuer's own provider).
func (iss *Issuer) dnsIssuer(ctx context.Context, credential string) (certmagic.Issuer, error) {
	if credential == "" {
		if iss.dnsACME == nil {
			return nil, errors.New("challenge dns: the route names no dns_credential and the proxyos issuer has no dns provider")
		}
		return iss.dnsACME, nil
	}
	return iss.creds.get(ctx, iss, credential)
}

// Issue obtains a certificate from the issuer the route asks for, and
// remembers the outcome (the CA's error verbatim) for the certificates page.
func (iss *Issuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	inner, err := iss.pick(ctx, csr)
	if err != nil {
		return nil, err
	}
	cert, err := inner.Issue(ctx, csr)
	if names := csr.DNSNames; len(names) > 0 {
		kind := "acme"
		switch a, _ := inner.(*caddytls.ACMEIssuer); {
		case inner == iss.Internal:
			kind = "internal"
		case a != nil && a != iss.ACME:
			kind = "acme-dns"
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
		r := iss.app.certRoute(names[0])
		switch {
		case r != nil && r.TLS == route.TLSInternal:
			return nil
		case r != nil && r.TLS == route.TLSAuto && r.Challenge == route.ChallengeDNS:
			inner, err := iss.dnsIssuer(ctx, r.DNSCredential)
			if err != nil {
				return err
			}
			return inner.(certmagic.PreChecker).PreCheck(ctx, names, interactive)
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
	iss.inner = &inner
	iss.ACME.SetConfig(&inner)
	iss.serve(cfg)
	if iss.dnsACME != nil {
		iss.dnsACME.SetConfig(&inner)
	}
	iss.startDNSCerts(cfg)
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
//		dns <provider> [<options>]
//		resolvers <dns servers...>
//		propagation_delay <duration>
//		propagation_timeout <duration>
//	}
//
// The dns options are those of Caddy's acme issuer: the provider of
// routes with challenge dns that name no stored credential, and how the
// challenge's record is checked before the CA is asked to look.
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
		case "dns", "resolvers", "propagation_delay", "propagation_timeout":
			if err := iss.unmarshalDNS(d); err != nil {
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

// unmarshalDNS parses one of the dns options at d's current token.
func (iss *Issuer) unmarshalDNS(d *caddyfile.Dispenser) error {
	if iss.DNS == nil {
		iss.DNS = new(caddytls.DNSChallengeConfig)
	}
	switch d.Val() {
	case "dns":
		if !d.NextArg() {
			return d.ArgErr()
		}
		name := d.Val()
		unm, err := caddyfile.UnmarshalModule(d, dnsprov.Namespace+"."+name)
		if err != nil {
			return err
		}
		iss.DNS.ProviderRaw = caddyconfig.JSONModuleObject(unm, "name", name, nil)
	case "resolvers":
		iss.DNS.Resolvers = d.RemainingArgs()
		if len(iss.DNS.Resolvers) == 0 {
			return d.ArgErr()
		}
	case "propagation_delay", "propagation_timeout":
		opt := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		var dur caddy.Duration
		if opt == "propagation_timeout" && d.Val() == "-1" {
			dur = -1
		} else {
			v, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			dur = caddy.Duration(v)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		if opt == "propagation_delay" {
			iss.DNS.PropagationDelay = dur
		} else {
			iss.DNS.PropagationTimeout = dur
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Issuer)(nil)
	_ caddy.CleanerUpper    = (*Issuer)(nil)
	_ certmagic.Issuer      = (*Issuer)(nil)
	_ certmagic.PreChecker  = (*Issuer)(nil)
	_ caddytls.ConfigSetter = (*Issuer)(nil)
	_ caddyfile.Unmarshaler = (*Issuer)(nil)
)
