package route

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// rtuOwnPlaceholders are the only placeholders Compile itself writes;
// anything else unescaped in its output would come from user input.
var rtuOwnPlaceholders = map[string]bool{
	"{http.request.host}":              true,
	"{http.request.uri}":               true,
	"{http.vars." + HTTPSPortVar + "}": true,
}

// FuzzRouteJSON feeds arbitrary JSON to the API's decode, Normalize and
// Validate steps. They must never panic; a route they accept must
// compile, its Caddy JSON must decode again, and it must contain no
// placeholder but Compile's own (placeholder injection: user text reading
// {env.*} or {file.*} secrets). The seed corpus in
// testdata/fuzz/FuzzRouteJSON holds one route of each kind.
func FuzzRouteJSON(f *testing.F) {
	for _, s := range []string{
		`{"hosts":["app.example.com"],"kind":"proxy","upstreams":["http://10.0.0.5:3000"]}`,
		`{"hosts":["Old.Example.com."],"kind":"redirect","redirect":{"to":"https://new.example.com/x/","preserve_path":true}}`,
		`{"hosts":["down.example.com"],"kind":"static","static":{"status":503,"body":"{env.SECRET} \\{x}","content_type":"text/{env.X}"}}`,
		`{"hosts":["*.example.com","10.0.0.1"],"kind":"static","tls":"internal","hsts":true,"force_https":true,
		  "headers":{"response":{"set":{"X-A":"{file./etc/passwd}"},"delete":["Server"]}},
		  "access":{"allow":["10.0.0.0/8"],"deny":["10.0.0.13"]},"auth":{"require_login":true,"roles":["admin"]}}`,
		`{"hosts":["a.example.com"],"kind":"proxy","upstreams":["https://a:8443","https://b"],
		  "upstream_tls":{"skip_verify":true,"server_name":"nas.example.com"},
		  "load_balancing":{"policy":"uri_hash","health_check":{"path":"/healthz","interval":"5s","timeout":"1s"}},
		  "headers":{"request":{"set":{"X-Forwarded-Prefix":"/api"},"delete":["Cookie"]}},
		  "compress":true,"strip_prefix":"/api"}`,
		`{"hosts":[],"kind":"proxy"}`,
		`{"hosts":["x"],"kind":"static","static":null}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Route
		if json.Unmarshal(data, &r) != nil {
			return
		}
		_ = r.Validate() // on raw input: may fail, must not panic
		r.Normalize()
		if err := r.Validate(); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Validate returned %T %v, want *route.Error", err, err)
			}
			return
		}
		list, err := Compile(&r, Options{})
		if err != nil {
			t.Fatalf("valid route %s does not compile: %v", data, err)
		}
		raw, err := json.Marshal(list)
		if err != nil {
			t.Fatalf("marshaling the compiled routes: %v", err)
		}
		var again caddyhttp.RouteList
		if err := json.Unmarshal(raw, &again); err != nil {
			t.Fatalf("compiled JSON %s does not decode: %v", raw, err)
		}
		var tree any
		if err := json.Unmarshal(raw, &tree); err != nil {
			t.Fatal(err)
		}
		rtuWalkStrings(tree, func(s string) {
			if ph := rtuForeignPlaceholder(s); ph != "" {
				t.Fatalf("compiled JSON has the placeholder %q from user input in %q\nroute: %s", ph, s, data)
			}
		})
	})
}

// rtuWalkStrings calls fn with every string (map keys included) in a
// decoded JSON value.
func rtuWalkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			rtuWalkStrings(e, fn)
		}
	case map[string]any:
		for k, e := range v {
			fn(k)
			rtuWalkStrings(e, fn)
		}
	}
}

// rtuForeignPlaceholder returns the first placeholder in s that Caddy's
// replacer would expand (an opening brace not preceded by a backslash)
// and that Compile did not write itself, or "".
func rtuForeignPlaceholder(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return s[i:] // unclosed: Caddy leaves it, but nothing of ours is unclosed
		}
		if ph := s[i : i+end+1]; !rtuOwnPlaceholders[ph] {
			return ph
		}
	}
	return ""
}

func TestForeignPlaceholder(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", ""},
		{"https://{http.request.host}{http.request.uri}", ""},
		{`\{env.SECRET\}`, ""},
		{`a\\{env.SECRET\}`, ""},
		{"{env.SECRET}", "{env.SECRET}"},
		{"x{http.request.uri}{file./a}", "{file./a}"},
		{"{unclosed", "{unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := rtuForeignPlaceholder(tt.in); got != tt.want {
				t.Errorf("rtuForeignPlaceholder(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
