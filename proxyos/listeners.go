package proxyos

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// httpApp returns the HTTP app of this config, or nil without one. Apps
// are provisioned before any starts, so from Start on it is complete.
func (a *App) httpApp() *caddyhttp.App {
	v, err := a.ctx.AppIfConfigured("http")
	if err != nil {
		return nil
	}
	h, _ := v.(*caddyhttp.App)
	return h
}

// portRange is an inclusive range of TCP ports.
type portRange struct{ first, last int }

// listenPorts are the TCP ports this Caddy's HTTP servers listen on, by
// the scheme they serve there.
type listenPorts struct {
	http, https []portRange
}

// serves reports whether some HTTP server of this Caddy listens on port
// and serves scheme there.
func (p *listenPorts) serves(scheme string, port int) bool {
	if p == nil {
		return false
	}
	ranges := p.http
	if scheme == "https" {
		ranges = p.https
	}
	for _, r := range ranges {
		if port >= r.first && port <= r.last {
			return true
		}
	}
	return false
}

// servedPorts returns the ports of h's servers by scheme, as Caddy's
// HTTP app decides it when it starts them: a port serves https if its
// server has TLS connection policies (set explicitly or by automatic
// HTTPS) and it is not the http_port; any other port serves http. Unix
// sockets and file descriptors have no port.
func servedPorts(h *caddyhttp.App) *listenPorts {
	p := new(listenPorts)
	if h == nil {
		return p
	}
	httpPort := h.HTTPPort
	if httpPort == 0 {
		httpPort = caddyhttp.DefaultHTTPPort
	}
	for _, srv := range h.Servers {
		sp := serverPorts(srv, httpPort)
		p.http = append(p.http, sp.http...)
		p.https = append(p.https, sp.https...)
	}
	return p
}

// serverPorts returns the ports of one server by scheme (see servedPorts).
func serverPorts(srv *caddyhttp.Server, httpPort int) *listenPorts {
	p := new(listenPorts)
	repl := caddy.NewReplacer()
	for _, l := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(repl.ReplaceKnown(l, ""))
		if err != nil || na.IsUnixNetwork() || na.IsFdNetwork() {
			continue
		}
		first, last := int(na.StartPort), int(na.EndPort)
		if len(srv.TLSConnPolicies) == 0 {
			p.http = append(p.http, portRange{first, last})
			continue
		}
		// the http_port within the range is served in the clear
		if httpPort >= first && httpPort <= last {
			p.http = append(p.http, portRange{httpPort, httpPort})
			if httpPort > first {
				p.https = append(p.https, portRange{first, httpPort - 1})
			}
			first = httpPort + 1
		}
		if first <= last {
			p.https = append(p.https, portRange{first, last})
		}
	}
	return p
}

// serves reports whether this Caddy serves scheme on port (see
// handoffPorts).
func (a *App) serves(scheme string, port int) bool { return a.handoffPorts().serves(scheme, port) }

// handoffPorts returns the ports a handoff code may be issued for,
// reading them from the HTTP app the first time. Start reads them too;
// a request may come first, as Caddy starts apps in no fixed order.
func (a *App) handoffPorts() *listenPorts {
	if a.ports == nil { // not provisioned
		return nil
	}
	if p := a.ports.Load(); p != nil {
		return p
	}
	a.ports.CompareAndSwap(nil, servedPorts(a.httpApp()))
	return a.ports.Load()
}
