package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestRouteTokens stores, lists, touches and revokes route tokens on
// both drivers; creation and revocation are in the change log (other
// nodes drop a revoked token from their caches), and a deleted route
// takes its tokens with it.
func TestRouteTokens(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.SetOrigin("node-a")
		rtuPut(t, s, rtuRoute("r1", 1, "a.example.com"), 0, "create", "alice")
		seq, err := s.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok := RouteToken{ID: "t1", RouteID: "r1", Name: "ci", Username: "bob", Hash: "$argon2id$x", CreatedBy: "alice", CreatedAt: rtuT0}
		if err := s.CreateRouteToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchRouteToken(ctx, "t1", rtuT0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.RouteTokenByID(ctx, "t1")
		if err != nil || got.Username != "bob" || got.Hash != tok.Hash || !got.LastUsedAt.Equal(rtuT0.Add(time.Hour)) || !got.RevokedAt.IsZero() {
			t.Fatalf("RouteTokenByID = %+v, %v", got, err)
		}
		if ok, err := s.RevokeRouteToken(ctx, "t1", rtuT0.Add(2*time.Hour)); !ok || err != nil {
			t.Fatalf("RevokeRouteToken = %v, %v", ok, err)
		}
		if ok, err := s.RevokeRouteToken(ctx, "t1", rtuT0.Add(3*time.Hour)); ok || err != nil {
			t.Fatalf("second RevokeRouteToken = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.RevokeRouteToken(ctx, "nope", rtuT0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking an unknown token: %v", err)
		}
		if want := []string{"route_token:t1", "route_token:t1"}; !slices.Equal(changesSince(t, s, seq), want) {
			t.Fatalf("changes %v, want %v", changesSince(t, s, seq), want)
		}
		list, err := s.ListRouteTokens(ctx, "r1")
		if err != nil || len(list) != 1 || list[0].RevokedAt.IsZero() {
			t.Fatalf("ListRouteTokens = %+v, %v", list, err)
		}
		if err := s.DeleteRoute(ctx, "r1", 1, "alice", rtuT0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RouteTokenByID(ctx, "t1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("token of a deleted route: %v", err)
		}
	})
}
