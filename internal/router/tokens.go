package router

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/access"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Tokens are what route tokens share across the configs of one
// database: the cache of verified tokens and the failed attempts per
// client IP (see access.Verified and access.Failures).
type Tokens struct {
	Verified *access.Verified
	Failures *access.Failures
}

// NewTokens returns an empty cache and limit.
func NewTokens() *Tokens {
	return &Tokens{Verified: access.NewVerified(), Failures: new(access.Failures)}
}

// tokenTouchEvery is how often a cached token's last use is written.
const tokenTouchEvery = time.Minute

// maxTokenLifetime bounds expires_in: ten years, past which a token
// might as well not expire (leave expires_in empty).
const maxTokenLifetime = 3650 * 24 * time.Hour

// maxTokensPerRoute bounds the live tokens of one route.
const maxTokensPerRoute = 100

// TokenInput is a new route token as the APIs accept it: a bearer
// token, or with a username a basic-auth user whose password is the
// token.
type TokenInput struct {
	Name     string `json:"name"`
	Username string `json:"username,omitempty"`
	// ExpiresIn is how long the token works: a duration such as 720h or
	// 30d; "" never expires.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// TokenView is a route token as the APIs show it: never the token, nor
// its hash.
type TokenView struct {
	ID         string     `json:"id"`
	RouteID    string     `json:"route_id"`
	Name       string     `json:"name"`
	Username   string     `json:"username,omitempty"`
	Kind       string     `json:"kind"` // bearer or basic
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

func tokenView(t store.RouteToken) TokenView {
	v := TokenView{ID: t.ID, RouteID: t.RouteID, Name: t.Name, Username: t.Username, Kind: "bearer",
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
	if t.Username != "" {
		v.Kind = "basic"
	}
	if !t.LastUsedAt.IsZero() {
		v.LastUsedAt = &t.LastUsedAt
	}
	if !t.RevokedAt.IsZero() {
		v.RevokedAt = &t.RevokedAt
	}
	if !t.ExpiresAt.IsZero() {
		v.ExpiresAt = &t.ExpiresAt
	}
	return v
}

// CreatedToken is a new token with the one sight of it.
type CreatedToken struct {
	TokenView
	Token string `json:"token"` // shown once; never stored, logged or shown again
}

// CreateToken makes a route token for route id and returns it once.
func (s *Service) CreateToken(ctx context.Context, routeID string, in TokenInput, actor audit.Actor) (*CreatedToken, error) {
	r, err := s.Route(ctx, routeID)
	if err != nil {
		return nil, err
	}
	in.Name, in.Username = strings.TrimSpace(in.Name), strings.TrimSpace(in.Username)
	switch {
	case in.Name == "" || utf8.RuneCountInString(in.Name) > 100 || strings.ContainsAny(in.Name, "\r\n"):
		return nil, fail.Field("name", "required, one line of at most 100 characters")
	case len(in.Username) > 100 || strings.ContainsAny(in.Username, ": \t\r\n"):
		return nil, fail.Field("username", "at most 100 characters, without ':' or spaces")
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	var expires time.Time
	if in.ExpiresIn != "" {
		d, err := caddy.ParseDuration(in.ExpiresIn)
		if err != nil || d < time.Minute || d > maxTokenLifetime {
			return nil, fail.Field("expires_in", "must be a duration from 1m to 3650d such as 720h or 30d, or empty for no expiry")
		}
		expires = now.Add(d)
	}
	existing, err := s.Store.ListRouteTokens(ctx, routeID)
	if err != nil {
		return nil, err
	}
	live := 0
	for _, t := range existing {
		if t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) {
			live++
		}
	}
	if live >= maxTokensPerRoute {
		return nil, fail.Conflict("", "a route has at most 100 tokens: revoke one first")
	}
	token, id := access.NewToken()
	t := store.RouteToken{ID: id, RouteID: routeID, Name: in.Name, Username: in.Username,
		Hash: access.HashToken(token), CreatedBy: actor.Name, CreatedAt: now, ExpiresAt: expires}
	if err := s.Store.CreateRouteToken(ctx, t); err != nil {
		return nil, err
	}
	v := tokenView(t)
	s.Logger.Info("route token created", zap.String("route_id", routeID), zap.String("token_id", id), zap.String("actor", actor.Name))
	extra := routeContext(r)
	extra["token_id"], extra["token_name"], extra["kind"] = id, t.Name, v.Kind
	if t.Username != "" {
		extra["username"] = t.Username
	}
	if v.ExpiresAt != nil {
		extra["expires_at"] = *v.ExpiresAt
	}
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RouteTokenCreate, Target: routeID, Extra: extra})
	return &CreatedToken{TokenView: v, Token: token}, nil
}

// RouteTokens lists the tokens of route id, revoked ones too.
func (s *Service) RouteTokens(ctx context.Context, routeID string) ([]TokenView, error) {
	if _, err := s.Route(ctx, routeID); err != nil {
		return nil, err
	}
	ts, err := s.Store.ListRouteTokens(ctx, routeID)
	if err != nil {
		return nil, err
	}
	out := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenView(t))
	}
	return out, nil
}

