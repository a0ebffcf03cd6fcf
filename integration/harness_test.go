// Package integration runs real Caddy processes, built from cmd/caddy with
// the proxyos modules, on free loopback ports and drives them over HTTP
// (and, in the browser tests, with a real headless Chromium).
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
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// caddyBin is the Caddy binary built once for the whole package.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "proxyos-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "github.com/proxyos/caddy-proxyos/cmd/caddy")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// SetupCode asks the admin API for the one-time setup code.
func (c *instance) SetupCode() string {
	c.t.Helper()
	var body struct {
		SetupRequired bool   `json:"setup_required"`
		SetupCode     string `json:"setup_code"`
	}
	resp, raw := do(c.t, http.DefaultClient, http.MethodGet, "http://"+c.Admin+"/proxyos/setup", nil, nil)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /proxyos/setup: %d %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &body); err != nil || !body.SetupRequired || body.SetupCode == "" {
		c.t.Fatalf("GET /proxyos/setup: %s", raw)
	}
	return body.SetupCode
}

// client is a browser-like HTTP client for one origin: it keeps cookies,
// does not follow redirects, and sends the Origin header a browser would
// on state-changing requests.
type client struct {
	t    testing.TB
	Base string // e.g. http://localhost:12345
	HTTP *http.Client
}

func newClient(t testing.TB, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, Base: base, HTTP: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// PostJSON posts v as JSON to path with a same-origin Origin header.
func (c *client) PostJSON(path string, v any) (*http.Response, []byte) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return do(c.t, c.HTTP, http.MethodPost, c.Base+path, bytes.NewReader(b), http.Header{
		"Content-Type": {"application/json"},
		"Origin":       {c.Base},
	})
}

// Get fetches path with optional headers.
func (c *client) Get(path string, h http.Header) (*http.Response, []byte) {
	c.t.Helper()
	return do(c.t, c.HTTP, http.MethodGet, c.Base+path, nil, h)
}

// do sends one request and reads the whole body.
func do(t testing.TB, hc *http.Client, method, url string, body io.Reader, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, raw
}

// tryGet is a GET that reports a failed connection instead of failing
// the test, for polls across a reload: Caddy's listeners share their
// ports (SO_REUSEPORT), so a connection that lands on the old listener
// as it closes ends with EOF, and the next one reaches the new config.
func tryGet(hc *http.Client, url string, h http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// decode unmarshals raw JSON into a map, failing the test on bad JSON.
func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return m
}

// testCaddyfile returns a Caddyfile with the harness's global options, the
// extra global lines, a proxyos option holding the proxyos lines, and the
// given site blocks.
func testCaddyfile(admin, global, proxyos string, sites ...string) string {
	return fmt.Sprintf(`{
	admin %s
	default_bind 127.0.0.1
	skip_install_trust
	persist_config off
	%s
	proxyos {
		%s
	}
}

%s
`, admin, global, proxyos, strings.Join(sites, "\n\n"))
}

// Admin API helpers.

// AdminDo calls the admin API with an optional JSON body.
func (c *instance) AdminDo(method, path string, v any) (*http.Response, []byte) {
	c.t.Helper()
	var body io.Reader
	h := http.Header{}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	return do(c.t, http.DefaultClient, method, "http://"+c.Admin+path, body, h)
}

// CreateUser adds a user through POST /proxyos/users and returns its id.
func (c *instance) CreateUser(email, password, role string) string {
	c.t.Helper()
	resp, raw := c.AdminDo(http.MethodPost, "/proxyos/users", map[string]string{"email": email, "password": password, "role": role})
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("POST /proxyos/users %s: %d %s", email, resp.StatusCode, raw)
	}
	id, _ := decode(c.t, raw)["id"].(string)
	if id == "" {
		c.t.Fatalf("POST /proxyos/users: no id in %s", raw)
	}
	return id
}

// Dashboard API helpers.

// Names of the dashboard's session cookie: on HTTPS, unless
// cookie_domain covers the host, it is hostSessionCookieName.
const (
	sessionCookieName     = "proxyos_session"
	hostSessionCookieName = "__Host-" + sessionCookieName
)

