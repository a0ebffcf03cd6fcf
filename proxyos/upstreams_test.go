package proxyos

import (
	"net/netip"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/proxyos/caddy-proxyos/internal/upstream"
)

// TestAdminEndpoints checks that the admin endpoints of a config are
// found, as routes must never reach them: Caddy keeps them to itself, so
// a Caddy release that stores them differently fails here rather than
// silently leaving routes free to reach a moved admin endpoint.
func TestAdminEndpoints(t *testing.T) {
	ep := func(addr string, port uint16) upstream.Endpoint {
		e := upstream.Endpoint{FirstPort: port, LastPort: port}
		if addr != "" {
			e.Addr = netip.MustParseAddr(addr)
		}
		return e
	}
	for _, tc := range []struct {
		name  string
		admin *caddy.AdminConfig
		want  []upstream.Endpoint
	}{
		{"default", nil, []upstream.Endpoint{ep("", 2019)}},
		{"listen", &caddy.AdminConfig{Listen: "127.0.0.1:2999"}, []upstream.Endpoint{ep("127.0.0.1", 2999)}},
		{"all interfaces", &caddy.AdminConfig{Listen: ":3019"}, []upstream.Endpoint{ep("", 3019)}},
		{"ipv6", &caddy.AdminConfig{Listen: "[::1]:4019"}, []upstream.Endpoint{ep("::1", 4019)}},
		{"unix socket", &caddy.AdminConfig{Listen: "unix//run/caddy-admin.sock"}, nil},
		{"remote", &caddy.AdminConfig{Listen: "localhost:5019", Remote: &caddy.RemoteAdmin{Listen: ":5021"}},
			[]upstream.Endpoint{ep("", 5019), ep("", 5021)}},
		{"remote default", &caddy.AdminConfig{Disabled: true, Remote: &caddy.RemoteAdmin{}}, []upstream.Endpoint{ep("", 2021)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// ProvisionContext starts no admin endpoint.
			ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: tc.admin})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := adminEndpoints(ctx)
			if !ok {
				t.Fatal("the admin settings could not be read from the context")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("endpoints %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("endpoints %v, want %v", got, tc.want)
				}
			}
		})
	}
}
