// Package proxyos is the Caddy glue of proxyos: the proxyos app, its HTTP
// handlers (proxyos_dashboard, proxyos_auth, proxyos_routes), its TLS
// modules (tls.permission.proxyos, tls.issuance.proxyos) and the
// transport of managed routes. The modules wire proxyos's plain-Go
// packages (internal/…) to Caddy; the logic lives there.
package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/cluster"
	"github.com/proxyos/caddy-proxyos/internal/dnsprov"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/errorpage"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/metrics"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/internal/ops"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the session lifetimes.
const (
	DefaultSessionTTL  = 168 * time.Hour
	DefaultSessionIdle = 24 * time.Hour
)

// App is the proxyos app. It owns the database, the secret key ring, the
// accounts and the sessions that the proxyos_dashboard and proxyos_auth
// handlers use, and the managed routes that proxyos_routes serves. Its
// state survives config reloads: two configs pointing at the same
// database share one connection and one session cache.
//
// With no configuration at all it keeps an SQLite database and a
// generated secret in Caddy's data directory, so it runs with nothing else
// installed.
type App struct {
	// Secret from which the session, encryption and API-key hashing keys
	// are derived, at least 16 characters. Use a placeholder such as
	// {env.PROXYOS_SECRET} or {file./path} to keep it out of the config.
	// Default: 32 random bytes generated on first run and kept in
	// <caddy data dir>/proxyos/secret. Required with PostgreSQL, because
	// every node must share it.
	Secret string `json:"secret,omitempty"`

	// PreviousSecrets are accepted for verification only. After rotating
	// the secret, list the old one here and nobody is logged out; remove
	// it later and its sessions end with reason unknown_key.
	PreviousSecrets []string `json:"previous_secrets,omitempty"`

	// Database to keep state in. Default: SQLite at
	// <caddy data dir>/proxyos/proxyos.db.
	Database *Database `json:"database,omitempty"`

	// URL is the canonical address of the dashboard, such as
	// https://proxy.example.com. When set, page requests reaching the
	// dashboard under another host or scheme are redirected to it before
	// login (so the cookie lands where it is used), proxyos_auth sends
	// browsers there to log in, and the login page links to it.
	URL string `json:"url,omitempty"`

	// SessionTTL is the absolute lifetime of a session. Default: 168h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// SessionIdle ends a session unused for this long; such sessions also
	// leave the in-memory session cache. Default: 24h.
	SessionIdle caddy.Duration `json:"session_idle,omitempty"`

	// CookieDomain shares the session cookie with every subdomain of this
	// domain (for proxyos_auth on app.example.com with the dashboard on
	// proxy.example.com). Every subdomain can then also set the shared
	// cookie: share it only among sites you trust. Default: a host-only
	// cookie, sent back only to the dashboard's own host, named
	// __Host-proxyos_session on HTTPS so that no other host can plant
	// one.
	CookieDomain string `json:"cookie_domain,omitempty"`

	// AuditRetention is how long audit log entries are kept; older ones
	// are deleted in the background about once an hour. Default: 90 days
	// (2160h).
	AuditRetention caddy.Duration `json:"audit_retention,omitempty"`

	// UpstreamNetworks widens or narrows the networks that the upstreams
	// of managed routes may reach. Whatever it says, no route reaches
	// Caddy's admin endpoint. Default: anything but link-local and cloud
	// metadata addresses and this Caddy's own listeners.
	UpstreamNetworks *UpstreamNetworks `json:"upstream_networks,omitempty"`

	// UpstreamResolvers are DNS servers (host or host:port) that resolve
	// the names of upstreams, for a network whose names only its own
	// DNS knows. The hosts file still applies. Default: the system's
	// resolver.
	UpstreamResolvers []string `json:"upstream_resolvers,omitempty"`

	// StreamPorts are the ports ("5432", "10000-10100") on which
	// operators may open the listeners of managed TCP/UDP streams; only
	// admins (and the admin API) open others, such as privileged ports
	// where a stream could stand in for a service of the host (22, 25,
	// 53). Caddy's own HTTP ports are never a stream's own listener.
	// Default: 1024-65535.
	StreamPorts []string `json:"stream_ports,omitempty"`

	// OnDemandLimit bounds the certificates that anyone can make the
	// server obtain on demand (with `permission proxyos`) by making up
	// names under a route's wildcard host: at most so many new names
	// per route per interval. A route's exact hosts are not limited (its
	// author chose them), and a name allowed before or whose certificate
	// is in Caddy's storage is never counted again, so restarts and
	// renewals are not refused. Handshakes for names past the limit fail
	// until the interval ends; the first refusal of each interval is
	// logged as a warning with the route id, the refusals since the
	// previous such line and when the route may get new names again.
	// Each node counts for itself. Default: 20 names per 1h, room for a
	// burst of new subdomains, while a client making up names gets at
	// most 480 certificates a day per route. That bounds the server's
	// work and storage, but can still use up an ACME CA's quota for the
	// domain (Let's Encrypt: 50 certificates per registered domain per
	// week): where new names are rare, set less (such as 5 per 24h).
	OnDemandLimit *OnDemandLimit `json:"on_demand_limit,omitempty"`

	// NodeName names this node in the cluster view (GET
	// /proxyos/cluster and the dashboard's Nodes page) of several nodes
	// on one PostgreSQL database. Default: the host's name.
	NodeName string `json:"node_name,omitempty"`

	// OIDC lists the OpenID Connect providers users may log in with
	// ("Sign in with <name>" on the login page). Each provider must allow
	// the redirect URI <url>/api/auth/oidc/<name>/callback, so url is
	// required. Providers are discovered when a login starts, not at
	// start-up: one that is down does not stop Caddy. See oidc.Provider.
	OIDC []oidc.Provider `json:"oidc,omitempty"`

	// PasswordLogin false hides the password form and refuses logins
	// with a password, leaving only the OIDC providers. Default: true.
	PasswordLogin *bool `json:"password_login,omitempty"`

	// ErrorPages are the default error pages of every managed route, by
	// status: "404", "502" (upstream down), "503" (no healthy upstream)
	// or "504" (upstream timeout). A route's own error_pages override
	// them status by status; the placeholders are the route's (see
	// route.ErrorPages). Default: none, so errors go on to the site's
	// handle_errors.
	ErrorPages map[string]*ErrorPage `json:"error_pages,omitempty"`

	keys      *keyring.Keyring
	state     *state
	accounts  *account.Service
	routes    *router.Service
	streams   *stream.Service
	ops       *ops.Service
	upstreams *upstream.Guard
	ports     *atomic.Pointer[listenPorts] // see handoffPorts
	ctx       caddy.Context
	poolKey   string
	canonical *url.URL
	logger    *zap.Logger
	now       func() time.Time // a test may set it before Provision

	oidc          *oidc.Service
	oidcProviders []oidc.Provider // OIDC with placeholders resolved

	// DNS-01: the stored credentials, the proxyos issuer of this config
	// (set when it is provisioned), the wake-up of its background
	// certificate management (see dnsCerts) and the count of credential
	// changes, which makes it retry names without a certificate.
	dns      *dnsprov.Service
	issuer   *atomic.Pointer[Issuer]
	dnsWake  chan struct{}
	dnsEpoch *atomic.Uint64

	errorPages map[string]string // ErrorPages' bodies, files read

	secretInfo doctor.Secret // what the doctor may say of the secret
	permission *atomic.Bool  // tls.permission.proxyos is in this config
}

