package route

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// rtuEcho starts an upstream that answers "<name> <path>".
func rtuEcho(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		io.WriteString(w, name+" "+r.URL.Path) //nolint:errcheck
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func TestValidateLocations(t *testing.T) {
	loc := func(path string) Location { return Location{Path: path, Upstreams: []string{"http://10.0.0.6:80"}} }
	tests := []struct {
		name  string
		edit  func(r *Route)
		field string // "" means valid
	}{
		{"prefix and exact", func(r *Route) { r.Locations = []Location{loc("/api/*"), loc("/api"), loc("/static*")} }, ""},
		{"one of each kind", func(r *Route) {
			r.Locations = []Location{loc("/api/*"),
				{Path: "/old/*", Kind: KindRedirect, Redirect: &Redirect{To: "https://new.example.com"}},
				{Path: "/robots.txt", Kind: KindStatic, Static: &Static{Body: "User-agent: *", ContentType: "text/plain"}}}
		}, ""},
		{"strip prefix and response headers", func(r *Route) {
			l := loc("/api/*")
			l.StripPrefix = "/api"
			l.Headers = &Headers{Request: &HeaderOps{Delete: []string{"Cookie"}}, Response: &HeaderOps{Set: map[string]string{"X-A": "b"}}}
			r.Locations = []Location{l}
		}, ""},
		{"no leading slash", func(r *Route) { r.Locations = []Location{loc("/a"), loc("api/*")} }, "locations[1].path"},
		{"star inside", func(r *Route) { r.Locations = []Location{loc("/a/*/b")} }, "locations[0].path"},
		{"placeholder", func(r *Route) { r.Locations = []Location{loc("/{env.X}")} }, "locations[0].path"},
		{"escaped", func(r *Route) { r.Locations = []Location{loc("/a%2f")} }, "locations[0].path"},
		{"dot dot", func(r *Route) { r.Locations = []Location{loc("/a/../b")} }, "locations[0].path"},
		{"double slash", func(r *Route) { r.Locations = []Location{loc("//a")} }, "locations[0].path"},
		{"same path in another case", func(r *Route) { r.Locations = []Location{loc("/API/*"), loc("/api/*")} }, "locations[1].path"},
		{"proxy without upstreams", func(r *Route) { r.Locations = []Location{{Path: "/a"}} }, "locations[0].upstreams"},
		{"bad upstream", func(r *Route) { r.Locations = []Location{{Path: "/a", Upstreams: []string{"ftp://x"}}} }, "locations[0].upstreams[0]"},
		{"unknown kind", func(r *Route) { r.Locations = []Location{{Path: "/a", Kind: "file"}} }, "locations[0].kind"},
		{"redirect without target", func(r *Route) { r.Locations = []Location{{Path: "/a", Kind: KindRedirect}} }, "locations[0].redirect"},
		{"redirect to a placeholder", func(r *Route) {
			r.Locations = []Location{{Path: "/a", Kind: KindRedirect, Redirect: &Redirect{To: "https://{env.X}/"}}}
		}, "locations[0].redirect.to"},
		{"static with upstreams", func(r *Route) {
			r.Locations = []Location{{Path: "/a", Kind: KindStatic, Static: &Static{}, Upstreams: []string{"http://10.0.0.1"}}}
		}, "locations[0].upstreams"},
		{"strip prefix of a redirect", func(r *Route) {
			r.Locations = []Location{{Path: "/a", Kind: KindRedirect, Redirect: &Redirect{To: "https://x.example.com"}, StripPrefix: "/a"}}
		}, "locations[0].strip_prefix"},
		{"request header value (a secret the router seals)", func(r *Route) {
			l := loc("/a")
			l.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Authorization": "Bearer x"}}}
			r.Locations = []Location{l}
		}, ""},
		{"request header value on two lines", func(r *Route) {
			l := loc("/b")
			l.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"X-Api-Key": "k\r\nX-Admin: 1"}}}
			r.Locations = []Location{loc("/a"), l}
		}, "locations[1].headers.request.set"},
		{"identity header forged by a location", func(r *Route) {
			l := loc("/a")
			l.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"X-Proxyos-Email": "admin@example.com"}}}
			r.Locations = []Location{l}
		}, "locations[0].headers.request.set"},
		{"Host set by a location", func(r *Route) {
			l := loc("/a")
			l.Headers = &Headers{Request: &HeaderOps{Set: map[string]string{"Host": "admin.internal"}}}
			r.Locations = []Location{l}
		}, "locations[0].headers.request.set"},
		{"request header value of a redirect location", func(r *Route) {
			r.Locations = []Location{{Path: "/a", Kind: KindRedirect, Redirect: &Redirect{To: "https://x.example.com"},
				Headers: &Headers{Request: &HeaderOps{Set: map[string]string{"X-Api-Key": "k"}}}}}
		}, "locations[0].headers.request"},
		{"identity header deleted", func(r *Route) {
			l := loc("/a")
			l.Headers = &Headers{Request: &HeaderOps{Delete: []string{"X-Proxyos-User"}}}
			r.Locations = []Location{l}
		}, "locations[0].headers.request.delete"},
		{"hop-by-hop response header", func(r *Route) {
			l := loc("/a")
			l.Headers = &Headers{Response: &HeaderOps{Set: map[string]string{"Transfer-Encoding": "chunked"}}}
			r.Locations = []Location{l}
		}, "locations[0].headers.response.set"},
		{"too many", func(r *Route) {
			for i := 0; i <= maxLocations; i++ {
				r.Locations = append(r.Locations, loc("/p"+strings.Repeat("a", i)))
			}
		}, "locations"},
		{"error page", func(r *Route) { r.ErrorPages = ErrorPages{"502": "<h1>down</h1>"} }, ""},
		{"error page of another status", func(r *Route) { r.ErrorPages = ErrorPages{"500": "x"} }, "error_pages.500"},
		{"empty error page", func(r *Route) { r.ErrorPages = ErrorPages{"404": " "} }, "error_pages.404"},
		{"maintenance until before from", func(r *Route) {
			now := time.Now()
			r.Maintenance = &Maintenance{From: &now, Until: &now}
		}, "maintenance.until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rtuProxy()
			tt.edit(r)
			r.Normalize()
			err := r.Validate()
			var ve *Error
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.field != "" && !errors.As(err, &ve):
				t.Fatalf("want an error on %s, got %v", tt.field, err)
			case tt.field != "" && ve.Field != tt.field:
				t.Fatalf("error on %q (%v), want %q", ve.Field, err, tt.field)
			}
		})
	}
}

