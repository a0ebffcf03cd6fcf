package caddyfile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// fuzzDispenser tokenizes input like the Caddyfile adapter does. It
// reports false for input the lexer rejects, which never reaches a parser.
// (caddyfile.NewTestDispenser would exit the process on such input.)
func fuzzDispenser(input string) (*caddyfile.Dispenser, bool) {
	tokens, err := caddyfile.Tokenize([]byte(input), "Testfile")
	if err != nil {
		return nil, false
	}
	return caddyfile.NewDispenser(tokens), true
}

// FuzzParseApp checks that parseApp never panics and that whatever it
// accepts is JSON that decodes into proxyos.App without unknown fields,
// re-encodes to the same bytes, and holds only values the parser allows.
// Seeds: the TestParseApp table and testdata/fuzz/FuzzParseApp.
func FuzzParseApp(f *testing.F) {
	for _, tt := range appCases {
		f.Add(tt.input)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, ok := fuzzDispenser(input)
		if !ok {
			return
		}
		val, err := parseApp(d, nil)
		if err != nil {
			return
		}
		app, ok := val.(httpcaddyfile.App)
		if !ok || app.Name != "proxyos" {
			t.Fatalf("parseApp returned %#v, want the proxyos httpcaddyfile.App", val)
		}
		got := new(proxyos.App)
		dec := json.NewDecoder(bytes.NewReader(app.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(got); err != nil {
			t.Fatalf("decoding %s: %v", app.Value, err)
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("encoding %+v: %v", got, err)
		}
		if !bytes.Equal(again, app.Value) {
			t.Fatalf("JSON round trip changed the app:\n%s\n%s", app.Value, again)
		}
		if db := got.Database; db != nil && db.Driver != "sqlite" && db.Driver != "postgres" {
			t.Fatalf("accepted database driver %q", db.Driver)
		}
		if got.SessionTTL < 0 || got.SessionIdle < 0 {
			t.Fatalf("accepted negative session lifetimes %v, %v", got.SessionTTL, got.SessionIdle)
		}
	})
}

// FuzzParseAuth checks that parseAuth never panics and that whatever it
// accepts survives a JSON round trip into proxyos.Auth (as Caddy loads
// it) and holds only valid roles.
// Seeds: the TestParseAuth table and testdata/fuzz/FuzzParseAuth.
func FuzzParseAuth(f *testing.F) {
	for _, tt := range authCases {
		f.Add(tt.input)
	}
	f.Fuzz(func(t *testing.T, input string) {
		d, ok := fuzzDispenser(input)
		if !ok {
			return
		}
		h, err := parseAuth(httpcaddyfile.Helper{Dispenser: d})
		if err != nil {
			return
		}
		a, ok := h.(*proxyos.Auth)
		if !ok {
			t.Fatalf("parseAuth returned %T, want *proxyos.Auth", h)
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("encoding %+v: %v", a, err)
		}
		got := new(proxyos.Auth)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(got); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("JSON round trip changed the handler: %+v became %+v", a, got)
		}
		for _, r := range got.Roles {
			if !authz.Role(r).Valid() {
				t.Fatalf("accepted role %q", r)
			}
		}
	})
}
