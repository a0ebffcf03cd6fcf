package doctor

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/certs"
)

// Checks of the database, TLS, managed routes and Caddy's admin endpoint.

// Bounds of the clock skew against the database.
const (
	skewWarning = 2 * time.Second
	skewProblem = 30 * time.Second
)

// maxListed bounds the findings of one check about many names.
const maxListed = 20

func checkDatabase(f *Facts) []Finding {
	d := f.Database
	if d.Err != "" {
		return []Finding{{ID: "database", Severity: Problem,
			Saw: fmt.Sprintf("the %s database does not answer: %s", d.Driver, d.Err),
			Why: "logins, logouts and every change answer 503; routes and cached sessions keep working from memory",
			Fix: "check that the database server runs and that the database option's path or connection URL is right"}}
	}
	return []Finding{ok("database", fmt.Sprintf("the %s database answers", d.Driver))}
}

func checkMigrations(f *Facts) []Finding {
	d := f.Database
	switch {
	case d.Err != "":
		return nil
	case d.Schema < d.Known:
		return []Finding{{ID: "migrations", Severity: Problem,
			Saw: fmt.Sprintf("the database's schema is version %d; this proxyos needs %d", d.Schema, d.Known),
			Why: "what the missing migrations add fails with database errors",
			Fix: "restart Caddy, which migrates at start, and read its log for a migration that failed"}}
	case d.Schema > d.Known:
		return []Finding{{ID: "migrations", Severity: Warning,
			Saw: fmt.Sprintf("the database's schema is version %d, newer than the version %d this proxyos knows", d.Schema, d.Known),
			Why: "a newer proxyos migrated it: this node keeps running, but refuses to start again on this database",
			Fix: "upgrade this node to the proxyos version of the node that migrated the database"}}
	}
	return []Finding{ok("migrations", fmt.Sprintf("the database's schema is version %d, current", d.Schema))}
}

func checkClock(f *Facts) []Finding {
	d := f.Database
	switch {
	case d.Err != "":
		return nil
	case !d.SkewKnown:
		return []Finding{ok("clock_skew", "the database is a file on this machine, on the same clock")}
	}
	skew := d.Skew.Round(time.Millisecond)
	saw := fmt.Sprintf("the database's clock is %s ahead of this machine's", skew)
	if skew < 0 {
		saw = fmt.Sprintf("the database's clock is %s behind this machine's", -skew)
	}
	abs := max(skew, -skew)
	if abs < skewWarning {
		return []Finding{ok("clock_skew", saw)}
	}
	sev := Warning
	if abs >= skewProblem {
		sev = Problem
	}
	return []Finding{{ID: "clock_skew", Severity: sev, Saw: saw,
		Why: "nodes write session expiry, handoff codes (valid for a minute) and node reports with their own clocks: a clock that is off ends sessions early, expires handoff codes before use and shows nodes as gone",
		Fix: "run time synchronisation (chrony, systemd-timesyncd) on every node and on the database server"}}
}

func checkOnDemand(f *Facts) []Finding {
	var need []string
	for _, r := range f.Routes {
		if r.Enabled && r.TLS != "off" {
			need = append(need, r.Name)
		}
	}
	switch {
	case f.OnDemand && !f.Permission:
		return []Finding{{ID: "on_demand", Severity: Warning,
			Saw: "on-demand TLS is on with a permission other than proxyos",
			Why: "that permission does not know the managed routes: it may refuse their hosts, or let anyone make Caddy request certificates for names no route serves (and use up the CA's rate limits)",
			Fix: "set on_demand_tls { permission proxyos } in the global options"}}
	case !f.OnDemand && len(need) > 0:
		return []Finding{{ID: "on_demand", Severity: Warning,
			Saw: fmt.Sprintf("%d routes have tls auto or internal (%s), but no site gets certificates on demand", len(need), listed(need)),
			Why: "managed routes get their certificates on demand: without it HTTPS to their hosts fails",
			Fix: "give the https:// site with proxyos_routes tls { on_demand; issuer proxyos } and set on_demand_tls { permission proxyos } in the global options"}}
	case f.OnDemand:
		return []Finding{ok("on_demand", "on-demand TLS asks permission proxyos")}
	}
	return []Finding{ok("on_demand", "no route needs certificates on demand")}
}

func checkRouteLogin(f *Facts) []Finding {
	var out []Finding
	for _, r := range f.Routes {
		if !r.Enabled || !r.Gated {
			continue
		}
		if f.URL == nil {
			out = append(out, Finding{ID: "route_login", Severity: Problem,
				Saw: fmt.Sprintf("route %s is behind the login, but url is not set", r.Name),
				Why: "browsers without a session get 401 there instead of the login page",
				Fix: "set url to the dashboard's address"})
			continue
		}
		var unserved []string
		for _, h := range r.Hosts {
			if !servesRoutes(f.Sites, h) {
				unserved = append(unserved, h)
			}
		}
		if len(unserved) > 0 {
			out = append(out, Finding{ID: "route_login", Severity: Problem,
				Saw: fmt.Sprintf("route %s is behind the login, but no site with proxyos_routes serves %s", r.Name, strings.Join(unserved, ", ")),
				Why: "the login is handed to the route's host at /.proxyos/callback, which nothing answers there, so the browser never gets back to the route",
				Fix: "serve the host with a site that has proxyos_routes, such as a catch-all https:// { proxyos_routes }"})
		}
	}
	if len(out) > 0 {
		return capped(out)
	}
	return []Finding{ok("route_login", "every route behind the login can be reached for the handoff")}
}

