package api

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/passkey"
	"github.com/proxyos/caddy-proxyos/internal/request"
)

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
