package api

import (
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/request"
)

// SessionCookieName returns the name of the session cookie on r's
// host (see request.HostSessionCookieName). It does not allocate: the gate calls
// it on every request.
func SessionCookieName(r *http.Request, cookieDomain string) string {
	return sessionCookieNameFor(Scheme(r), r.Host, cookieDomain)
}

// sessionCookieNameFor is the name of the session cookie on host over
// scheme: __Host- on HTTPS unless cookie_domain covers the host.
func sessionCookieNameFor(scheme, host, cookieDomain string) string {
	if scheme == "https" && request.CookieDomainFor(host, cookieDomain) == "" {
		return request.HostSessionCookieName
	}
	return request.SessionCookieName
}

// Scheme returns the scheme of the browser-facing connection:
// https when this connection is TLS, or when a proxy that Caddy's
// trusted_proxies trusts says so in X-Forwarded-Proto; http otherwise.
// A client-sent X-Forwarded-Proto from anyone else is ignored.
func Scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if TrustedProxy(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); strings.EqualFold(strings.TrimSpace(request.FirstListItem(p)), "https") {
			return "https"
		}
	}
	return "http"
}

// TrustedProxy reports whether Caddy trusts the peer of this request as
// a proxy (its trusted_proxies setting).
func TrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// ClientIP returns the client IP as Caddy computes it, honouring
// trusted_proxies; without that, the connection's remote address.
func ClientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
