package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Logins in flight are used once, on any node (code replay), and not
// after they expire; expired ones are deleted when a login starts.
func TestOIDCLoginsUsedOnce(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		if err := s.CreateOIDCLogin(ctx, OIDCLogin{StateHash: "h1", Provider: "corp", Data: "sealed", ExpiresAt: at.Add(time.Minute)}, at); err != nil {
			t.Fatal(err)
		}
		l, err := s.TakeOIDCLogin(ctx, "h1", at)
		if err != nil || l.Provider != "corp" || l.Data != "sealed" {
			t.Fatalf("take: %+v, %v", l, err)
		}
		if _, err := s.TakeOIDCLogin(ctx, "h1", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second take: %v, want ErrNotFound", err)
		}
		if err := s.CreateOIDCLogin(ctx, OIDCLogin{StateHash: "h2", Provider: "corp", Data: "x", ExpiresAt: at.Add(time.Minute)}, at); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeOIDCLogin(ctx, "h2", at.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("take after expiry: %v, want ErrNotFound", err)
		}
		if err := s.CreateOIDCLogin(ctx, OIDCLogin{StateHash: "h3", Provider: "corp", Data: "x", ExpiresAt: at.Add(time.Minute)}, at); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateOIDCLogin(ctx, OIDCLogin{StateHash: "h4", Provider: "corp", Data: "x", ExpiresAt: at.Add(time.Hour)}, at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM oidc_logins`).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d logins in flight after the expired one was pruned, want 1 (%v)", n, err)
		}
		if err := s.CreateOIDCLogin(ctx, OIDCLogin{StateHash: "h5", Provider: "corp", Network: "192.0.2.7", Data: "x", ExpiresAt: at.Add(time.Hour)}, at); err != nil {
			t.Fatal(err)
		}
		if c, err := s.CountOIDCLogins(ctx, OIDCLogin{Network: "192.0.2.7"}, at.Add(2*time.Minute)); err != nil || c.Network != 1 || c.Net48 != 0 || c.All != 2 {
			t.Errorf("count: %+v, %v; want 1 of the network, none of an IPv6 /48, 2 in all", c, err)
		}
	})
}

// A user made by a login comes with its link, in one transaction that
// records the change for the other nodes; links are updated, not
// duplicated, and go with their user.
func TestOIDCIdentities(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		u := testUser("u1", "kim@example.com")
		u.PasswordHash, u.Role = "", "viewer"
		link := OIDCIdentity{Provider: "corp", Subject: "s1", UserID: u.ID, Email: u.Email, CreatedAt: at, LastLoginAt: at}
		if err := s.CreateOIDCUser(ctx, u, link); err != nil {
			t.Fatal(err)
		}
		cs, err := s.ChangesAfter(ctx, 0, 10)
		if err != nil || len(cs) != 1 || cs[0].Kind != ChangeUser || cs[0].Entity != u.ID {
			t.Fatalf("changes after creating the user: %+v, %v", cs, err)
		}
		if err := s.CreateOIDCUser(ctx, testUser("u2", "kim@example.com"), OIDCIdentity{Provider: "corp", Subject: "s2"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("second user with the email: %v, want ErrConflict", err)
		}
		link.Email, link.LastLoginAt = "kim.new@example.com", at.Add(time.Hour)
		if err := s.SaveOIDCIdentity(ctx, link); err != nil {
			t.Fatal(err)
		}
		got, err := s.OIDCIdentityOf(ctx, "corp", "s1")
		if err != nil || got.UserID != u.ID || got.Email != "kim.new@example.com" || !got.LastLoginAt.Equal(at.Add(time.Hour)) || !got.CreatedAt.Equal(at) {
			t.Fatalf("link after an update: %+v, %v", got, err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OIDCIdentityOf(ctx, "corp", "s1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("link of a deleted user: %v, want ErrNotFound", err)
		}
	})
}
