package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/session"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// nextURL is where a browser goes after logging in with the return URL
// raw: a handoff to raw's host when that is a managed route behind the
// login that the session cookie does not reach, on a port where this
// Caddy serves it (and the browser brought the state the route's gate
// gave it), else safeReturnURL.
func (s *Server) nextURL(ctx context.Context, sessionID, raw, state string, r *http.Request) (string, error) {
	if target, rt := s.handoffTarget(raw, r); target != nil && state != "" {
		cb, ok := s.callbackTarget(target, rt)
		if ok {
			return s.issueHandoff(ctx, sessionID, target, cb, state)
		}
		if ce := s.Logger.Check(zap.DebugLevel, "no login handoff to a port this caddy does not serve"); ce != nil {
			ce.Write(zap.String("host", cb.Host), zap.String("scheme", cb.Scheme), zap.Int("port", cb.Port))
		}
	}
	return s.safeReturnURL(raw, r), nil
}

// handoffTarget returns raw parsed, with its route, when it is an absolute
// http(s) URL on a host the session cookie does not reach and a live
// managed route that requires login serves it: the only hosts a login is
// handed to, so the handoff is no open redirect and no code goes to a
// host proxyos does not guard.
func (s *Server) handoffTarget(raw string, r *http.Request) (*url.URL, *route.Route) {
	u := request.ParseReturnURL(raw)
	if u == nil || !request.IsWebURL(u) {
		return nil, nil
	}
	host := strings.ToLower(u.Hostname())
	if s.allowedReturnHost(host, r) || s.Routes == nil {
		return nil, nil // the cookie works there already
	}
	lr := s.Routes.Table.Lookup(host)
	if lr == nil || !lr.Route.HasGate() {
		return nil, nil
	}
	return u, lr.Route
}

// callbackTarget returns where the handoff for target goes. The scheme
// is the route's: https unless its TLS is off, so a return URL cannot
// downgrade the code to plain HTTP; the port is target's with the
// route's scheme, else that scheme's default port. ok is false unless an
// HTTP server of this Caddy serves that scheme on that port: another
// port of the host may be anyone's, and the code must not go there.
func (s *Server) callbackTarget(target *url.URL, rt *route.Route) (cb store.HandoffTarget, ok bool) {
	cb = store.HandoffTarget{Scheme: "https", Host: request.NormalizeHost(target.Host)}
	if rt.TLS == route.TLSOff {
		cb.Scheme = "http"
	}
	cb.Port = defaultPort(cb.Scheme)
	if p := target.Port(); p != "" && target.Scheme == cb.Scheme {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return cb, false
		}
		cb.Port = n
	}
	return cb, s.Serves != nil && s.Serves(cb.Scheme, cb.Port)
}

// issueHandoff stores a one-time code for the session, bound to cb (the
// callback's scheme, host and port) and the browser's state, and returns
// the callback URL that carries it there.
func (s *Server) issueHandoff(ctx context.Context, sessionID string, target *url.URL, cb store.HandoffTarget, state string) (string, error) {
	code, err := s.Sessions.IssueHandoff(ctx, sessionID, cb, state)
	if err != nil {
		return "", err
	}
	hostPort := target.Hostname()
	if strings.Contains(hostPort, ":") {
		hostPort = "[" + hostPort + "]"
	}
	if cb.Port != defaultPort(cb.Scheme) {
		hostPort += ":" + strconv.Itoa(cb.Port)
	}
	q := url.Values{"code": {code}, "return": {target.RequestURI() + request.Fragment(target)}}
	u := url.URL{Scheme: cb.Scheme, Host: hostPort, Path: session.HandoffPath, RawQuery: q.Encode()}
	return u.String(), nil
}

// defaultPort is the port of scheme (http or https) when a URL names none.
func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// SessionCookieReaches reports whether browsers send the dashboard's
// session cookie to host: the dashboard's own host, or within
// cookie_domain.
func (s *Server) SessionCookieReaches(host string) bool {
	host = request.NormalizeHost(host)
	return (s.Canonical != nil && host == strings.ToLower(s.Canonical.Hostname())) ||
		(s.CookieDomain != "" && request.HostWithin(host, s.CookieDomain))
}

// safeReturnURL returns raw if it is a place the dashboard may send a
// browser after login, else "/". Accepted are paths on the dashboard
// itself and absolute http(s) URLs whose host is the dashboard's host
// (any port: cookies ignore ports), the canonical url's host, or within
// cookie_domain — the hosts where the session cookie works. Anything else
// (other sites, "//evil.example", backslash tricks, javascript: URLs,
// credentials in the URL) would make the login page an open redirect.
func (s *Server) safeReturnURL(raw string, r *http.Request) string {
	u := request.ParseReturnURL(raw)
	if u == nil {
		return "/"
	}
	if strings.HasPrefix(raw, "/") {
		return request.LocalPath(raw)
	}
	if !request.IsWebURL(u) || !s.allowedReturnHost(u.Hostname(), r) {
		return "/"
	}
	return u.String()
}

// allowedReturnHost reports whether host shares the dashboard's session
// cookie.
func (s *Server) allowedReturnHost(host string, r *http.Request) bool {
	host = strings.ToLower(host)
	switch {
	case host == "":
		return false
	case host == request.HostOnly(r.Host):
		return true
	case s.Canonical != nil && host == s.Canonical.Hostname():
		return true
	case s.CookieDomain != "" && request.HostWithin(host, s.CookieDomain):
		return true
	}
	return false
}
