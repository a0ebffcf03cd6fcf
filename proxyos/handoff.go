package proxyos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// A login is handed off to a host the session cookie cannot reach (another
// registrable domain): after login the dashboard sends the browser to
// handoffPath on that host with a one-time code bound to it; the host's
// proxyos_auth gate exchanges the code for a session of its own, valid on
// that host only and ended with the dashboard session it came from.
const (
	handoffPath = "/.proxyos/callback"
	handoffTTL  = time.Minute
)

// ReasonHandoffInvalid is the answer to a handoff code that is unknown,
// used, expired, for another host, or whose session ended.
const ReasonHandoffInvalid Reason = "handoff_invalid"

var errHandoffInvalid = errors.New("this login link expired, was used already or belongs to another host: go back and open the page again")

// nextURL is where a browser goes after logging in with the return URL
// raw: a handoff to raw's host when that is a managed route behind the
// login that the session cookie does not reach, on a port where this
// Caddy serves it (and the browser brought the state the route's gate
// gave it), else safeReturnURL.
func (a *App) nextURL(ctx context.Context, sessionID, raw, state string, r *http.Request) (string, error) {
	if target, rt := a.handoffTarget(raw, r); target != nil && state != "" {
		cb, ok := a.callbackTarget(target, rt)
		if ok {
			return a.issueHandoff(ctx, sessionID, target, cb, state)
		}
		if ce := a.logger.Check(zap.DebugLevel, "no login handoff to a port this caddy does not serve"); ce != nil {
			ce.Write(zap.String("host", cb.Host), zap.String("scheme", cb.Scheme), zap.Int("port", cb.Port))
		}
	}
	return a.safeReturnURL(raw, r), nil
}

// handoffTarget returns raw parsed, with its route, when it is an absolute
// http(s) URL on a host the session cookie does not reach and a live
// managed route that requires login serves it: the only hosts a login is
// handed to, so the handoff is no open redirect and no code goes to a
// host proxyos does not guard.
func (a *App) handoffTarget(raw string, r *http.Request) (*url.URL, *route.Route) {
	u := parseReturnURL(raw)
	if u == nil || !isWebURL(u) {
		return nil, nil
	}
	host := strings.ToLower(u.Hostname())
	if a.allowedReturnHost(host, r) || a.router == nil {
		return nil, nil // the cookie works there already
	}
	lr := a.router.lookup(host)
	if lr == nil || lr.route.Auth == nil || !lr.route.Auth.RequireLogin {
		return nil, nil
	}
	return u, lr.route
}

// callbackTarget returns where the handoff for target goes. The scheme
// is the route's: https unless its TLS is off, so a return URL cannot
// downgrade the code to plain HTTP; the port is target's with the
// route's scheme, else that scheme's default port. ok is false unless an
// HTTP server of this Caddy serves that scheme on that port: another
// port of the host may be anyone's, and the code must not go there.
func (a *App) callbackTarget(target *url.URL, rt *route.Route) (cb store.HandoffTarget, ok bool) {
	cb = store.HandoffTarget{Scheme: "https", Host: normalizeHost(target.Host)}
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
	return cb, a.handoffPorts().serves(cb.Scheme, cb.Port)
}

// issueHandoff stores a one-time code for the session, bound to cb (the
// callback's scheme, host and port) and the browser's state, and returns
// the callback URL that carries it there. A session is issued at most
// handoffCodesPerMinute codes a minute.
func (a *App) issueHandoff(ctx context.Context, sessionID string, target *url.URL, cb store.HandoffTarget, state string) (string, error) {
	if wait, ok := a.state.handoffCodes.take(sessionID, a.now()); !ok {
		return "", &RateLimitedError{RetryAfter: wait, What: "login handoffs"}
	}
	raw := make([]byte, 32)
	rand.Read(raw) //nolint:errcheck // never fails
	code := base64.RawURLEncoding.EncodeToString(raw)
	if err := a.state.store.CreateHandoff(ctx, handoffHash(code), sessionID, cb, handoffHash(state), a.now().Add(handoffTTL)); err != nil {
		return "", fmt.Errorf("storing handoff: %w", err)
	}
	hostPort := target.Hostname()
	if strings.Contains(hostPort, ":") {
		hostPort = "[" + hostPort + "]"
	}
	if cb.Port != defaultPort(cb.Scheme) {
		hostPort += ":" + strconv.Itoa(cb.Port)
	}
	q := url.Values{"code": {code}, "return": {target.RequestURI() + fragment(target)}}
	u := url.URL{Scheme: cb.Scheme, Host: hostPort, Path: handoffPath, RawQuery: q.Encode()}
	return u.String(), nil
}

