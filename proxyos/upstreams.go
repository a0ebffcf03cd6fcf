package proxyos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// UpstreamNetworks is the admin's say on which networks the upstreams of
// managed routes may reach (see upstream.Policy). Operators and API keys
// that write routes can never reach Caddy's admin endpoint; by default
// they may reach everything else but link-local and cloud metadata
// addresses and this Caddy's own listeners (proxy loops).
type UpstreamNetworks struct {
	// Allow lists networks (CIDR ranges or single IPs) upstreams may
	// reach although they are refused by default, such as a link-local
	// device (169.254.10.0/24) or a site of this Caddy (127.0.0.1/32).
	Allow []string `json:"allow,omitempty"`

	// Deny lists networks upstreams may never reach. Deny 0.0.0.0/0 and
	// ::/0 and allow 10.0.0.0/8 to keep operators within one network:
	// of the networks containing an address, the most specific decides,
	// deny winning a tie.
	Deny []string `json:"deny,omitempty"`
}

// parse returns the networks, or an error naming the bad entry.
func (n *UpstreamNetworks) parse() (allow, deny []netip.Prefix, err error) {
	if n == nil {
		return nil, nil, nil
	}
	for _, list := range []struct {
		name string
		in   []string
		out  *[]netip.Prefix
	}{{"allow", n.Allow, &allow}, {"deny", n.Deny, &deny}} {
		for i, s := range list.in {
			p, err := parseNetwork(s)
			if err != nil {
				return nil, nil, fmt.Errorf("upstream_networks: %s[%d]: %q is not an IP address or CIDR range", list.name, i, s)
			}
			*list.out = append(*list.out, p)
		}
	}
	return allow, deny, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// adminEndpoints returns the local and remote admin endpoints of the
// config ctx belongs to. Caddy keeps the config's admin settings to
// itself, so they are read from the context by reflection; if that ever
// fails (a Caddy that stores them elsewhere), the default admin address
// (CADDY_ADMIN, else localhost:2019) is used and the second result is
// false. TestAdminEndpoints checks that the reflection works.
func adminEndpoints(ctx caddy.Context) ([]upstream.Endpoint, bool) {
	local, remote, disabled, ok := adminListen(ctx)
	if !ok {
		local, remote, disabled = caddy.DefaultAdminListen, "", false
	}
	var eps []upstream.Endpoint
	if !disabled {
		eps = append(eps, listenEndpoints(local, caddy.DefaultAdminListen)...)
	}
	if remote != "" {
		eps = append(eps, listenEndpoints(remote, caddy.DefaultRemoteAdminListen)...)
	}
	return eps, ok
}

// adminListen reads the admin settings of ctx's config. remote is ""
// without a remote admin endpoint.
func adminListen(ctx caddy.Context) (local, remote string, disabled, ok bool) {
	cfg := reflect.ValueOf(ctx).FieldByName("cfg")
	if !cfg.IsValid() || cfg.Kind() != reflect.Pointer || cfg.IsNil() {
		return "", "", false, false
	}
	adm := cfg.Elem().FieldByName("Admin")
	if !adm.IsValid() || adm.Kind() != reflect.Pointer {
		return "", "", false, false
	}
	if adm.IsNil() {
		return caddy.DefaultAdminListen, "", false, true
	}
	a := adm.Elem()
	listen, dis, rem := a.FieldByName("Listen"), a.FieldByName("Disabled"), a.FieldByName("Remote")
	if listen.Kind() != reflect.String || dis.Kind() != reflect.Bool || rem.Kind() != reflect.Pointer {
		return "", "", false, false
	}
	if !rem.IsNil() {
		if rl := rem.Elem().FieldByName("Listen"); rl.Kind() == reflect.String {
			remote = rl.String()
			if remote == "" {
				remote = caddy.DefaultRemoteAdminListen
			}
		}
	}
	return listen.String(), remote, dis.Bool(), true
}

// listenEndpoints turns a Caddy listen address into endpoints; it returns
// none for Unix sockets and file descriptors, which no upstream can dial.
func listenEndpoints(listen, fallback string) []upstream.Endpoint {
	if listen == "" {
		listen = fallback
	}
	listen = caddy.NewReplacer().ReplaceKnown(listen, "")
	na, err := caddy.ParseNetworkAddress(listen)
	if err != nil || na.IsUnixNetwork() || na.IsFdNetwork() || na.StartPort == 0 {
		return nil
	}
	ep := upstream.Endpoint{FirstPort: uint16(na.StartPort), LastPort: uint16(na.EndPort)}
	if a, err := netip.ParseAddr(na.Host); err == nil {
		ep.Addr = a.Unmap()
	}
	return []upstream.Endpoint{ep}
}

// provisionUpstreams builds the guard of the upstreams of managed routes:
// the admin's networks and Caddy's admin endpoints now, this Caddy's
// listeners when the app starts (see watchListeners).
func (a *App) provisionUpstreams(ctx caddy.Context) error {
	allow, deny, err := a.UpstreamNetworks.parse()
	if err != nil {
		return err
	}
	for i, s := range a.UpstreamResolvers {
		if _, err := caddy.ParseNetworkAddressWithDefaults(s, "udp", 53); err != nil {
			return fmt.Errorf("upstream_resolvers[%d]: %q is not a host:port", i, s)
		}
	}
	admin, ok := adminEndpoints(ctx)
	if !ok {
		a.logger.Warn("cannot read the admin endpoint's address from the config; routes are kept from the default one only",
			zap.String("address", caddy.DefaultAdminListen))
	}
	var servers []string
	for _, s := range a.UpstreamResolvers {
		na, _ := caddy.ParseNetworkAddressWithDefaults(s, "udp", 53)
		servers = append(servers, na.JoinHostPort(0))
	}
	a.upstreams = upstream.NewGuard(upstream.Policy{Admin: admin, Allow: allow, Deny: deny}, upstream.ResolverFor(servers))
	return nil
}

// watchListeners adds this Caddy's HTTP listeners to the guard's
// policy, so no route proxies to them. The HTTP app is provisioned by
// the time apps start.
func (a *App) watchListeners() {
	eps := a.state.streams.endpoints()
	if httpApp := a.httpApp(); httpApp != nil {
		for _, srv := range httpApp.Servers {
			for _, l := range srv.Listen {
				eps = append(eps, listenEndpoints(l, "")...)
			}
		}
	}
	p := a.upstreams.Policy()
	p.Listeners = eps
	a.upstreams.SetPolicy(p)
}

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the reverse_proxy transport of managed routes: Caddy's
// http transport (every field of it applies) whose connections are
// checked against the proxyos upstream policy after the upstream's name
// is resolved and before the connection is made. A route therefore never
// reaches Caddy's admin endpoint, this Caddy's own listeners or a
// link-local address (unless the app's upstream_networks allows it),
// however its upstream is spelled and whatever its name resolves to at
// the time of the request. Connections go to the upstream directly,
// never through a proxy from the environment (HTTP_PROXY), which could
// reach what the check refused.
//
// The router puts it in the routes it compiles; it is not meant for
// handwritten configs.
type Transport struct {
	reverseproxy.HTTPTransport
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.proxyos",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Provision provisions the http transport and puts the guard's dialer in
// its place, before any connection (an active health check's included)
// is made.
func (t *Transport) Provision(ctx caddy.Context) error {
	guard, _ := ctx.Value(upstream.GuardKey{}).(*upstream.Guard)
	if guard == nil {
		return errors.New("the proxyos transport is used by proxyos managed routes only")
	}
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return err
	}
	rt := t.HTTPTransport.Transport
	var keepAlive time.Duration
	if ka := t.KeepAlive; ka != nil {
		keepAlive = time.Duration(ka.ProbeInterval)
	}
	dialer := guard.Dialer(time.Duration(t.DialTimeout), keepAlive)
	dialer.FallbackDelay = time.Duration(t.FallbackDelay)
	rt.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, reverseproxy.NewDialError(err)
		}
		return conn, nil
	}
	rt.DialTLSContext = nil
	rt.Proxy = nil
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner         = (*Transport)(nil)
	_ caddy.CleanerUpper        = (*Transport)(nil)
	_ reverseproxy.TLSTransport = (*Transport)(nil)
)
