// Command caddydns is cmd/caddy plus a DNS provider that only the
// integration tests have: dns.providers.challtestsrv sets and clears the
// TXT records of DNS-01 challenges through the management API of
// pebble-challtestsrv (POST /set-txt, /clear-txt), the DNS server Pebble
// asks. So Caddy's real DNS-01 code runs end to end against a real ACME
// server without a DNS provider account.
//
// It lives under testdata, which ./... patterns skip, so neither go vet
// ./... nor the layout test see it and no released binary has it; the
// tests build it by path:
//
//	go build github.com/proxyos/caddy-proxyos/integration/testdata/caddydns
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/libdns/libdns"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/proxyos/caddy-proxyos"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Provider sets TXT records on pebble-challtestsrv.
type Provider struct {
	// URL of challtestsrv's management API, such as
	// http://127.0.0.1:8055.
	URL string `json:"url"`
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dns.providers.challtestsrv", New: func() caddy.Module { return new(Provider) }}
}

// AppendRecords sets each TXT record.
func (p *Provider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		rr := r.RR()
		if err := p.post(ctx, "/set-txt", map[string]string{"host": fqdn(rr.Name, zone), "value": rr.Data}); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// DeleteRecords clears each TXT record.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		if err := p.post(ctx, "/clear-txt", map[string]string{"host": fqdn(r.RR().Name, zone)}); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// fqdn is the record's name with the final dot challtestsrv expects.
func fqdn(name, zone string) string {
	return strings.TrimSuffix(libdns.AbsoluteName(name, zone), ".") + "."
}

func (p *Provider) post(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("challtestsrv: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("challtestsrv %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

// UnmarshalCaddyfile reads `challtestsrv <url>`.
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // provider name
	if !d.NextArg() {
		return d.ArgErr()
	}
	p.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func main() {
	caddycmd.Main()
}
