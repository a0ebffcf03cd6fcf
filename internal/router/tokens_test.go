package router

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/fail"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

func TestRouteTokenLifecycle(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	actor := audit.Actor{Name: "alice", Kind: audit.ActorUser}
	r := rtuCreate(t, a, "one", "app.example.com")
	other := rtuCreate(t, a, "two", "other.example.com")

	ct, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "backup script"}, actor)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Kind != "bearer" || !strings.HasPrefix(ct.Token, "prt_") {
		t.Fatalf("created %+v", ct.TokenView)
	}
	h, err := a.VerifyToken(ctx, r.ID, "", ct.Token, "203.0.113.1")
	if err != nil || h.Name != "backup script" || h.TokenID != ct.ID {
		t.Fatalf("VerifyToken = %+v, %v", h, err)
	}
	// cached: the same answer
	if h, err := a.VerifyToken(ctx, r.ID, "", ct.Token, "203.0.113.1"); err != nil || h.TokenID != ct.ID {
		t.Fatalf("cached VerifyToken = %+v, %v", h, err)
	}
	// another route's gate does not take it
	if _, err := a.VerifyToken(ctx, other.ID, "", ct.Token, "203.0.113.1"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token of another route: %v", err)
	}
	// as a basic-auth password it needs its own user name
	if _, err := a.VerifyToken(ctx, r.ID, "bob", ct.Token, "203.0.113.1"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("bearer token with a user name: %v", err)
	}
	basic, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "phone", Username: "bob"}, actor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "bob", basic.Token, "203.0.113.1"); err != nil {
		t.Fatalf("basic user: %v", err)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "", basic.Token, "203.0.113.1"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("basic token without its user: %v", err)
	}

	list, err := a.RouteTokens(ctx, r.ID)
	if err != nil || len(list) != 2 || list[0].LastUsedAt == nil {
		t.Fatalf("RouteTokens = %+v, %v", list, err)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), ct.Token) || strings.Contains(string(raw), "argon2") {
		t.Fatalf("the token list shows a token or a hash: %s", raw)
	}

	if err := a.RevokeToken(ctx, other.ID, ct.ID, actor); !errors.As(err, new(*fail.NotFoundError)) {
		t.Fatalf("revoking through another route: %v", err)
	}
	if err := a.RevokeToken(ctx, r.ID, ct.ID, actor); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "", ct.Token, "203.0.113.1"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("revoked token accepted (it was cached): %v", err)
	}
	entries, err := a.Store.ListAudit(ctx, store.AuditFilter{}, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action] = true
		if strings.Contains(string(e.Details), ct.Token) || strings.Contains(string(e.Details), "argon2") {
			t.Fatalf("audit entry %s holds a token or hash: %s", e.Action, e.Details)
		}
	}
	for _, want := range []audit.Action{audit.RouteTokenCreate, audit.RouteTokenUse, audit.RouteTokenRevoke} {
		if !seen[string(want)] {
			t.Errorf("no %s audit entry", want)
		}
	}
}

// TestRouteTokenBruteForce: a client that guesses tokens is refused
// without a check once it failed ten times, while others are not.
func TestRouteTokenBruteForce(t *testing.T) {
	a := rtuNewApp(t)
	ctx := context.Background()
	r := rtuCreate(t, a, "one", "app.example.com")
	ct, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "ci"}, audit.Actor{Name: "alice", Kind: audit.ActorUser})
	if err != nil {
		t.Fatal(err)
	}
	guess := ct.Token[:len(ct.Token)-4] + "AAAA"
	for range 10 {
		if _, err := a.VerifyToken(ctx, r.ID, "", guess, "198.51.100.7"); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("guess: %v", err)
		}
	}
	var rl *fail.RateLimitedError
	if _, err := a.VerifyToken(ctx, r.ID, "", ct.Token, "198.51.100.7"); !errors.As(err, &rl) {
		t.Fatalf("after 10 failures even the right token must wait: %v", err)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "", ct.Token, "198.51.100.8"); err != nil {
		t.Fatalf("another client: %v", err)
	}
}

// TestRouteTokenExpires: a token made with expires_in works until then
// and not after, cached or not (a script's token that leaked stops
// working on its own); a bad expires_in is a 400 naming the field and
// makes no token.
func TestRouteTokenExpires(t *testing.T) {
	a := rtuNewApp(t)
	var ahead atomic.Int64
	a.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	ctx := context.Background()
	actor := audit.Actor{Name: "alice", Kind: audit.ActorUser}
	r := rtuCreate(t, a, "one", "app.example.com")

	for _, bad := range []string{"soon", "-1h", "30s", "3651d"} {
		_, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "ci", ExpiresIn: bad}, actor)
		var fe *fail.FieldError
		if !errors.As(err, &fe) || fe.Field != "expires_in" {
			t.Errorf("expires_in %q: %v, want a field error on expires_in", bad, err)
		}
	}
	if list, _ := a.RouteTokens(ctx, r.ID); len(list) != 0 {
		t.Fatalf("refused inputs made tokens: %+v", list)
	}

	short, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "ci", ExpiresIn: "1d"}, actor)
	if err != nil {
		t.Fatal(err)
	}
	forever, err := a.CreateToken(ctx, r.ID, TokenInput{Name: "backup"}, actor)
	if err != nil {
		t.Fatal(err)
	}
	if short.ExpiresAt == nil || short.ExpiresAt.Sub(short.CreatedAt) != 24*time.Hour || forever.ExpiresAt != nil {
		t.Fatalf("expires_at: %v and %v", short.ExpiresAt, forever.ExpiresAt)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "", short.Token, "203.0.113.1"); err != nil {
		t.Fatalf("before its expiry: %v", err)
	}
	ahead.Store(int64(24 * time.Hour))
	if _, err := a.VerifyToken(ctx, r.ID, "", short.Token, "203.0.113.1"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("an expired token that was cached: %v", err)
	}
	a.Tokens = NewTokens() // another node, or after a restart: nothing cached
	if _, err := a.VerifyToken(ctx, r.ID, "", short.Token, "203.0.113.2"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("an expired token, not cached: %v", err)
	}
	if _, err := a.VerifyToken(ctx, r.ID, "", forever.Token, "203.0.113.3"); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}
	list, err := a.RouteTokens(ctx, r.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("RouteTokens = %+v, %v", list, err)
	}
	for _, v := range list {
		if (v.ID == short.ID) != (v.ExpiresAt != nil) {
			t.Errorf("listed %s with expires_at %v", v.Name, v.ExpiresAt)
		}
	}
}
