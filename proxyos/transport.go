package proxyos

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

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
