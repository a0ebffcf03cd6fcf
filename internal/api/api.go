// Package api serves the dashboard's JSON API under /api/. Every endpoint
// is one line of the endpoint table (endpoints.go) with the least role
// and the API-key scope it needs, checked in one place before any handler
// runs; everything not in the table is denied. Handlers decode, call one
// service method and encode; the services (account, router) validate,
// store, update caches and record the audit entry. Errors are mapped to
// a status and a JSON body in one place (errors.go), shared with Caddy's
// admin API.
package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/cluster"
	"github.com/proxyos/caddy-proxyos/internal/dnsprov"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/metrics"
	"github.com/proxyos/caddy-proxyos/internal/oidc"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/router"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/stream"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
)

// Server is the dashboard's API for one config.
type Server struct {
	Accounts *account.Service
	Routes   *router.Service
	Streams  *stream.Service
	Sessions *session.Cache
	Store    *store.Store // for reading the audit log
	Keys     *keyring.Keyring

	// Canonical is the app's url, or nil.
	Canonical *url.URL
	// CookieDomain is the app's cookie_domain, or "".
	CookieDomain string
	// SessionIdle is the config's session_idle.
	SessionIdle time.Duration
	// Serves reports whether this Caddy serves scheme on port, for the
	// ports a login may be handed off to; nil serves none.
	Serves func(scheme string, port int) bool
	// Cluster returns the nodes on the app's database.
	Cluster func(context.Context) (cluster.View, error)
	// Certificates is the TLS side of the certificates page.
	Certificates Certificates
	// Doctor runs the server-side checks of the doctor.
	Doctor func(context.Context) doctor.Report
	// OIDC logs users in with the config's OpenID providers; nil for none.
	OIDC *oidc.Service
	// PasswordLoginOff refuses logins with a password (password_login off).
	PasswordLoginOff bool
	// Metrics counts session checks; nil counts nothing.
	Metrics *metrics.Set
	// DNS keeps the DNS provider credentials; DNSDefault returns the
	// proxyos issuer's own DNS provider, or "".
	DNS        *dnsprov.Service
	DNSDefault func() string
	// Traffic answers each route's last hour of traffic; Requests are
	// the request logs of routes with request_log, on this node.
	Traffic  *traffic.Sampler
	Requests *traffic.Logs

	Logger *zap.Logger
	Now    func() time.Time

	mux *http.ServeMux
}

// Build makes the server's router from the endpoint table. Call it once,
// after setting the fields.
func (s *Server) Build() {
	s.mux = http.NewServeMux()
	for _, e := range endpoints {
		s.mux.Handle(e.pattern, s.endpoint(e))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			WriteJSON(w, http.StatusMethodNotAllowed, Body{Error: "method not allowed"})
			return
		}
		WriteJSON(w, http.StatusNotFound, Body{Error: "no such endpoint"})
	})
}

// allowedMethods lists the methods the API serves on r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// ServeAPI answers an /api/ request. It returns an error only for what
// it could not answer (an unexpected failure, already logged), for the
// site's error handling.
func (s *Server) ServeAPI(w http.ResponseWriter, r *http.Request) error {
	c := new(call)
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	return c.err
}

// Verify verifies the request's session cookies: those of the name this
// request's cookie has (on HTTPS without cookie_domain a plain
// proxyos_session cookie may have been planted by a sibling subdomain and
// is not looked at). It returns the first valid session, or the reason
// the first cookie was refused; err only when the store failed.
func (s *Server) Verify(r *http.Request) (*session.Entry, session.Reason, error) {
	e, reason, err := s.Sessions.VerifyCookies(r.Context(), s.Keys,
		request.ScanCookies(r.Header, SessionCookieName(r, s.CookieDomain)),
		r.Host, s.SessionIdle)
	if s.Metrics != nil && err == nil {
		if reason == "" {
			s.Metrics.SessionCheck(metrics.SessionValid)
		} else {
			s.Metrics.SessionCheck(string(reason))
		}
	}
	return e, reason, err
}
