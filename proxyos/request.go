package proxyos

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Names of the session cookie. Over HTTPS, where the cookie is host-only
// (no cookie_domain covers the host), it is HostCookieName: browsers take
// a __Host- cookie only with Secure, Path=/ and no Domain, so a sibling
// subdomain cannot plant one with Domain=<parent> (cookie tossing), and a
// cookie named CookieName is ignored there. Over plain HTTP, and where
// cookie_domain shares it, it is CookieName.
const (
	CookieName     = "proxyos_session"
	HostCookieName = "__Host-" + CookieName
)

// sessionCookieName returns the name of the session cookie on r's host
// (see HostCookieName). It does not allocate: the gate calls it on every
// request.
func (a *App) sessionCookieName(r *http.Request) string {
	if requestScheme(r) == "https" && a.cookieDomainFor(r.Host) == "" {
		return HostCookieName
	}
	return CookieName
}

// cookieDomainFor returns cookie_domain when host is within it, else ""
// (host-only: a browser would reject the Domain attribute there).
func (a *App) cookieDomainFor(host string) string {
	cd := a.CookieDomain
	if cd == "" {
		return ""
	}
	// hostOnly, without allocating
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	if hostWithin(strings.Trim(host, "[]"), cd) {
		return cd
	}
	return ""
}

// maxBodyBytes bounds JSON request bodies.
const maxBodyBytes = 1 << 20

// requestScheme returns the scheme of the browser-facing connection:
// https when this connection is TLS, or when a proxy that Caddy's
// trusted_proxies trusts says so in X-Forwarded-Proto; http otherwise.
// A client-sent X-Forwarded-Proto from anyone else is ignored.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if isTrustedProxy(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); strings.EqualFold(strings.TrimSpace(firstListItem(p)), "https") {
			return "https"
		}
	}
	return "http"
}

func firstListItem(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
}

// isTrustedProxy reports whether Caddy trusts the peer of this request as
// a proxy (its trusted_proxies setting).
func isTrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// clientIP returns the client IP as Caddy computes it, honouring
// trusted_proxies; without that, the connection's remote address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// hostOnly returns the host of a host[:port] in lower case.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// hostWithin reports whether host is domain or one of its subdomains,
// ignoring case, without allocating.
func hostWithin(host, domain string) bool {
	switch n := len(host) - len(domain); {
	case domain == "" || n < 0:
		return false
	case n == 0:
		return strings.EqualFold(host, domain)
	default:
		return host[n-1] == '.' && strings.EqualFold(host[n:], domain)
	}
}

// errCrossSite is why a state-changing request was refused.
var errCrossSite = errors.New("state-changing requests need Content-Type: application/json and a same-origin Origin or Sec-Fetch-Site header")

// checkSameOrigin refuses requests a cross-site page could send with the
// user's cookie: the body must be JSON (which a form cannot send without
// a CORS preflight) and the browser must vouch for the origin, through
// Sec-Fetch-Site: same-origin or an Origin whose scheme and host are this
// request's (a page on http://host may not act on https://host).
func checkSameOrigin(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errCrossSite
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return errCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
			return nil
		}
		return errCrossSite
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || scheme != requestScheme(r) || !strings.EqualFold(host, r.Host) {
		return errCrossSite
	}
	return nil
}

// sessionCookie returns the value of the first cookie named name without
// parsing every cookie of the request (and without allocating).
func sessionCookie(h http.Header, name string) (string, bool) {
	for v := range sessionCookies(h, name) {
		return v, true
	}
	return "", false
}

// sessionCookies yields the value of every cookie named name (a session
// cookie name, see sessionCookieName) of the request: a browser may hold
// a host-only one and one for cookie_domain.
func sessionCookies(h http.Header, name string) func(yield func(string) bool) {
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

// stripSessionCookie removes the session cookies (of either name) from
// the request's Cookie headers, so upstreams never see them, and keeps
// every other cookie, in one Cookie line. It allocates only to keep other
// cookies beside a session cookie; lines without one are left as they
// are.
func stripSessionCookie(h http.Header) {
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
	return name == CookieName || name == HostCookieName
}

// decodeJSON reads a JSON body of at most maxBodyBytes into v, refusing
// unknown fields so typos are reported instead of ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &FieldError{"body", "not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{"body", "unexpected data after the JSON value"}
	}
	return nil
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
}

// apiError is the JSON shape of every error the API answers.
type apiError struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason Reason `json:"reason,omitempty"`
}

// writeUnauthenticated answers 401 with the reason.
func writeUnauthenticated(w http.ResponseWriter, reason Reason) {
	writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthenticated", Reason: reason})
}
