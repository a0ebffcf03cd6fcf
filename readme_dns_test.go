package caddyproxyos

import (
	"context"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/libdns/libdns"
)

// cloudflareStandIn stands in for github.com/caddy-dns/cloudflare, which
// the README's DNS-01 example builds Caddy with, so that the example
// adapts here. It exists only in this package's test binary.
type cloudflareStandIn struct {
	APIToken string `json:"api_token,omitempty"`
}

func init() { caddy.RegisterModule(cloudflareStandIn{}) }

func (cloudflareStandIn) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dns.providers.cloudflare", New: func() caddy.Module { return new(cloudflareStandIn) }}
}

func (p *cloudflareStandIn) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		p.APIToken = d.Val()
	}
	return nil
}

func (cloudflareStandIn) AppendRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

func (cloudflareStandIn) DeleteRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}
