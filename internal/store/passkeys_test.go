package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPasskeys(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		u := testUser("u1", "ada@example.com")
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		p := Passkey{ID: "p1", UserID: u.ID, Name: "Laptop", CredentialID: "cred-1", Credential: "v1.aaaaaaaa.sealed",
			SignCount: 3, CreatedAt: now}
		if err := s.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePasskey(ctx, Passkey{ID: "p2", UserID: u.ID, Name: "Copy", CredentialID: "cred-1", Credential: "x", CreatedAt: now}); !errors.Is(err, ErrConflict) {
			t.Fatalf("a credential id registered twice: %v, want ErrConflict", err)
		}
		if got, _ := s.UserByID(ctx, u.ID); !got.Passkeys {
			t.Fatal("Passkeys not reported")
		}
		got, err := s.PasskeyByCredentialID(ctx, "cred-1")
		if err != nil || got.ID != "p1" || got.SignCount != 3 || !got.LastUsedAt.IsZero() {
			t.Fatalf("PasskeyByCredentialID: %+v %v", got, err)
		}
		// Of two logins that read counter 3, one advances it.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if ok, err := s.UsePasskey(ctx, "p1", 3, uint32(4+i), "v1.aaaaaaaa.new", now); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d logins advanced the counter from 3, want 1", wins.Load())
		}
		if err := s.DeletePasskey(ctx, "someone-else", "p1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting through another user: %v, want ErrNotFound", err)
		}
		if err := s.DeleteUserPasskeys(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountPasskeys(ctx, u.ID); n != 0 {
			t.Fatalf("%d passkeys left", n)
		}
	})
}

// TestPasskeyChallengeOnce: attack: a challenge answered twice (a
// replay, or two racing requests).
func TestPasskeyChallengeOnce(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		now := time.Now()
		c := PasskeyChallenge{ID: "h1", Purpose: "login", Data: "{}", ExpiresAt: now.Add(time.Minute)}
		if err := s.PutPasskeyChallenge(ctx, c, now); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := s.TakePasskeyChallenge(ctx, "h1", now); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("challenge taken %d times, want once", wins.Load())
		}
		old := PasskeyChallenge{ID: "h2", Purpose: "login", Data: "{}", ExpiresAt: now.Add(time.Minute)}
		if err := s.PutPasskeyChallenge(ctx, old, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakePasskeyChallenge(ctx, "h2", now.Add(2*time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an expired challenge: %v, want ErrNotFound", err)
		}
	})
}
