// Package request holds what every proxyos handler needs to know about
// an HTTP request, in one place: the browser-facing scheme and client IP
// as Caddy computes them (trusted proxies included), hosts, the session
// cookies, same-origin checks and return URLs. It reads Caddy's request
// variables and depends on nothing else of proxyos.
package request

import (
	"errors"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The names of the session cookie. Over HTTPS, where the cookie is
// host-only (no cookie_domain covers the host), it is
// HostSessionCookieName: browsers take a __Host- cookie only with Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant one with
// Domain=<parent> (cookie tossing), and a cookie named SessionCookieName
// is ignored there. Over plain HTTP, and where cookie_domain shares it,
// it is SessionCookieName.
const (
	SessionCookieName     = "proxyos_session"
	HostSessionCookieName = "__Host-" + SessionCookieName
)

// CookieDomainFor returns cookieDomain when host (with or without port)
// is within it, else "" (host-only: a browser would reject the Domain
// attribute there). It does not allocate.
func CookieDomainFor(host, cookieDomain string) string {
	if cookieDomain == "" {
		return ""
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	if HostWithin(strings.Trim(host, "[]"), cookieDomain) {
		return cookieDomain
	}
	return ""
}

// SessionCookieNameFor returns the name of the session cookie on r's
// host (see HostSessionCookieName). It does not allocate: the gate calls
// it on every request.
func SessionCookieNameFor(r *http.Request, cookieDomain string) string {
	if Scheme(r) == "https" && CookieDomainFor(r.Host, cookieDomain) == "" {
		return HostSessionCookieName
	}
	return SessionCookieName
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
		if p := r.Header.Get("X-Forwarded-Proto"); strings.EqualFold(strings.TrimSpace(FirstListItem(p)), "https") {
			return "https"
		}
	}
	return "http"
}

func FirstListItem(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
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

// HostOnly returns the host of a host[:port] in lower case.
func HostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// HostWithin reports whether host is domain or one of its subdomains,
// ignoring case, without allocating.
func HostWithin(host, domain string) bool {
	switch n := len(host) - len(domain); {
	case domain == "" || n < 0:
		return false
	case n == 0:
		return strings.EqualFold(host, domain)
	default:
		return host[n-1] == '.' && strings.EqualFold(host[n:], domain)
	}
}

// ErrCrossSite is why a state-changing request was refused.
var ErrCrossSite = errors.New("state-changing requests need Content-Type: application/json and a same-origin Origin or Sec-Fetch-Site header")

// CheckSameOrigin refuses requests a cross-site page could send with the
// user's cookie: the body must be JSON (which a form cannot send without
// a CORS preflight) and the browser must vouch for the origin, through
// Sec-Fetch-Site: same-origin or an Origin whose scheme and host are this
// request's (a page on http://host may not act on https://host).
func CheckSameOrigin(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return ErrCrossSite
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return ErrCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
			return nil
		}
		return ErrCrossSite
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || scheme != Scheme(r) || !strings.EqualFold(host, r.Host) {
		return ErrCrossSite
	}
	return nil
}

// SessionCookie returns the value of the first cookie named name without
// parsing every cookie of the request (and without allocating).
func SessionCookie(h http.Header, name string) (string, bool) {
	for v := range SessionCookies(h, name) {
		return v, true
	}
	return "", false
}

// SessionCookies yields the value of every cookie named name (SessionCookieName or
// HostSessionCookieName) of the request: a browser may hold
// a host-only one and one for cookie_domain.
func SessionCookies(h http.Header, name string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for _, line := range h["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				part = strings.TrimSpace(part)
				n, val, ok := strings.Cut(part, "=")
				if ok && n == name && !yield(strings.Trim(val, `"`)) {
					return
				}
			}
		}
	}
}

// StripSessionCookies removes the session cookies (of either name) from
// the request's Cookie headers, so upstreams never see them, and keeps
// every other cookie, in one Cookie line. It allocates only to keep other
// cookies beside a session cookie; lines without one are left as they
// are.
func StripSessionCookies(h http.Header) {
	found, size := false, 0 // size: the kept cookies joined with "; "
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			switch part = strings.TrimSpace(part); {
			case part == "":
			case isSessionCookie(part):
				found = true
			default:
				if size > 0 {
					size += len("; ")
				}
				size += len(part)
			}
		}
	}
	if !found {
		return
	}
	if size == 0 {
		delete(h, "Cookie")
		return
	}
	var b strings.Builder
	b.Grow(size)
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if part = strings.TrimSpace(part); part == "" || isSessionCookie(part) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	h["Cookie"] = []string{b.String()}
}

// isSessionCookie reports whether a trimmed name=value pair of a Cookie
// header is a session cookie, by either name.
func isSessionCookie(part string) bool {
	name, _, _ := strings.Cut(part, "=")
	return name == SessionCookieName || name == HostSessionCookieName
}

// NormalizeHost lower-cases a host and strips a port, allocating only
// when the host has upper-case letters or a port.
func NormalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
