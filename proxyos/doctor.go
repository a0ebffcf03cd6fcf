package proxyos

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"

	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Doctor runs the server-side checks of the doctor (internal/doctor)
// over the facts of this config: GET /proxyos/doctor on the admin API,
// GET /api/doctor for the dashboard's admins, and `caddy proxyos doctor`.
func (a *App) Doctor(ctx context.Context) doctor.Report {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f := &doctor.Facts{Now: a.now(), URL: a.canonical, Secret: a.secretInfo, Admin: a.adminFacts()}
	if file := f.Secret.File; file != nil {
		f.Secret.File = secretFile(file.Path) // as it is now
	}
	a.resolveURL(ctx, f)
	f.Keys = a.keyFacts()
	f.Database = a.databaseFacts(ctx)
	f.Sites = sitesOf(a.httpApp())
	f.OnDemand, f.Permission = a.onDemand(), a.permission.Load()
	f.Routes = a.routeFacts(ctx)
	f.CertAttempts = a.state.certs.All()
	f.Certificates = a.certificateFacts(ctx, f)
	return doctor.Run(f)
}

// describeSecret says where the secret comes from (raw is the config's
// value, before placeholders) and how strong it is, never what it is.
func describeSecret(raw, secret string, previous int) doctor.Secret {
	s := doctor.Secret{Length: len(secret), Classes: doctor.SecretClasses(secret), Previous: previous}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		s.Source = "generated"
		s.File = secretFile(filepath.Join(caddy.AppDataDir(), "proxyos", "secret"))
	case strings.HasPrefix(raw, "{file.") && strings.HasSuffix(raw, "}") && strings.Count(raw, "{") == 1:
		s.Source = "file"
		s.File = secretFile(raw[len("{file.") : len(raw)-1])
	case strings.HasPrefix(raw, "{env.") && strings.HasSuffix(raw, "}") && strings.Count(raw, "{") == 1:
		s.Source = "env"
	case strings.Contains(raw, "{"):
		s.Source = "env" // some other placeholder: not written in the config
	default:
		s.Source = "config"
	}
	return s
}

// secretFile describes the file at path.
func secretFile(path string) *doctor.File {
	f := &doctor.File{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		f.Err = err.Error()
		return f
	}
	f.Mode, f.ModTime = fi.Mode(), fi.ModTime()
	return f
}

// resolveURL looks up the host of url and this machine's addresses.
func (a *App) resolveURL(ctx context.Context, f *doctor.Facts) {
	if a.canonical == nil {
		return
	}
	host := a.canonical.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		f.URLAddrs = []netip.Addr{ip.Unmap()}
	} else if ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		f.URLResolveErr = err.Error()
	} else {
		for _, ip := range ips {
			f.URLAddrs = append(f.URLAddrs, ip.Unmap())
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil {
			f.LocalAddrs = append(f.LocalAddrs, p.Addr().Unmap())
		}
	}
}

// keyFacts describes the key ring and the cookies it refused.
func (a *App) keyFacts() doctor.Keys {
	k := doctor.Keys{Current: a.keys.CurrentID(), IDs: a.keys.IDs()}
	for _, u := range a.state.sessions.UnknownKeys() {
		k.Unknown = append(k.Unknown, doctor.UnknownKey{ID: u.ID, Refusals: u.Refusals, First: u.First, Last: u.Last})
	}
	if c := a.state.keyChange.Load(); c != nil && c.from != k.Current {
		k.ChangedAt, k.ChangedFrom = c.at, c.from
	}
	return k
}

// databaseFacts checks the database: it answers, its schema, its clock.
func (a *App) databaseFacts(ctx context.Context) doctor.Database {
	st := a.state.store
	d := doctor.Database{Driver: st.Driver()}
	_, dsn, _ := strings.Cut(a.poolKey, "|")
	if err := st.Ping(ctx); err != nil {
		d.Err = store.RedactError(err, dsn)
		return d
	}
	var err error
	if d.Schema, err = st.SchemaVersion(ctx); err != nil {
		d.Err = store.RedactError(err, dsn)
		return d
	}
	d.Known, _ = st.KnownSchemaVersion()
	before := time.Now()
	dbNow, ok, err := st.Clock(ctx)
	if err != nil {
		d.Err = store.RedactError(err, dsn)
		return d
	}
	if ok {
		after := time.Now()
		d.Skew, d.SkewKnown = dbNow.Sub(before.Add(after.Sub(before)/2)), true
	}
	return d
}

// adminFacts reads the admin endpoint's address from the config.
func (a *App) adminFacts() doctor.Admin {
	local, _, disabled, ok := adminListen(a.ctx)
	if !ok || local == "" {
		local = caddy.DefaultAdminListen
	}
	return doctor.Admin{Disabled: disabled, Listen: []string{local}}
}

// onDemand reports whether some TLS automation policy of this config
// gets certificates on demand.
func (a *App) onDemand() bool {
	v, err := a.ctx.AppIfConfigured("tls")
	if err != nil {
		return false
	}
	t, _ := v.(*caddytls.TLS)
	if t == nil || t.Automation == nil {
		return false
	}
	for _, ap := range t.Automation.Policies {
		if ap.OnDemand {
			return true
		}
	}
	return false
}

// routeFacts lists the managed routes.
func (a *App) routeFacts(ctx context.Context) []doctor.Route {
	rs, err := a.routes.Routes(ctx)
	if err != nil {
		return nil // the database finding says why
	}
	out := make([]doctor.Route, len(rs))
	for i, r := range rs {
		out[i] = doctor.Route{ID: r.ID, Name: r.Name, Hosts: r.Hosts, Enabled: r.Enabled, Gated: r.HasGate(), TLS: r.TLS}
		if !r.Enabled || r.TLS == route.TLSOff || a.state.streams == nil {
			continue
		}
		for _, h := range r.Hosts {
			if name := a.state.streams.sharedHost(h); name != "" {
				if out[i].Streams == nil {
					out[i].Streams = map[string]string{}
				}
				out[i].Streams[h] = name
			}
		}
	}
	return out
}

