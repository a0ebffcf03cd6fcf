// Package route defines a managed route (hosts → upstreams, redirect or
// static page, with TLS mode and options), validates it, and compiles it
// into Caddy's own handler configuration.
package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/publicsuffix"

	"github.com/proxyos/caddy-proxyos/internal/access"
)

// minHealthCheckPeriod is the shortest health check interval and timeout
// accepted: shorter ones would only load the upstreams.
const minHealthCheckPeriod = 100 * time.Millisecond

// Kinds of route.
const (
	KindProxy    = "proxy"    // reverse proxy to upstreams
	KindRedirect = "redirect" // redirect to another URL
	KindStatic   = "static"   // fixed response, e.g. a maintenance page
)

// TLS modes.
const (
	TLSAuto     = "auto"     // certificate from Caddy's ACME issuers
	TLSInternal = "internal" // certificate from Caddy's internal CA
	TLSOff      = "off"      // plain HTTP only
	TLSCustom   = "custom"   // an uploaded certificate (see Route.Certificate)
)

// ChallengeDNS is the challenge of tls auto routes whose certificates
// are obtained with DNS-01, ahead of time (see Route.Challenge).
const ChallengeDNS = "dns"

// Load-balancing policies offered for several upstreams; each is a Caddy
// reverse_proxy selection policy.
var policies = map[string]bool{
	"random": true, "round_robin": true, "least_conn": true, "first": true,
	"ip_hash": true, "client_ip_hash": true, "uri_hash": true,
}

// MaxRequestLogSize bounds a route's request_log_size (as the request
// logs of internal/traffic do).
const MaxRequestLogSize = 1000

// Route is a managed route, as the API shows and accepts it.
type Route struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Enabled bool     `json:"enabled"`
	Hosts   []string `json:"hosts"`
	Kind    string   `json:"kind"`
	TLS     string   `json:"tls"`
	// Certificate is the id of the uploaded certificate that a route
	// with tls custom serves; its names must cover the route's hosts.
	Certificate string `json:"certificate,omitempty"`
	// Challenge "dns" obtains the route's certificates (for tls auto)
	// with ACME's DNS-01 challenge, in the background as soon as the
	// route is saved: one wildcard certificate for a *.example.com host,
	// which also serves every route under it. The server need not be
	// reachable from the internet. Default: HTTP-01 or TLS-ALPN-01, on
	// demand at the first handshake.
	Challenge string `json:"challenge,omitempty"`
	// DNSCredential names the stored DNS provider credential that sets
	// the challenge's TXT record. Default: the provider of the proxyos
	// issuer (issuer proxyos { dns <provider> … }).
	DNSCredential string `json:"dns_credential,omitempty"`

	Upstreams     []string       `json:"upstreams,omitempty"`
	UpstreamHost  string         `json:"upstream_host,omitempty"`
	LoadBalancing *LoadBalancing `json:"load_balancing,omitempty"`
	UpstreamTLS   *UpstreamTLS   `json:"upstream_tls,omitempty"`
	Redirect      *Redirect      `json:"redirect,omitempty"`
	Static        *Static        `json:"static,omitempty"`

	Headers     *Headers `json:"headers,omitempty"`
	HSTS        bool     `json:"hsts,omitempty"`
	ForceHTTPS  bool     `json:"force_https,omitempty"`
	Compress    bool     `json:"compress,omitempty"`
	StripPrefix string   `json:"strip_prefix,omitempty"`
	Access      *Access  `json:"access,omitempty"`
	Auth        *Auth    `json:"auth,omitempty"`
	// RateLimit bounds each client's requests (see RateLimit).
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// RequestLog keeps the route's last requests in memory on each node
	// (time, client IP, method, path without the query string, status,
	// duration, user), shown to operators and admins on the route's
	// page; never a query, header, cookie or body. RequestLogSize is
	// how many: default 100, at most 1000.
	RequestLog     bool `json:"request_log,omitempty"`
	RequestLogSize int  `json:"request_log_size,omitempty"`

	// Locations serve the paths of the route's hosts that match them
	// with settings of their own (see Location); the most specific
	// path wins, and the route's own settings serve every other path.
	Locations []Location `json:"locations,omitempty"`
	// ErrorPages replace the errors of the route (see ErrorPages), over
	// the app's error_pages.
	ErrorPages ErrorPages `json:"error_pages,omitempty"`
	// Maintenance, when on, answers every request of the route with its
	// maintenance page, keeping every other setting (see Maintenance).
	Maintenance *Maintenance `json:"maintenance,omitempty"`

	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LoadBalancing spreads requests over several upstreams.
