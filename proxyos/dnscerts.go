package proxyos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/route"
)

// credIssuers are the DNS-01 issuers built from stored DNS credentials,
// by credential name. A credential is read from the store at each
// issuance, which is rare, and its issuer rebuilt when it changed: a
// change made on any node takes effect on every node at the next
// attempt.
type credIssuers struct {
	mu sync.Mutex
	m  map[string]credIssuer
}

type credIssuer struct {
	updated time.Time
	acme    *caddytls.ACMEIssuer
	cancel  context.CancelFunc // unloads its provider module
}

// get returns the issuer of credential name, building it if needed.
func (c *credIssuers) get(ctx context.Context, iss *Issuer, name string) (certmagic.Issuer, error) {
	raw, updated, err := iss.app.dns.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ci, ok := c.m[name]; ok && ci.updated.Equal(updated) {
		return ci.acme, nil
	}
	sub, cancel := caddy.NewContext(iss.ctx)
	acme, err := iss.newDNSIssuer(sub, raw)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("dns credential %q: %w", name, err)
	}
	if c.m == nil {
		c.m = make(map[string]credIssuer)
	}
	if old, ok := c.m[name]; ok {
		old.cancel()
	}
	c.m[name] = credIssuer{updated: updated, acme: acme, cancel: cancel}
	return acme, nil
}

// dnsCerts obtains and renews the certificates of routes with challenge
// dns in the background, with a certmagic config and cache of its own
// (not on demand), and hands each certificate it obtains or loads to the
// cache that the site's handshakes read (as an unmanaged certificate,
// which that cache neither renews nor evicts). So no handshake waits for
// a DNS-01 challenge, and names under a wildcard host are served by the
// wildcard certificate from the cache without asking the permission
// module, which refuses them certificates of their own.
type dnsCerts struct {
	iss    *Issuer
	serve  *certmagic.Config // the site's policy, whose cache handshakes read
	magic  *certmagic.Config
	cache  *certmagic.Cache
	logger *zap.Logger

	// managed maps each name handed to magic to what it was handed for
	// (the route's version and credential), and cancels what handing it
	// over started; only run touches them.
	managed map[string]string
	cancels map[string]context.CancelFunc
}

// startDNSCerts starts obtaining the certificates of routes with
// challenge dns for the site whose policy config is serve, until the
// issuer's config is unloaded.
func (iss *Issuer) startDNSCerts(serve *certmagic.Config) {
	if iss.certs != nil {
		return // a second policy with this issuer: one is enough
	}
	d := &dnsCerts{iss: iss, serve: serve, logger: iss.ctx.Logger().Named("dns_certs"), managed: make(map[string]string),
		cancels: make(map[string]context.CancelFunc)}
	tmpl := *serve
	tmpl.OnDemand = nil
	tmpl.Issuers = []certmagic.Issuer{iss}
	tmpl.OnEvent = d.onEvent
	d.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return d.magic, nil },
		Logger:           d.logger,
	})
	d.magic = certmagic.New(d.cache, tmpl)
	iss.certs = d
	go d.run(iss.ctx, iss.app.dnsWake)
}

// Cleanup stops the background certificate management.
func (iss *Issuer) Cleanup() error {
	if iss.certs != nil {
		iss.certs.cache.Stop()
	}
	if iss.creds == nil {
		return nil
	}
	iss.creds.mu.Lock()
	defer iss.creds.mu.Unlock()
	for _, ci := range iss.creds.m {
		ci.cancel()
	}
	return nil
}

// run manages the names of the live routes with challenge dns, again
// each time the route table or a DNS credential changes, until ctx ends.
func (d *dnsCerts) run(ctx context.Context, wake <-chan struct{}) {
	for {
		d.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// sync starts managing names that a route with challenge dns serves and
// stops managing names that none serves any more. A name whose route
// changed, or whose credential changed, is handed over again (see
// start), so a failed attempt is retried at once rather than after
// certmagic's backoff (a name already obtained stays as it is).
func (d *dnsCerts) sync(ctx context.Context) {
	want := dnsNames(d.iss.app.routes.Table.Routes(), d.iss.app.dnsEpoch.Load())
	var add []string
	for name, why := range want {
		if d.managed[name] != why {
			d.managed[name] = why
			add = append(add, name)
		}
	}
	var drop []certmagic.SubjectIssuer
	for name := range d.managed {
		if _, ok := want[name]; !ok {
			d.cancels[name]()
			delete(d.managed, name)
			delete(d.cancels, name)
			drop = append(drop, certmagic.SubjectIssuer{Subject: name})
		}
	}
	if len(drop) > 0 {
		d.cache.RemoveManaged(drop)
	}
	if len(add) == 0 {
		return
	}
	d.logger.Info("managing certificates of routes with challenge dns", zap.Strings("names", add))
	for _, name := range add {
		d.start(ctx, name)
	}
}

// start hands name over to magic, ending a previous hand-over: one
// attempt at once, then certmagic's management, which retries with its
// backoff and renews. (certmagic runs one job per name at a time, so
// handing a failing name to ManageAsync again would leave it waiting for
// the backoff of the previous job, which the cancel ends.)
func (d *dnsCerts) start(ctx context.Context, name string) {
	if cancel, ok := d.cancels[name]; ok {
		cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	d.cancels[name] = cancel
	go func() {
		if err := d.magic.ObtainCertSync(ctx, name); err != nil && ctx.Err() == nil {
			d.logger.Info("obtaining a certificate with dns-01 failed; retrying with backoff", zap.String("name", name), zap.Error(err))
		}
		if ctx.Err() != nil {
			return
		}
		if err := d.magic.ManageAsync(ctx, []string{name}); err != nil {
			d.logger.Error("managing a certificate", zap.String("name", name), zap.Error(err))
		}
	}()
}

// dnsNames returns the names whose certificates are obtained with
// DNS-01, each with what it is managed for: the hosts of enabled tls
// auto routes with challenge dns, but for names a wildcard host among
// them covers.
func dnsNames(routes []*route.Route, epoch uint64) map[string]string {
	out := make(map[string]string)
	for _, r := range routes {
		if r.TLS != route.TLSAuto || r.Challenge != route.ChallengeDNS {
			continue
		}
		for _, h := range r.Hosts {
			out[h] = fmt.Sprintf("%s@%d/%s#%d", r.ID, r.Version, r.DNSCredential, epoch)
		}
	}
	for h := range out {
		if _, parent, ok := strings.Cut(h, "."); ok && !strings.HasPrefix(h, "*.") {
			if _, covered := out["*."+parent]; covered {
				delete(out, h)
			}
		}
	}
	return out
}

// renew renews now the certificate that serves name, a name of a route
// with challenge dns: the wildcard one covering it, or its own. The new
// certificate reaches the site's cache through onEvent, where the
// selection prefers it as the newest, and replaces the old one in the
// background management, which renews it from then on.
func (d *dnsCerts) renew(ctx context.Context, name string) error {
	managed := dnsNames(d.iss.app.routes.Table.Routes(), 0)
	if _, ok := managed[name]; !ok {
		_, parent, _ := strings.Cut(name, ".")
		if _, ok := managed["*."+parent]; !ok || strings.HasPrefix(name, "*.") {
			return fail.Field("name", "%q has no certificate obtained with the dns challenge", name)
		}
		name = "*." + parent
	}
	if err := d.magic.RenewCertSync(ctx, name, true); err != nil {
		return err
	}
	d.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: name}})
	_, err := d.magic.CacheManagedCertificate(ctx, name)
	return err
}

