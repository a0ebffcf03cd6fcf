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

// CookieName is the name of the session cookie.
const CookieName = "proxyos_session"

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

// hostWithin reports whether host is domain or one of its subdomains.
func hostWithin(host, domain string) bool {
	host, domain = strings.ToLower(host), strings.ToLower(domain)
	return domain != "" && (host == domain || strings.HasSuffix(host, "."+domain))
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

// sessionCookie returns the value of the first session cookie without
// parsing every cookie of the request (and without allocating).
func sessionCookie(h http.Header) (string, bool) {
	for v := range sessionCookies(h) {
		return v, true
	}
	return "", false
}

// sessionCookies yields the value of every session cookie of the request:
// a browser may hold a host-only one and one for cookie_domain.
func sessionCookies(h http.Header) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for _, line := range h["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				part = strings.TrimSpace(part)
				name, val, ok := strings.Cut(part, "=")
				if ok && name == CookieName && !yield(strings.Trim(val, `"`)) {
					return
				}
			}
		}
	}
}

// stripSessionCookie removes the session cookies from the request's
// Cookie headers, so upstreams never see them, and keeps every other
// cookie, in one Cookie line. It allocates only to keep other cookies
// beside a session cookie; lines without one are left as they are.
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
// header is the session cookie.
func isSessionCookie(part string) bool {
	name, _, _ := strings.Cut(part, "=")
	return name == CookieName
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
