package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// returnURLApp is an app whose dashboard is https://proxy.example.com,
// sharing its cookie with every subdomain of example.com.
func returnURLApp(t testing.TB) *Server {
	t.Helper()
	u, err := url.Parse("https://proxy.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Canonical: u, CookieDomain: "example.com"}
}

// returnURLRequest is a login request that reached the dashboard as
// localhost:2015.
func returnURLRequest() *http.Request {
	return httptest.NewRequest(http.MethodPost, "http://localhost:2015/api/auth/login", nil)
}

// TestSafeReturnURL prevents open redirects: the login page must only
// send the browser to the dashboard itself or to hosts that share its
// session cookie, whatever URL tricks the return parameter uses.
func TestSafeReturnURL(t *testing.T) {
	a := returnURLApp(t)
	accepted := []struct {
		name, raw, want string
	}{
		{"root", "/", "/"},
		{"path and query", "/x?y", "/x?y"},
		{"path, query, fragment", "/routes/1?tab=a#top", "/routes/1?tab=a#top"},
		{"escaped path kept escaped", "/a%20b/%2F", "/a%20b/%2F"},
		{"request host", "http://localhost:2015/app", "http://localhost:2015/app"},
		{"request host, other port", "https://localhost:9999/app?q=1", "https://localhost:9999/app?q=1"},
		{"request host, upper case", "http://LOCALHOST/x", "http://LOCALHOST/x"},
		{"canonical host", "https://proxy.example.com/routes", "https://proxy.example.com/routes"},
		{"cookie domain itself", "https://example.com/", "https://example.com/"},
		{"cookie domain subdomain", "https://grafana.example.com/d/1?from=now", "https://grafana.example.com/d/1?from=now"},
		{"cookie domain deep subdomain", "http://a.b.example.com:8080/", "http://a.b.example.com:8080/"},
	}
	for _, tt := range accepted {
		t.Run("accept "+tt.name, func(t *testing.T) {
			if got := a.safeReturnURL(tt.raw, returnURLRequest()); got != tt.want {
				t.Errorf("safeReturnURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}

	rejected := []struct {
		name, raw string
	}{
		{"empty", ""},
		{"protocol-relative", "//evil.com"},
		{"protocol-relative with path", "//evil.com/login"},
		{"protocol-relative allowed host", "//localhost/x"},
		{"triple slash", "///evil.com"},
		{"escaped slash re-encoded into a protocol-relative URL", "/%2Fevil.com "},
		{"other site", "https://evil.com"},
		{"backslash path", "/\\evil.com"},
		{"backslash after slash", "\\/evil.com"},
		{"scheme with backslash", "https:/\\evil.com"},
		{"scheme with backslashes", "https:\\\\evil.com"},
		{"javascript", "javascript:alert(1)"},
		{"javascript upper case", "JavaScript:alert(document.domain)"},
		{"data", "data:text/html,<script>alert(1)</script>"},
		{"vbscript", "vbscript:msgbox(1)"},
		{"credentials", "https://user:pw@localhost/"},
		{"credentials hiding host", "https://localhost@evil.com/"},
		{"credentials with port-like user", "https://localhost:443@evil.com/"},
		{"host as prefix", "http://localhost.evil.com"},
		{"cookie domain as prefix", "https://example.com.evil.com/"},
		{"cookie domain as suffix without dot", "https://badexample.com/"},
		{"fragment trick", "https://evil.com#@localhost"},
		{"query trick", "https://evil.com?@localhost"},
		{"CR LF", "/x\r\nLocation: https://evil.com"},
		{"LF", "/x\nhttps://evil.com"},
		{"tab", "/\t/evil.com"},
		{"NUL", "/x\x00"},
		{"DEL", "/x\x7f"},
		{"leading space", " //evil.com"},
		{"ftp", "ftp://localhost/"},
		{"opaque http", "http:localhost"},
		{"empty host", "https:///evil.com"},
		{"relative path", "evil.com"},
		{"relative dot path", "./x"},
		{"percent-encoded dot host", "http://localhost%2eevil.com/"},
		{"too long", "/" + strings.Repeat("a", 5000)},
		{"unparsable", "http://[::1/"},
	}
	for _, tt := range rejected {
		t.Run("reject "+tt.name, func(t *testing.T) {
			if got := a.safeReturnURL(tt.raw, returnURLRequest()); got != "/" {
				t.Errorf("safeReturnURL(%q) = %q, want \"/\"", tt.raw, got)
			}
		})
	}
}

// TestSafeReturnURLNoCookieDomain checks that subdomains are allowed only
// because of cookie_domain: without it, only the dashboard's hosts are.
func TestSafeReturnURLNoCookieDomain(t *testing.T) {
	a := returnURLApp(t)
	a.CookieDomain = ""
	for _, tt := range []struct {
		raw  string
		want string
	}{
		{"https://grafana.example.com/", "/"},
		{"https://example.com/", "/"},
		{"https://proxy.example.com/x", "https://proxy.example.com/x"},
		{"http://localhost/x", "http://localhost/x"},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			if got := a.safeReturnURL(tt.raw, returnURLRequest()); got != tt.want {
				t.Errorf("safeReturnURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	t.Run("no canonical url", func(t *testing.T) {
		a := &Server{}
		if got := a.safeReturnURL("https://proxy.example.com/x", returnURLRequest()); got != "/" {
			t.Errorf("got %q, want \"/\"", got)
		}
	})
}

// checkReturnURL fails unless got is a safe redirect target for a: "/",
// a path that browsers resolve on the dashboard's own origin, or an
// absolute http(s) URL without credentials on an allowed host.
func checkReturnURL(t testing.TB, a *Server, r *http.Request, raw, got string) {
	t.Helper()
	if got == "/" {
		return
	}
	if strings.ContainsAny(got, "\\\r\n\t\x00") {
		t.Fatalf("safeReturnURL(%q) = %q: contains a backslash or control character", raw, got)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("safeReturnURL(%q) = %q: does not parse: %v", raw, got, err)
	}
	if strings.HasPrefix(got, "/") {
		if strings.HasPrefix(got, "//") || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeReturnURL(%q) = %q: a path that leaves the origin", raw, got)
		}
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		t.Fatalf("safeReturnURL(%q) = %q: scheme %q", raw, got, u.Scheme)
	}
	if u.User != nil || u.Opaque != "" || u.Host == "" {
		t.Fatalf("safeReturnURL(%q) = %q: credentials, opaque or empty host", raw, got)
	}
	if !a.allowedReturnHost(u.Hostname(), r) {
		t.Fatalf("safeReturnURL(%q) = %q: host %q is not allowed", raw, got, u.Hostname())
	}
}
