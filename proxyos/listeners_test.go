package proxyos

import (
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

// TestServedPorts checks which ports count as this Caddy's, by scheme:
// the only ports a handoff code may be sent to.
func TestServedPorts(t *testing.T) {
	tlsPolicies := caddytls.ConnectionPolicies{new(caddytls.ConnectionPolicy)}
	h := &caddyhttp.App{HTTPPort: 8080, Servers: map[string]*caddyhttp.Server{
		"plain":  {Listen: []string{":8081", "127.0.0.1:9000-9002"}},
		"tls":    {Listen: []string{":8443", ":8079-8080"}, TLSConnPolicies: tlsPolicies},
		"socket": {Listen: []string{"unix//run/caddy.sock"}, TLSConnPolicies: tlsPolicies},
	}}
	p := servedPorts(h)
	for _, tt := range []struct {
		scheme string
		port   int
		want   bool
	}{
		{"http", 8081, true},
		{"http", 9001, true},
		{"http", 9003, false},
		{"https", 8081, false},
		{"https", 8443, true},
		{"http", 8443, false},
		{"https", 8079, true},
		{"http", 8080, true}, // the http_port is served in the clear, policies or not
		{"https", 8080, false},
		{"http", 80, false},
		{"https", 443, false},
		{"http", 0, false},
	} {
		if got := p.serves(tt.scheme, tt.port); got != tt.want {
			t.Errorf("serves(%s, %d) = %v, want %v", tt.scheme, tt.port, got, tt.want)
		}
	}
	if servedPorts(nil).serves("https", 443) {
		t.Error("without an HTTP app a port is served")
	}
}
