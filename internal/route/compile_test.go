package route

import (
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard" // the handlers routes compile to

	"github.com/proxyos/caddy-proxyos/internal/access"
)

// rtuCompiled is one route of a compiled RouteList, as JSON.
type rtuCompiled struct {
	Match    []map[string]any `json:"match"`
	Handle   []map[string]any `json:"handle"`
	Terminal bool             `json:"terminal"`
}

// rtuCompileJSON compiles r and returns the route list marshaled back to
// JSON and decoded generically, so tests inspect exactly what Caddy gets.
func rtuCompileJSON(t *testing.T, r *Route) []rtuCompiled {
	t.Helper()
	list, err := Compile(r, Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	raw, err := json.Marshal(list)
	if err != nil {
		t.Fatalf("marshaling the route list: %v", err)
	}
	var out []rtuCompiled
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decoding the route list %s: %v", raw, err)
	}
	return out
}

// rtuAssertJSON fails unless got and want (a JSON text) are the same JSON
// value.
func rtuAssertJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshaling: %v", what, err)
	}
	var g, w any
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, raw, want)
	}
}

// rtuHandlerNames lists the "handler" of each handler of a compiled route.
func rtuHandlerNames(c rtuCompiled) []string {
	var names []string
	for _, h := range c.Handle {
		name, _ := h["handler"].(string)
		names = append(names, name)
	}
	return names
}

