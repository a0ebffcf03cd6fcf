package doctor

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Checks of the dashboard's url and the sites that serve it.

func checkURL(f *Facts) []Finding {
	if f.URL == nil {
		return []Finding{{ID: "url", Severity: Warning,
			Saw: "url is not set",
			Why: "without it proxyos_auth answers 401 instead of sending browsers to the login page, the dashboard cannot send other names and addresses to one place, and the doctor cannot probe the dashboard",
			Fix: "set url in the proxyos global option to the address people open the dashboard at, such as https://proxy.example.com"}}
	}
	return []Finding{ok("url", "url is "+f.URL.String())}
}

func checkURLResolves(f *Facts) []Finding {
	if f.URL == nil {
		return nil
	}
	host := f.URL.Hostname()
	if f.URLResolveErr != "" {
		return []Finding{{ID: "url_resolves", Severity: Problem,
			Saw: fmt.Sprintf("the host %s of url does not resolve: %s", host, f.URLResolveErr),
			Why: "browsers cannot reach the dashboard at url, and every login sent there fails",
			Fix: fmt.Sprintf("add a DNS record (or a hosts file entry) for %s pointing at this machine, or correct url", host)}}
	}
	addrs := joinAddrs(f.URLAddrs)
	for _, a := range f.URLAddrs {
		if a.IsLoopback() || slices.Contains(f.LocalAddrs, a.Unmap()) {
			return []Finding{ok("url_resolves", fmt.Sprintf("%s resolves to %s, an address of this machine", host, addrs))}
		}
	}
	return []Finding{{ID: "url_resolves", Severity: Warning,
		Saw: fmt.Sprintf("%s resolves to %s, none of them an address of this machine", host, addrs),
		Why: "browsers go to another machine: fine when a proxy or a port forward there leads to this Caddy, else the dashboard is not where url says",
		Fix: fmt.Sprintf("point %s at this machine, or check that whatever answers at %s forwards to this Caddy", host, addrs)}}
}

func checkURLSite(f *Facts) []Finding {
	if f.URL == nil {
		return nil
	}
	u, port := f.URL, urlPort(f.URL)
	var onPort, sameScheme []Site
	for _, s := range f.Sites {
		if s.listensOn(port) {
			onPort = append(onPort, s)
			if s.Scheme == u.Scheme {
				sameScheme = append(sameScheme, s)
			}
		}
	}
	switch {
	case len(onPort) == 0:
		return []Finding{{ID: "url_site", Severity: Warning,
			Saw: fmt.Sprintf("no Caddy server listens on port %d of url %s", port, u),
			Why: "unless a proxy in front forwards url to this Caddy, browsers get no answer there",
			Fix: fmt.Sprintf("add a site %s with proxyos_dashboard, or correct the port of url", siteAddress(u))}}
	case len(sameScheme) == 0:
		return []Finding{{ID: "url_site", Severity: Problem,
			Saw: fmt.Sprintf("Caddy serves %s on port %d, but url %s says %s", onPort[0].Scheme, port, u, u.Scheme),
			Why: "the browser speaks the wrong protocol to that port and gets an error page instead of the dashboard",
			Fix: fmt.Sprintf("make url %s://%s, or serve the dashboard over %s at %s", onPort[0].Scheme, u.Host, u.Scheme, siteAddress(u))}}
	}
	s, found := siteFor(sameScheme, u.Hostname())
	switch {
	case !found:
		return []Finding{{ID: "url_site", Severity: Problem,
			Saw: fmt.Sprintf("no site on port %d matches the host %s of url", port, u.Hostname()),
			Why: "Caddy answers requests for a host no site matches with an empty page, so the browser shows a blank dashboard",
			Fix: fmt.Sprintf("add %s to the address of the site with proxyos_dashboard, or set url to that site's address", u.Hostname())}}
	case !s.Dashboard:
		return []Finding{{ID: "url_site", Severity: Problem,
			Saw: fmt.Sprintf("the site of %s on port %d (server %s) does not serve proxyos_dashboard", u.Hostname(), port, s.Server),
			Why: "browsers sent to url to log in get that site's answer instead of the login page",
			Fix: "put proxyos_dashboard in the site of url's host, or set url to the site that has it"}}
	}
	return []Finding{ok("url_site", fmt.Sprintf("the site of %s on port %d serves the dashboard over %s", u.Hostname(), port, s.Scheme))}
}

func checkDashboardHosts(f *Facts) []Finding {
	var others []string
	anyHost, dashboards := false, 0
	for _, s := range f.Sites {
		if !s.Dashboard {
			continue
		}
		dashboards++
		if len(s.Hosts) == 0 {
			anyHost = true
		}
		for _, h := range s.Hosts {
			if (f.URL == nil || !strings.EqualFold(h, f.URL.Hostname())) && !slices.Contains(others, h) {
				others = append(others, h)
			}
		}
	}
	if anyHost {
		others = append(others, "any other name or IP address")
	}
	switch {
	case dashboards == 0:
		return []Finding{{ID: "dashboard_hosts", Severity: Warning,
			Saw: "no site serves proxyos_dashboard",
			Why: "nobody can log in: there is no login page",
			Fix: "add a site with proxyos_dashboard, such as proxy.example.com { proxyos_dashboard }"}}
	case f.URL == nil && (len(others) > 1 || anyHost):
		return []Finding{{ID: "dashboard_hosts", Severity: Warning,
			Saw: "the dashboard answers at " + strings.Join(others, ", "),
			Why: "the session cookie belongs to the name in the address bar: a login by IP address or at a second name does not count at the others, which looks like a login that does not stick",
			Fix: "set url to the one address people should use: the other names are then redirected there before login"}}
	case f.URL != nil && len(others) > 0:
		return []Finding{ok("dashboard_hosts", "the dashboard also answers at "+strings.Join(others, ", ")+"; pages there are redirected to url before login")}
	}
	return []Finding{ok("dashboard_hosts", "the dashboard answers at one name")}
}

// listensOn reports whether the site listens on port.
func (s Site) listensOn(port int) bool {
	for _, r := range s.Ports {
		if port >= r.First && port <= r.Last {
			return true
		}
	}
	return false
}

// siteFor returns the site that serves host among sites of one port and
// scheme: one naming it (exactly or by a wildcard) before one for any
// host, as Caddy orders them.
func siteFor(sites []Site, host string) (Site, bool) {
	for _, s := range sites {
		for _, h := range s.Hosts {
			if hostMatches(h, host) {
				return s, true
			}
		}
	}
	for _, s := range sites {
		if len(s.Hosts) == 0 {
			return s, true
		}
	}
	return Site{}, false
}

// hostMatches reports whether the host pattern of a site (a name, or a
// wildcard such as *.example.com standing for one label) matches host.
func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if pattern == host {
		return true
	}
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return false
	}
	label, parent, found := strings.Cut(host, ".")
	return found && label != "" && parent == rest
}

// urlPort returns the port of u, the scheme's default if it has none.
func urlPort(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// siteAddress is the Caddyfile site address of u.
func siteAddress(u *url.URL) string { return u.Scheme + "://" + u.Host }

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
