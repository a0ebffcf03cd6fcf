package proxyos

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// level is the least a caller needs to use an endpoint. Every endpoint
// declares one in apiRoutes and serveAPI enforces it in one place.
type level int

const (
	public   level = iota // anyone; the handler may check a session itself
	viewer                // any logged-in user
	operator              // operators and admins
	admin                 // admins only
)

// roleLevel is the level a role reaches; unknown roles reach nothing.
func roleLevel(role string) level {
	switch role {
	case RoleAdmin:
		return admin
	case RoleOperator:
		return operator
	case RoleViewer:
		return viewer
	}
	return -1
}

// apiRoute is one endpoint of the dashboard's JSON API.
type apiRoute struct {
	pattern string // http.ServeMux pattern with method
	level   level  // the least role of a session, or of a key's owner
	scope   string // the scope an API key needs; "" takes no keys
	handle  func(d *Dashboard, w http.ResponseWriter, r *http.Request) error
}

// apiRoutes is every endpoint of the dashboard's JSON API with the level
// and key scope it needs; serveAPI denies everything else. Calls made with
// a session cookie and other methods than GET need a JSON body and a
// same-origin request (checkSameOrigin). Own-account endpoints and key
// management take no keys, and apiUpdateUser refuses password and
// two-factor changes made with keys, so a leaked key cannot change a
// password, turn off two-factor authentication or mint more keys.
var apiRoutes = []apiRoute{
	{"POST /api/setup", public, "", (*Dashboard).apiSetup},
	{"GET /api/setup/status", public, "", (*Dashboard).apiSetupStatus},
	{"POST /api/auth/login", public, "", (*Dashboard).apiLogin},
	{"POST /api/auth/logout", public, "", (*Dashboard).apiLogout},
	{"GET /api/auth/session", public, "", (*Dashboard).apiSession},
	{"GET /api/auth/diagnose", public, "", (*Dashboard).apiDiagnose},
	{"POST /api/auth/handoff", viewer, "", (*Dashboard).apiHandoff},

	{"GET /api/routes", viewer, ScopeRoutesRead, (*Dashboard).apiListRoutes},
	{"POST /api/routes", operator, ScopeRoutesWrite, (*Dashboard).apiCreateRoute},
	{"GET /api/routes/{id}", viewer, ScopeRoutesRead, (*Dashboard).apiGetRoute},
	{"PUT /api/routes/{id}", operator, ScopeRoutesWrite, (*Dashboard).apiUpdateRoute},
	{"DELETE /api/routes/{id}", operator, ScopeRoutesWrite, (*Dashboard).apiDeleteRoute},
	{"GET /api/routes/{id}/versions", viewer, ScopeRoutesRead, (*Dashboard).apiRouteVersions},
	{"POST /api/routes/{id}/rollback", operator, ScopeRoutesWrite, (*Dashboard).apiRollbackRoute},

	{"GET /api/users", admin, ScopeUsersRead, (*Dashboard).apiListUsers},
	{"POST /api/users", admin, ScopeUsersWrite, (*Dashboard).apiCreateUser},
	{"GET /api/users/{id}", admin, ScopeUsersRead, (*Dashboard).apiGetUser},
	{"PUT /api/users/{id}", admin, ScopeUsersWrite, (*Dashboard).apiUpdateUser},
	{"DELETE /api/users/{id}", admin, ScopeUsersWrite, (*Dashboard).apiDeleteUser},

	{"GET /api/account", viewer, "", (*Dashboard).apiAccount},
	{"PUT /api/account/password", viewer, "", (*Dashboard).apiChangePassword},
	{"POST /api/account/totp", viewer, "", (*Dashboard).apiBeginTOTP},
	{"POST /api/account/totp/confirm", viewer, "", (*Dashboard).apiConfirmTOTP},
	{"POST /api/account/totp/disable", viewer, "", (*Dashboard).apiDisableTOTP},

	{"GET /api/keys", viewer, "", (*Dashboard).apiListKeys},
	{"POST /api/keys", viewer, "", (*Dashboard).apiCreateKey},
	{"DELETE /api/keys/{id}", viewer, "", (*Dashboard).apiRevokeKey},

	{"GET /api/sessions", viewer, ScopeUsersRead, (*Dashboard).apiListSessions},
	{"DELETE /api/sessions/{id}", viewer, ScopeUsersWrite, (*Dashboard).apiRevokeSession},
	{"POST /api/sessions/revoke-all", viewer, ScopeUsersWrite, (*Dashboard).apiRevokeAllSessions},

	{"GET /api/audit", admin, ScopeAuditRead, (*Dashboard).apiAudit},
}

