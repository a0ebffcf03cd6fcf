package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rtEnv is a running Caddy with the Caddyfile of the routes issue (a
// dashboard, an https:// and an http:// catch-all site serving managed
// routes) and a logged-in admin on the dashboard. Its ports are known once
// it started.
type rtEnv struct {
	t         testing.TB
	inst      *instance
	HTTPPort  int
	HTTPSPort int
	DashPort  int
	// IssuerBlock, when set before start, is the block of options of
	// the site's "issuer proxyos", such as " {\n acme {…} }".
	IssuerBlock string
	// ProxyosExtra, when set before start, are more lines of the proxyos
	// global option.
	ProxyosExtra string
	// Sites, when set before start, renders more site blocks; it reads
	// their ports with e.inst.Port.
	Sites func() string

	admin      *client // the dashboard, logged in as the first admin
	adminEmail string
	adminCk    string // the admin's session cookie value

	dash rtAPI // /api/routes with the admin's session
	api  rtAPI // the admin API's /proxyos/routes
}

// rtCaddyfile is the Caddyfile with the test's ports, the tls
// block choosing the issuer per route (issuer proxyos, with the options
// in issuerBlock) and extra global options.
func rtCaddyfile(admin string, httpPort, httpsPort, dashPort int, global, issuerBlock, proxyosExtra, sites string) string {
	return fmt.Sprintf(`{
	admin %[1]s
	default_bind 127.0.0.1
	http_port %[2]d
	https_port %[3]d
	skip_install_trust
	persist_config off
	%[5]s
	on_demand_tls {
		permission proxyos
	}
	proxyos {
		url http://localhost:%[4]d
		%[7]s
	}
}

http://localhost:%[4]d {
	proxyos_dashboard
}

https:// {
	tls {
		on_demand
		issuer proxyos%[6]s
	}
	proxyos_routes
	respond "no route" 404
}

http:// {
	proxyos_routes
	respond "no route" 404
}

%[8]s
`, admin, httpPort, httpsPort, dashPort, global, issuerBlock, proxyosExtra, sites)
}

// rtAdminPassword is the password of every user the route tests create.
const rtAdminPassword = "correct horse battery staple"

// rtStart starts Caddy with the routes Caddyfile (plus the extra global
// options and environment) and sets up the first admin.
func rtStart(t testing.TB, global string, env ...string) *rtEnv {
	t.Helper()
	e := rtPrepare(t)
	e.start(global, env...)
	return e
}

// rtPrepare prepares an environment without starting Caddy.
func rtPrepare(t testing.TB) *rtEnv {
	t.Helper()
	return &rtEnv{t: t, inst: newInstance(t)}
}

// start starts Caddy with the routes Caddyfile on ports the harness picks
// (again, should one be taken) and sets up the first admin.
func (e *rtEnv) start(global string, env ...string) {
	e.t.Helper()
	e.inst.Env = env
	e.inst.Configure(func() string {
		sites := ""
		if e.Sites != nil {
			sites = e.Sites()
		}
		return rtCaddyfile(e.inst.Admin, e.inst.Port("http"), e.inst.Port("https"), e.inst.Port("dash"), global, e.IssuerBlock, e.ProxyosExtra, sites)
	})
	e.inst.Start()
	e.HTTPPort, e.HTTPSPort, e.DashPort = e.inst.Port("http"), e.inst.Port("https"), e.inst.Port("dash")
	e.admin = newClient(e.t, fmt.Sprintf("http://localhost:%d", e.DashPort))
	e.adminEmail = "admin@proxyos.test"
	e.adminCk = e.admin.Setup(e.inst, e.adminEmail, rtAdminPassword)
	e.dash = rtDashAPI(e.t, e.admin)
	e.api = rtAPI{t: e.t, base: "http://" + e.inst.Admin + "/proxyos/routes", hc: http.DefaultClient, admin: true}
}

// login creates a user with the role on the admin API and returns a
// dashboard client logged in as that user, and its session cookie.
func (e *rtEnv) login(email, role string) (*client, string) {
	e.t.Helper()
	resp, raw := do(e.t, http.DefaultClient, http.MethodPost, "http://"+e.inst.Admin+"/proxyos/users",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q,"role":%q}`, email, rtAdminPassword, role)),
		http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("POST /proxyos/users %s: %d %s", email, resp.StatusCode, raw)
	}
	c := newClient(e.t, e.admin.Base)
	_, ck := c.Login(email, rtAdminPassword)
	return c, ck
}

// rtAPI calls one of the two route APIs: the dashboard's /api/routes (with
// a session cookie, same-origin headers) or the admin API's
// /proxyos/routes.
type rtAPI struct {
	t     testing.TB
	base  string // URL of the route collection
	hc    *http.Client
	admin bool // the admin API (errors are {"error": …} without field)
	hdr   http.Header
}

func rtDashAPI(t testing.TB, c *client) rtAPI {
	return rtAPI{t: t, base: c.Base + "/api/routes", hc: c.HTTP, hdr: http.Header{
		"Origin":       {c.Base},
		"Content-Type": {"application/json"},
	}}
}

// String names the API in test messages.
func (a rtAPI) String() string {
	if a.admin {
		return "admin API"
	}
	return "dashboard API"
}

// call sends method to base+path with body (nil: none; []byte: as is;
// else as JSON) and returns the status and the body.
func (a rtAPI) call(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	h := http.Header{}
	for k, v := range a.hdr {
		h[k] = v
	}
	if a.admin && body != nil {
		h.Set("Content-Type", "application/json")
	}
	resp, raw := do(a.t, a.hc, method, a.base+path, r, h)
	return resp.StatusCode, raw
}

// rtRoute is a route as the APIs answer it.
type rtRoute struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Enabled   bool     `json:"enabled"`
	Hosts     []string `json:"hosts"`
	Kind      string   `json:"kind"`
	TLS       string   `json:"tls"`
	Challenge string   `json:"challenge"`
	DNSCred   string   `json:"dns_credential"`
	Upstreams []string `json:"upstreams"`
	Version   int      `json:"version"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
	Status    struct {
		Live      bool `json:"live"`
		Upstreams []struct {
			Address string `json:"address"`
			Healthy bool   `json:"healthy"`
		} `json:"upstreams"`
	} `json:"status"`
	TLSStatus *struct {
		State    string `json:"state"`
		Name     string `json:"name"`
		Error    string `json:"error"`
		Failures int    `json:"failures"`
	} `json:"tls_status"`
	Warnings []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"warnings"`
}

func (a rtAPI) decodeRoute(raw []byte) rtRoute {
	a.t.Helper()
	var r rtRoute
	if err := json.Unmarshal(raw, &r); err != nil {
		a.t.Fatalf("%s: not a route: %v: %s", a, err, raw)
	}
	return r
}

// create posts a route and fails unless it gets 201 with an id and
// version 1.
func (a rtAPI) create(spec map[string]any) rtRoute {
	a.t.Helper()
	status, raw := a.call(http.MethodPost, "", spec)
	if status != http.StatusCreated {
		a.t.Fatalf("%s: POST route %v: %d %s", a, spec["hosts"], status, raw)
	}
	r := a.decodeRoute(raw)
	if r.ID == "" || r.Version != 1 {
		a.t.Fatalf("%s: created route has id %q version %d, want an id and version 1: %s", a, r.ID, r.Version, raw)
	}
	return r
}

// update puts spec at the given version and fails unless it gets 200
// with version+1.
func (a rtAPI) update(id string, version int, spec map[string]any) rtRoute {
	a.t.Helper()
	spec = rtWith(spec, "version", version)
	status, raw := a.call(http.MethodPut, "/"+id, spec)
	if status != http.StatusOK {
		a.t.Fatalf("%s: PUT route %s v%d: %d %s", a, id, version, status, raw)
	}
	r := a.decodeRoute(raw)
	if r.Version != version+1 {
		a.t.Fatalf("%s: PUT route %s v%d answered version %d, want %d", a, id, version, r.Version, version+1)
	}
	return r
}

// get reads one route.
func (a rtAPI) get(id string) rtRoute {
	a.t.Helper()
	status, raw := a.call(http.MethodGet, "/"+id, nil)
	if status != http.StatusOK {
		a.t.Fatalf("%s: GET route %s: %d %s", a, id, status, raw)
	}
	return a.decodeRoute(raw)
}

// delete removes a route and fails unless it gets 204.
func (a rtAPI) delete(id string) {
	a.t.Helper()
	status, raw := a.call(http.MethodDelete, "/"+id, nil)
	if status != http.StatusNoContent {
		a.t.Fatalf("%s: DELETE route %s: %d %s", a, id, status, raw)
	}
}

// list returns every route.
func (a rtAPI) list() []rtRoute {
	a.t.Helper()
	status, raw := a.call(http.MethodGet, "", nil)
	if status != http.StatusOK {
		a.t.Fatalf("%s: GET routes: %d %s", a, status, raw)
	}
	var body struct {
		Routes []rtRoute `json:"routes"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		a.t.Fatalf("%s: GET routes: %v: %s", a, err, raw)
	}
	return body.Routes
}

