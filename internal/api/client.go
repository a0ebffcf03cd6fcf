package api

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
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

// SetSessionCookie sends the session cookie. Secure follows the real
// scheme of the browser's connection, so a browser on plain HTTP keeps it
// (no login loop) and one on HTTPS never sends it in the clear; there,
// unless cookie_domain shares it, it is the __Host- cookie that no other
// host can plant (see request.HostSessionCookieName).
func (s *Server) SetSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookieName(r, s.CookieDomain),
		Value:    value,
		Path:     "/",
		Domain:   request.CookieDomainFor(r.Host, s.CookieDomain),
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   Scheme(r) == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie tells the browser to drop the session cookie: the
// cookie_domain one, a host-only one left from before cookie_domain was
// set and, on HTTPS, the __Host- one.
func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	secure := Scheme(r) == "https"
	clear := func(name, domain string) {
		http.SetCookie(w, &http.Cookie{
			Name: name, Value: "", Path: "/", Domain: domain, MaxAge: -1,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
		})
	}
	if secure {
		clear(request.HostSessionCookieName, "")
	}
	clear(request.SessionCookieName, "")
	if cd := request.CookieDomainFor(r.Host, s.CookieDomain); cd != "" {
		clear(request.SessionCookieName, cd)
	}
}

// setDeviceCookie marks the browser as a known device of the account
// email (see account.DeviceCookie), keeping the id it had for that
// account.
func (s *Server) setDeviceCookie(w http.ResponseWriter, r *http.Request, email string) {
	old := ""
	if c, err := r.Cookie(account.DeviceCookie); err == nil {
		old = c.Value
	}
	v, err := s.Accounts.DeviceCookieValue(old, email)
	if err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: account.DeviceCookie, Value: v, Path: "/api/auth/", MaxAge: int(account.DeviceCookieTTL / time.Second),
		HttpOnly: true, Secure: Scheme(r) == "https", SameSite: http.SameSiteStrictMode,
	})
}

// HandoffStateCookie is the name of the cookie that binds a handoff to
// the browser that asked for it: on HTTPS with the __Host- prefix, so no
// sibling subdomain can plant one.
func HandoffStateCookie(r *http.Request) string {
	if Scheme(r) == "https" {
		return "__Host-proxyos_handoff"
	}
	return "proxyos_handoff"
}

// handoffStateTTL bounds the time from the gate's redirect to the
// callback: a login, with two-factor, in between.
const handoffStateTTL = 15 * time.Minute

// NewHandoffState sets a fresh state cookie on this host and returns its
// value, which travels to the login page with the return URL. Only this
// browser can then redeem the code the dashboard issues for it: an
// attacker cannot log a victim in as the attacker (login CSRF) with a
// code of their own.
func NewHandoffState(w http.ResponseWriter, r *http.Request) string {
	raw := make([]byte, 16)
	rand.Read(raw) //nolint:errcheck // never fails
	state := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name: HandoffStateCookie(r), Value: state, Path: "/", MaxAge: int(handoffStateTTL / time.Second),
		HttpOnly: true, Secure: Scheme(r) == "https", SameSite: http.SameSiteLaxMode,
	})
	return state
}

// PasskeyCookie binds a passkey ceremony to the browser that began it:
// its value is the ceremony's id, which the finishing request brings.
const PasskeyCookie = "proxyos_passkey"

// setPasskeyCookie sets the cookie of the ceremony id.
func setPasskeyCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: PasskeyCookie, Value: id, Path: "/api/", MaxAge: int(passkey.CeremonyTTL / time.Second),
		HttpOnly: true, Secure: Scheme(r) == "https", SameSite: http.SameSiteStrictMode,
	})
}

// takePasskeyCookie returns the ceremony id the browser brought and
// clears the cookie: a ceremony is answered once.
func takePasskeyCookie(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(PasskeyCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: PasskeyCookie, Value: "", Path: "/api/", MaxAge: -1,
		HttpOnly: true, Secure: Scheme(r) == "https", SameSite: http.SameSiteStrictMode})
	return c.Value
}
