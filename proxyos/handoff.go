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
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/proxyos/store"
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
// login that the session cookie does not reach, else safeReturnURL.
func (a *App) nextURL(ctx context.Context, sessionID, raw string, r *http.Request) (string, error) {
	if target := a.handoffTarget(raw, r); target != nil {
		return a.issueHandoff(ctx, sessionID, target)
	}
	return a.safeReturnURL(raw, r), nil
}

// handoffTarget returns raw parsed when it is an absolute http(s) URL on a
// host the session cookie does not reach and a live managed route that
// requires login serves it: the only hosts a login is handed to, so the
// handoff is no open redirect and no code goes to a host proxyos does not
// guard.
func (a *App) handoffTarget(raw string, r *http.Request) *url.URL {
	u := parseReturnURL(raw)
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	if a.allowedReturnHost(host, r) || a.router == nil {
		return nil // the cookie works there already
	}
	lr := a.router.lookup(host)
	if lr == nil || lr.route.Auth == nil || !lr.route.Auth.RequireLogin {
		return nil
	}
	return u
}

// issueHandoff stores a one-time code for the session, bound to target's
// host, and returns the callback URL that carries it there.
func (a *App) issueHandoff(ctx context.Context, sessionID string, target *url.URL) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw) //nolint:errcheck // never fails
	code := base64.RawURLEncoding.EncodeToString(raw)
	host := normalizeHost(target.Host)
	if err := a.state.store.CreateHandoff(ctx, handoffHash(code), sessionID, host, a.now().Add(handoffTTL)); err != nil {
		return "", fmt.Errorf("storing handoff: %w", err)
	}
	q := url.Values{"code": {code}, "return": {target.RequestURI() + fragment(target)}}
	cb := url.URL{Scheme: target.Scheme, Host: target.Host, Path: handoffPath, RawQuery: q.Encode()}
	return cb.String(), nil
}

func handoffHash(code string) string {
	sum := sha256.Sum256([]byte("proxyos handoff v1:" + code))
	return hex.EncodeToString(sum[:])
}

// redeemHandoff uses up a code on host and starts the host's session,
// returning its cookie value and when it expires.
func (a *App) redeemHandoff(ctx context.Context, code, host, clientIP, userAgent string) (string, time.Time, error) {
	if code == "" || len(code) > 100 {
		return "", time.Time{}, errHandoffInvalid
	}
	parent, err := a.state.store.RedeemHandoff(ctx, handoffHash(code), host, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, errHandoffInvalid
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("redeeming handoff: %w", err)
	}
	if parent.Disabled || !parent.RevokedAt.IsZero() || !a.now().Before(parent.ExpiresAt) || parent.Host != "" {
		return "", time.Time{}, errHandoffInvalid
	}
	cookie, id, err := a.state.sessions.createChild(ctx, a.keyring, parent, host, clientIP, userAgent)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("creating session: %w", err)
	}
	a.logger.Info("login handed off", zap.String("user_id", id.UserID), zap.String("host", host),
		zap.String("session_id", id.SessionID), zap.String("parent_session_id", parent.ID))
	a.audit(ctx, auditEvent{Actor: Actor{Name: parent.Email, Kind: ActorUser, ClientIP: clientIP}, Action: "login.handoff",
		Target: host, Extra: map[string]any{"session_id": id.SessionID, "parent_session_id": parent.ID}})
	return cookie, parent.ExpiresAt, nil
}

// serveCallback answers handoffPath on a host behind proxyos_auth: it
// exchanges the code for a host-only session cookie and sends the browser
// on to the page it wanted, a path on this host.
func (h *Auth) serveCallback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the login callback takes GET"))
	}
	q := r.URL.Query()
	cookie, expires, err := h.app.redeemHandoff(r.Context(), q.Get("code"), normalizeHost(r.Host), clientIP(r), r.UserAgent())
	switch {
	case errors.Is(err, errHandoffInvalid):
		if isNavigation(r) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, "Login failed: "+err.Error()+".") //nolint:errcheck // client gone
			return nil
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Reason: ReasonHandoffInvalid})
		return nil
	case err != nil:
		h.logger.Error("login handoff", zap.Error(err))
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: cookie, Path: "/", MaxAge: int(time.Until(expires) / time.Second),
		HttpOnly: true, Secure: requestScheme(r) == "https", SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, localPath(q.Get("return")), http.StatusFound)
	return nil
}