// defaultPort is the port of scheme (http or https) when a URL names none.
func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// handoffCodesPerMinute bounds the handoff codes one session is issued a
// minute (answered 429 beyond), so that a logged-in user cannot fill the
// handoff_codes table. Logging in to a few dozen hosts at once stays
// well within it.
const handoffCodesPerMinute = 30

// codeLimiter counts the handoff codes issued to each session in fixed
// one-minute windows. It lives in memory: codes live a minute, so it
// bounds the rows one session can have in flight through this node.
type codeLimiter struct {
	mu      sync.Mutex
	windows map[string]codeWindow // by session id
	swept   time.Time
}

type codeWindow struct {
	start time.Time
	n     int
}

// take counts a code for the session at now, or reports how long until
// the session may have another.
func (l *codeLimiter) take(sessionID string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = make(map[string]codeWindow)
	}
	if now.Sub(l.swept) >= time.Minute { // forget windows that are over
		for id, w := range l.windows {
			if now.Sub(w.start) >= time.Minute {
				delete(l.windows, id)
			}
		}
		l.swept = now
	}
	w := l.windows[sessionID]
	if d := now.Sub(w.start); d >= time.Minute || d < 0 {
		w = codeWindow{start: now}
	}
	if w.n >= handoffCodesPerMinute {
		return w.start.Add(time.Minute).Sub(now), false
	}
	w.n++
	l.windows[sessionID] = w
	return 0, true
}

// sessionCookieReaches reports whether browsers send the dashboard's
// session cookie to host: the dashboard's own host, or within
// cookie_domain.
func (a *App) sessionCookieReaches(host string) bool {
	host = normalizeHost(host)
	return (a.canonical != nil && host == strings.ToLower(a.canonical.Hostname())) ||
		(a.CookieDomain != "" && hostWithin(host, a.CookieDomain))
}

// handoffStateCookie is the cookie that binds a handoff to the browser
// that asked for it: on HTTPS with the __Host- prefix, so no sibling
// subdomain can plant one.
func handoffStateCookie(r *http.Request) string {
	if requestScheme(r) == "https" {
		return "__Host-proxyos_handoff"
	}
	return "proxyos_handoff"
}

// newHandoffState sets a fresh state cookie on this host and returns its
// value, which travels to the login page with the return URL. Only this
// browser can then redeem the code the dashboard issues for it: an
// attacker cannot log a victim in as the attacker (login CSRF) with a
// code of their own.
func newHandoffState(w http.ResponseWriter, r *http.Request) string {
	raw := make([]byte, 16)
	rand.Read(raw) //nolint:errcheck // never fails
	state := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name: handoffStateCookie(r), Value: state, Path: "/", MaxAge: int(handoffStateTTL / time.Second),
		HttpOnly: true, Secure: requestScheme(r) == "https", SameSite: http.SameSiteLaxMode,
	})
	return state
}

// handoffStateTTL bounds the time from the gate's redirect to the
// callback: a login, with two-factor, in between.
const handoffStateTTL = 15 * time.Minute

func handoffHash(code string) string {
	sum := sha256.Sum256([]byte("proxyos handoff v1:" + code))
	return hex.EncodeToString(sum[:])
}