// ErrorPage is one default error page: its HTML, inline or in a file
// read when the config loads (at most 256 KiB).
type ErrorPage struct {
	Body string `json:"body,omitempty"`
	File string `json:"file,omitempty"`
}

// readErrorPages reads the error pages' files.
func (a *App) readErrorPages() error {
	if len(a.ErrorPages) == 0 {
		return nil
	}
	a.errorPages = make(map[string]string, len(a.ErrorPages))
	for status, p := range a.ErrorPages {
		body := p.Body
		if p.File != "" {
			raw, err := os.ReadFile(p.File)
			if err != nil {
				return fmt.Errorf("error_pages: %s: %w", status, err)
			}
			body = string(raw)
		}
		if err := errorpage.Check(status, body); err != nil {
			return fmt.Errorf("error_pages: %s: %s: %w", status, p.File, err)
		}
		a.errorPages[status] = body
	}
	return nil
}

// Database selects the store.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string `json:"driver,omitempty"`

	// DSN is a file path for sqlite, or a PostgreSQL connection URL such
	// as postgres://proxyos@db/proxyos. Placeholders are replaced; the
	// password never appears in logs or errors.
	DSN string `json:"dsn,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "proxyos",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision checks the configuration, then (and only then: a config that
// is refused writes and opens nothing) derives the key ring, opens or
// joins the database and loads the routes.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.ctx = ctx
	a.ports = new(atomic.Pointer[listenPorts])
	a.issuer, a.dnsEpoch = new(atomic.Pointer[Issuer]), new(atomic.Uint64)
	a.permission = new(atomic.Bool)
	if a.now == nil {
		a.now = time.Now
	}
	repl := caddy.NewReplacer()
	if a.SessionTTL == 0 {
		a.SessionTTL = caddy.Duration(DefaultSessionTTL)
	}
	if a.SessionIdle == 0 {
		a.SessionIdle = caddy.Duration(DefaultSessionIdle)
	}
	if a.AuditRetention == 0 {
		a.AuditRetention = caddy.Duration(audit.DefaultRetention)
	}
	if a.URL != "" {
		u, err := parseCanonicalURL(repl.ReplaceKnown(a.URL, ""))
		if err != nil {
			return err
		}
		a.canonical = u
	}
	a.CookieDomain = strings.TrimPrefix(strings.ToLower(a.CookieDomain), ".")
	if a.NodeName = strings.TrimSpace(repl.ReplaceKnown(a.NodeName, "")); a.NodeName == "" {
		a.NodeName = cluster.NodeName()
	}
	a.OnDemandLimit = a.OnDemandLimit.withDefaults()
	if err := a.resolveOIDC(repl); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if err := a.provisionUpstreams(ctx); err != nil {
		return err
	}
	if err := a.readErrorPages(); err != nil {
		return err
	}
	driver, dsn := store.SQLite, filepath.Join(caddy.AppDataDir(), "proxyos", "proxyos.db")
	if a.Database != nil {
		driver, dsn = a.Database.Driver, repl.ReplaceKnown(a.Database.DSN, "")
		if driver == "" {
			driver = store.SQLite
		}
	}
	// What is left does I/O: the secret file, the database.
	if err := a.provisionKeyring(repl, driver); err != nil {
		return err
	}
	a.poolKey = driver + "|" + dsn
	val, _, err := pool.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return newState(a, driver, dsn)
	})
	if err != nil {
		return err
	}
	a.state = val.(*state)
	a.state.follow(a)

	a.accounts = &account.Service{
		Store: a.state.store, Keys: a.keys, Sessions: a.state.sessions, Audit: a.state.audit,
		Limits: a.state.limits, Setup: a.state.setup,
		Passkeys:   passkey.New(a.state.store, a.keys, a.canonical, a.now, a.state.log),
		SessionTTL: time.Duration(a.SessionTTL), SessionIdle: time.Duration(a.SessionIdle),
		Now: a.now, Logger: a.state.log,
	}
	a.provisionOIDC()
	a.routes = &router.Service{
		Table: router.NewTable(ctx, a.logger, a.upstreams), Store: a.state.store, Keys: a.keys,
		Audit: a.state.audit, Upstreams: a.upstreams, CertLimits: a.state.certLimits,
		Tokens: a.state.tokens, Custom: &a.state.custom, LoginPage: a.canonical != nil, DNS: a.checkDNS, Certs: &a.state.certs,
		StreamHost: a.state.streams.sharedHost, Names: &a.state.names, Now: a.now, Logger: a.logger,
	}
	a.routes.Table.SetErrorPages(a.errorPages)
	a.dnsWake = make(chan struct{}, 1)
	a.routes.Table.Changed = a.wakeDNS
	a.dns = &dnsprov.Service{
		Store: a.state.store, Keys: a.keys, Audit: a.state.audit, UsedBy: a.dnsCredentialUsers,
		Changed: a.state.credentialChanged, Now: a.now, Logger: a.state.log,
	}
	a.state.addApp(a)
	a.routes.Table.Metrics = a.state.metrics
	ports, err := parseStreamPorts(a.StreamPorts)
	if err != nil {
		return err
	}
	a.streams = &stream.Service{
		Store: a.state.store, Audit: a.state.audit, Upstreams: a.upstreams, Live: a.state.streams,
		Ports: ports, RouteHost: a.httpsRouteHost, Names: &a.state.names, Now: a.now, Logger: a.logger,
	}
	a.ops = &ops.Service{Store: a.state.store, Audit: a.state.audit}
	if err := a.state.metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if a.state.feed == nil {
		// No feed follows the node's own changes to its other configs.
		a.routes.Saved = a.state.routeSaved(a.routes)
	}
	// Added before loading: a route another node changes meanwhile is
	// reloaded in this config too.
	a.state.addRoutes(a.routes)
	loadCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := a.routes.LoadCertificates(loadCtx); err != nil {
		return fmt.Errorf("loading custom certificates: %w", err)
	}
	return a.routes.Load(loadCtx)
}

// provisionKeyring resolves the secrets and derives the key ring.
func (a *App) provisionKeyring(repl *caddy.Replacer, driver string) error {
	secret := a.Secret
	if secret != "" {
		secret = repl.ReplaceKnown(secret, "")
		if secret == "" {
			return errors.New("secret: resolves to an empty value (is its environment variable set?)")
		}
	} else {
		if driver == store.Postgres {
			return errors.New("secret: required with database postgres, so that every node shares it")
		}
		var err error
		if secret, err = keyring.LoadOrCreateSecret(filepath.Join(caddy.AppDataDir(), "proxyos", "secret")); err != nil {
			return err
		}
	}
	var previous []string
	for _, p := range a.PreviousSecrets {
		if p = repl.ReplaceKnown(p, ""); p != "" {
			previous = append(previous, p)
		}
	}
	k, err := keyring.New(secret, previous)
	if err != nil {
		return err
	}
	a.keys = k
	a.secretInfo = describeSecret(a.Secret, secret, len(previous))
	return nil
}

// Validate checks the configuration, without I/O. Provision calls it
// before it opens anything; Caddy calls it again afterwards.
func (a *App) Validate() error {
	if a.Database != nil {
		switch a.Database.Driver {
		case "", store.SQLite, store.Postgres:
		default:
			return fmt.Errorf("database: unknown driver %q (want sqlite or postgres)", a.Database.Driver)
		}
		if a.Database.DSN == "" {
			return errors.New("database: missing path or connection URL")
		}
	}
	if a.Secret == "" && a.Database != nil && a.Database.Driver == store.Postgres {
		return errors.New("secret: required with database postgres, so that every node shares it")
	}
	if a.SessionTTL < 0 || a.SessionIdle < 0 {
		return errors.New("session_ttl, session_idle: must not be negative")
	}
	if a.AuditRetention < 0 {
		return errors.New("audit_retention: must not be negative")
	}
	if err := a.OnDemandLimit.validate(); err != nil {
		return err
	}
	if _, _, err := a.UpstreamNetworks.parse(); err != nil {
		return err
	}
	if strings.ContainsAny(a.CookieDomain, " ;,/:") {
		return fmt.Errorf("cookie_domain: %q is not a domain name", a.CookieDomain)
	}
	providers := a.OIDC
	if a.oidcProviders != nil {
		providers = a.oidcProviders // placeholders resolved
	}
	if err := oidc.Validate(providers); err != nil {
		return err
	}
	if len(a.OIDC) > 0 && a.URL == "" {
		return errors.New("url: required with oidc, the callback URL of providers is derived from it")
	}
	for status, p := range a.ErrorPages {
		if p == nil || (p.Body == "") == (p.File == "") {
			return fmt.Errorf("error_pages: %s: give body or file, not both", status)
		}
		if err := errorpage.Check(status, "-"); err != nil {
			return fmt.Errorf("error_pages: %w", err)
		}
	}
	if a.PasswordLogin != nil && !*a.PasswordLogin && len(a.OIDC) == 0 {
		return errors.New("password_login: off needs at least one oidc provider, else nobody can log in")
	}
	if a.canonical != nil && a.CookieDomain != "" && !request.HostWithin(a.canonical.Hostname(), a.CookieDomain) {
		return fmt.Errorf("cookie_domain: %q does not contain the dashboard host %q", a.CookieDomain, a.canonical.Hostname())
	}
	return nil
}

// Start learns this Caddy's listeners (see watchListeners), re-seals
// stored secrets made with a previous key, and logs where the dashboard
// is and, on a fresh instance, the one-time setup code.
func (a *App) Start() error {
	if err := a.state.streams.follow(a); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.streams.Load(ctx); err != nil {
		return fmt.Errorf("loading streams: %w", err)
	}
	a.watchListeners()
	a.state.metrics.SetView(a.metricsView)
	fields := []zap.Field{zap.String("database", a.state.store.Driver()), zap.String("key_id", a.keys.CurrentID())}
	if a.canonical != nil {
		fields = append(fields, zap.String("dashboard", a.canonical.String()))
	}
	a.logger.Info("proxyos started", fields...)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.accounts.Reseal(ctx)
	a.routes.Reseal(ctx)
	a.dns.Reseal(ctx)
	if code, err := a.accounts.SetupCode(ctx); err != nil {
		a.logger.Error("checking for users", zap.Error(err))
	} else if code != "" {
		a.logger.Warn("proxyos has no users yet: open the dashboard and create the first admin with this one-time setup code",
			zap.String("setup_code", code))
	}
	return nil
}

// Stop does nothing: background work belongs to the shared state, which
// outlives reloads.
func (a *App) Stop() error { return nil }

// metricsView is what the metrics' gauges read of this config: its live
// routes and, in cluster mode, the node's place in the change log.
func (a *App) metricsView() metrics.View {
	v := metrics.View{Routes: a.routes.Table.Counts(), Certificates: a.certificateExpiries()}
	if f := a.state.feed; f != nil {
		applied := f.Last()
		v.Cluster = &metrics.Cluster{Head: max(a.state.head.Load(), applied), Applied: applied, Down: f.Down()}
	}
	return v
}

// certExpiriesEvery is how often the metrics read the certificates
// again: listing them reads storage once per name.
const certExpiriesEvery = 5 * time.Minute

// certificateExpiries returns the certificates in use with their expiry,
// as listed at most certExpiriesEvery ago.
func (a *App) certificateExpiries() []metrics.Certificate {
	c := &a.state.certExpiries
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := a.now(); c.at.IsZero() || now.Sub(c.at) >= certExpiriesEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		entries, err := a.Certificates(ctx)
		if err != nil {
			a.state.metrics.StoreError()
			return c.list
		}
		list := make([]metrics.Certificate, 0, len(entries)) // the last list may still be read
		for _, e := range entries {
			if e.Certificate != nil {
				list = append(list, metrics.Certificate{Name: e.Name, NotAfter: e.Certificate.NotAfter})
			}
		}
		c.at, c.list = now, list
	}
	return c.list
}

// Cleanup stops this config's routes and releases its reference to the
// shared state.
func (a *App) Cleanup() error {
	if a.routes != nil {
		if a.state != nil {
			a.state.removeRoutes(a.routes)
			a.state.removeApp(a)
		}
		a.routes.Table.Stop()
	}
	if a.poolKey == "" {
		return nil
	}
	_, err := pool.Delete(a.poolKey)
	return err
}

// Accounts returns the account service, for the admin API.
func (a *App) Accounts() *account.Service { return a.accounts }

// Ops returns the operations service of this config (backups).
func (a *App) Ops() *ops.Service { return a.ops }

// Streams returns the stream service, for the admin API.
func (a *App) Streams() *stream.Service { return a.streams }

// Routes returns the route service, for the admin API.
func (a *App) Routes() *router.Service { return a.routes }

// Cluster returns the nodes on this app's database as this node sees
// them.
func (a *App) Cluster(ctx context.Context) (cluster.View, error) {
	return cluster.Status(ctx, a.state.store, a.state.node.ID, a.now())
}

// SetupCode returns the one-time setup code while no user exists, or ""
// once one does.
func (a *App) SetupCode(ctx context.Context) (string, error) { return a.accounts.SetupCode(ctx) }

// OverviewSources returns what the overview reads, for the admin API
// (the host's: the doctor's findings included).
func (a *App) OverviewSources() api.OverviewSources {
	return api.OverviewSources{Routes: a.routes, Store: a.state.store, Certificates: a, Doctor: a.Doctor}
}

// Traffic returns this node's traffic sampler and request logs, and
// whether it is in cluster mode (other nodes keep logs of their own),
// for the admin API.
func (a *App) Traffic() (*traffic.Sampler, *traffic.Logs, bool) {
	return a.state.traffic, &a.state.requests, a.state.store.Driver() == "postgres"
}

// newAPI returns the dashboard API of this config.
func (a *App) newAPI(logger *zap.Logger) *api.Server {
	s := &api.Server{
		Accounts: a.accounts, Routes: a.routes, Sessions: a.state.sessions, Store: a.state.store, Keys: a.keys,
		Canonical: a.canonical, CookieDomain: a.CookieDomain, SessionIdle: time.Duration(a.SessionIdle),
		Serves: a.serves, Cluster: a.Cluster, Certificates: a, Doctor: a.Doctor, Logger: logger, Now: a.now,
		OIDC: a.oidc, PasswordLoginOff: a.PasswordLogin != nil && !*a.PasswordLogin,
		Metrics: a.state.metrics,
		DNS:     a.dns, DNSDefault: a.dnsDefault,
		Streams: a.streams,
		Traffic: a.state.traffic, Requests: &a.state.requests,
	}
	s.Build()
	return s
}

// resolveOIDC resolves the placeholders of the OIDC providers (the
// client secret is typically {env.…}), without I/O.
func (a *App) resolveOIDC(repl *caddy.Replacer) error {
	a.oidcProviders = make([]oidc.Provider, len(a.OIDC))
	for i, p := range a.OIDC {
		p.Issuer, p.ClientID = repl.ReplaceKnown(p.Issuer, ""), repl.ReplaceKnown(p.ClientID, "")
		secret := p.ClientSecret
		p.ClientSecret = repl.ReplaceKnown(secret, "")
		switch {
		case p.ClientID == "" && a.OIDC[i].ClientID != "":
			return fmt.Errorf("oidc %q: client_id: resolves to an empty value (is its environment variable set?)", p.Name)
		case secret != "" && p.ClientSecret == "":
			return fmt.Errorf("oidc %q: client_secret: resolves to an empty value (is its environment variable set?)", p.Name)
		}
		a.oidcProviders[i] = p
	}
	return nil
}

// provisionOIDC makes the login service of the OIDC providers. Nothing
// is fetched from the providers here. Its connections are checked like
// upstreams' (upstream.Guard.CheckService): a provider's discovery
// document cannot point the code exchange at Caddy's admin endpoint or a
// metadata address.
func (a *App) provisionOIDC() {
	if len(a.oidcProviders) == 0 {
		return
	}
	a.oidc = oidc.New(a.oidcProviders, a.canonical, a.upstreams.ServiceClient(10*time.Second), oidc.Service{
		Store: a.state.store, Keys: a.keys, Sessions: a.state.sessions, Audit: a.state.audit,
		Now: a.now, Logger: a.state.log,
	})
}

func parseCanonicalURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url: %q must be an absolute http:// or https:// URL", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("url: %q must not have a path, query or fragment", s)
	}
	u.Path, u.Host = "", strings.ToLower(u.Host)
	return u, nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
