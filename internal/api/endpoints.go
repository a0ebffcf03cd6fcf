package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/authz"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/request"
	"github.com/proxyos/caddy-proxyos/internal/session"
)

// endpoint is one endpoint of the API.
type endpoint struct {
	pattern string      // http.ServeMux pattern with method
	role    authz.Role  // the least role of a session, or of a key's owner; "" for anyone
	scope   authz.Scope // the scope an API key needs; "" takes no keys
	handle  func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// endpoints is every endpoint of the API with the role and key scope it
// needs; ServeAPI denies everything else. Calls made with a session
// cookie and other methods than GET need a JSON body and a same-origin
// request (request.CheckSameOrigin). Own-account endpoints and key
// management take no keys, and the account service refuses password and
// two-factor changes, users and admins made with keys, so a leaked key
// cannot change a password, turn off two-factor authentication, make an
// admin or mint more keys.
var endpoints = []endpoint{
	{"POST /api/setup", "", "", (*Server).setup},
	{"GET /api/setup/status", "", "", (*Server).setupStatus},
	{"POST /api/auth/login", "", "", (*Server).login},
	{"POST /api/auth/logout", "", "", (*Server).logout},
	{"GET /api/auth/session", "", "", (*Server).session},
	{"GET /api/auth/diagnose", "", "", (*Server).diagnose},
	{"GET /api/auth/verify", "", "", (*Server).verify},
	{"POST /api/auth/handoff", authz.Viewer, "", (*Server).handoff},
	{"POST /api/auth/passkey/begin", "", "", (*Server).beginPasskeyLogin},
	{"POST /api/auth/passkey/finish", "", "", (*Server).finishPasskeyLogin},
	{"GET /api/auth/methods", "", "", (*Server).authMethods},
	{"GET /api/auth/oidc/{provider}", "", "", (*Server).oidcStart},
	{"GET /api/auth/oidc/{provider}/callback", "", "", (*Server).oidcCallback},

	{"GET /api/routes", authz.Viewer, authz.RoutesRead, (*Server).listRoutes},
	{"POST /api/routes", authz.Operator, authz.RoutesWrite, (*Server).createRoute},
	{"GET /api/routes/{id}", authz.Viewer, authz.RoutesRead, (*Server).getRoute},
	{"PUT /api/routes/{id}", authz.Operator, authz.RoutesWrite, (*Server).updateRoute},
	{"DELETE /api/routes/{id}", authz.Operator, authz.RoutesWrite, (*Server).deleteRoute},
	{"GET /api/routes/{id}/versions", authz.Viewer, authz.RoutesRead, (*Server).routeVersions},
	{"POST /api/routes/{id}/rollback", authz.Operator, authz.RoutesWrite, (*Server).rollbackRoute},
	{"POST /api/routes/{id}/maintenance", authz.Operator, authz.RoutesWrite, (*Server).setMaintenance},
	{"GET /api/routes/{id}/tokens", authz.Viewer, authz.RoutesRead, (*Server).listRouteTokens},
	{"POST /api/routes/{id}/tokens", authz.Operator, authz.RoutesWrite, (*Server).createRouteToken},
	{"DELETE /api/routes/{id}/tokens/{token}", authz.Operator, authz.RoutesWrite, (*Server).revokeRouteToken},
	// Streams: operators change them; a listen port outside the app's
	// stream_ports needs an admin (the service checks, see streamCaller).
	{"GET /api/streams", authz.Viewer, authz.RoutesRead, (*Server).listStreams},
	{"POST /api/streams", authz.Operator, authz.RoutesWrite, (*Server).createStream},
	{"GET /api/streams/{id}", authz.Viewer, authz.RoutesRead, (*Server).getStream},
	{"PUT /api/streams/{id}", authz.Operator, authz.RoutesWrite, (*Server).updateStream},
	{"DELETE /api/streams/{id}", authz.Operator, authz.RoutesWrite, (*Server).deleteStream},
	{"GET /api/streams/{id}/versions", authz.Viewer, authz.RoutesRead, (*Server).streamVersions},
	{"POST /api/streams/{id}/rollback", authz.Operator, authz.RoutesWrite, (*Server).rollbackStream},
	{"GET /api/routes/{id}/traffic", authz.Viewer, authz.RoutesRead, (*Server).routeTraffic},
	// A request log holds client IPs, paths and users (personal data):
	// those who may change routes, and keys that may, read it.
	{"GET /api/routes/{id}/requests", authz.Operator, authz.RoutesWrite, (*Server).routeRequests},
	{"GET /api/overview", authz.Viewer, authz.RoutesRead, (*Server).overview},
	{"POST /api/access/test", authz.Viewer, authz.RoutesRead, (*Server).testAccess},
	// DNS provider credentials hold API tokens that can change a whole
	// DNS zone: only admins store, replace or delete them, and no answer
	// ever contains their config. The route form reads their names.
	{"GET /api/dns", authz.Viewer, authz.RoutesRead, (*Server).dnsInfo},
	{"GET /api/dns/credentials", authz.Admin, authz.All, (*Server).listDNSCredentials},
	{"POST /api/dns/credentials", authz.Admin, authz.All, (*Server).createDNSCredential},
	{"PUT /api/dns/credentials/{name}", authz.Admin, authz.All, (*Server).updateDNSCredential},
	{"DELETE /api/dns/credentials/{name}", authz.Admin, authz.All, (*Server).deleteDNSCredential},

	{"GET /api/certificates", authz.Viewer, authz.RoutesRead, (*Server).listCertificates},
	{"POST /api/certificates", authz.Operator, authz.RoutesWrite, (*Server).uploadCertificate},
	{"PUT /api/certificates/{id}", authz.Operator, authz.RoutesWrite, (*Server).replaceCertificate},
	{"DELETE /api/certificates/{id}", authz.Operator, authz.RoutesWrite, (*Server).deleteCertificate},
	{"POST /api/certificates/renew", authz.Operator, authz.RoutesWrite, (*Server).renewCertificate},
	{"GET /api/certificates/root.crt", authz.Viewer, authz.RoutesRead, (*Server).rootCertificate},
	{"GET /api/export", authz.Operator, authz.RoutesRead, (*Server).exportRoutes},
	{"POST /api/import", authz.Operator, authz.RoutesWrite, (*Server).importRoutes},

	{"GET /api/users", authz.Admin, authz.UsersRead, (*Server).listUsers},
	{"POST /api/users", authz.Admin, authz.UsersWrite, (*Server).createUser},
	{"GET /api/users/{id}", authz.Admin, authz.UsersRead, (*Server).getUser},
	{"PUT /api/users/{id}", authz.Admin, authz.UsersWrite, (*Server).updateUser},
	{"DELETE /api/users/{id}", authz.Admin, authz.UsersWrite, (*Server).deleteUser},

	{"GET /api/account", authz.Viewer, "", (*Server).account},
	{"PUT /api/account/password", authz.Viewer, "", (*Server).changePassword},
	{"POST /api/account/totp", authz.Viewer, "", (*Server).beginTOTP},
	{"POST /api/account/totp/confirm", authz.Viewer, "", (*Server).confirmTOTP},
	{"POST /api/account/totp/disable", authz.Viewer, "", (*Server).disableTOTP},
	{"GET /api/account/passkeys", authz.Viewer, "", (*Server).listPasskeys},
	{"POST /api/account/passkeys", authz.Viewer, "", (*Server).beginPasskey},
	{"POST /api/account/passkeys/finish", authz.Viewer, "", (*Server).finishPasskey},
	{"DELETE /api/account/passkeys/{id}", authz.Viewer, "", (*Server).removePasskey},

	{"GET /api/keys", authz.Viewer, "", (*Server).listKeys},
	{"POST /api/keys", authz.Viewer, "", (*Server).createKey},
	{"DELETE /api/keys/{id}", authz.Viewer, "", (*Server).revokeKey},

	{"GET /api/sessions", authz.Viewer, authz.UsersRead, (*Server).listSessions},
	{"DELETE /api/sessions/{id}", authz.Viewer, authz.UsersWrite, (*Server).revokeSession},
	{"POST /api/sessions/revoke-all", authz.Viewer, authz.UsersWrite, (*Server).revokeAllSessions},

	{"GET /api/audit", authz.Admin, authz.AuditRead, (*Server).audit},

	{"GET /api/cluster", authz.Admin, "", (*Server).cluster},
	{"GET /api/doctor", authz.Admin, "", (*Server).doctor},
}

// call carries a request's caller and the handler's unexpected error
// through the router.
type call struct {
	caller account.Caller
	entry  *session.Entry // the caller's session, when they came with one
	err    error
}

type callKey struct{}

// callOf returns the call of a request served by ServeAPI.
func callOf(r *http.Request) *call {
	if c, ok := r.Context().Value(callKey{}).(*call); ok {
		return c
	}
	return new(call)
}

// caller returns who makes a request: set for endpoints above public.
func caller(r *http.Request) account.Caller { return callOf(r).caller }

// endpoint wraps a handler with the same-origin check, and the role and
// scope checks of e; the handler's error is answered by Error.
func (s *Server) endpoint(e endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callOf(r)
		err := s.authorize(r, e, c)
		if err == nil {
			err = e.handle(s, w, r)
		}
		if err != nil {
			c.err = s.Error(w, err)
		}
	})
}