// redeemHandoff uses up a code presented at at (the callback request's
// scheme, host and local port) for the browser holding state and starts
// the host's session, returning its cookie value and when it expires.
func (a *App) redeemHandoff(ctx context.Context, code, state string, at store.HandoffTarget, clientIP, userAgent string) (string, time.Time, error) {
	if code == "" || len(code) > 100 || state == "" || len(state) > 100 {
		return "", time.Time{}, errHandoffInvalid
	}
	parent, err := a.state.store.RedeemHandoff(ctx, handoffHash(code), at, handoffHash(state), a.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, errHandoffInvalid
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("redeeming handoff: %w", err)
	}
	if parent.Disabled || !parent.RevokedAt.IsZero() || !a.now().Before(parent.ExpiresAt) || parent.Host != "" {
		return "", time.Time{}, errHandoffInvalid
	}
	host := at.Host
	cookie, id, err := a.state.sessions.createChild(ctx, a.keyring, parent, host, clientIP, userAgent)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("creating session: %w", err)
	}
	// The parent may have been revoked after it was read and before the
	// new session was stored, which that revocation then missed: look
	// again, and end the new session with it.
	if p, err := a.state.store.SessionByID(ctx, parent.ID); err != nil || !p.RevokedAt.IsZero() {
		if _, rerr := a.state.store.RevokeSession(ctx, id.SessionID, a.now()); rerr != nil {
			return "", time.Time{}, fmt.Errorf("revoking session: %w", rerr)
		}
		a.state.sessions.forgetSession(id.SessionID)
		return "", time.Time{}, errHandoffInvalid
	}
	a.logger.Info("login handed off", zap.String("user_id", id.UserID), zap.String("host", host),
		zap.String("session_id", id.SessionID), zap.String("parent_session_id", parent.ID))
	a.audit(ctx, auditEvent{Actor: Actor{Name: parent.Email, Kind: ActorUser, ClientIP: clientIP}, Action: "login.handoff",
		Target: host, Extra: map[string]any{"session_id": id.SessionID, "parent_session_id": parent.ID}})
	return cookie, parent.ExpiresAt, nil
}

// serveCallback answers handoffPath on a host behind proxyos_auth: it
// exchanges the code for a host-only session cookie and sends the browser
// on to the page it wanted, a path on this host. A code that does not
// work for this browser sets nothing.
func (h *Auth) serveCallback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the login callback takes GET"))
	}
	q := r.URL.Query()
	next := localPath(q.Get("return"))
	state := ""
	if c, err := r.Cookie(handoffStateCookie(r)); err == nil {
		state = c.Value
	}
	// The port is the one the connection arrived on: the client chooses
	// the Host header's.
	at := store.HandoffTarget{Scheme: requestScheme(r), Host: normalizeHost(r.Host), Port: localPort(r)}
	cookie, expires, err := h.app.redeemHandoff(r.Context(), q.Get("code"), state, at, clientIP(r), r.UserAgent())
	switch {
	case errors.Is(err, errHandoffInvalid):
		if e, reason, _ := h.app.verifyRequest(r); e != nil && reason == "" {
			http.Redirect(w, r, next, http.StatusFound) // back button: already logged in here
			return nil
		}
		if isNavigation(r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "Login failed: %s.\nThe link works once, for a minute, in the browser that opened the page.\nOpen %s again to log in.\n", //nolint:errcheck // client gone
				err, next)
			return nil
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Reason: ReasonHandoffInvalid})
		return nil
	case err != nil:
		h.logger.Error("login handoff", zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	http.SetCookie(w, &http.Cookie{Name: handoffStateCookie(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: requestScheme(r) == "https", SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{ // host-only: __Host- on HTTPS (see HostCookieName)
		Name: h.app.sessionCookieName(r), Value: cookie, Path: "/", MaxAge: int(expires.Sub(h.app.now()) / time.Second),
		HttpOnly: true, Secure: requestScheme(r) == "https", SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, next, http.StatusFound)
	return nil
}
