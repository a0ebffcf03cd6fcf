package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"
)

// Diagnosis is what the server sees of a request's login state, as
// reported by GET /api/auth/diagnose. It never contains a secret, a token
// or a cookie value.
type Diagnosis struct {
	Scheme                 string         `json:"scheme"`
	Host                   string         `json:"host"`
	CanonicalURL           string         `json:"canonical_url,omitempty"`
	HostMatchesCanonical   *bool          `json:"host_matches_canonical,omitempty"`
	SchemeMatchesCanonical *bool          `json:"scheme_matches_canonical,omitempty"`
	CookieReceived         bool           `json:"cookie_received"`
	SessionValid           bool           `json:"session_valid"`
	Reason                 session.Reason `json:"reason,omitempty"`
	CookieKeyID            string         `json:"cookie_key_id,omitempty"`
	CurrentKeyID           string         `json:"current_key_id"`
	SecureCookie           bool           `json:"secure_cookie"`
	CookieDomain           string         `json:"cookie_domain"`
	ClientIP               string         `json:"client_ip"`
	RemoteAddr             string         `json:"remote_addr"`
	TrustedProxy           bool           `json:"trusted_proxy"`
	ForwardedProto         string         `json:"forwarded_proto,omitempty"`
	Fix                    string         `json:"fix"`
}

// diagnose reports the diagnosis of this request. No login needed.
func (s *Server) diagnose(w http.ResponseWriter, r *http.Request) error {
	e, reason, err := s.Verify(r)
	if err != nil {
		return err
	}
	cookie, _ := request.SessionCookie(r.Header, SessionCookieName(r, s.CookieDomain))
	diag := Diagnosis{
		Scheme:         Scheme(r),
		Host:           r.Host,
		CookieReceived: reason != session.ReasonNoCookie,
		SessionValid:   e != nil && reason == "",
		Reason:         reason,
		CookieKeyID:    keyring.KeyIDOf(cookie),
		CurrentKeyID:   s.Keys.CurrentID(),
		ClientIP:       ClientIP(r),
		RemoteAddr:     r.RemoteAddr,
		TrustedProxy:   TrustedProxy(r),
		ForwardedProto: r.Header.Get("X-Forwarded-Proto"),
		CookieDomain:   request.CookieDomainFor(r.Host, s.CookieDomain),
	}
	diag.SecureCookie = diag.Scheme == "https"
	if diag.CookieDomain == "" {
		diag.CookieDomain = "host-only"
	}
	if c := s.Canonical; c != nil {
		diag.CanonicalURL = c.String()
		hostOK, schemeOK := strings.EqualFold(r.Host, c.Host), diag.Scheme == c.Scheme
		diag.HostMatchesCanonical, diag.SchemeMatchesCanonical = &hostOK, &schemeOK
	}
	diag.Fix = diag.fix(s.Canonical != nil && s.Canonical.Scheme == "https")
	WriteJSON(w, http.StatusOK, diag)
	return nil
}

// doctor reports the server-side findings of the doctor (see
// internal/doctor), for admins: they describe the configuration, never a
// secret.
func (s *Server) doctor(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, s.Doctor(r.Context()))
	return nil
}

// fix names the most likely remedy in one sentence.
func (g *Diagnosis) fix(httpsAvailable bool) string {
	switch {
	case g.HostMatchesCanonical != nil && !*g.HostMatchesCanonical:
		return fmt.Sprintf("Open the dashboard at %s: this request reached %s, a different host, so the session cookie is not shared.", g.CanonicalURL, g.Host)
	case g.SchemeMatchesCanonical != nil && !*g.SchemeMatchesCanonical:
		return fmt.Sprintf("Open the dashboard at %s: this request arrived over %s.", g.CanonicalURL, g.Scheme)
	case g.Scheme == "http" && strings.EqualFold(request.FirstListItem(g.ForwardedProto), "https") && !g.TrustedProxy:
		return "A proxy says the browser uses HTTPS but Caddy does not trust it: add its address to the server's trusted_proxies."
	}
	switch g.Reason {
	case "":
		if g.Scheme == "http" && httpsAvailable {
			return "The session is valid, but it travels unencrypted over HTTP: use the https:// address."
		}
		return "Nothing to fix: the session is valid."
	case session.ReasonNoCookie:
		return "No session cookie arrived: log in; if you just did, check that the browser accepts cookies for this host."
	case session.ReasonMalformed:
		return "The cookie is not a proxyos session: clear the proxyos_session cookie and log in again."
	case session.ReasonUnknownKey:
		return fmt.Sprintf("The cookie was signed with a secret that is no longer configured (key id %s): log in again, or list the old secret under previous_secrets.", g.CookieKeyID)
	case session.ReasonBadSignature:
		return "The cookie was altered or forged: log in again."
	case session.ReasonExpired:
		return "The session reached its maximum age (session_ttl): log in again."
	case session.ReasonIdleTimeout:
		return "The session was unused for longer than session_idle: log in again."
	case session.ReasonRevoked:
		return "The session was logged out or revoked: log in again."
	case session.ReasonUserDisabled:
		return "The account is disabled: ask an admin to enable it."
	case session.ReasonOtherHost:
		return "The cookie belongs to a login handed off to another host and is valid only there: log in here."
	}
	return ""
}