// apiCall carries a request's caller and handler error through the mux.
type apiCall struct {
	id  *Identity
	key *keyCaller // set when the caller used an API key
	err error
}

type apiCallKey struct{}

// buildAPI makes the mux of apiRoutes.
func (d *Dashboard) buildAPI() {
	d.api = http.NewServeMux()
	for _, rt := range apiRoutes {
		d.api.Handle(rt.pattern, d.endpoint(rt))
	}
	d.api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := d.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "method not allowed"})
			return
		}
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint"})
	})
}

// allowedMethods lists the methods the API serves on r's path.
func (d *Dashboard) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := d.api.Handler(probe); pattern != "/api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// serveAPI dispatches an /api/ request.
func (d *Dashboard) serveAPI(w http.ResponseWriter, r *http.Request) error {
	call := new(apiCall)
	d.api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiCallKey{}, call)))
	return call.err
}

// endpoint wraps a handler with the same-origin check and the level and
// scope checks.
func (d *Dashboard) endpoint(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, _ := r.Context().Value(apiCallKey{}).(*apiCall)
		if call == nil {
			call = new(apiCall)
		}
		bearer, hasBearer := bearerToken(r)
		if hasBearer && rt.level > public {
			call.err = d.authorizeKey(w, r, rt, call, bearer)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := checkSameOrigin(r); err != nil {
				writeJSON(w, http.StatusForbidden, apiError{Error: err.Error()})
				return
			}
		}
		if rt.level > public {
			e, reason, err := d.session(r)
			if err != nil {
				call.err = d.writeAPIError(w, err)
				return
			}
			if reason != "" {
				writeUnauthenticated(w, reason)
				return
			}
			if roleLevel(e.id.Role) < rt.level {
				writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("role %s cannot do this", e.id.Role)})
				return
			}
			call.id = &e.id
		}
		call.err = rt.handle(d, w, r)
	})
}

// authorizeKey serves a request made with an API key: the key must be
// valid, hold the endpoint's scope, and its owner must still have the
// role the endpoint needs. Keys carry no ambient authority a browser
// could send cross-site, so the same-origin check does not apply.
func (d *Dashboard) authorizeKey(w http.ResponseWriter, r *http.Request, rt apiRoute, call *apiCall, bearer string) error {
	kc, reason, err := d.app.verifyAPIKey(r.Context(), bearer)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	if reason != "" {
		writeUnauthenticated(w, reason)
		return nil
	}
	switch {
	case rt.scope == "":
		writeJSON(w, http.StatusForbidden, apiError{Error: "API keys cannot do this; log in to the dashboard"})
		return nil
	case !scopesCover(kc.key.Scopes, rt.scope):
		writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("this key lacks the scope %s", rt.scope)})
		return nil
	case roleLevel(kc.user.Role) < rt.level:
		writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf("the key's owner has role %s, which cannot do this", kc.user.Role)})
		return nil
	}
	call.id = &Identity{UserID: kc.user.ID, Email: kc.user.Email, Role: kc.user.Role}
	call.key = kc
	return rt.handle(d, w, r)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

// callerKey returns the API key a request was made with, if any.
func callerKey(r *http.Request) *keyCaller {
	if call, ok := r.Context().Value(apiCallKey{}).(*apiCall); ok {
		return call.key
	}
	return nil
}

// caller returns the identity of the request's caller, set for
// endpoints above public.
func caller(r *http.Request) *Identity {
	if call, ok := r.Context().Value(apiCallKey{}).(*apiCall); ok {
		return call.id
	}
	return nil
}

// userJSON is how the API shows a user.
type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

