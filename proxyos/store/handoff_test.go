package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestHandoffCodesAndChildSessions(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	forEachDriver(t, func(t *testing.T, s *Store) {
		u := testUser("u1", "ada@example.com")
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		sess := func(id, parent, host string) Session {
			return Session{ID: id, TokenHash: "h-" + id, UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastSeenAt: at,
				ParentID: parent, Host: host}
		}
		for _, ss := range []Session{sess("p", "", ""), sess("c1", "p", "a.test"), sess("c2", "p", "b.test"), sess("other", "", "")} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		if su, err := s.SessionByTokenHash(ctx, "h-c1"); err != nil || su.ParentID != "p" || su.Host != "a.test" {
			t.Fatalf("child session read back as %+v, %v", su, err)
		}

		if err := s.CreateHandoff(ctx, "code1", "p", "a.test", "st", at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemHandoff(ctx, "code1", "b.test", "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code on another host: %v", err)
		}
		if _, err := s.RedeemHandoff(ctx, "code1", "a.test", "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code after a try on another host: %v, want it spent", err)
		}
		s.CreateHandoff(ctx, "code2", "p", "a.test", "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		if _, err := s.RedeemHandoff(ctx, "code2", "a.test", "st", at.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		s.CreateHandoff(ctx, "code5", "p", "a.test", "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		if _, err := s.RedeemHandoff(ctx, "code5", "a.test", "other state", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code with another browser's state: %v", err)
		}
		s.CreateHandoff(ctx, "code3", "p", "a.test", "st", at.Add(time.Minute)) //nolint:errcheck // checked by the redeem
		su, err := s.RedeemHandoff(ctx, "code3", "a.test", "st", at)
		if err != nil || su.ID != "p" || su.Email != u.Email || !su.ExpiresAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("RedeemHandoff = %+v, %v", su, err)
		}
		if _, err := s.RedeemHandoff(ctx, "code3", "a.test", "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("code used twice: %v", err)
		}

		// "Log out everywhere else" keeps the current session's handoffs.
		ids, err := s.RevokeUserSessions(ctx, u.ID, "p", at)
		if err != nil || !slices.Equal(ids, []string{"other"}) {
			t.Fatalf("RevokeUserSessions except p = %v, %v; want only other", ids, err)
		}
		// Revoking a session ends its handoffs.
		ids, err = s.RevokeSession(ctx, "p", at)
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []string{"c1", "c2", "p"}) {
			t.Fatalf("RevokeSession(p) = %v, %v; want p and its handoffs", ids, err)
		}
		s.CreateHandoff(ctx, "code4", "p", "a.test", "st", at.Add(time.Minute)) //nolint:errcheck // pruned below
		if _, err := s.PruneSessions(ctx, at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RedeemHandoff(ctx, "code4", "a.test", "st", at); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pruned code still redeems: %v", err)
		}
	})
}
