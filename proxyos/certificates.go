package proxyos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/stream"
)

// This file is the TLS side of the proxyos issuer: which certificate a
// handshake for a route's host gets, at once after the route's TLS mode
// changes, and what the certificates page shows and does.
//
// certmagic answers a handshake from its cache first, then from the
// config's certificate managers, then from storage, then by obtaining
// one. Caddy keeps that cache to itself, so a certificate cannot be taken
// out of it; instead the issuer's config gets a certificate selection
// (certSelector) that passes over cached certificates the name's route no
// longer asks for, and a manager (customManager) that serves custom
// certificates from memory (never cached, so a replaced or deleted one is
// gone at once) and drops a stored certificate of the route's previous
// mode, so that the next one is obtained from the issuer the route asks
// for now.

// serve makes cfg, the certmagic config of the issuer's automation
// policy, choose certificates by the routes (see above).
func (iss *Issuer) serve(cfg *certmagic.Config) {
	iss.magic.Store(cfg)
	cfg.CertSelection = certSelector{iss}
	if cfg.OnDemand != nil {
		// A new slice: Caddy's policy shares the one it holds.
		cfg.OnDemand.Managers = append(slices.Clip(cfg.OnDemand.Managers), customManager{iss})
	}
}

// serverName is the name a handshake asks for: its SNI, or the local
// address for clients that send none.
func serverName(hello *tls.ClientHelloInfo) string {
	if hello.ServerName != "" {
		return strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	}
	if hello.Conn != nil {
		if host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String()); err == nil {
			return host
		}
	}
	return ""
}

// certRoute returns what serves name with the issuer's certificates: the
// enabled route of name, or, for a served stream with tls terminate, a
// route of the stream's id, hosts and TLS mode (internal for issuer
// internal, else auto); nil for neither.
func (a *App) certRoute(name string) *route.Route {
	if lr := a.routes.Table.Lookup(name); lr != nil {
		return lr.Route
	}
	x := a.state.streams.terminating(request.NormalizeHost(name))
	if x == nil {
		return nil
	}
	mode := route.TLSAuto
	if x.Issuer == stream.IssuerInternal {
		mode = route.TLSInternal
	}
	return &route.Route{ID: x.ID, Hosts: x.Hosts, TLS: mode}
}

// errNoCertificate makes certmagic look past its cache.
var errNoCertificate = errors.New("no cached certificate for the route's tls mode")

// certSelector picks, of the cached certificates for a handshake's
// name, one that the name's route serves now: from the internal CA for
// tls internal, from an ACME CA for tls auto, none for tls custom and off.
// Of several, the one renewed by hand last (but for routes with
// challenge dns, whose renewals all reach the cache the same way), else
// the newest. A name of no enabled route gets none: a deleted route's
// certificates, which Caddy's cache keeps until they expire, are never
// served again.
type certSelector struct{ iss *Issuer }

// SelectCertificate implements certmagic.CertificateSelector.
func (s certSelector) SelectCertificate(hello *tls.ClientHelloInfo, choices []certmagic.Certificate) (certmagic.Certificate, error) {
	name := serverName(hello)
	r := s.iss.app.certRoute(name)
	if r == nil {
		return certmagic.Certificate{}, errNoCertificate
	}
	kept := make([]certmagic.Certificate, 0, 2)
	for _, c := range choices {
		if c.Leaf == nil || !certs.Covers(c.Names, name) {
			continue // certmagic offers every certificate when none matches
		}
		if !s.iss.servesMode(r.TLS, c.Leaf) {
			continue
		}
		kept = append(kept, c)
	}
	if len(kept) == 0 {
		return certmagic.Certificate{}, errNoCertificate
	}
	if len(kept) > 1 {
		if hash, ok := s.iss.renewed.Load(name); ok && r.Challenge != route.ChallengeDNS {
			for _, c := range kept {
				if c.Hash() == hash {
					return c, nil
				}
			}
		}
		slices.SortStableFunc(kept, newestFirst)
	}
	return certmagic.DefaultCertificateSelector(hello, kept)
}

// newestFirst orders certificates by their start of validity, then
// their end, latest first.
func newestFirst(a, b certmagic.Certificate) int {
	if c := b.Leaf.NotBefore.Compare(a.Leaf.NotBefore); c != 0 {
		return c
	}
	return b.Leaf.NotAfter.Compare(a.Leaf.NotAfter)
}

// servesMode reports whether a route of TLS mode serves leaf, a
// certificate the issuer obtained.
func (iss *Issuer) servesMode(mode string, leaf *x509.Certificate) bool {
	switch mode {
	case route.TLSInternal:
		return iss.internalIssued(leaf)
	case route.TLSAuto:
		return !iss.internalIssued(leaf)
	}
	return false
}