func toUserJSON(u store.User) userJSON { return userJSON{ID: u.ID, Email: u.Email, Role: u.Role} }

// writeAPIError answers err with the matching status: 400 for a field
// error, 429 when rate limited, and a logged 500 (without details) for
// anything unexpected.
func (d *Dashboard) writeAPIError(w http.ResponseWriter, err error) error {
	var (
		fe *FieldError
		rl *RateLimitedError
	)
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, apiError{Error: fe.Error(), Field: fe.Field})
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", retryAfterSeconds(rl.RetryAfter))
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: rl.Error()})
	default:
		d.logger.Error("dashboard api", zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	return nil
}

// apiSetupStatus tells the pages whether the setup page is needed. It
// never reveals the setup code.
func (d *Dashboard) apiSetupStatus(w http.ResponseWriter, r *http.Request) error {
	n, err := d.app.state.store.CountUsers(r.Context())
	if err != nil {
		return d.writeAPIError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"setup_required": n == 0})
	return nil
}

// apiSetup creates the first admin with the one-time setup code, and logs
// them in.
func (d *Dashboard) apiSetup(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		SetupCode string `json:"setup_code"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	ip := clientIP(r)
	attempt := auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser, ClientIP: ip}, Action: "setup",
		Target: auditTarget(body.Email), Outcome: OutcomeFailure}
	limits := networkLimits(ip)
	if err := d.app.countAttempt(r.Context(), limits, ip); err != nil {
		return d.writeAPIError(w, err)
	}
	code, err := d.app.SetupCode(r.Context())
	if err != nil {
		return d.writeAPIError(w, err)
	}
	if code == "" {
		writeJSON(w, http.StatusConflict, apiError{Error: ErrSetupDone.Error()})
		return nil
	}
	if !constantTimeEqual(normalizeSetupCode(body.SetupCode), normalizeSetupCode(code)) {
		attempt.Reason = auditWrongSetupCode
		d.app.audit(r.Context(), attempt)
		writeJSON(w, http.StatusForbidden, apiError{Error: "wrong setup code; it is in Caddy's log", Field: "setup_code"})
		return nil
	}
	if err := d.app.refundAttempt(r.Context(), limits); err != nil {
		return d.writeAPIError(w, err)
	}
	u, err := d.app.setup(r.Context(), body.Email, body.Password)
	if errors.Is(err, ErrSetupDone) {
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		return nil
	}
	if err != nil {
		return d.writeAPIError(w, err)
	}
	d.app.audit(r.Context(), auditEvent{Actor: Actor{Name: u.Email, Kind: ActorUser, ClientIP: ip}, Action: "setup",
		Target: u.Email, After: toAuditUser(u)})
	return d.startSession(w, r, u, http.StatusCreated, "", "")
}

// apiLogin checks credentials and starts a new session. The token is
// always new, so a token planted before login (session fixation) is
// worthless; a session the browser already had is revoked.
func (d *Dashboard) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp"` // a code from the authenticator app, or a recovery code
		ReturnTo string `json:"return_to"`
		State    string `json:"state"` // the handoff state the gate gave the browser, if any
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	ip := clientIP(r)
	u, err := d.app.authenticate(r.Context(), body.Email, body.Password, body.TOTP, ip, cookieValue(r, deviceCookie))
	failed := auditEvent{Actor: Actor{Name: anonymous, Kind: ActorUser, ClientIP: ip}, Action: "login",
		Target: auditTarget(body.Email), Outcome: OutcomeFailure}
	switch {
	case errors.Is(err, ErrBadCredentials):
		d.logger.Info("login failed", zap.String("remote_ip", ip))
		failed.Reason = auditBadCredentials
		d.app.audit(r.Context(), failed)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error()})
		return nil
	case errors.Is(err, ErrTOTPRequired):
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error(), Reason: ReasonTOTPRequired})
		return nil
	case errors.Is(err, ErrTOTPInvalid):
		d.logger.Info("login failed: wrong second factor", zap.String("remote_ip", ip))
		failed.Reason = string(ReasonTOTPInvalid)
		d.app.audit(r.Context(), failed)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error(), Reason: ReasonTOTPInvalid})
		return nil
	case err != nil:
		// a refusal by the rate limits (429) is not recorded one by
		// one: see countAttempt
		return d.writeAPIError(w, err)
	}
	d.setDeviceCookie(w, r, u.Email)
	if e, reason, _ := d.app.verifyRequest(r); e != nil && reason == "" {
		d.app.state.sessions.revoke(r.Context(), e) //nolint:errcheck // best effort
	}
	d.logger.Info("login", zap.String("user_id", u.ID), zap.String("remote_ip", ip))
	d.app.audit(r.Context(), auditEvent{Actor: Actor{Name: u.Email, Kind: ActorUser, ClientIP: ip}, Action: "login", Target: u.Email})
	return d.startSession(w, r, u, http.StatusOK, body.ReturnTo, body.State)
}