// TestMoreSpecific checks the documented rule: an exact path before any
// prefix, then the longest prefix, whatever the list's order.
func TestMoreSpecific(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"/api", "/api*"}, {"/api/v1/*", "/api/*"}, {"/api/*", "/api*"}, {"/a", "/*"}, {"/api/*", "/*"},
	} {
		if !MoreSpecific(tt.a, tt.b) || MoreSpecific(tt.b, tt.a) {
			t.Errorf("%s should win over %s", tt.a, tt.b)
		}
	}
}

// TestCompiledLocations serves one host with locations of every kind
// through real Caddy handlers: the most specific path wins whatever the
// order, strip_prefix is per location, and unmatched paths reach the
// route's own upstream.
func TestCompiledLocations(t *testing.T) {
	def, api, v1 := rtuEcho(t, "default"), rtuEcho(t, "api"), rtuEcho(t, "v1")
	r := &Route{
		ID: "l", Enabled: true, Hosts: []string{"app.example.com"}, Kind: KindProxy, TLS: TLSAuto,
		Upstreams: []string{def}, StripPrefix: "/root",
		Headers: &Headers{Response: &HeaderOps{Set: map[string]string{"X-Route": "yes"}}},
		Locations: []Location{
			{Path: "/api/*", Upstreams: []string{api}, StripPrefix: "/api",
				Headers: &Headers{Response: &HeaderOps{Set: map[string]string{"X-Location": "api"}}}},
			{Path: "/api/v1/*", Upstreams: []string{v1}},
			{Path: "/old*", Kind: KindRedirect, Redirect: &Redirect{To: "https://new.example.com", PreservePath: true}},
			{Path: "/robots.txt", Kind: KindStatic, Static: &Static{Body: "User-agent: * {env.HOME}", ContentType: "text/plain"}},
		},
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	h := rtuServeRoute(t, r)
	for _, tt := range []struct {
		path, want, location string
		status               int
	}{
		{"/api/users", "api /users", "api", 200},
		{"/API/Users", "api /Users", "api", 200},
		{"/api/v1/users", "v1 /api/v1/users", "", 200},
		{"/api", "default /api", "", 200},
		{"/root/x", "default /x", "", 200},
		{"/robots.txt", "User-agent: * {env.HOME}", "", 200},
		{"/oldpage", "", "", 308},
	} {
		rec, err := rtuServe(t, h, rtuRequest{url: "http://app.example.com" + tt.path})
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if rec.Code != tt.status || rec.Body.String() != tt.want {
			t.Errorf("%s: %d %q, want %d %q", tt.path, rec.Code, rec.Body.String(), tt.status, tt.want)
		}
		if rec.Header().Get("X-Route") != "yes" || rec.Header().Get("X-Location") != tt.location {
			t.Errorf("%s: X-Route %q X-Location %q, want yes and %q", tt.path, rec.Header().Get("X-Route"), rec.Header().Get("X-Location"), tt.location)
		}
	}
	rec, _ := rtuServe(t, h, rtuRequest{url: "http://app.example.com/oldpage?q=1"})
	if got := rec.Header().Get("Location"); got != "https://new.example.com/oldpage?q=1" {
		t.Errorf("redirect location: Location %q", got)
	}
}

// TestCompiledErrorPages turns an upstream that is down into the route's
// 502 page, over the app's default, with the placeholders filled in and
// HTML-escaped (a crafted Host cannot inject markup), and an upstream's
// own 404 into the 404 page.
func TestCompiledErrorPages(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)

	r := &Route{
		ID: "e", Enabled: true, Hosts: []string{"app.example.com"}, Kind: KindProxy, TLS: TLSAuto, Upstreams: []string{down},
		ErrorPages: ErrorPages{"502": "<p>{http.error.status_code} {http.error.status_text} on {http.request.host} {env.HOME}</p>"},
		Locations:  []Location{{Path: "/missing/*", Upstreams: []string{missing.URL}}},
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	list, err := Compile(r, Options{ErrorPages: map[string]string{"502": "default", "404": "<p>no {http.request.host}</p>"}})
	if err != nil {
		t.Fatal(err)
	}
	h := rtuProvision(t, list)

	rec, err := rtuServe(t, h, rtuRequest{url: "http://app.example.com/", header: http.Header{}})
	if err != nil {
		t.Fatalf("the page should answer the error, got %v", err)
	}
	if want := "<p>502 Bad Gateway on app.example.com {env.HOME}</p>"; rec.Code != 502 || rec.Body.String() != want {
		t.Errorf("upstream down: %d %q, want 502 %q", rec.Code, rec.Body.String(), want)
	}
	if rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rec.Header())
	}

	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	req.Host = `x"><script>alert(1)</script>`
	rec2 := httptest.NewRecorder()
	if err := rtuServeReq(t, h, rec2, req); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec2.Body.String(), "<script>") || !strings.Contains(rec2.Body.String(), "&lt;script&gt;") {
		t.Errorf("host not escaped: %q", rec2.Body.String())
	}

	rec, err = rtuServe(t, h, rtuRequest{url: "http://app.example.com/missing/x"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != 404 || rec.Body.String() != "<p>no app.example.com</p>" {
		t.Errorf("upstream 404: %d %q, want the 404 page", rec.Code, rec.Body.String())
	}
}

// TestCompiledMaintenance answers every path of a route in maintenance
// with its page, and its proxy settings come back untouched when off.
func TestCompiledMaintenance(t *testing.T) {
	up := rtuEcho(t, "app")
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Route{ID: "m", Enabled: true, Hosts: []string{"app.example.com"}, Kind: KindProxy, TLS: TLSAuto, Upstreams: []string{up},
		Locations:   []Location{{Path: "/api/*", Upstreams: []string{up}}},
		Maintenance: &Maintenance{On: true, Page: "<h1>back soon {env.HOME}</h1>", Until: &until}}
	r.Normalize()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/api/x"} {
		rec, _ := rtuServe(t, rtuServeRoute(t, r), rtuRequest{url: "http://app.example.com" + p})
		if rec.Code != 503 || rec.Body.String() != "<h1>back soon {env.HOME}</h1>" || rec.Header().Get("Retry-After") != "Wed, 02 Jan 2030 03:04:05 GMT" {
			t.Errorf("%s in maintenance: %d %q %v", p, rec.Code, rec.Body.String(), rec.Header())
		}
	}
	r.Maintenance.On = false
	rec, _ := rtuServe(t, rtuServeRoute(t, r), rtuRequest{url: "http://app.example.com/api/x"})
	if rec.Code != 200 || rec.Body.String() != "app /api/x" {
		t.Errorf("maintenance off: %d %q", rec.Code, rec.Body.String())
	}
}