// internalIssued reports whether leaf was signed by the internal CA
// (its root or an intermediate of it, of any generation: they share the
// name).
func (iss *Issuer) internalIssued(leaf *x509.Certificate) bool {
	if iss.ca == nil {
		return false
	}
	if root := iss.ca.RootCertificate(); root != nil && bytes.Equal(leaf.RawIssuer, root.RawSubject) {
		return true
	}
	for _, c := range iss.ca.IntermediateCertificateChain() {
		if bytes.Equal(leaf.RawIssuer, c.RawSubject) {
			return true
		}
	}
	return false
}

// customManager is a certmagic.Manager consulted when no cached
// certificate was selected: a route with tls custom gets its uploaded
// certificate from memory; for a route with tls internal or auto, a
// stored certificate of the other issuer (the route's mode changed) is
// deleted, so that certmagic obtains a new one instead of loading it.
type customManager struct{ iss *Issuer }

// GetCertificate implements certmagic.Manager.
func (m customManager) GetCertificate(ctx context.Context, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := serverName(hello)
	r := m.iss.app.certRoute(name)
	if r == nil {
		return nil, nil
	}
	switch r.TLS {
	case route.TLSCustom:
		// nil when it is gone: the permission then refuses the name.
		return m.iss.app.state.custom.Get(r.Certificate), nil
	case route.TLSInternal, route.TLSAuto:
		m.iss.dropStale(ctx, name, r.TLS)
	}
	return nil, nil
}

// storage returns the storage of the issuer's certificates.
func (iss *Issuer) storage() certmagic.Storage {
	if cfg := iss.magic.Load(); cfg != nil && cfg.Storage != nil {
		return cfg.Storage
	}
	return iss.app.ctx.Storage()
}

// storedLeaf returns the leaf of the certificate stored for name, or nil.
func (iss *Issuer) storedLeaf(ctx context.Context, name string) *x509.Certificate {
	raw, err := iss.storage().Load(ctx, certmagic.StorageKeys.SiteCert(iss.IssuerKey(), name))
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return leaf
}

// dropStale deletes the stored certificate of name when a route of mode
// does not serve it.
func (iss *Issuer) dropStale(ctx context.Context, name, mode string) {
	leaf := iss.storedLeaf(ctx, name)
	if leaf == nil || iss.servesMode(mode, leaf) {
		return
	}
	st, key := iss.storage(), iss.IssuerKey()
	for _, k := range []string{certmagic.StorageKeys.SiteCert(key, name), certmagic.StorageKeys.SitePrivateKey(key, name),
		certmagic.StorageKeys.SiteMeta(key, name)} {
		if err := st.Delete(ctx, k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			iss.app.logger.Debug("deleting a stored certificate of a previous tls mode", zap.String("key", k), zap.Error(err))
		}
	}
	iss.app.logger.Info("stored certificate of the route's previous tls mode dropped; a new one is obtained",
		zap.String("name", name), zap.String("tls", mode))
}

// Certificates lists every name that the routes serve over TLS, with its
// certificate (stored, or uploaded), how it is managed and its latest
// issuance attempt on this node.
func (a *App) Certificates(ctx context.Context) ([]certs.Entry, error) {
	routes, err := a.routes.Routes(ctx)
	if err != nil {
		return nil, err
	}
	iss := a.issuer.Load()
	stored := a.storedNames(ctx, iss)
	now := a.now()
	var out []certs.Entry
	for _, r := range routes {
		if !r.Enabled || r.TLS == route.TLSOff {
			continue
		}
		for _, name := range namesOf(r, stored, a.state.certs.All()) {
			e := certs.Entry{Name: name, RouteID: r.ID, Mode: r.TLS, Managed: certs.ManagedOnDemand}
			if r.TLS == route.TLSAuto && r.Challenge == route.ChallengeDNS {
				e.Managed = certs.ManagedDNS
			}
			if r.TLS == route.TLSCustom {
				e.Managed, e.Issuer, e.CertificateID = certs.ManagedCustom, certs.IssuerCustom, r.Certificate
				if c := a.state.custom.Get(r.Certificate); c != nil && c.Leaf != nil {
					info := certs.Describe(c.Leaf)
					e.Certificate = &info
				}
			} else if iss != nil {
				if leaf := iss.storedLeaf(ctx, name); leaf != nil {
					info := certs.Describe(leaf)
					e.Certificate, e.Issuer = &info, certs.IssuerACME
					if iss.internalIssued(leaf) {
						e.Issuer = certs.IssuerInternal
					}
					e.Pending = !iss.servesMode(r.TLS, leaf)
				}
				if att, ok := a.state.certs.Get(name); ok {
					e.LastAttempt = &att
				}
			}
			e.Finish(now)
			out = append(out, e)
		}
	}
	return out, nil
}

