package proxyos

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestIssuerUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantCA  string
		wantInt string
		err     string
	}{
		{name: "bare", input: "proxyos"},
		{name: "acme and internal", input: "proxyos {\n\tacme {\n\t\tdir https://ca.example/dir\n\t}\n\tinternal {\n\t\tca corp\n\t}\n}",
			wantCA: "https://ca.example/dir", wantInt: "corp"},
		{name: "argument", input: "proxyos x", err: "wrong argument count"},
		{name: "unknown", input: "proxyos {\n\tzerossl\n}", err: "unrecognized subdirective 'zerossl'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := new(Issuer)
			err := iss.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if iss.GetACMEIssuer() == nil || iss.ACME.CA != tt.wantCA {
				t.Errorf("acme issuer %+v, want CA %q", iss.ACME, tt.wantCA)
			}
			if tt.wantInt != "" && (iss.Internal == nil || iss.Internal.CA != tt.wantInt) {
				t.Errorf("internal issuer %+v, want CA %q", iss.Internal, tt.wantInt)
			}
		})
	}
}

func TestPermissionUnmarshalCaddyfile(t *testing.T) {
	for input, ok := range map[string]bool{"proxyos": true, "proxyos extra": false, "proxyos {\n\tfoo\n}": false} {
		err := new(Permission).UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if (err == nil) != ok {
			t.Errorf("%q: error %v, want ok=%v", input, err, ok)
		}
	}
}
