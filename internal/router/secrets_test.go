package router

import (
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/keyring"
	"github.com/proxyos/caddy-proxyos/internal/testkit"

	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/proxyos/caddy-proxyos/internal/route"
)

// rtsStoredValue returns the stored (sealed) value of header name of
// route id, and of its version 1.
func rtsStoredValue(t *testing.T, a *Service, id, name string) []string {
	t.Helper()
	specs, err := a.Store.RouteSpecs(context.Background())
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
	st, _ := testkit.OpenStore(t)
	const secretA, secretB = "rts-secret-A-0f3b7c9d1e2a", "rts-secret-B-6e1d2c8a9b0f"
	ctx := context.Background()

	a := rtuService(t, st, secretA)
	r := &route.Route{Name: "s", Enabled: true, Hosts: []string{"s.example.com"}, Kind: route.KindProxy,
		Upstreams: []string{"http://10.0.0.9:80"},
		Headers:   &route.Headers{Request: &route.HeaderOps{Set: map[string]string{"Authorization": "Bearer rotate-me-123"}}}}
	saved, err := a.Create(ctx, r, audit.Actor{Name: "t", Kind: audit.ActorUser})
	if err != nil {
		t.Fatal(err)
	}
	keyA := a.Keys.CurrentID()
	for _, v := range rtsStoredValue(t, a, saved.ID, "Authorization") {
		if !keyring.IsSealed(v) || !strings.HasPrefix(v, "v1."+keyA+".") {
			t.Fatalf("stored value %q, want sealed with key %s", v, keyA)
		}
	}

	b := rtuService(t, st, secretB, secretA)
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	b.Reseal(ctx)
	keyB := b.Keys.CurrentID()
	vals := rtsStoredValue(t, b, saved.ID, "Authorization")
	if len(vals) != 2 {
		t.Fatalf("%d stored specs of the route, want the route and its version 1", len(vals))
	}
	for _, v := range vals {
		if !strings.HasPrefix(v, "v1."+keyB+".") {
			t.Fatalf("after re-sealing with the new secret, stored value %q, want key %s", v, keyB)
		}
	}

	c := rtuService(t, st, secretB)
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	lr := c.Table.Lookup("s.example.com")
	if lr == nil {
		t.Fatal("the route is not live with only the new secret")
	}
	if got := lr.Route.Headers.Request.Set["Authorization"]; got != "Bearer rotate-me-123" {
		t.Fatalf("the live route sends Authorization %q, want the original value", got)
	}
	stored, err := c.Route(ctx, saved.ID)
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := c.Open(stored); err != nil || opened.Headers.Request.Set["Authorization"] != "Bearer rotate-me-123" {
		t.Fatalf("opening the stored route with the new secret: %v", err)
	}
}
