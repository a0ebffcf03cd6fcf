package proxyos

import (
	"github.com/proxyos/caddy-proxyos/internal/keyring"

	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/internal/store"
)

// rtsApp provisions and starts the proxyos app on the database at dbPath
// with the given secrets.
func rtsApp(t *testing.T, dbPath, secret string, previous ...string) *App {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{
		"secret": secret, "previous_secrets": previous,
		"database": map[string]string{"driver": store.SQLite, "dsn": dbPath},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{Disabled: true}, AppsRaw: caddy.ModuleMap{"proxyos": cfg}})
	if err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	v, err := ctx.App("proxyos")
	if err != nil {
		t.Fatal(err)
	}
	a := v.(*App)
	a.logger = zap.NewNop()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

// rtsStoredValue returns the stored (sealed) value of header name of
// route id, and of its version 1.
func rtsStoredValue(t *testing.T, a *App, id, name string) []string {
	t.Helper()
	specs, err := a.state.store.RouteSpecs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rs := range specs {
		if rs.RouteID != id {
			continue
		}
		var r route.Route
		if err := json.Unmarshal(rs.Spec, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, requestSet(&r)[name])
	}
	return out
}

// TestRouteSecretsAcrossRotation checks that a route's request header
// values, sealed at rest, survive a secret rotation like TOTP secrets
// do: re-sealed with the new key at start-up (the current route and its
// versions), so the old secret can be dropped and the route still sends
// its credentials.
func TestRouteSecretsAcrossRotation(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dbPath := filepath.Join(t.TempDir(), "proxyos.db")
	const secretA, secretB = "rts-secret-A-0f3b7c9d1e2a", "rts-secret-B-6e1d2c8a9b0f"

	a := rtsApp(t, dbPath, secretA)
	r := &route.Route{Name: "s", Enabled: true, Hosts: []string{"s.example.com"}, Kind: route.KindProxy,
		Upstreams: []string{"http://10.0.0.9:80"},
		Headers:   &route.Headers{Request: &route.HeaderOps{Set: map[string]string{"Authorization": "Bearer rotate-me-123"}}}}
	saved, err := a.CreateRoute(context.Background(), r, Actor{Name: "t", Kind: ActorUser})
	if err != nil {
		t.Fatal(err)
	}
	keyA := a.keyring.CurrentID()
	for _, v := range rtsStoredValue(t, a, saved.ID, "Authorization") {
		if !keyring.IsSealed(v) || !strings.HasPrefix(v, "v1."+keyA+".") {
			t.Fatalf("stored value %q, want sealed with key %s", v, keyA)
		}
	}
	a.Cleanup() //nolint:errcheck

	b := rtsApp(t, dbPath, secretB, secretA)
	keyB := b.keyring.CurrentID()
	vals := rtsStoredValue(t, b, saved.ID, "Authorization")
	if len(vals) != 2 {
		t.Fatalf("%d stored specs of the route, want the route and its version 1", len(vals))
	}
	for _, v := range vals {
		if !strings.HasPrefix(v, "v1."+keyB+".") {
			t.Fatalf("after start with the new secret, stored value %q, want re-sealed with key %s", v, keyB)
		}
	}
	b.Cleanup() //nolint:errcheck

	c := rtsApp(t, dbPath, secretB)
	defer c.Cleanup() //nolint:errcheck
	lr := c.router.lookup("s.example.com")
	if lr == nil {
		t.Fatal("the route is not live with only the new secret")
	}
	if got := lr.route.Headers.Request.Set["Authorization"]; got != "Bearer rotate-me-123" {
		t.Fatalf("the live route sends Authorization %q, want the original value", got)
	}
	stored, err := c.Route(context.Background(), saved.ID)
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := c.openRoute(stored); err != nil || opened.Headers.Request.Set["Authorization"] != "Bearer rotate-me-123" {
		t.Fatalf("opening the stored route with the new secret: %v", err)
	}
}
