package api

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// withVars gives req the Caddy vars a server sets: whether the peer is a
// trusted proxy and the client IP Caddy computed.
func withVars(req *http.Request, trusted bool, clientIP string) *http.Request {
	vars := map[string]any{caddyhttp.TrustedProxyVarKey: trusted, caddyhttp.ClientIPVarKey: clientIP}
	return req.WithContext(context.WithValue(req.Context(), caddyhttp.VarsCtxKey, vars))
}

// TestRequestScheme prevents scheme spoofing: a client-sent
// X-Forwarded-Proto must not make the server believe the connection is
// HTTPS (and set a Secure cookie the browser then drops) unless Caddy
// trusts the peer as a proxy.
func TestRequestScheme(t *testing.T) {
	tests := []struct {
		name    string
		tls     bool
		vars    bool // request has Caddy's vars
		trusted bool
		xfp     string
		want    string
	}{
		{"plain", false, true, false, "", "http"},
		{"tls", true, true, false, "", "https"},
		{"tls ignores forwarded http", true, true, true, "http", "https"},
		{"untrusted forwarded https", false, true, false, "https", "http"},
		{"no caddy vars", false, false, false, "https", "http"},
		{"trusted forwarded https", false, true, true, "https", "https"},
		{"trusted forwarded upper case", false, true, true, " HTTPS ", "https"},
		{"trusted forwarded list", false, true, true, "https, http", "https"},
		{"trusted forwarded list, first http", false, true, true, "http, https", "http"},
		{"trusted forwarded http", false, true, true, "http", "http"},
		{"trusted forwarded garbage", false, true, true, "httpsx", "http"},
		{"trusted without header", false, true, true, "", "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://dash.test/", nil)
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				req.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			if tt.vars {
				req = withVars(req, tt.trusted, "")
			}
			if got := Scheme(req); got != tt.want {
				t.Errorf("requestScheme = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequestSchemeWithPrepareRequest(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "http://dash.test/", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), httptest.NewRecorder(), nil)
	if got := Scheme(req); got != "http" {
		t.Errorf("Caddy-prepared request without trusted proxies: scheme %q, want http", got)
	}
}

// TestClientIP prevents rate-limit evasion: the client IP is the one Caddy
// computed (honouring trusted_proxies), never a raw X-Forwarded-For.
func TestClientIP(t *testing.T) {
	tests := []struct {
		name       string
		remoteAddr string
		vars       bool
		varIP      string
		want       string
	}{
		{"caddy var", "192.0.2.1:1234", true, "198.51.100.7", "198.51.100.7"},
		{"empty var falls back", "192.0.2.1:1234", true, "", "192.0.2.1"},
		{"no vars", "192.0.2.1:1234", false, "", "192.0.2.1"},
		{"ipv6 remote", "[2001:db8::1]:443", false, "", "2001:db8::1"},
		{"remote without port", "192.0.2.9", false, "", "192.0.2.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://dash.test/", nil)
			req.RemoteAddr = tt.remoteAddr
			req.Header.Set("X-Forwarded-For", "203.0.113.66")
			if tt.vars {
				req = withVars(req, false, tt.varIP)
			}
			if got := ClientIP(req); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSessionCookieName checks which session cookie a request's host
// uses: __Host- on HTTPS unless cookie_domain covers the host, the plain
// name otherwise; and that choosing it does not allocate.
func TestSessionCookieName(t *testing.T) {
	const cookieDomain = "example.com"
	for _, tt := range []struct {
		url  string
		want string
	}{
		{"https://other.test/", request.HostSessionCookieName},
		{"https://other.test:8443/", request.HostSessionCookieName},
		{"https://[::1]:8443/", request.HostSessionCookieName},
		{"https://dash.example.com/", request.SessionCookieName},
		{"https://Dash.Example.com:8443/", request.SessionCookieName},
		{"https://example.com.evil.test/", request.HostSessionCookieName},
		{"http://other.test/", request.SessionCookieName},
		{"http://dash.example.com/", request.SessionCookieName},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.url, nil)
		if got := SessionCookieName(req, cookieDomain); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.url, got, tt.want)
		}
	}
	if got := SessionCookieName(httptest.NewRequest(http.MethodGet, "https://dash.example.com/", nil), ""); got != request.HostSessionCookieName {
		t.Errorf("HTTPS without cookie_domain: %s, want %s", got, request.HostSessionCookieName)
	}
	t.Run("does not allocate", func(t *testing.T) {
		testkit.SkipAllocsUnderRace(t)
		for _, u := range []string{"https://App.Example.com:8443/", "https://other.test/", "http://other.test/"} {
			req := httptest.NewRequest(http.MethodGet, u, nil)
			if n := testing.AllocsPerRun(100, func() { SessionCookieName(req, cookieDomain) }); n != 0 {
				t.Errorf("%s: sessionCookieName allocates %.1f times per call", u, n)
			}
		}
	})
}