type LoadBalancing struct {
	// Policy is random, round_robin, least_conn, first, ip_hash,
	// client_ip_hash or uri_hash. Default: random.
	Policy string `json:"policy,omitempty"`
	// HealthCheck, when set, probes every upstream and takes unhealthy
	// ones out of rotation.
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
}

// HealthCheck is an active health check.
type HealthCheck struct {
	Path     string `json:"path"`               // e.g. /healthz
	Interval string `json:"interval,omitempty"` // default 30s
	Timeout  string `json:"timeout,omitempty"`  // default 5s
}

// UpstreamTLS configures HTTPS to upstreams (https:// upstream URLs).
type UpstreamTLS struct {
	SkipVerify bool   `json:"skip_verify,omitempty"` // accept any certificate (insecure)
	ServerName string `json:"server_name,omitempty"` // SNI and verification name
}

// Redirect sends clients elsewhere.
type Redirect struct {
	To           string `json:"to"`
	Status       int    `json:"status,omitempty"` // 301, 302, 307 or 308; default 308
	PreservePath bool   `json:"preserve_path,omitempty"`
}

// Static answers with a fixed response.
type Static struct {
	Status      int    `json:"status,omitempty"` // default 200
	Body        string `json:"body,omitempty"`
	ContentType string `json:"content_type,omitempty"` // default text/html; charset=utf-8
}

// Headers edits request headers (to the upstream) and response headers.
type Headers struct {
	Request  *HeaderOps `json:"request,omitempty"`
	Response *HeaderOps `json:"response,omitempty"`
}

// HeaderOps sets and deletes header fields.
type HeaderOps struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// Access limits who may use the route by client IP (as Caddy computes it
// with trusted_proxies). Deny wins over allow; with an allow list, every
// other address is denied. Denied clients get 403.
type Access struct {
	Allow []string `json:"allow,omitempty"` // CIDRs or IPs
	Deny  []string `json:"deny,omitempty"`
}

