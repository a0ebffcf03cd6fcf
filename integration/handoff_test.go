package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// hoEnv is a routes environment with a second port serving the managed
// routes (OtherPort) and a route behind the login on a host the
// dashboard's cookie does not reach, for login handoff tests.
type hoEnv struct {
	*rtEnv
	OtherPort int
	host      string
	state     string // the handoff state cookie the gate gave the browser
}

func hoStart(t *testing.T) *hoEnv {
	t.Helper()
	e := &hoEnv{rtEnv: rtPrepare(t), host: "handoff.proxyos.test"}
	e.Sites = func() string {
		return fmt.Sprintf("http://:%d {\n\tproxyos_routes\n\trespond \"no route\" 404\n}", e.inst.Port("other"))
	}
	e.start("")
	e.OtherPort = e.inst.Port("other")
	up := rtNewUpstream(t, "handoff", false)
	e.dash.create(rtWith(rtProxy(e.host, "off", up.URL), "auth", map[string]any{"require_login": true}))
	resp, _ := e.get(e.host, "/x", "Accept", "text/html")
	for _, c := range resp.Cookies() {
		if c.Name == "proxyos_handoff" {
			e.state = c.Value
		}
	}
	if e.state == "" {
		t.Fatalf("the gate set no handoff state cookie: %d %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	return e
}

// handoff asks the dashboard, as the admin's login page does, where to go
// for the return URL ret, and returns the redirect.
func (e *hoEnv) handoff(ret string) string {
	e.t.Helper()
	dash := "http://localhost:" + strconv.Itoa(e.DashPort)
	resp, raw := do(e.t, rtHTTP, http.MethodPost, dash+"/api/auth/handoff",
		strings.NewReader(`{"return_to":`+strconv.Quote(ret)+`,"state":`+strconv.Quote(e.state)+`}`), http.Header{
			"Content-Type": {"application/json"}, "Origin": {dash}, "Cookie": {sessionCookieName + "=" + e.adminCk},
		})
	var out struct{ Redirect string }
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("handoff to %s: %d %s", ret, resp.StatusCode, raw)
	}
	return out.Redirect
}

// callback follows a callback URL with the browser's state cookie,
// connecting to port but with the URL's Host header, and returns the
// response and the session cookie it set ("" for none).
func (e *hoEnv) callback(cb string, port int) (*http.Response, string) {
	e.t.Helper()
	u, err := url.Parse(cb)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, u.RequestURI()), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = u.Host // the Host header is the client's to choose
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Cookie", "proxyos_handoff="+e.state)
	resp, err := rtHTTP.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s on port %d: %v", cb, port, err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the headers matter
	resp.Body.Close()
	ck := sessionCookieOf(resp)
	if ck == nil {
		return resp, ""
	}
	return resp, ck.Value
}

// TestHandoffCodeBoundToPort prevents a login handoff code from reaching
// a listener that is not this Caddy's: a return URL naming another port
// of the route's host (return_to=http://app:4444/x, where anyone may
// listen) gets no code, and a code issued for one port of the host does
// not work on another, whatever the Host header says.
func TestHandoffCodeBoundToPort(t *testing.T) {
	t.Parallel()
	e := hoStart(t)
	unserved := freePort(t)
	if got := e.handoff(fmt.Sprintf("http://%s:%d/x", e.host, unserved)); got != "/" {
		t.Fatalf("return URL on port %d, which this Caddy does not serve: redirect %q, want / (no code)", unserved, got)
	}

	cb := e.handoff(fmt.Sprintf("http://%s:%d/x", e.host, e.HTTPPort))
	if !strings.HasPrefix(cb, fmt.Sprintf("http://%s:%d/.proxyos/callback?code=", e.host, e.HTTPPort)) {
		t.Fatalf("handoff to port %d: %q, want a callback URL on that port", e.HTTPPort, cb)
	}
	if resp, ck := e.callback(cb, e.OtherPort); resp.StatusCode != http.StatusBadRequest || ck != "" {
		t.Fatalf("code for port %d presented on port %d (Host header of the first): %d cookie set %v, want 400 and none",
			e.HTTPPort, e.OtherPort, resp.StatusCode, ck != "")
	}
	if resp, _ := e.callback(cb, e.HTTPPort); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the code on its own port after a try elsewhere: %d, want 400 (spent)", resp.StatusCode)
	}

	// Both ports serve the route: a code issued for either works there.
	for _, port := range []int{e.HTTPPort, e.OtherPort} {
		cb := e.handoff(fmt.Sprintf("http://%s:%d/x?y=1", e.host, port))
		resp, ck := e.callback(cb, port)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/x?y=1" || ck == "" {
			t.Fatalf("code on its own port %d: %d Location %q cookie set %v, want 302 to /x?y=1 with a session",
				port, resp.StatusCode, resp.Header.Get("Location"), ck != "")
		}
		if resp, raw := e.get(e.host, "/x", "Cookie", sessionCookieName+"="+ck); resp.StatusCode != http.StatusOK {
			t.Errorf("the handed-off session: %d %s", resp.StatusCode, raw)
		}
	}
}

