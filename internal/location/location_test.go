package location

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
)

// provision loads cfg as a proxyos_locations handler in a fresh Caddy
// context, cancelled when the test ends.
func provision(t *testing.T, cfg string) *Handler {
	t.Helper()
	root, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(root)
	t.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.handlers.proxyos_locations", json.RawMessage(cfg))
	if err != nil {
		t.Fatalf("loading %s: %v", cfg, err)
	}
	return mod.(*Handler)
}

// static is a static_response handler answering body.
func static(body string) string {
	return `{"handler":"static_response","status_code":200,"body":"` + body + `"}`
}

// header is a headers handler setting X-Seen to v on the response.
func header(v string) string {
	return `{"handler":"headers","response":{"set":{"X-Seen":["` + v + `"]}}}`
}

// serve runs a request for path through h as Caddy's server prepares it,
// with a next handler answering "next".
func serve(t *testing.T, h caddyhttp.MiddlewareHandler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	req.URL.Path = path
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		_, err := w.Write([]byte("next"))
		return err
	})
	if err := h.ServeHTTP(rec, req, next); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rec
}

// TestHandlerServes: the first location in order whose path matches
// serves the request with its handlers in order, else the default
// handlers, and without them the next handler.
func TestHandlerServes(t *testing.T) {
	withDefault := provision(t, `{"locations":[
		{"path":"/api/v1/*","handle":[`+header("v1")+`,`+static("v1")+`]},
		{"path":"/api/*","handle":[`+static("api")+`]},
		{"path":"/api/v1/x","handle":[`+static("never: /api/v1/* is first")+`]}
	],"default":[`+header("default")+`,`+static("default")+`]}`)
	noDefault := provision(t, `{"locations":[{"path":"/exact","handle":[`+static("exact")+`]}]}`)
	for _, tt := range []struct {
		h          *Handler
		path, body string
		seen       string
	}{
		{withDefault, "/api/v1/users", "v1", "v1"},
		{withDefault, "/API/V1/", "v1", "v1"},
		{withDefault, "/api/x/../v1/y", "v1", "v1"},
		{withDefault, "/api/x", "api", ""},
		{withDefault, "/api/v1/x", "v1", "v1"},
		{withDefault, "/api", "default", "default"},
		{withDefault, "/", "default", "default"},
		{noDefault, "/exact", "exact", ""},
		{noDefault, "/Exact", "exact", ""},
		{noDefault, "/exact/", "next", ""},
		{noDefault, "/other", "next", ""},
	} {
		rec := serve(t, tt.h, tt.path)
		if rec.Body.String() != tt.body || rec.Header().Get("X-Seen") != tt.seen {
			t.Errorf("%s: body %q X-Seen %q, want %q %q", tt.path, rec.Body.String(), rec.Header().Get("X-Seen"), tt.body, tt.seen)
		}
	}
}

// TestHandlerTerminal: a location's chain ends as a terminal route's: a
// handler that calls its next reaches neither the default handlers nor
// the next handler.
func TestHandlerTerminal(t *testing.T) {
	h := provision(t, `{"locations":[{"path":"/a","handle":[`+header("a")+`]}],"default":[`+static("default")+`]}`)
	rec := serve(t, h, "/a")
	if rec.Body.String() != "" || rec.Header().Get("X-Seen") != "a" {
		t.Errorf("body %q X-Seen %q, want the location's header and nothing after it", rec.Body.String(), rec.Header().Get("X-Seen"))
	}
}

// TestHandlerValidate refuses paths the matcher does not reproduce
// Caddy's matching for, naming the location.
func TestHandlerValidate(t *testing.T) {
	for _, p := range []string{"api", "/a%2f", "/{env.HOME}", "/a*b", "//a", "/a?"} {
		h := &Handler{Locations: []Location{{Path: "/ok"}, {Path: p}}}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "locations[1].path") {
			t.Errorf("%q: %v, want an error naming locations[1].path", p, err)
		}
	}
}

// TestHandlerAllocs: picking a location and running its chain allocates
// nothing beyond what its handlers do: as many allocations as calling
// the location's static_response directly.
func TestHandlerAllocs(t *testing.T) {
	h := provision(t, `{"locations":[
		{"path":"/exact","handle":[`+static("exact")+`]},
		{"path":"/api/v1/users/*","handle":[`+static("users")+`]},
		{"path":"/api/*","handle":[`+static("api")+`]},
		{"path":"/static*","handle":[`+static("static")+`]}
	],"default":[`+static("default")+`]}`)
	for _, p := range []string{"/api/v1/x", "/Static/app.js", "/other/"} {
		w := &discard{h: http.Header{}}
		req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		req.URL.Path = p
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), w, &caddyhttp.Server{})
		handlers := h.Default
		if l := h.Match(p); l != nil {
			handlers = l.Handlers
		}
		direct := testing.AllocsPerRun(100, func() { handlers[0].ServeHTTP(w, req, nil) })   //nolint:errcheck // static
		if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req, nil) }); n > direct { //nolint:errcheck // static
			t.Errorf("%s: %.1f allocations, want %.1f as its static_response alone", p, n, direct)
		}
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
