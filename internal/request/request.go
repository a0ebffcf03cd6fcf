// Package request holds what proxyos needs to know about an HTTP request
// that plain net/http can tell, in one place: hosts (the one host
// normaliser), the session cookies, same-origin checks and return URLs.
// It depends on nothing of Caddy or proxyos, so the session cache can use
// it; what Caddy computes for a request (the browser-facing scheme and
// client IP, with trusted proxies) is read by the api package.
package request

import (
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
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

func FirstListItem(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
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
// request's (a page on http://host may not act on https://host); scheme
// is the scheme of the browser's connection.
func CheckSameOrigin(r *http.Request, scheme string) error {
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
	originScheme, host, ok := strings.Cut(origin, "://")
	if !ok || originScheme != scheme || !strings.EqualFold(host, r.Host) {
		return ErrCrossSite
	}
	return nil
}

// SessionCookie returns the value of the first cookie named name without
// parsing every cookie of the request (and without allocating).
func SessionCookie(h http.Header, name string) (string, bool) {
	c := ScanCookies(h, name)
	return c.Next()
}

// CookieScan goes through the values of every cookie of one name in a
// request's Cookie headers, in order: a browser may hold a host-only
// session cookie and one for cookie_domain. It is a value, so scanning
// allocates nothing.
type CookieScan struct {
	lines []string
	line  string
	name  string
}

// ScanCookies returns a scan of the cookies named name (SessionCookieName
// or HostSessionCookieName) in h.
func ScanCookies(h http.Header, name string) CookieScan {
	return CookieScan{lines: h["Cookie"], name: name}
}

// Next returns the next value, without quotes, or false when there is
// none left.
func (c *CookieScan) Next() (string, bool) {
	for {
		for c.line != "" {
			var part string
			part, c.line, _ = strings.Cut(c.line, ";")
			n, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && n == c.name {
				return strings.Trim(val, `"`), true
			}
		}
		if len(c.lines) == 0 {
			return "", false
		}
		c.line, c.lines = c.lines[0], c.lines[1:]
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

// ClientNetworks returns the networks a client's attempts are counted
// against: an IPv4 address alone (n64; n56 and n48 empty); for IPv6 its
// /64 (one subscriber holds at least a /64, so rotating addresses within
// it changes nothing), /56 and /48. A string that is no IP address is its
// own network.
func ClientNetworks(ip string) (n64, n56, n48 string) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip, "", ""
	}
	addr = addr.Unmap()
	if !addr.Is6() {
		return addr.String(), "", ""
	}
	p64, _ := addr.Prefix(64)
	p56, _ := addr.Prefix(56)
	p48, _ := addr.Prefix(48)
	return p64.String(), p56.String(), p48.String()
}