// sitesOf describes what h's servers serve: each top-level route of a
// server (a site of the Caddyfile), by scheme.
func sitesOf(h *caddyhttp.App) []doctor.Site {
	if h == nil {
		return nil
	}
	httpPort := h.HTTPPort
	if httpPort == 0 {
		httpPort = caddyhttp.DefaultHTTPPort
	}
	var out []doctor.Site
	for name, srv := range h.Servers {
		ports := serverPorts(srv, httpPort)
		for _, rt := range srv.Routes {
			hosts := routeHosts(rt)
			dash, routes := handlersOf(rt.Handlers, 0)
			for scheme, rs := range map[string][]portRange{"http": ports.http, "https": ports.https} {
				if len(rs) == 0 {
					continue
				}
				s := doctor.Site{Server: name, Scheme: scheme, Hosts: hosts, Dashboard: dash, Routes: routes}
				for _, r := range rs {
					s.Ports = append(s.Ports, doctor.PortRange{First: r.first, Last: r.last})
				}
				out = append(out, s)
			}
		}
	}
	return out
}

// routeHosts returns the hosts a route matches, none for any host: the
// union of its matcher sets' host matchers, unless a set has none.
func routeHosts(rt caddyhttp.Route) []string {
	var hosts []string
	for _, set := range rt.MatcherSets {
		found := false
		for _, m := range set {
			switch mh := m.(type) {
			case *caddyhttp.MatchHost:
				hosts, found = append(hosts, *mh...), true
			case caddyhttp.MatchHost:
				hosts, found = append(hosts, mh...), true
			}
		}
		if !found {
			return nil
		}
	}
	return hosts
}

// handlersOf reports whether handlers, or the subroutes among them,
// hold proxyos_dashboard and proxyos_routes.
func handlersOf(handlers []caddyhttp.MiddlewareHandler, depth int) (dash, routes bool) {
	for _, h := range handlers {
		switch h := h.(type) {
		case *Dashboard:
			dash = true
		case *RoutesHandler:
			routes = true
		case *caddyhttp.Subroute:
			if depth < 8 {
				for _, rt := range h.Routes {
					d, r := handlersOf(rt.Handlers, depth+1)
					dash, routes = dash || d, routes || r
				}
			}
		}
	}
	return dash, routes
}

// maxStoredCerts bounds the certificates the doctor reads from storage.
const maxStoredCerts = 2000

// certificateFacts lists the certificates this Caddy serves: first
// those of the certificates page (App.Certificates, the routes', and
// every uploaded one), then those in Caddy's storage for the sites' own
// names, each once.
func (a *App) certificateFacts(ctx context.Context, f *doctor.Facts) []doctor.Certificate {
	seen := make(map[string]bool)
	var out []doctor.Certificate
	add := func(info certs.Info, issuer string, custom bool) {
		if seen[info.Fingerprint] {
			return
		}
		seen[info.Fingerprint] = true
		out = append(out, doctor.Certificate{Names: info.Names, Issuer: issuer, NotBefore: info.NotBefore, NotAfter: info.NotAfter, Custom: custom})
	}
	if served, err := a.Certificates(ctx); err == nil {
		for _, e := range served {
			if e.Certificate != nil {
				add(*e.Certificate, e.Issuer, e.Managed == certs.ManagedCustom)
			}
		}
	}
	if uploaded, err := a.routes.CustomCertificates(ctx); err == nil {
		for _, c := range uploaded {
			add(c.Info, certs.IssuerCustom, true)
		}
	}
	for _, c := range a.storedCertificates(ctx, siteNames(f)) {
		add(certs.Describe(c.leaf), c.issuer, false)
	}
	return out
}

// storedCert is a certificate in Caddy's storage, with its issuer's key.
type storedCert struct {
	leaf   *x509.Certificate
	issuer string
}

// storedCertificates reads the certificates in Caddy's storage for
// names.
func (a *App) storedCertificates(ctx context.Context, names []string) []storedCert {
	if len(names) == 0 {
		return nil
	}
	stor := a.ctx.Storage()
	keys, err := stor.List(ctx, "certificates", true)
	if err != nil {
		return nil
	}
	var out []storedCert
	for i, key := range keys {
		if i >= maxStoredCerts || !strings.HasSuffix(key, ".crt") {
			continue
		}
		raw, err := stor.Load(ctx, key)
		if err != nil {
			continue
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !servesAny(cert.DNSNames, names) {
			continue
		}
		issuer := strings.Split(strings.TrimPrefix(key, "certificates/"), "/")[0]
		out = append(out, storedCert{leaf: cert, issuer: issuer})
	}
	return out
}

// siteNames are the names this Caddy's sites serve with TLS (the
// routes' are the certificates page's).
func siteNames(f *doctor.Facts) []string {
	var names []string
	if f.URL != nil && f.URL.Scheme == "https" {
		names = append(names, f.URL.Hostname())
	}
	for _, s := range f.Sites {
		if s.Scheme == "https" {
			names = append(names, s.Hosts...)
		}
	}
	return names
}

// servesAny reports whether a certificate for certNames covers one of
// names.
func servesAny(certNames, names []string) bool {
	for _, c := range certNames {
		for _, n := range names {
			n = request.NormalizeHost(n)
			if strings.EqualFold(c, n) || certmagic.MatchWildcard(n, c) {
				return true
			}
		}
	}
	return false
}