// rtVersion is one entry of a route's history.
type rtVersion struct {
	Version int     `json:"version"`
	Action  string  `json:"action"`
	Actor   string  `json:"actor"`
	At      string  `json:"at"`
	Route   rtRoute `json:"route"`
}

// versions returns a route's history.
func (a rtAPI) versions(id string) []rtVersion {
	a.t.Helper()
	status, raw := a.call(http.MethodGet, "/"+id+"/versions", nil)
	if status != http.StatusOK {
		a.t.Fatalf("%s: GET versions of %s: %d %s", a, id, status, raw)
	}
	var body struct {
		Versions []rtVersion `json:"versions"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		a.t.Fatalf("%s: GET versions: %v: %s", a, err, raw)
	}
	return body.Versions
}

// rtProxy returns the spec of an enabled proxy route.
func rtProxy(host, tlsMode string, upstreams ...string) map[string]any {
	return map[string]any{"name": host, "enabled": true, "hosts": []string{host}, "kind": "proxy", "tls": tlsMode, "upstreams": upstreams}
}

// rtWith returns a copy of spec with key set to v.
func rtWith(spec map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(spec)+len(kv)/2)
	for k, v := range spec {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// rtUpstream is a real HTTP(S) upstream that says who it is: every answer
// carries X-Upstream: <name>, and the JSON body echoes what it received.
type rtUpstream struct {
	*httptest.Server
	Name string
	URL  string // scheme://127.0.0.1:port, as a route's upstream

	hits      atomic.Int64 // requests other than health checks
	checks    atomic.Int64 // health checks
	unhealthy atomic.Bool  // answer 500 on /health
}

// rtSeen is what an upstream echoes.
type rtSeen struct {
	Upstream string      `json:"upstream"`
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	Query    string      `json:"query"`
	Host     string      `json:"host"`
	Header   http.Header `json:"header"`
	SNI      string      `json:"sni"`
}

// rtBigBody is the size of /big, well above encode's minimum length.
const rtBigBody = 16 << 10

func rtNewUpstream(t testing.TB, name string, useTLS bool) *rtUpstream {
	t.Helper()
	u := &rtUpstream{Name: name}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		switch r.URL.Path {
		case "/health":
			u.checks.Add(1)
			if u.unhealthy.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		case "/big":
			u.hits.Add(1)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, strings.Repeat("upstream "+name+" says hello\n", rtBigBody/(len(name)+21)+1)) //nolint:errcheck
			return
		}
		u.hits.Add(1)
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second) // a request still in flight while the test changes routes
		}
		seen := rtSeen{Upstream: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Header: r.Header}
		if r.TLS != nil {
			seen.SNI = r.TLS.ServerName
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream-Secret", "internal")
		json.NewEncoder(w).Encode(seen) //nolint:errcheck
	})
	if useTLS {
		u.Server = httptest.NewTLSServer(h)
		u.URL = "https://" + u.Listener.Addr().String()
	} else {
		u.Server = httptest.NewServer(h)
		u.URL = "http://" + u.Listener.Addr().String()
	}
	t.Cleanup(u.Close)
	return u
}

// rtHTTP sends every request to 127.0.0.1 on the URL's port, whatever
// the host name (so route hosts need no DNS), over a fresh connection,
// trusting any certificate, without following redirects and without
// transparent gzip.
var rtHTTP = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: noRedirects,
	Transport: &http.Transport{
		DialContext:        rtDialLoopback,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // certificates are checked in the TLS tests
		DisableKeepAlives:  true,
		DisableCompression: true,
	},
}

func rtDialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

// get requests http://host:<http_port>path with the given header pairs.
func (e *rtEnv) get(host, path string, pairs ...string) (*http.Response, []byte) {
	e.t.Helper()
	return e.fetch("http://"+host+":"+strconv.Itoa(e.HTTPPort)+path, pairs...)
}

// getTLS requests https://host:<https_port>path.
func (e *rtEnv) getTLS(host, path string, pairs ...string) (*http.Response, []byte) {
	e.t.Helper()
	return e.fetch("https://"+host+":"+strconv.Itoa(e.HTTPSPort)+path, pairs...)
}

func (e *rtEnv) fetch(url string, pairs ...string) (*http.Response, []byte) {
	e.t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return do(e.t, rtHTTP, http.MethodGet, url, nil, h)
}

// servedBy fails unless GET http://host/ is answered by the upstream
// named want.
func (e *rtEnv) servedBy(host, want string) {
	e.t.Helper()
	resp, raw := e.get(host, "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != want {
		e.t.Fatalf("GET http://%s/: %d from upstream %q, want 200 from %q: %s", host, resp.StatusCode, resp.Header.Get("X-Upstream"), want, raw)
	}
}

// noRoute fails unless GET http://host/ falls through to the site's
// "no route" 404.
func (e *rtEnv) noRoute(host string) {
	e.t.Helper()
	resp, raw := e.get(host, "/")
	if resp.StatusCode != http.StatusNotFound || string(raw) != "no route" {
		e.t.Fatalf("GET http://%s/: %d %q (upstream %q), want the site's 404 \"no route\"", host, resp.StatusCode, raw, resp.Header.Get("X-Upstream"))
	}
}

// rtSeenOf decodes what an upstream echoed.
func rtSeenOf(t testing.TB, raw []byte) rtSeen {
	t.Helper()
	var s rtSeen
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("not an upstream echo: %v: %s", err, raw)
	}
	return s
}

// rtCount counts the log lines of a Caddy run containing s.
func rtCount(log, s string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// rtPoll calls cond every interval until it returns "" (done) or the
// timeout passes, then fails with cond's last message.
func rtPoll(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
