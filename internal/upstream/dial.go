package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// lookupTimeout bounds the name resolution of CheckHost.
const lookupTimeout = 5 * time.Second

// CheckHost checks an upstream host (a name or an IP address) and port
// when a route is saved: an address is checked as it is, a name with
// every address it resolves to now. A name that does not resolve is
// accepted (it may come up later, as Caddy allows); the Dialer checks
// whatever it resolves to when connections are made.
func (g *Guard) CheckHost(ctx context.Context, host string, port uint16) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		return g.Check(netip.AddrPortFrom(addr, port))
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.Check(netip.AddrPortFrom(a, port)); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				return &NameRefusedError{Host: host, RefusedError: re}
			}
			return err
		}
	}
	return nil
}

// NameRefusedError is a RefusedError for an address a name resolved to.
type NameRefusedError struct {
	Host string
	*RefusedError
}

func (e *NameRefusedError) Error() string {
	return fmt.Sprintf("%s resolves to %s", e.Host, e.RefusedError.Error())
}

func (e *NameRefusedError) Unwrap() error { return e.RefusedError }

// Dialer returns a dialer for upstream connections whose every
// connection attempt is checked, after name resolution and before the
// connection is made, against the guard's policy.
func (g *Guard) Dialer(timeout, keepAlive time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout:         timeout,
		KeepAlive:       keepAlive,
		KeepAliveConfig: net.KeepAliveConfig{Enable: keepAlive > 0, Interval: keepAlive},
		Resolver:        g.resolver,
		Control:         g.control,
	}
}

// ServiceDialer returns a dialer for the connections proxyos makes itself
// to services the host configured (OpenID providers), each checked with
// CheckService after name resolution and before the connection.
func (g *Guard) ServiceDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Resolver: g.resolver, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := resolvedAddr(address)
		if err != nil {
			return err
		}
		return g.CheckService(ap)
	}}
}

// ServiceClient returns an HTTP client for the services the host
// configured (OpenID providers), whose connections ServiceDialer checks;
// proxies from the environment are honoured as the host set them.
func (g *Guard) ServiceClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = g.ServiceDialer(timeout).DialContext
	return &http.Client{Timeout: timeout, Transport: tr}
}

// control is a net.Dialer's Control: address is the resolved ip:port the
// socket is about to connect to.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := resolvedAddr(address)
	if err != nil {
		return err
	}
	return g.Check(ap)
}

// resolvedAddr parses the ip:port a dialer's Control gets.
func resolvedAddr(address string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, port, serr := net.SplitHostPort(address)
		n, perr := strconv.ParseUint(port, 10, 16)
		addr, aerr := netip.ParseAddr(host)
		if serr != nil || perr != nil || aerr != nil {
			return netip.AddrPort{}, fmt.Errorf("upstream %s: %s", address, ReasonMalformed)
		}
		ap = netip.AddrPortFrom(addr, uint16(n))
	}
	return ap, nil
}

// ResolverFor returns a resolver that asks the given DNS servers
// (host:port, UDP) in turn instead of the system's, or nil for none.
// Names in the hosts file are still answered from it.
func ResolverFor(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return nil
	}
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			server := servers[int(next.Add(1)-1)%len(servers)]
			return d.DialContext(ctx, network, server)
		},
	}
}

// GuardKey is the context key under which the router hands the guard to
// the transports of the routes it compiles (the proxyos transport).
type GuardKey struct{}