// rtuEveryOption is a valid proxy route using every option.
func rtuEveryOption() *Route {
	return &Route{
		ID: "every", Enabled: true, Hosts: []string{"app.example.com"}, Kind: KindProxy, TLS: TLSAuto,
		Upstreams:   []string{"https://nas.lan:8443", "https://10.0.0.6"},
		UpstreamTLS: &UpstreamTLS{SkipVerify: true, ServerName: "nas.example.com"},
		LoadBalancing: &LoadBalancing{Policy: "round_robin",
			HealthCheck: &HealthCheck{Path: "/healthz", Interval: "10s", Timeout: "2s"}},
		Headers: &Headers{
			Request:  &HeaderOps{Set: map[string]string{"X-Forwarded-Prefix": "/api"}, Delete: []string{"Cookie"}},
			Response: &HeaderOps{Set: map[string]string{"X-Frame-Options": "DENY"}, Delete: []string{"Server"}},
		},
		HSTS: true, ForceHTTPS: true, Compress: true, StripPrefix: "/api",
		Access: &Access{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.0.0.13"}},
		Auth:   &Auth{RequireLogin: true, Roles: []string{"admin"}},
	}
}

func TestCompileEveryOption(t *testing.T) {
	r := rtuEveryOption()
	if err := r.Validate(); err != nil {
		t.Fatalf("the test route must be valid: %v", err)
	}
	got := rtuCompileJSON(t, r)
	if len(got) != 4 {
		t.Fatalf("compiled %d routes, want 4 (deny, allow, force_https, chain): %+v", len(got), got)
	}
	for i, c := range got {
		if !c.Terminal {
			t.Errorf("route %d is not terminal: requests would run on into other handlers", i)
		}
	}
	forbidden := `[{"handler":"static_response","status_code":403,"body":"Forbidden"}]`

	t.Run("deny first", func(t *testing.T) {
		rtuAssertJSON(t, "match", got[0].Match, `[{"client_ip":{"ranges":["10.0.0.13"]}}]`)
		rtuAssertJSON(t, "handle", got[0].Handle, forbidden)
	})
	t.Run("then everything not allowed", func(t *testing.T) {
		rtuAssertJSON(t, "match", got[1].Match, `[{"not":[{"client_ip":{"ranges":["10.0.0.0/8"]}}]}]`)
		rtuAssertJSON(t, "handle", got[1].Handle, forbidden)
	})
	t.Run("force https", func(t *testing.T) {
		rtuAssertJSON(t, "match", got[2].Match, `[{"protocol":"http"}]`)
		rtuAssertJSON(t, "handle", got[2].Handle, `[{"handler":"static_response","status_code":308,
			"headers":{"Location":["https://{http.request.host}{http.vars.proxyos_https_port}{http.request.uri}"]}}]`)
	})
	t.Run("handler chain", func(t *testing.T) {
		c := got[3]
		if c.Match != nil {
			t.Errorf("chain has matchers %v, want none", c.Match)
		}
		want := []string{"headers", "proxyos_auth", "encode", "rewrite", "reverse_proxy"}
		if names := rtuHandlerNames(c); !reflect.DeepEqual(names, want) {
			t.Fatalf("handlers = %q, want %q", names, want)
		}
		rtuAssertJSON(t, "auth", c.Handle[1], `{"handler":"proxyos_auth","roles":["admin"]}`)
		rtuAssertJSON(t, "headers", c.Handle[0], `{"handler":"headers",
			"request":{"set":{"X-Forwarded-Prefix":["/api"]},"delete":["Cookie"]},
			"response":{"set":{"X-Frame-Options":["DENY"],"Strict-Transport-Security":["max-age=31536000"]},
				"delete":["Server"],"deferred":true}}`)
		rtuAssertJSON(t, "encode", c.Handle[2], `{"handler":"encode","encodings":{"zstd":{},"gzip":{}},"prefer":["zstd","gzip"]}`)
		rtuAssertJSON(t, "rewrite", c.Handle[3], `{"handler":"rewrite","strip_path_prefix":"/api"}`)
		rtuAssertJSON(t, "reverse_proxy", c.Handle[4], `{"handler":"reverse_proxy",
			"upstreams":[{"dial":"nas.lan:8443"},{"dial":"10.0.0.6:443"}],
			"transport":{"protocol":"http","tls":{"insecure_skip_verify":true,"server_name":"nas.example.com"}},
			"load_balancing":{"selection_policy":{"policy":"round_robin"}},
			"health_checks":{"active":{"uri":"/healthz","interval":"10s","timeout":"2s"}}}`)
	})
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name     string
		route    func() *Route
		handlers []string // of the last (chain) route
		check    func(t *testing.T, got []rtuCompiled)
	}{
		{
			name: "minimal proxy", route: rtuProxy, handlers: []string{"reverse_proxy"},
			check: func(t *testing.T, got []rtuCompiled) {
				if len(got) != 1 {
					t.Fatalf("%d routes, want 1", len(got))
				}
				rtuAssertJSON(t, "reverse_proxy", got[0].Handle[0],
					`{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.5:3000"}],
						"transport":{"protocol":"http","versions":["1.1"]}}`)
			},
		},
		{
			name: "https upstream verifies by default",
			route: func() *Route {
				r := rtuProxy()
				r.Upstreams = []string{"https://nas.lan"}
				return r
			},
			handlers: []string{"reverse_proxy"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "transport", got[0].Handle[0]["transport"], `{"protocol":"http","tls":{}}`)
			},
		},
		{
			name: "load balancing without health check",
			route: func() *Route {
				r := rtuProxy()
				r.Upstreams = []string{"http://a:1", "http://b:2"}
				r.LoadBalancing = &LoadBalancing{Policy: "first"}
				return r
			},
			handlers: []string{"reverse_proxy"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "reverse_proxy", got[0].Handle[0], `{"handler":"reverse_proxy",
					"upstreams":[{"dial":"a:1"},{"dial":"b:2"}],
					"transport":{"protocol":"http","versions":["1.1"]},
					"load_balancing":{"selection_policy":{"policy":"first"}}}`)
			},
		},
		{
			name: "hsts alone is a deferred response header",
			route: func() *Route {
				r := rtuStatic()
				r.HSTS = true
				return r
			},
			handlers: []string{"headers", "static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "headers", got[0].Handle[0], `{"handler":"headers",
					"response":{"set":{"Strict-Transport-Security":["max-age=31536000"]},"deferred":true}}`)
			},
		},
		{
			name: "empty header ops add no handler",
			route: func() *Route {
				r := rtuProxy()
				r.Headers = &Headers{Request: &HeaderOps{}, Response: &HeaderOps{}}
				return r
			},
			handlers: []string{"reverse_proxy"},
		},
		{
			name: "auth without roles",
			route: func() *Route {
				r := rtuStatic()
				r.Auth = &Auth{RequireLogin: true}
				return r
			},
			handlers: []string{"proxyos_auth", "static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "auth", got[0].Handle[0], `{"handler":"proxyos_auth"}`)
			},
		},
		{
			name: "access rules without login: a gate whose default is allow",
			route: func() *Route {
				r := rtuStatic()
				r.Auth = &Auth{Rules: []access.Rule{{Action: "login", Path: "/admin/*"}}, Emails: []string{"a@example.com"}, Groups: []string{"ops"}}
				return r
			},
			handlers: []string{"proxyos_auth", "static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "auth", got[0].Handle[0], `{"handler":"proxyos_auth","default":"allow","emails":["a@example.com"],"groups":["ops"],"rules":[{"action":"login","path":"/admin/*"}]}`)
			},
		},
		{
			name: "access rules with login",
			route: func() *Route {
				r := rtuStatic()
				r.Auth = &Auth{RequireLogin: true, Rules: []access.Rule{{Action: "allow", Path: "/health"}, {Action: "deny", CIDRs: []string{"10.0.0.0/8"}}}}
				return r
			},
			handlers: []string{"proxyos_auth", "static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "auth", got[0].Handle[0], `{"handler":"proxyos_auth","rules":[{"action":"allow","path":"/health"},{"action":"deny","cidrs":["10.0.0.0/8"]}]}`)
			},
		},
		{
			name: "auth not required adds no gate",
			route: func() *Route {
				r := rtuStatic()
				r.Auth = &Auth{}
				return r
			},
			handlers: []string{"static_response"},
		},
		{
			name: "allow list only",
			route: func() *Route {
				r := rtuStatic()
				r.Access = &Access{Allow: []string{"192.0.2.0/24"}}
				return r
			},
			handlers: []string{"static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				if len(got) != 2 {
					t.Fatalf("%d routes, want 2", len(got))
				}
				rtuAssertJSON(t, "match", got[0].Match, `[{"not":[{"client_ip":{"ranges":["192.0.2.0/24"]}}]}]`)
			},
		},
		{
			name:     "redirect",
			route:    rtuRedirect,
			handlers: []string{"static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "redirect", got[0].Handle[0], `{"handler":"static_response","status_code":301,
					"headers":{"Location":["https://new.example.com"]}}`)
			},
		},
		{
			name: "redirect preserving the path",
			route: func() *Route {
				r := rtuRedirect()
				r.Redirect = &Redirect{To: "https://new.example.com/base/", Status: 308, PreservePath: true}
				return r
			},
			handlers: []string{"static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "redirect", got[0].Handle[0], `{"handler":"static_response","status_code":308,
					"headers":{"Location":["https://new.example.com/base{http.request.uri}"]}}`)
			},
		},
		{
			name:     "static",
			route:    rtuStatic,
			handlers: []string{"static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "static", got[0].Handle[0], `{"handler":"static_response","status_code":503,
					"headers":{"Content-Type":["text/html; charset=utf-8"]},"body":"<h1>Down</h1>"}`)
			},
		},
		{
			name: "user text is escaped, never a placeholder",
			route: func() *Route {
				r := rtuStatic()
				r.Static.Body = "a {env.SECRET} b"
				r.Static.ContentType = "text/{env.SECRET}"
				r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"X-Note": "{env.SECRET}"}}}
				return r
			},
			handlers: []string{"headers", "static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "headers", got[0].Handle[0], `{"handler":"headers",
					"response":{"set":{"X-Note":["\\{env.SECRET\\}"]},"deferred":true}}`)
				rtuAssertJSON(t, "static", got[0].Handle[1], `{"handler":"static_response","status_code":503,
					"headers":{"Content-Type":["text/\\{env.SECRET\\}"]},"body":"a \\{env.SECRET\\} b"}`)
			},
		},
		{
			name: "redirect target is escaped (even unvalidated)",
			route: func() *Route {
				r := rtuRedirect()
				r.Redirect = &Redirect{To: "https://x.example/{env.SECRET}", Status: 302, PreservePath: true}
				return r
			},
			handlers: []string{"static_response"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "redirect", got[0].Handle[0], `{"handler":"static_response","status_code":302,
					"headers":{"Location":["https://x.example/\\{env.SECRET\\}{http.request.uri}"]}}`)
			},
		},
		{
			name: "locations: one proxyos_locations handler, most specific first, the default last",
			route: func() *Route {
				r := rtuStatic()
				r.HSTS = true
				r.Locations = []Location{
					{Path: "/api/*", Kind: KindRedirect, Redirect: &Redirect{To: "https://api.example.com", Status: 308}},
					{Path: "/api/v1/*", Kind: KindStatic, Static: &Static{Status: 200, Body: "v1", ContentType: "text/plain"},
						Headers: &Headers{Request: &HeaderOps{Delete: []string{"X-A"}}}},
					{Path: "/api", Kind: KindStatic, Static: &Static{Status: 204, ContentType: "text/plain"}},
				}
				return r
			},
			handlers: []string{"headers", "proxyos_locations"},
			check: func(t *testing.T, got []rtuCompiled) {
				if len(got) != 1 {
					t.Fatalf("%d routes, want the one chain route", len(got))
				}
				rtuAssertJSON(t, "locations", got[0].Handle[1], `{"handler":"proxyos_locations",
					"locations":[
						{"path":"/api","handle":[{"handler":"static_response","status_code":204,"headers":{"Content-Type":["text/plain"]},"body":""}]},
						{"path":"/api/v1/*","handle":[{"handler":"headers","request":{"delete":["X-A"]}},
							{"handler":"static_response","status_code":200,"headers":{"Content-Type":["text/plain"]},"body":"v1"}]},
						{"path":"/api/*","handle":[{"handler":"static_response","status_code":308,"headers":{"Location":["https://api.example.com"]}}]}
					],
					"default":[{"handler":"static_response","status_code":503,"headers":{"Content-Type":["text/html; charset=utf-8"]},"body":"<h1>Down</h1>"}]}`)
			},
		},
		{
			name: "request header value and strip prefix are escaped (even unvalidated)",
			route: func() *Route {
				r := rtuProxy()
				r.StripPrefix = "/{env.SECRET}"
				r.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"X-Token": "{file./etc/passwd}"}}}
				return r
			},
			handlers: []string{"headers", "rewrite", "reverse_proxy"},
			check: func(t *testing.T, got []rtuCompiled) {
				rtuAssertJSON(t, "headers", got[0].Handle[0], `{"handler":"headers",
					"request":{"set":{"X-Token":["\\{file./etc/passwd\\}"]}}}`)
				rtuAssertJSON(t, "rewrite", got[0].Handle[1], `{"handler":"rewrite","strip_path_prefix":"/\\{env.SECRET\\}"}`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rtuCompileJSON(t, tt.route())
			if len(got) == 0 {
				t.Fatal("no routes compiled")
			}
			last := got[len(got)-1]
			if !last.Terminal || last.Match != nil {
				t.Errorf("chain route: terminal %v, match %v; want terminal without matchers", last.Terminal, last.Match)
			}
			if names := rtuHandlerNames(last); !reflect.DeepEqual(names, tt.handlers) {
				t.Errorf("handlers = %q, want %q", names, tt.handlers)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		route func() *Route
	}{
		{"unknown kind", func() *Route { r := rtuProxy(); r.Kind = "file_server"; return r }},
		{"bad upstream", func() *Route { r := rtuProxy(); r.Upstreams = []string{"ftp://x"}; return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if list, err := Compile(tt.route(), Options{}); err == nil {
				t.Fatalf("Compile = %d routes, want an error", len(list))
			}
		})
	}
}

// rtuFallThrough is the status the next handler answers with, so a test
// sees when a compiled route let a request run past it.
const rtuFallThrough = 599

// rtuContext returns a Caddy context with a (not started) configuration,
// as modules get when Caddy loads a config, cancelled when the test ends.
// reverse_proxy needs the configuration to find the events app.
func rtuContext(t *testing.T) caddy.Context {
	t.Helper()
	root, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}})
	if err != nil {
		t.Fatalf("caddy.ProvisionContext: %v", err)
	}
	ctx, cancel := caddy.NewContext(root)
	t.Cleanup(cancel)
	return ctx
}

// rtuProvision provisions list in a fresh Caddy context (cancelled when
// the test ends) and compiles it with a next handler answering
// rtuFallThrough.
func rtuProvision(t *testing.T, list caddyhttp.RouteList) caddyhttp.Handler {
	t.Helper()
	ctx := rtuContext(t)
	if err := list.Provision(ctx); err != nil {
		t.Fatalf("provisioning the route list: %v", err)
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(rtuFallThrough)
		return nil
	})
	return list.Compile(next)
}

// rtuServeRoute compiles and provisions r and returns its handler.
func rtuServeRoute(t *testing.T, r *Route) caddyhttp.Handler {
	t.Helper()
	list, err := Compile(r, Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rtuProvision(t, list)
}

// rtuRequest describes one request to a compiled route.
type rtuRequest struct {
	method, url string
	https       bool   // request arrived over TLS
	clientIP    string // as Caddy determined it
	header      http.Header
	vars        map[string]any
}

// rtuServe runs req through h as Caddy's server would (replacer, vars,
// client IP) and returns the recorded response and the handler's error.
func rtuServe(t *testing.T, h caddyhttp.Handler, rq rtuRequest) (*httptest.ResponseRecorder, error) {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, rq.url, nil)
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	if rq.https {
		req.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: req.Host}
	} else {
		req.TLS = nil
	}
	rec := httptest.NewRecorder()
	// reverse_proxy reads the server from the request context.
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
	if rq.clientIP != "" {
		caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, rq.clientIP)
	}
	for k, v := range rq.vars {
		caddyhttp.SetVar(req.Context(), k, v)
	}
	err := h.ServeHTTP(rec, req)
	return rec, err
}

// rtuStatus returns the status a handler error carries, or 0.
func rtuStatus(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// TestCompiledPlaceholderInjection prevents placeholder injection: an
// operator writing a route must not be able to make Caddy expand
// {env.*} or {file.*} in a static body, content type, response header or
// redirect target and so read the server's secrets (PROXYOS_SECRET, a
// database password, a key file) over HTTP. The compiled handlers are
// provisioned and served by real Caddy modules.
func TestCompiledPlaceholderInjection(t *testing.T) {
	const secret = "hunter2"
	t.Setenv("SECRET", secret)
	secretFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(secretFile, []byte("file-"+secret), 0o600); err != nil {
		t.Fatal(err)
	}
	env, file := "{env.SECRET}", "{file."+secretFile+"}"

	t.Run("control: an unescaped placeholder does expand", func(t *testing.T) {
		// Without this, a harness that never expands placeholders would
		// make the tests below pass vacuously.
		var list caddyhttp.RouteList
		raw := `[{"handle":[{"handler":"static_response","body":"{env.SECRET} {file.` + secretFile + `}"}],"terminal":true}]`
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatal(err)
		}
		rec, err := rtuServe(t, rtuProvision(t, list), rtuRequest{url: "http://x.example/"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rec.Body.String(), secret+" file-"+secret; got != want {
			t.Fatalf("control body = %q, want %q", got, want)
		}
	})

	tests := []struct {
		name  string
		route func() *Route
		check func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{
			name: "static body",
			route: func() *Route {
				r := rtuStatic()
				r.Static.Status, r.Static.Body = 200, "env "+env+" file "+file+` \`+env
				return r
			},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if got, want := rec.Body.String(), "env "+env+" file "+file+` \`+env; got != want {
					t.Errorf("body = %q, want it literally %q", got, want)
				}
			},
		},
		{
			name: "content type",
			route: func() *Route {
				r := rtuStatic()
				r.Static.ContentType = "text/plain; x=" + env
				return r
			},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if got, want := rec.Header().Get("Content-Type"), "text/plain; x="+env; got != want {
					t.Errorf("Content-Type = %q, want %q", got, want)
				}
			},
		},
		{
			name: "response header",
			route: func() *Route {
				r := rtuStatic()
				r.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"X-Note": env + file}}}
				return r
			},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if got, want := rec.Header().Get("X-Note"), env+file; got != want {
					t.Errorf("X-Note = %q, want %q", got, want)
				}
			},
		},
		{
			name: "redirect target",
			route: func() *Route {
				// Validate refuses braces in a redirect target; Compile must
				// be safe on its own too.
				r := rtuRedirect()
				r.Redirect = &Redirect{To: "https://new.example/" + env, Status: 302, PreservePath: true}
				return r
			},
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if got, want := rec.Header().Get("Location"), "https://new.example/"+env+"/path?q=1"; got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := rtuServeRoute(t, tt.route())
			rec, err := rtuServe(t, h, rtuRequest{url: "http://down.example.com/path?q=1"})
			if err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			var all strings.Builder
			all.WriteString(rec.Body.String())
			for k, vs := range rec.Header() {
				all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
			if strings.Contains(all.String(), secret) {
				t.Fatalf("response reveals the secret:\n%s", all.String())
			}
			tt.check(t, rec)
		})
	}
}

// TestCompiledProxyServes sends requests through a provisioned route
// using the proxy options and checks each one takes effect.
func TestCompiledProxyServes(t *testing.T) {
	t.Setenv("SECRET", "hunter2")
	type seen struct {
		path, query, xTest, xDrop string
	}
	var (
		mu   sync.Mutex
		last seen
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = seen{r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Test"), r.Header.Get("X-Drop")}
		mu.Unlock()
		w.Header().Set("Server", "upstream/1.0")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("compressible ", 200))
	}))
	t.Cleanup(upstream.Close)

	r := &Route{
		ID: "p", Enabled: true, Hosts: []string{"app.example.com"}, Kind: KindProxy, TLS: TLSAuto,
		Upstreams: []string{upstream.URL},
		Headers: &Headers{
			Request:  &HeaderOps{Set: map[string]string{"X-Test": "{env.SECRET}"}, Delete: []string{"X-Drop"}},
			Response: &HeaderOps{Set: map[string]string{"X-Frame-Options": "DENY"}, Delete: []string{"Server"}},
		},
		HSTS: true, ForceHTTPS: true, Compress: true, StripPrefix: "/api",
		Access: &Access{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.0.0.13"}},
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatalf("the test route must be valid: %v", err)
	}
	h := rtuServeRoute(t, r)

	t.Run("plain http is redirected to https", func(t *testing.T) {
		rec, err := rtuServe(t, h, rtuRequest{url: "http://app.example.com/api/x?y=1", clientIP: "10.1.1.1"})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusPermanentRedirect || rec.Header().Get("Location") != "https://app.example.com/api/x?y=1" {
			t.Errorf("got %d Location %q, want 308 to https://app.example.com/api/x?y=1", rec.Code, rec.Header().Get("Location"))
		}
	})
	t.Run("https port from the request variable", func(t *testing.T) {
		rec, err := rtuServe(t, h, rtuRequest{url: "http://app.example.com:8080/", clientIP: "10.1.1.1",
			vars: map[string]any{HTTPSPortVar: ":8443"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Header().Get("Location"); got != "https://app.example.com:8443/" {
			t.Errorf("Location = %q, want https://app.example.com:8443/", got)
		}
	})
	for _, tc := range []struct{ name, ip string }{
		{"denied address", "10.0.0.13"},
		{"address outside the allow list", "192.0.2.1"},
		{"unparsable client address", "unknown"},
	} {
		t.Run(tc.name+" gets 403", func(t *testing.T) {
			rec, err := rtuServe(t, h, rtuRequest{url: "https://app.example.com/api/x", https: true, clientIP: tc.ip})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", rec.Code)
			}
		})
	}
	t.Run("allowed https request is proxied with every option", func(t *testing.T) {
		rec, err := rtuServe(t, h, rtuRequest{
			url: "https://app.example.com/api/x?y=1", https: true, clientIP: "10.1.1.1",
			header: http.Header{"Accept-Encoding": {"gzip"}, "X-Drop": {"1"}},
		})
		if err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", rec.Code)
		}
		mu.Lock()
		got := last
		mu.Unlock()
		if want := (seen{path: "/x", query: "y=1", xTest: "{env.SECRET}"}); got != want {
			t.Errorf("upstream saw %+v, want %+v (prefix stripped, header set literally, X-Drop deleted)", got, want)
		}
		for k, want := range map[string]string{
			"Strict-Transport-Security": "max-age=31536000",
			"X-Frame-Options":           "DENY",
			"Server":                    "",
			"Content-Encoding":          "gzip",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("response %s = %q, want %q", k, got, want)
			}
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		body, _ := io.ReadAll(zr)
		if !strings.HasPrefix(string(body), "compressible ") {
			t.Errorf("decompressed body %.40q…, want the upstream's", body)
		}
	})
}

// TestCompiledUpstreamTLS checks that HTTPS upstreams are verified unless
// skip_verify is set, and that server_name is the SNI sent.
func TestCompiledUpstreamTLS(t *testing.T) {
	var (
		mu  sync.Mutex
		sni string
	)
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "tls upstream")
	}))
	upstream.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sni = hello.ServerName
		mu.Unlock()
		return nil, nil
	}}
	upstream.StartTLS()
	t.Cleanup(upstream.Close)
	base := func() *Route {
		r := rtuProxy()
		r.Upstreams = []string{upstream.URL}
		return r
	}

	t.Run("self-signed upstream refused by default", func(t *testing.T) {
		rec, err := rtuServe(t, rtuServeRoute(t, base()), rtuRequest{url: "http://app.example.com/"})
		if rtuStatus(err) != http.StatusBadGateway {
			t.Fatalf("got status %d, error %v; want a 502 handler error", rec.Code, err)
		}
	})
	t.Run("skip_verify with server_name", func(t *testing.T) {
		r := base()
		r.UpstreamTLS = &UpstreamTLS{SkipVerify: true, ServerName: "nas.example.com"}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		rec, err := rtuServe(t, rtuServeRoute(t, r), rtuRequest{url: "http://app.example.com/"})
		if err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		}
		if rec.Code != http.StatusOK || rec.Body.String() != "tls upstream" {
			t.Fatalf("got %d %q, want 200 from the upstream", rec.Code, rec.Body)
		}
		mu.Lock()
		defer mu.Unlock()
		if sni != "nas.example.com" {
			t.Errorf("upstream saw SNI %q, want nas.example.com", sni)
		}
	})
}

// TestCompiledHealthCheck checks that an active health check takes an
// unhealthy upstream out of rotation.
func TestCompiledHealthCheck(t *testing.T) {
	backend := func(name string, healthy bool) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" && !healthy {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	sick, well := backend("sick", false), backend("well", true)
	r := rtuProxy()
	r.Upstreams = []string{sick.URL, well.URL}
	r.LoadBalancing = &LoadBalancing{Policy: "first", HealthCheck: &HealthCheck{Path: "/healthz", Interval: "100ms"}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	h := rtuServeRoute(t, r)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := rtuServe(t, h, rtuRequest{url: "http://app.example.com/"})
		if err == nil && rec.Body.String() == "well" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests still reach %q (error %v); the failing health check should have removed it", rec.Body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCompiledRedirectAndStatic serves the two other kinds.
func TestCompiledRedirectAndStatic(t *testing.T) {
	tests := []struct {
		name               string
		route              *Route
		url                string
		status             int
		header, headerWant string
		body               string
	}{
		{
			name:  "redirect without path",
			route: rtuRedirect(), url: "http://old.example.com/a?b=1",
			status: 301, header: "Location", headerWant: "https://new.example.com",
		},
		{
			name: "redirect preserving path and query",
			route: func() *Route {
				r := rtuRedirect()
				r.Redirect = &Redirect{To: "https://new.example.com/base/", Status: 307, PreservePath: true}
				return r
			}(),
			url:    "http://old.example.com/a/b?c=1",
			status: 307, header: "Location", headerWant: "https://new.example.com/base/a/b?c=1",
		},
		{
			name:  "static page",
			route: rtuStatic(), url: "http://down.example.com/anything",
			status: 503, header: "Content-Type", headerWant: "text/html; charset=utf-8", body: "<h1>Down</h1>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := rtuServe(t, rtuServeRoute(t, tt.route), rtuRequest{url: tt.url})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get(tt.header); got != tt.headerWant {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.headerWant)
			}
			if rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body, tt.body)
			}
		})
	}
}

// TestCompileUpstreamHostAndTransport checks that upstream_host becomes
// reverse_proxy's own Host edit (escaped, so it is never a placeholder)
// and that Options.Transport names the transport of every proxy route,
// plain HTTP upstreams included.
func TestCompileUpstreamHostAndTransport(t *testing.T) {
	r := rtuProxy()
	r.UpstreamHost = "grafana.lan:8443"
	list, err := Compile(r, Options{Transport: "proxyos"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var got []rtuCompiled
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	rtuAssertJSON(t, "reverse_proxy", got[len(got)-1].Handle[0], `{"handler":"reverse_proxy",
		"upstreams":[{"dial":"10.0.0.5:3000"}],
		"transport":{"protocol":"proxyos","versions":["1.1"]},
		"headers":{"request":{"set":{"Host":["grafana.lan:8443"]}}}}`)

	r.Upstreams = []string{"https://nas.lan"}
	r.UpstreamHost = ""
	got = nil
	list, err = Compile(r, Options{Transport: "proxyos"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(list)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	rtuAssertJSON(t, "https transport", got[len(got)-1].Handle[0]["transport"], `{"protocol":"proxyos","tls":{}}`)
}