// authorize establishes the caller of a request to e and checks that
// they may call it. A request with an API key is authorized by the key
// alone: keys carry no ambient authority a browser could send cross-site,
// so the same-origin check does not apply to them.
func (s *Server) authorize(r *http.Request, e endpoint, c *call) error {
	if bearer, ok := bearerToken(r); ok && e.role != "" {
		return s.authorizeKey(r, e, c, bearer)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := request.CheckSameOrigin(r, Scheme(r)); err != nil {
			return fail.Forbidden("", err.Error())
		}
	}
	if e.role == "" {
		return nil
	}
	entry, reason, err := s.Verify(r)
	if err != nil {
		return err
	}
	if reason != "" {
		return fail.Unauthenticated(string(reason))
	}
	id := entry.Identity()
	if !id.Role.AtLeast(e.role) {
		return fail.Forbidden("", fmt.Sprintf("role %s cannot do this", id.Role))
	}
	c.entry = entry
	c.caller = account.Caller{
		Actor:  audit.Actor{Name: id.Email, Kind: audit.ActorUser, ClientIP: ClientIP(r)},
		UserID: id.UserID, Email: id.Email, Role: id.Role, SessionID: id.SessionID,
	}
	return nil
}

// authorizeKey authorizes a request made with an API key: the key must be
// valid, hold the endpoint's scope, and its owner must still have the
// role the endpoint needs.
func (s *Server) authorizeKey(r *http.Request, e endpoint, c *call, bearer string) error {
	kc, reason, err := s.Accounts.VerifyKey(r.Context(), bearer)
	if err != nil {
		return err
	}
	if reason != "" {
		return fail.Unauthenticated(string(reason))
	}
	role := authz.Role(kc.User.Role)
	switch {
	case e.scope == "":
		return fail.Forbidden("", "API keys cannot do this; log in to the dashboard")
	case !authz.Covers(authz.Scopes(kc.Key.Scopes), e.scope):
		return fail.Forbidden("", fmt.Sprintf("this key lacks the scope %s", e.scope))
	case !role.AtLeast(e.role):
		return fail.Forbidden("", fmt.Sprintf("the key's owner has role %s, which cannot do this", role))
	}
	c.caller = account.Caller{
		Actor: audit.Actor{Name: kc.User.Email, Kind: audit.ActorAPIKey, ClientIP: ClientIP(r),
			KeyID: kc.Key.ID, KeyName: kc.Key.Name},
		UserID: kc.User.ID, Email: kc.User.Email, Role: role, KeyID: kc.Key.ID,
	}
	return nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

// Endpoint says who may call one endpoint of the API.
type Endpoint struct {
	Pattern string      // method and path, as http.ServeMux takes them
	Role    authz.Role  // the least role; "" for anyone
	Scope   authz.Scope // the API-key scope it needs; "" takes no keys
}

// Endpoints lists the API's endpoints with who may call them: the table
// every request is checked against.
func Endpoints() []Endpoint {
	out := make([]Endpoint, len(endpoints))
	for i, e := range endpoints {
		out[i] = Endpoint{Pattern: e.pattern, Role: e.role, Scope: e.scope}
	}
	return out
}