func TestMaintenanceDue(t *testing.T) {
	at := func(s int) *time.Time { v := time.Unix(1000+int64(s), 0); return &v }
	m := &Maintenance{Page: "p", From: at(10), Until: at(20)}
	if _, changed := m.Due(*at(5)); changed {
		t.Fatal("before from: changed")
	}
	on, changed := m.Due(*at(10))
	if !changed || !on.On || on.From != nil || on.Until == nil || on.Page != "p" {
		t.Fatalf("at from: %+v %v", on, changed)
	}
	if _, again := on.Due(*at(15)); again {
		t.Fatal("applied twice: changed again")
	}
	off, changed := on.Due(*at(20))
	if !changed || off.On || off.Scheduled() || off.Page != "p" {
		t.Fatalf("at until: %+v %v", off, changed)
	}
	// Down through the whole window: one change, off.
	if late, changed := m.Due(*at(30)); !changed || late.On || late.Scheduled() {
		t.Fatalf("after the window: %+v %v", late, changed)
	}
}

// rtuServeReq runs req through h as rtuServe does.
func rtuServeReq(t *testing.T, h caddyhttp.Handler, rec *httptest.ResponseRecorder, req *http.Request) error {
	t.Helper()
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
	return h.ServeHTTP(rec, req)
}