// onEvent hands certificates that magic obtained, renewed or loaded from
// storage to the site's cache.
func (d *dnsCerts) onEvent(ctx context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		certPath, _ := data["certificate_path"].(string)
		keyPath, _ := data["private_key_path"].(string)
		name, _ := data["identifier"].(string)
		d.serveCert(ctx, name, certPath, keyPath)
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		for _, name := range sans {
			key := d.iss.IssuerKey()
			d.serveCert(ctx, name, certmagic.StorageKeys.SiteCert(key, name), certmagic.StorageKeys.SitePrivateKey(key, name))
		}
	}
	return nil
}

// serveCert loads a certificate from storage into the site's cache.
func (d *dnsCerts) serveCert(ctx context.Context, name, certPath, keyPath string) {
	if certPath == "" || keyPath == "" {
		return
	}
	certPEM, err := d.magic.Storage.Load(ctx, certPath)
	if err == nil {
		var keyPEM []byte
		if keyPEM, err = d.magic.Storage.Load(ctx, keyPath); err == nil {
			// Not CacheUnmanagedCertificatePEMBytesAsReplacement: in
			// certmagic v0.25.6 it read-locks the cache it holds locked
			// and hangs every handshake. A renewed certificate joins the
			// one it renews, which is served until it expires.
			_, err = d.serve.CacheUnmanagedCertificatePEMBytes(ctx, certPEM, keyPEM, nil)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		d.logger.Error("serving a certificate obtained with dns-01", zap.String("name", name), zap.Error(err))
	}
}

// credentialChanged makes the issuers of every config read DNS
// credentials again at their next attempt and retry names that have no
// certificate yet.
func (a *App) credentialChanged() {
	a.dnsEpoch.Add(1)
	a.wakeDNS()
}

// wakeDNS asks the background certificate management to look at the
// routes again; it never blocks.
func (a *App) wakeDNS() {
	select {
	case a.dnsWake <- struct{}{}:
	default:
	}
}

// checkDNS is the router's check of a route with challenge dns: it
// names a stored credential, or the proxyos issuer has a provider.
func (a *App) checkDNS(ctx context.Context, credential string) error {
	iss := a.issuer.Load()
	if credential == "" {
		if iss == nil || iss.DNSProvider() == "" {
			return fail.Field("challenge", "dns needs a DNS provider: name a stored credential in dns_credential, "+
				"or configure one in the proxyos issuer (issuer proxyos { dns <provider> … })")
		}
		return nil
	}
	ok, err := a.dns.Exists(ctx, credential)
	if err != nil {
		return err
	}
	if !ok {
		return fail.Field("dns_credential", "%q is not a stored DNS credential", credential)
	}
	if iss == nil {
		return fail.Field("challenge", "dns needs the proxyos issuer in the site that serves the routes (tls { issuer proxyos })")
	}
	return nil
}

// dnsCredentialUsers returns the routes (by name, or id when unnamed)
// whose dns_credential is name.
func (a *App) dnsCredentialUsers(ctx context.Context, name string) ([]string, error) {
	routes, err := a.routes.Routes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range routes {
		if r.DNSCredential == name {
			label := r.Name
			if label == "" {
				label = r.ID
			}
			out = append(out, label)
		}
	}
	return out, nil
}

// dnsDefault returns the provider of the proxyos issuer's own DNS
// config, or "".
func (a *App) dnsDefault() string {
	if iss := a.issuer.Load(); iss != nil {
		return iss.DNSProvider()
	}
	return ""
}