// startSession creates a session for u, sets its cookie and answers the
// user and where the page should go next (see nextURL: returnTo, made
// safe, or a handoff to it).
func (d *Dashboard) startSession(w http.ResponseWriter, r *http.Request, u store.User, status int, returnTo, state string) error {
	ttl := time.Duration(d.app.SessionTTL)
	cookie, id, err := d.app.state.sessions.create(r.Context(), d.app.keyring, u, ttl, clientIP(r), r.UserAgent())
	if err != nil {
		return d.writeAPIError(w, err)
	}
	next, err := d.app.nextURL(r.Context(), id.SessionID, returnTo, state, r)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	d.setSessionCookie(w, r, cookie, ttl)
	writeJSON(w, status, map[string]any{"user": toUserJSON(u), "redirect": next})
	return nil
}

// apiHandoff answers where a logged-in browser goes for the return URL
// return_to: the URL made safe, or a one-time handoff to a managed host
// behind the login that the session cookie does not reach. The login page
// calls it when it opens with a return URL and a session.
func (d *Dashboard) apiHandoff(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ReturnTo string `json:"return_to"`
		State    string `json:"state"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return d.writeAPIError(w, err)
	}
	next, err := d.app.nextURL(r.Context(), caller(r).SessionID, body.ReturnTo, body.State, r)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": next})
	return nil
}

// apiLogout revokes the session server-side, so a copy of the cookie is
// worthless afterwards.
func (d *Dashboard) apiLogout(w http.ResponseWriter, r *http.Request) error {
	e, reason, err := d.session(r)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	d.clearSessionCookie(w, r)
	switch reason {
	case "":
	case ReasonIdleTimeout, ReasonExpired:
		// Ended, but its handoff sessions on other hosts may not be:
		// logging out ends them too.
		if err := d.app.state.sessions.revoke(r.Context(), e); err != nil {
			return d.writeAPIError(w, err)
		}
		writeUnauthenticated(w, reason)
		return nil
	default:
		writeUnauthenticated(w, reason)
		return nil
	}
	if err := d.app.state.sessions.revoke(r.Context(), e); err != nil {
		return d.writeAPIError(w, err)
	}
	d.logger.Info("logout", zap.String("user_id", e.id.UserID), zap.String("remote_ip", clientIP(r)))
	d.app.audit(r.Context(), auditEvent{Actor: Actor{Name: e.id.Email, Kind: ActorUser, ClientIP: clientIP(r)}, Action: "logout", Target: e.id.Email})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiSession answers who is logged in, or 401 with the reason.
func (d *Dashboard) apiSession(w http.ResponseWriter, r *http.Request) error {
	e, reason, err := d.session(r)
	if err != nil {
		return d.writeAPIError(w, err)
	}
	if reason != "" {
		writeUnauthenticated(w, reason)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user":       userJSON{ID: e.id.UserID, Email: e.id.Email, Role: e.id.Role},
		"session_id": e.id.SessionID,
		"expires_at": time.Unix(0, e.expiresAt).UTC(),
	})
	return nil
}

// session verifies the request's session cookie.
func (d *Dashboard) session(r *http.Request) (*sessionEntry, Reason, error) {
	return d.app.verifyRequest(r)
}

// normalizeSetupCode makes the comparison forgiving of case, spaces and
// dashes, as people type codes from a log.
func normalizeSetupCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// retryAfterSeconds formats a Retry-After value, rounding up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