// storedNames lists the names with a certificate of the issuer in
// storage.
func (a *App) storedNames(ctx context.Context, iss *Issuer) []string {
	if iss == nil {
		return nil
	}
	keys, err := iss.storage().List(ctx, path.Join("certificates", iss.IssuerKey()), false)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, strings.Replace(path.Base(k), "wildcard_", "*", 1))
	}
	return out
}

// namesOf returns the names a route serves: its exact hosts and, under
// its wildcard hosts, the names with a stored certificate or an attempt
// (with challenge dns, the wildcard host itself: one certificate serves
// every name under it).
func namesOf(r *route.Route, stored []string, attempts []certs.Attempt) []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, h := range r.Hosts {
		if !strings.HasPrefix(h, "*.") || r.TLS == route.TLSCustom || r.Challenge == route.ChallengeDNS {
			add(h)
			continue
		}
		for _, n := range stored {
			if certs.Covers([]string{h}, n) && !strings.HasPrefix(n, "*.") {
				add(n)
			}
		}
		for _, att := range attempts {
			if certs.Covers([]string{h}, att.Name) {
				add(att.Name)
			}
		}
	}
	return out
}

// renewTimeout bounds a renewal asked for by hand.
const renewTimeout = 2 * time.Minute

// RenewCertificate renews the managed certificate of name now, from the
// issuer its route asks for, and serves the new one at once on this
// node. A refusal of the CA is returned verbatim (and shown as the
// name's last attempt); the attempt is audited either way.
func (a *App) RenewCertificate(ctx context.Context, name string, actor audit.Actor) error {
	name = strings.ToLower(strings.TrimSpace(name))
	lr := a.routes.Table.Lookup(name)
	dns := lr != nil && lr.Route.TLS == route.TLSAuto && lr.Route.Challenge == route.ChallengeDNS
	if lr == nil || (strings.HasPrefix(name, "*.") && !dns) || (lr.Route.TLS != route.TLSAuto && lr.Route.TLS != route.TLSInternal) {
		return fail.Field("name", "%q is not a name of a route with tls auto or internal", name)
	}
	iss := a.issuer.Load()
	var cfg *certmagic.Config
	if iss != nil {
		cfg = iss.magic.Load()
	}
	if cfg == nil || (dns && iss.certs == nil) {
		return &fail.UnavailableError{Message: "certificates are renewed by the proxyos issuer, which this config does not use"}
	}
	ctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	var err error
	if dns {
		err = iss.certs.renew(ctx, name)
	} else {
		err = renewOnDemand(ctx, iss, cfg, name)
	}
	extra := map[string]any{"route_id": lr.Route.ID, "tls": lr.Route.TLS}
	if err != nil {
		extra["error"] = err.Error()
	}
	a.state.audit.Record(ctx, audit.Event{Actor: actor, Action: audit.CertificateRenew, Target: name, Extra: extra})
	if err != nil {
		a.logger.Warn("renewing a certificate on request failed", zap.String("name", name), zap.Error(err))
		return &fail.UpstreamError{Message: err.Error()}
	}
	a.logger.Info("certificate renewed on request", zap.String("name", name), zap.String("actor", actor.Name))
	return nil
}

// renewOnDemand renews the on-demand certificate of name with cfg, the
// site's config, and caches the new one there.
func renewOnDemand(ctx context.Context, iss *Issuer, cfg *certmagic.Config, name string) error {
	if err := cfg.RenewCertSync(ctx, name, true); err != nil {
		return err
	}
	c, err := cfg.CacheManagedCertificate(ctx, name)
	if err == nil {
		// The previous one stays cached (Caddy's cache is not ours to
		// change): the selection prefers this one.
		iss.renewed.Store(name, c.Hash())
	}
	return err
}

// RootCertificate returns the internal CA's root certificate (PEM), for
// clients to trust the certificates of routes with tls internal.
func (a *App) RootCertificate() ([]byte, error) {
	iss := a.issuer.Load()
	if iss == nil || iss.ca == nil || iss.ca.RootCertificate() == nil {
		return nil, fail.NotFound("this config has no internal CA (the proxyos issuer is not used)")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.ca.RootCertificate().Raw}), nil
}