// TestHandoffReusesChildSession prevents minting sessions through the
// handoff: logging in to one host again and again from one dashboard
// session keeps one session for that host (with a new token each time,
// the previous one ending), not one per code.
func TestHandoffReusesChildSession(t *testing.T) {
	t.Parallel()
	e := hoStart(t)
	ret := fmt.Sprintf("http://%s:%d/x", e.host, e.HTTPPort)
	var cookies []string
	for i := range 4 {
		resp, ck := e.callback(e.handoff(ret), e.HTTPPort)
		if resp.StatusCode != http.StatusFound || ck == "" {
			t.Fatalf("handoff %d: %d, no session", i+1, resp.StatusCode)
		}
		cookies = append(cookies, ck)
	}
	resp, raw := do(t, plainHTTP, http.MethodGet, "http://localhost:"+strconv.Itoa(e.DashPort)+"/api/sessions", nil, withSession(e.adminCk))
	var body struct {
		Sessions []struct{ ID, Host string }
	}
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/sessions: %d %s", resp.StatusCode, raw)
	}
	var children []string
	for _, s := range body.Sessions {
		if s.Host == e.host {
			children = append(children, s.ID)
		}
	}
	if len(children) != 1 || len(body.Sessions) != 2 {
		t.Fatalf("sessions after 4 handoffs to %s: %s, want the dashboard's and one for the host", e.host, raw)
	}
	for i, ck := range cookies {
		want := http.StatusUnauthorized // replaced by the next handoff
		if i == len(cookies)-1 {
			want = http.StatusOK
		}
		if resp, raw := e.get(e.host, "/x", "Cookie", sessionCookieName+"="+ck, "Accept", "application/json"); resp.StatusCode != want {
			t.Errorf("cookie of handoff %d: %d %s, want %d", i+1, resp.StatusCode, raw, want)
		}
	}
}

// TestHandoffHostCookieOnHTTPS checks the session cookie a handoff sets
// on an HTTPS host: __Host-proxyos_session (Secure, Path=/, no Domain),
// which no sibling subdomain can plant, while a proxyos_session cookie
// there (as a sibling could plant one) is ignored by the gate.
func TestHandoffHostCookieOnHTTPS(t *testing.T) {
	t.Parallel()
	e := hoStart(t)
	const host = "tls-handoff.proxyos.test"
	up := rtNewUpstream(t, "tls-handoff", false)
	e.dash.create(rtWith(rtProxy(host, "internal", up.URL), "auth", map[string]any{"require_login": true}))
	resp, _ := e.getTLS(host, "/x", "Accept", "text/html")
	e.state = ""
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-proxyos_handoff" {
			e.state = c.Value
		}
	}
	if e.state == "" {
		t.Fatalf("the gate on HTTPS set no __Host- handoff state cookie: %d %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	cb := e.handoff(fmt.Sprintf("https://%s:%d/x", host, e.HTTPSPort))
	if !strings.HasPrefix(cb, fmt.Sprintf("https://%s:%d/.proxyos/callback?code=", host, e.HTTPSPort)) {
		t.Fatalf("handoff: %q, want a callback on the HTTPS port", cb)
	}
	resp, _ = e.fetch(cb, "Accept", "text/html", "Cookie", "__Host-proxyos_handoff="+e.state)
	line := setCookieLine(resp)
	attrs := cookieAttrs(line)
	ck := sessionCookieOf(resp)
	if resp.StatusCode != http.StatusFound || ck == nil || ck.Name != hostSessionCookieName || !hasKey(attrs, "secure") || attrs["path"] != "/" || hasKey(attrs, "domain") {
		t.Fatalf("callback over HTTPS: %d Set-Cookie %q, want %s; Secure; Path=/ without Domain", resp.StatusCode, line, hostSessionCookieName)
	}
	if resp, raw := e.getTLS(host, "/x", "Cookie", hostSessionCookieName+"="+ck.Value); resp.StatusCode != http.StatusOK {
		t.Errorf("the __Host- session on its host: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := e.getTLS(host, "/x", "Cookie", sessionCookieName+"="+ck.Value, "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the same session as a plain proxyos_session cookie on HTTPS: %d %s, want 401", resp.StatusCode, raw)
	}
}