// Auth puts the dashboard login (the proxyos_auth handler) in front of
// the route, with access rules evaluated before it.
type Auth struct {
	RequireLogin bool `json:"require_login"`
	// Roles, Emails and Groups admit users: a user whose role is in
	// Roles, whose email is in Emails or who is in one of Groups (the
	// groups of their latest sign-in with an OpenID provider, exact
	// names) passes; with none of them, any logged-in user. They need
	// require_login or a login rule.
	Roles  []string `json:"roles,omitempty"`
	Emails []string `json:"emails,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Rules are ordered access rules (see access.Rule), evaluated before
	// the login: the first that matches decides; a request none matches
	// needs a login with require_login and passes without.
	Rules []access.Rule `json:"rules,omitempty"`
}

// HasGate reports whether the route's handlers start with the
// proxyos_auth gate: it requires a login or has access rules.
func (r *Route) HasGate() bool {
	return r.Auth != nil && (r.Auth.RequireLogin || len(r.Auth.Rules) > 0)
}

// logs reports whether a login can happen on the route: it requires one
// or a rule asks for one.
func (a *Auth) logs() bool {
	if a.RequireLogin {
		return true
	}
	for _, r := range a.Rules {
		if r.Action == "login" {
			return true
		}
	}
	return false
}

// maxEmails bounds the emails a route admits, maxGroups its groups.
const (
	maxEmails   = 1000
	maxGroups   = 1000
	maxGroupLen = 256
)

// Error is a validation error naming the offending field.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func errf(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Normalize fills defaults and canonicalizes r in place (lower-case hosts,
// default TLS mode and statuses).
func (r *Route) Normalize() {
	for i, h := range r.Hosts {
		r.Hosts[i] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	}
	r.Name = strings.TrimSpace(r.Name)
	if r.TLS == "" {
		r.TLS = TLSAuto
	}
	if r.Kind == KindRedirect && r.Redirect != nil && r.Redirect.Status == 0 {
		r.Redirect.Status = 308
	}
	if r.Kind == KindStatic && r.Static != nil {
		if r.Static.Status == 0 {
			r.Static.Status = 200
		}
		if r.Static.ContentType == "" {
			r.Static.ContentType = "text/html; charset=utf-8"
		}
	}
	if r.Auth != nil {
		for i, e := range r.Auth.Emails {
			r.Auth.Emails[i] = strings.ToLower(strings.TrimSpace(e))
		}
		for i, g := range r.Auth.Groups {
			r.Auth.Groups[i] = strings.TrimSpace(g)
		}
	}
	if r.RateLimit != nil && r.RateLimit.Key == "" {
		r.RateLimit.Key = RateLimitClientIP
	}
	if r.LoadBalancing != nil && r.LoadBalancing.Policy == "" {
		r.LoadBalancing.Policy = "random"
	}
	r.normalizeLocations()
}

// Validate checks r (after Normalize). Errors are *Error naming the field.
func (r *Route) Validate() error {
	if len(r.Name) > 200 {
		return errf("name", "at most 200 characters")
	}
	if len(r.Hosts) == 0 {
		return errf("hosts", "at least one host is required")
	}
	seen := make(map[string]bool)
	for i, h := range r.Hosts {
		if err := ValidHost(h); err != nil {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q: %v", h, err)
		}
		if err := ownWildcard(h); err != nil {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q: %v", h, err)
		}
		if seen[h] {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q is listed twice", h)
		}
		seen[h] = true
	}
	switch r.TLS {
	case TLSAuto, TLSInternal, TLSOff, TLSCustom:
	default:
		return errf("tls", "%q is not a TLS mode (auto, internal, custom or off)", r.TLS)
	}
	if (r.TLS == TLSCustom) != (r.Certificate != "") {
		return errf("certificate", "required with tls custom, and only with it")
	}
	if err := r.validateChallenge(); err != nil {
		return err
	}
	if (r.HSTS || r.ForceHTTPS) && r.TLS == TLSOff {
		return errf("tls", "hsts and force_https need a TLS mode other than off")
	}
	switch r.Kind {
	case KindProxy:
		if err := r.validateProxy(); err != nil {
			return err
		}
	case KindRedirect:
		if err := r.validateRedirect(); err != nil {
			return err
		}
	case KindStatic:
		if err := checkStatic("static", r.Static); err != nil {
			return err
		}
	default:
		return errf("kind", "%q is not a kind (proxy, redirect or static)", r.Kind)
	}
	if r.RequestLogSize < 0 || r.RequestLogSize > MaxRequestLogSize || (r.RequestLogSize > 0 && !r.RequestLog) {
		return errf("request_log_size", "%d: a size between 1 and %d, with request_log", r.RequestLogSize, MaxRequestLogSize)
	}
	if r.Kind != KindProxy && (len(r.Upstreams) > 0 || r.LoadBalancing != nil || r.UpstreamTLS != nil || r.UpstreamHost != "") {
		return errf("upstreams", "only a proxy route has upstreams")
	}
	if r.Kind != KindRedirect && r.Redirect != nil {
		return errf("redirect", "only a redirect route has a redirect")
	}
	if r.Kind != KindStatic && r.Static != nil {
		return errf("static", "only a static route has a static response")
	}
	if err := checkHeaders("headers", r.Headers, r.Kind); err != nil {
		return err
	}
	if err := checkStripPrefix("strip_prefix", r.StripPrefix, r.Kind); err != nil {
		return err
	}
	if err := r.validateLocations(); err != nil {
		return err
	}
	if err := r.ErrorPages.check("error_pages"); err != nil {
		return err
	}
	if err := r.Maintenance.check("maintenance"); err != nil {
		return err
	}
	if r.Access != nil {
		for field, list := range map[string][]string{"access.allow": r.Access.Allow, "access.deny": r.Access.Deny} {
			for i, c := range list {
				if _, err := parseCIDR(c); err != nil {
					return errf(fmt.Sprintf("%s[%d]", field, i), "%q is not an IP address or CIDR range", c)
				}
			}
		}
	}
	if err := r.validateRateLimit(); err != nil {
		return err
	}
	if r.Auth != nil {
		if err := access.Check(r.Auth.Rules); err != nil {
			var ae *access.Error
			if errors.As(err, &ae) {
				return errf("auth.rules"+ae.Field, "%s", ae.Message)
			}
			return errf("auth.rules", "%v", err)
		}
		if len(r.Auth.Roles) > 0 && !r.Auth.logs() {
			return errf("auth.roles", "roles need require_login or a login rule")
		}
		if len(r.Auth.Emails) > 0 && !r.Auth.logs() {
			return errf("auth.emails", "emails need require_login or a login rule")
		}
		if len(r.Auth.Emails) > maxEmails {
			return errf("auth.emails", "at most %d emails", maxEmails)
		}
		for i, e := range r.Auth.Emails {
			if at := strings.IndexByte(e, '@'); at < 1 || at == len(e)-1 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n,;<>") {
				return errf(fmt.Sprintf("auth.emails[%d]", i), "%q is not an email address", e)
			}
		}
		if len(r.Auth.Groups) > 0 && !r.Auth.logs() {
			return errf("auth.groups", "groups need require_login or a login rule")
		}
		if len(r.Auth.Groups) > maxGroups {
			return errf("auth.groups", "at most %d groups", maxGroups)
		}
		for i, g := range r.Auth.Groups {
			if g == "" || len(g) > maxGroupLen || strings.ContainsFunc(g, unicode.IsControl) {
				return errf(fmt.Sprintf("auth.groups[%d]", i), "%q is not a group name (1 to %d characters, no control characters)", g, maxGroupLen)
			}
		}
		for i, role := range r.Auth.Roles {
			if role != "admin" && role != "operator" && role != "viewer" {
				return errf(fmt.Sprintf("auth.roles[%d]", i), "%q is not a role (admin, operator or viewer)", role)
			}
		}
	}
	return nil
}

func (r *Route) validateProxy() error {
	scheme, err := checkUpstreams("upstreams", r.Upstreams)
	if err != nil {
		return err
	}
	if r.UpstreamHost != "" {
		host, port, err := net.SplitHostPort(r.UpstreamHost)
		if err != nil {
			host, port = r.UpstreamHost, ""
		}
		if ValidHost(host) != nil || strings.HasPrefix(host, "*") || (port != "" && !validPort(port)) {
			return errf("upstream_host", "%q is not a host name with an optional port", r.UpstreamHost)
		}
	}
	if r.UpstreamTLS != nil && scheme != "https" {
		return errf("upstream_tls", "needs https:// upstreams")
	}
	if r.UpstreamTLS != nil && r.UpstreamTLS.ServerName != "" {
		if err := ValidHost(r.UpstreamTLS.ServerName); err != nil || strings.HasPrefix(r.UpstreamTLS.ServerName, "*") {
			return errf("upstream_tls.server_name", "%q is not a host name", r.UpstreamTLS.ServerName)
		}
	}
	if lb := r.LoadBalancing; lb != nil {
		if !policies[lb.Policy] {
			return errf("load_balancing.policy", "%q is not a policy (random, round_robin, least_conn, first, ip_hash, client_ip_hash or uri_hash)", lb.Policy)
		}
		if hc := lb.HealthCheck; hc != nil {
			u, err := url.Parse(hc.Path)
			if !strings.HasPrefix(hc.Path, "/") || strings.HasPrefix(hc.Path, "//") || err != nil ||
				u.Host != "" || strings.ContainsAny(hc.Path, "{} \t\r\n") {
				return errf("load_balancing.health_check.path", "%q must be a path starting with /", hc.Path)
			}
			for field, v := range map[string]string{"interval": hc.Interval, "timeout": hc.Timeout} {
				if v == "" {
					continue
				}
				if d, err := caddy.ParseDuration(v); err != nil || d < minHealthCheckPeriod {
					return errf("load_balancing.health_check."+field, "%q is not a duration of at least %s", v, minHealthCheckPeriod)
				}
			}
		}
	}
	return nil
}

// checkUpstreams checks the upstreams (of a route or a location) named
// field and returns their scheme.
func checkUpstreams(field string, ups []string) (string, error) {
	if len(ups) == 0 {
		return "", errf(field, "at least one upstream is required for kind proxy")
	}
	scheme := ""
	for i, u := range ups {
		s, _, err := ParseUpstream(u)
		if err != nil {
			return "", errf(fmt.Sprintf("%s[%d]", field, i), "%q: %v", u, err)
		}
		if scheme != "" && s != scheme {
			return "", errf(fmt.Sprintf("%s[%d]", field, i), "all upstreams must use the same scheme")
		}
		scheme = s
	}
	return scheme, nil
}

// validateChallenge checks the challenge and DNS credential; whether
// the credential exists is the router's check.
func (r *Route) validateChallenge() error {
	switch r.Challenge {
	case "":
		if r.DNSCredential != "" {
			return errf("dns_credential", "needs challenge dns")
		}
		return nil
	case ChallengeDNS:
	default:
		return errf("challenge", "%q is not a challenge (dns, or none for HTTP-01 and TLS-ALPN-01)", r.Challenge)
	}
	if r.TLS != TLSAuto {
		return errf("challenge", "dns needs tls auto (tls %s obtains no certificate from ACME)", r.TLS)
	}
	for i, h := range r.Hosts {
		if _, err := netip.ParseAddr(h); err == nil {
			return errf(fmt.Sprintf("hosts[%d]", i), "%q: an IP address cannot get a certificate with the dns challenge", h)
		}
	}
	if len(r.DNSCredential) > 63 || strings.ContainsAny(r.DNSCredential, " /\\\"\r\n") {
		return errf("dns_credential", "%q is not a credential name", r.DNSCredential)
	}
	return nil
}

func (r *Route) validateRedirect() error {
	return checkRedirect("redirect", r.Redirect)
}

// checkRedirect checks a redirect (of a route or a location, whose
// field is field).
func checkRedirect(field string, rd *Redirect) error {
	if rd == nil {
		return errf(field, "required for kind redirect")
	}
	u, err := url.Parse(rd.To)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(rd.To, "\r\n{}") {
		return errf(field+".to", "%q must be an absolute http:// or https:// URL", rd.To)
	}
	if rd.PreservePath && (u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(rd.To, "?")) {
		return errf(field+".to", "%q has a query or fragment, which preserve_path would break", rd.To)
	}
	switch rd.Status {
	case 301, 302, 307, 308:
	default:
		return errf(field+".status", "%d is not a redirect status (301, 302, 307 or 308)", rd.Status)
	}
	return nil
}

// checkStatic checks a static response (of a route or a location).
func checkStatic(field string, st *Static) error {
	if st == nil {
		return errf(field, "required for kind static")
	}
	if st.Status < 200 || st.Status > 599 {
		return errf(field+".status", "%d is not a status between 200 and 599", st.Status)
	}
	if len(st.Body) > 1<<20 {
		return errf(field+".body", "at most 1 MiB")
	}
	if strings.ContainsAny(st.ContentType, "\r\n") {
		return errf(field+".content_type", "must be one line")
	}
	return nil
}

// checkStripPrefix checks the strip_prefix of a route or location of
// the kind.
func checkStripPrefix(field, prefix, kind string) error {
	if prefix == "" {
		return nil
	}
	if kind != KindProxy {
		return errf(field, "only a proxy route can strip a path prefix")
	}
	if !strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "?#*{} ") {
		return errf(field, "%q must be a path starting with /", prefix)
	}
	return nil
}

// checkHeaders checks the header edits h (of a route or a location of
// the kind) named field.
func checkHeaders(field string, h *Headers, kind string) error {
	if h == nil {
		return nil
	}
	for side, ops := range map[string]*HeaderOps{"request": h.Request, "response": h.Response} {
		if ops == nil {
			continue
		}
		if side == "request" && kind != KindProxy {
			return errf(field+".request", "only a proxy route sends requests upstream")
		}
		for name, val := range ops.Set {
			if !validHeaderName(name) {
				return errf(field+"."+side+".set", "%q is not a header name", name)
			}
			if side == "request" && isIdentityHeader(name) {
				return errf(field+".request.set", "%q is set by the login gate only", name)
			}
			if why := reservedHeader(name); why != "" {
				return errf(field+"."+side+".set", "%q %s", name, why)
			}
			if strings.ContainsAny(val, "\r\n") {
				return errf(field+"."+side+".set", "value of %q must be one line", name)
			}
		}
		for _, name := range ops.Delete {
			if !validHeaderName(name) {
				return errf(field+"."+side+".delete", "%q is not a header name", name)
			}
			if side == "request" && isIdentityHeader(name) {
				return errf(field+".request.delete", "%q is set by the login gate only", name)
			}
			if why := reservedHeader(name); why != "" {
				return errf(field+"."+side+".delete", "%q %s", name, why)
			}
		}
	}
	return nil
}

// isIdentityHeader reports whether name is one of the X-Proxyos-*
// headers by which the login gate tells upstreams who is logged in: a
// route may not forge or remove them.
func isIdentityHeader(name string) bool {
	return len(name) >= len("X-Proxyos-") && strings.EqualFold(name[:len("X-Proxyos-")], "X-Proxyos-")
}

// reservedHeader says why a route may not set or delete the header name,
// or "" if it may. Host decides which site the upstream serves (with
// it, a route could pass the host check of Caddy's admin endpoint): the
// upstream_host field sets it, validated. The hop-by-hop and framing
// headers belong to each connection and to the HTTP implementation:
// setting them could split or smuggle requests.
func reservedHeader(name string) string {
	switch n := strings.ToLower(name); {
	case n == "host":
		return "cannot be set by header edits; use upstream_host"
	case hopByHop[n] || strings.HasPrefix(n, "proxy-"):
		return "is a hop-by-hop or framing header, which routes cannot change"
	}
	return ""
}

// hopByHop are the connection-level and framing headers (RFC 9110
// section 7.6.1 and the message framing of RFC 9112), in lower case.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true,
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// ValidHost checks a host name (lower case), optionally with a leading
// "*." wildcard label. IP addresses are allowed.
func ValidHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty")
	}
	if len(h) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("a wildcard may only be the whole first label, as in *.example.com")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("empty or too long label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("a label may not start or end with '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return nil
}

// ownWildcard refuses a wildcard host directly under a public suffix
// (*.com, *.co.uk, *.github.io), where other people register their
// names: such a route would claim their sites and let anyone make the
// server obtain certificates for names of their choosing. A single label
// counts as a suffix too (*.lan, *.localhost), as the public suffix
// list's default rule says. Other hosts pass.
func ownWildcard(h string) error {
	base, ok := strings.CutPrefix(h, "*.")
	if !ok {
		return nil
	}
	if suffix, _ := publicsuffix.PublicSuffix(base); suffix == base {
		return fmt.Errorf("%q is a public suffix, under which anyone can register names: "+
			"a wildcard needs a domain of your own, as in *.example.%s", base, base)
	}
	return nil
}

// ParseUpstream checks an upstream URL such as http://10.0.0.5:3000 or
// https://nas.lan:8443 and returns its scheme and host:port to dial.
func ParseUpstream(s string) (scheme, dial string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("must be scheme://host[:port] without path, query or credentials")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", "", fmt.Errorf("missing host")
	}
	if strings.ContainsAny(host, "{}") {
		return "", "", fmt.Errorf("placeholders are not allowed")
	}
	if numericHost(host) {
		return "", "", fmt.Errorf("%q is no host name: write an IPv4 address as four decimal numbers, such as 10.0.0.5", host)
	}
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if !validPort(port) {
		return "", "", fmt.Errorf("port %q out of range", port)
	}
	return u.Scheme, net.JoinHostPort(host, port), nil
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
}

// numericHost reports whether host is some other spelling of an IPv4
// address than four decimal numbers: a decimal or hex number
// ("2130706433", "0x7f000001"), octal parts ("0177.0.0.1"), fewer parts
// ("127.1"). Resolvers turn these into addresses in surprising ways, and
// no DNS name ends in a numeric label.
func numericHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if last == "" {
		return false
	}
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// parseCIDR accepts a CIDR range or a single IP.
func parseCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