// checkStreamOverlap finds hosts that an HTTPS route and a stream on a
// shared HTTPS port both serve: each node refuses such a change, but two
// nodes of a cluster may each accept one of two changes made at once.
func checkStreamOverlap(f *Facts) []Finding {
	var out []Finding
	for _, r := range f.Routes {
		for _, h := range slices.Sorted(maps.Keys(r.Streams)) {
			out = append(out, Finding{ID: "stream_overlap", Severity: Problem,
				Saw: fmt.Sprintf("host %s of route %s is also a server name of stream %s on the HTTPS port", h, r.Name, r.Streams[h]),
				Why: "the stream gets every TLS connection for the name, so the route's HTTPS visitors reach the stream's upstream",
				Fix: "change or disable the hosts of one of them (the next save of either is refused until then)"})
		}
	}
	if len(out) > 0 {
		return capped(out)
	}
	return []Finding{ok("stream_overlap", "no HTTPS route shares a server name with a stream")}
}

func checkCertFailing(f *Facts) []Finding {
	var out []Finding
	for _, a := range f.CertAttempts {
		if a.Error == "" {
			continue
		}
		out = append(out, Finding{ID: "cert_failing", Severity: Problem,
			Saw: fmt.Sprintf("the latest of %d failed attempts to get a certificate for %s from %s, at %s: %s", a.Failures, a.Name, a.Issuer, stamp(a.At), a.Error),
			Why: fmt.Sprintf("HTTPS to %s fails, or serves an old certificate, until issuance succeeds", a.Name),
			Fix: "fix what the error names (DNS records, ports 80 and 443 reachable from the CA, rate limits); Caddy retries by itself"})
	}
	if len(out) > 0 {
		return capped(out)
	}
	return []Finding{ok("cert_failing", fmt.Sprintf("no failed certificate attempt among %d names since Caddy started", len(f.CertAttempts)))}
}

func checkCertExpiry(f *Facts) []Finding {
	var out []Finding
	for _, c := range f.Certificates {
		names := strings.Join(c.Names, ", ")
		left, lifetime := c.NotAfter.Sub(f.Now), c.NotAfter.Sub(c.NotBefore)
		switch {
		case left <= 0:
			out = append(out, Finding{ID: "cert_expiry", Severity: Problem,
				Saw: fmt.Sprintf("the certificate of %s (issuer %s) expired at %s", names, c.Issuer, stamp(c.NotAfter)),
				Why: "browsers refuse it: HTTPS to these names fails",
				Fix: "look for cert_failing findings and Caddy's log lines about renewing these names"})
		case c.Custom && certs.ExpiresSoon(c.NotAfter, f.Now):
			out = append(out, Finding{ID: "cert_expiry", Severity: Warning,
				Saw: fmt.Sprintf("the uploaded certificate of %s (issuer %s) expires at %s, in %s", names, c.Issuer, stamp(c.NotAfter), left.Round(time.Minute)),
				Why: "nobody renews an uploaded certificate: HTTPS to these names fails once it expires",
				Fix: "upload its replacement on the Certificates page (or PUT /api/certificates/{id}), or switch its routes to tls auto"})
		case !c.Custom && left < lifetime/5:
			out = append(out, Finding{ID: "cert_expiry", Severity: Warning,
				Saw: fmt.Sprintf("the certificate of %s (issuer %s) expires at %s, in %s", names, c.Issuer, stamp(c.NotAfter), left.Round(time.Minute)),
				Why: "Caddy renews with a third of a certificate's lifetime left: this one is overdue, so renewal keeps failing",
				Fix: "look for cert_failing findings and Caddy's log lines about renewing these names"})
		}
	}
	if len(out) > 0 {
		return capped(out)
	}
	return []Finding{ok("cert_expiry", fmt.Sprintf("none of the %d certificates this Caddy serves is expired, overdue for renewal or (uploaded) expiring within 14 days", len(f.Certificates)))}
}

func checkAdmin(f *Facts) []Finding {
	if f.Admin.Disabled {
		return []Finding{ok("admin_listen", "the admin endpoint is off")}
	}
	for _, addr := range f.Admin.Listen {
		if !localOnly(addr) {
			return []Finding{{ID: "admin_listen", Severity: Problem,
				Saw: "the admin endpoint listens on " + addr,
				Why: "it has no authentication: anyone who reaches it can change Caddy's config and create proxyos admins",
				Fix: "listen on localhost only (admin localhost:2019, the default) or on a unix socket"}}
		}
	}
	return []Finding{ok("admin_listen", "the admin endpoint listens on "+strings.Join(f.Admin.Listen, ", ")+" only")}
}

// localOnly reports whether an admin listen address (Caddy's network
// address form) is reachable from this machine only.
func localOnly(addr string) bool {
	network, rest, found := strings.Cut(addr, "/")
	if found && strings.HasPrefix(network, "unix") {
		return true
	}
	if !found {
		rest = addr
	}
	host, _, err := net.SplitHostPort(rest)
	if err != nil {
		host = rest
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// servesRoutes reports whether a site with proxyos_routes serves host
// (a name, or a wildcard host of a route).
func servesRoutes(sites []Site, host string) bool {
	for _, s := range sites {
		if !s.Routes {
			continue
		}
		if len(s.Hosts) == 0 || slices.ContainsFunc(s.Hosts, func(p string) bool { return strings.EqualFold(p, host) || hostMatches(p, host) }) {
			return true
		}
	}
	return false
}

// capped keeps the first maxListed findings and says how many it left out.
func capped(fs []Finding) []Finding {
	if len(fs) <= maxListed {
		return fs
	}
	rest := len(fs) - maxListed
	fs = fs[:maxListed]
	fs[maxListed-1].Saw += fmt.Sprintf(" (and %d more like it)", rest)
	return fs
}

// listed joins names, the first few of them.
func listed(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}