// Setup creates the first admin with the instance's setup code and
// returns the new session cookie's value; the client keeps the cookie.
func (c *client) Setup(inst *instance, email, password string) string {
	c.t.Helper()
	resp, raw := c.PostJSON("/api/setup", map[string]string{"email": email, "password": password, "setup_code": inst.SetupCode()})
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("POST /api/setup: %d %s", resp.StatusCode, raw)
	}
	return mustSessionCookie(c.t, resp).Value
}

// Login logs in and returns the user id and the session cookie's value;
// the client keeps the cookie.
func (c *client) Login(email, password string) (userID, cookie string) {
	c.t.Helper()
	resp, raw := c.PostJSON("/api/auth/login", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("POST /api/auth/login %s: %d %s", email, resp.StatusCode, raw)
	}
	user, _ := decode(c.t, raw)["user"].(map[string]any)
	userID, _ = user["id"].(string)
	if userID == "" {
		c.t.Fatalf("login: no user id in %s", raw)
	}
	return userID, mustSessionCookie(c.t, resp).Value
}

// sessionCookieOf returns the session cookie a response sets, by either
// name, or nil.
func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookieName || ck.Name == hostSessionCookieName {
			return ck
		}
	}
	return nil
}

func mustSessionCookie(t testing.TB, resp *http.Response) *http.Cookie {
	t.Helper()
	ck := sessionCookieOf(resp)
	if ck == nil || ck.Value == "" {
		t.Fatalf("%s %s: no %s cookie set (Set-Cookie: %q)", resp.Request.Method, resp.Request.URL, sessionCookieName, resp.Header.Values("Set-Cookie"))
	}
	return ck
}

// setCookieLine returns the raw Set-Cookie header line for the session
// cookie (by either name), or "".
func setCookieLine(resp *http.Response) string {
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, sessionCookieName+"=") || strings.HasPrefix(line, hostSessionCookieName+"=") {
			return line
		}
	}
	return ""
}

// noRedirects is a CheckRedirect that hands redirects back to the test.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// plainHTTP is a client without a cookie jar that does not follow
// redirects: what it sends is exactly what the test puts in the request.
var plainHTTP = &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirects}

// withSession returns headers carrying the session cookie value plus
// the given header pairs (name, value, name, value…).
func withSession(cookie string, pairs ...string) http.Header {
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", sessionCookieName+"="+cookie)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

// sessionReason asks GET <base>/api/auth/session with exactly this cookie
// value ("" for none) and returns the status and the 401 reason.
func sessionReason(t testing.TB, base, cookie string) (int, string) {
	t.Helper()
	resp, raw := do(t, plainHTTP, http.MethodGet, base+"/api/auth/session", nil, withSession(cookie, "Accept", "application/json"))
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	reason, _ := decode(t, raw)["reason"].(string)
	return resp.StatusCode, reason
}

// wantSession fails the test unless the cookie value gets the wanted
// answer at <base>/api/auth/session: 200 for reason "", else 401 with the
// reason.
func wantSession(t testing.TB, base, cookie, reason string) {
	t.Helper()
	status, got := sessionReason(t, base, cookie)
	switch {
	case reason == "" && status != http.StatusOK:
		t.Fatalf("GET %s/api/auth/session: %d reason %q, want 200", base, status, got)
	case reason != "" && (status != http.StatusUnauthorized || got != reason):
		t.Fatalf("GET %s/api/auth/session: %d reason %q, want 401 reason %q", base, status, got, reason)
	}
}

// eventually polls cond until it reports true or the timeout passes,
// then fails with cond's last message.
func eventually(t testing.TB, timeout, every time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(every)
	}
}

// hostClient returns a client that dials 127.0.0.1 for every host name
// (so tests can use names such as dash.proxyos.test) from the local
// address localIP ("" for any), trusts any TLS certificate, keeps cookies
// in a jar and does not follow redirects.
func hostClient(t testing.TB, localIP string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if localIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: noRedirects,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // Caddy's internal CA in a test
			DisableKeepAlives: true,
		},
	}
}

// recorder is a RoundTripper that keeps a copy of every response's
// headers and body, to check what a client could ever have seen.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen bytes.Buffer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	fmt.Fprintf(&r.seen, "%s %s -> %s\n", req.Method, req.URL, resp.Status)
	resp.Header.Write(&r.seen) //nolint:errcheck // bytes.Buffer
	r.seen.Write(body)
	r.seen.WriteString("\n")
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// String returns everything recorded so far.
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.String()
}
