package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTOTPState(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		u := testUser("u1", "ada@example.com")
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTOTPPending(ctx, u.ID, "v1.aaaaaaaa.pending"); err != nil {
			t.Fatal(err)
		}
		if err := s.EnableTOTP(ctx, u.ID, "v1.aaaaaaaa.other", 5, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("EnableTOTP with a stale pending value = %v, want ErrNotFound", err)
		}
		if err := s.EnableTOTP(ctx, u.ID, "v1.aaaaaaaa.pending", 5, []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		st, _ := s.UserTOTP(ctx, u.ID)
		if st.Secret != "v1.aaaaaaaa.pending" || st.Pending != "" || st.LastStep != 5 {
			t.Fatalf("state %+v", st)
		}
		if got, _ := s.UserByID(ctx, u.ID); !got.TOTPEnabled {
			t.Fatal("TOTPEnabled not reported")
		}
		// Replays and races: each step and recovery code is used once.
		if ok, _ := s.UseTOTPStep(ctx, u.ID, 5); ok {
			t.Fatal("step 5 used twice")
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if ok, err := s.UseTOTPStep(ctx, u.ID, 6); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(1)
				}
				if ok, err := s.UseRecoveryCode(ctx, u.ID, "h1", time.Now()); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(10)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 11 {
			t.Fatalf("parallel uses: %d (want one step and one recovery code: 11)", wins.Load())
		}
		if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 1 {
			t.Fatalf("%d recovery codes left, want 1", n)
		}
		vals, err := s.SealedValues(ctx)
		if err != nil || len(vals) != 1 || vals[0].Column != "totp_secret" {
			t.Fatalf("SealedValues = %+v, %v", vals, err)
		}
		if ok, _ := s.ReplaceSealed(ctx, Sealed{Table: "users", Column: "totp_secret", ID: u.ID, Value: "v1.aaaaaaaa.stale"}, "x"); ok {
			t.Fatal("ReplaceSealed replaced a value that changed meanwhile")
		}
		if ok, _ := s.ReplaceSealed(ctx, vals[0], "v1.bbbbbbbb.new"); !ok {
			t.Fatal("ReplaceSealed did not replace")
		}
		if _, err := s.ReplaceSealed(ctx, Sealed{Table: "users", Column: "email", ID: u.ID, Value: u.Email}, "x"); err == nil {
			t.Fatal("ReplaceSealed wrote a column that holds no sealed value")
		}
		if err := s.DisableTOTP(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		st, _ = s.UserTOTP(ctx, u.ID)
		if n, _ := s.RecoveryCodesLeft(ctx, u.ID); st != (TOTP{}) || n != 0 {
			t.Fatalf("after DisableTOTP: %+v, %d codes", st, n)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		u := testUser("u1", "ada@example.com")
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		k := APIKey{ID: "k1", UserID: u.ID, Name: "ci", Scopes: []string{"routes:read", "audit:read"}, Digest: "v1.x.y",
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIKey(ctx, k); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
		if err := s.CreateAPIKey(ctx, APIKey{ID: "k2", UserID: u.ID, Name: "never", Scopes: []string{"admin"}, Digest: "d", CreatedAt: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.APIKeyByID(ctx, "k1")
		if err != nil || got.Name != "ci" || len(got.Scopes) != 2 || !got.ExpiresAt.Equal(k.ExpiresAt) || !got.LastUsedAt.IsZero() || !got.RevokedAt.IsZero() {
			t.Fatalf("APIKeyByID = %+v, %v", got, err)
		}
		if err := s.TouchAPIKey(ctx, "k1", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RevokeAPIKey(ctx, "k1", at.Add(2*time.Minute)); !ok || err != nil {
			t.Fatalf("RevokeAPIKey = %v, %v", ok, err)
		}
		if ok, err := s.RevokeAPIKey(ctx, "k1", at.Add(3*time.Minute)); ok || err != nil {
			t.Fatalf("second RevokeAPIKey = %v, %v", ok, err)
		}
		if _, err := s.RevokeAPIKey(ctx, "nope", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RevokeAPIKey of an unknown key = %v", err)
		}
		keys, _ := s.ListAPIKeys(ctx, u.ID)
		if len(keys) != 2 || keys[0].ID != "k2" || !keys[1].RevokedAt.Equal(at.Add(2*time.Minute)) || !keys[1].LastUsedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("ListAPIKeys = %+v", keys)
		}
		if n, err := s.RevokeUserAPIKeys(ctx, u.ID, at.Add(4*time.Minute)); n != 1 || err != nil {
			t.Fatalf("RevokeUserAPIKeys = %d, %v (one key was still active)", n, err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil && !errors.Is(err, ErrLastAdmin) {
			t.Fatal(err)
		}
	})
}