// RevokeToken revokes a token of route id. Every node stops accepting
// it: this one at once, others when they read the change log.
func (s *Service) RevokeToken(ctx context.Context, routeID, tokenID string, actor audit.Actor) error {
	t, err := s.Store.RouteTokenByID(ctx, tokenID)
	if errors.Is(err, store.ErrNotFound) || err == nil && t.RouteID != routeID {
		return fail.NotFound("no such token")
	}
	if err != nil {
		return err
	}
	revoked, err := s.Store.RevokeRouteToken(ctx, tokenID, s.Now().UTC())
	if err != nil {
		return err
	}
	s.tokens().Verified.Forget(tokenID)
	if !revoked {
		return nil
	}
	s.Logger.Info("route token revoked", zap.String("route_id", routeID), zap.String("token_id", tokenID), zap.String("actor", actor.Name))
	extra := map[string]any{"token_id": tokenID, "token_name": t.Name}
	if r, err := s.Route(ctx, routeID); err == nil {
		for k, v := range routeContext(r) {
			extra[k] = v
		}
	}
	s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RouteTokenRevoke, Target: routeID, Extra: extra})
	return nil
}

// ErrTokenInvalid is the answer for every token that does not work on
// a route, whatever the reason: unknown, revoked, of another route,
// wrong user name or secret.
var ErrTokenInvalid = errors.New("invalid route token")

// VerifyToken checks a route token for route id (user is the basic-auth
// user name, "" for a bearer token) and returns who it stands for. A
// credential verified before costs an HMAC and a map lookup; a new one
// an argon2id check, at most a few at a time. A client IP with too many
// failures gets a *fail.RateLimitedError without any check. The token
// never reaches a log, an error or the audit log.
func (s *Service) VerifyToken(ctx context.Context, routeID, user, token, clientIP string) (access.Holder, error) {
	tk := s.tokens()
	now := s.Now()
	sum := tk.Verified.Sum(routeID, user, token)
	if h, ok := tk.Verified.Lookup(sum); ok && !h.Expired(now) {
		if tk.Verified.Touched(sum, now, tokenTouchEvery) {
			if err := s.Store.TouchRouteToken(ctx, h.TokenID, now.UTC()); err != nil {
				s.Logger.Warn("recording route token use", zap.String("token_id", h.TokenID), zap.Error(err))
			}
		}
		return h, nil
	}
	if blocked, wait := tk.Failures.Blocked(clientIP, now); blocked {
		return access.Holder{}, &fail.RateLimitedError{RetryAfter: wait, What: "failed route token attempts"}
	}
	gen := tk.Verified.Gen()
	id, ok := access.TokenID(token)
	var t store.RouteToken
	if ok {
		var err error
		t, err = s.Store.RouteTokenByID(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return access.Holder{}, err
		}
		ok = err == nil && t.RouteID == routeID && t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) &&
			t.Username == user && access.CheckToken(t.Hash, token)
	}
	if !ok {
		tk.Failures.Fail(clientIP, now)
		if ce := s.Logger.Check(zap.DebugLevel, "route token refused"); ce != nil {
			ce.Write(zap.String("route_id", routeID), zap.String("remote_ip", clientIP))
		}
		return access.Holder{}, ErrTokenInvalid
	}
	h := access.Holder{TokenID: t.ID, RouteID: routeID, Name: t.Name, ExpiresAt: t.ExpiresAt}
	tk.Verified.Add(sum, h, gen)
	tk.Verified.Touched(sum, now, tokenTouchEvery)
	if err := s.Store.TouchRouteToken(ctx, t.ID, now.UTC()); err != nil {
		s.Logger.Warn("recording route token use", zap.String("token_id", t.ID), zap.Error(err))
	}
	s.Audit.Record(ctx, audit.Event{
		Actor:  audit.Actor{Name: "route token " + t.Name, Kind: audit.ActorRouteToken, ClientIP: clientIP},
		Action: audit.RouteTokenUse, Target: routeID,
		Extra: map[string]any{"token_id": t.ID, "token_name": t.Name},
	})
	return h, nil
}

func (s *Service) tokens() *Tokens { return s.Tokens }
