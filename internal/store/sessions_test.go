package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// t0 is the fixed "now" of the session and limit tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testSession(id, userID string, created time.Time) Session {
	return Session{
		ID:         id,
		TokenHash:  "hash-" + id,
		UserID:     userID,
		CreatedAt:  created,
		ExpiresAt:  created.Add(24 * time.Hour),
		LastSeenAt: created,
		ClientIP:   "192.0.2.7",
		UserAgent:  "test-agent/1.0",
	}
}

// sessionFixture creates the users "alice" (disabled operator) and "bob".
func sessionFixture(t *testing.T, s *Store) {
	t.Helper()
	alice := testUser("alice", "alice@example.com")
	alice.Role, alice.Disabled = "operator", true
	for _, u := range []User{alice, testUser("bob", "bob@example.com")} {
		if err := s.CreateUser(context.Background(), u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.ID, err)
		}
	}
}

func mustSession(t *testing.T, s *Store, tokenHash string) SessionUser {
	t.Helper()
	su, err := s.SessionByTokenHash(context.Background(), tokenHash)
	if err != nil {
		t.Fatalf("SessionByTokenHash(%s): %v", tokenHash, err)
	}
	return su
}

func TestSessionRoundtrip(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		sessionFixture(t, s)
		want := testSession("s1", "alice", t0.Add(1234*time.Microsecond))
		if err := s.CreateSession(ctx, want); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		got := mustSession(t, s, want.TokenHash)

		tests := []struct {
			name      string
			got, want any
		}{
			{"id", got.ID, want.ID},
			{"token hash", got.TokenHash, want.TokenHash},
			{"user id", got.UserID, "alice"},
			{"created", got.CreatedAt, want.CreatedAt.Truncate(time.Millisecond)},
			{"expires", got.ExpiresAt, want.ExpiresAt.Truncate(time.Millisecond)},
			{"last seen", got.LastSeenAt, want.LastSeenAt.Truncate(time.Millisecond)},
			{"not revoked", got.RevokedAt.IsZero(), true},
			{"client ip", got.ClientIP, want.ClientIP},
			{"user agent", got.UserAgent, want.UserAgent},
			{"joined email", got.Email, "alice@example.com"},
			{"joined role", got.Role, "operator"},
			{"joined disabled", got.Disabled, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if gt, ok := tt.got.(time.Time); ok {
					if !gt.Equal(tt.want.(time.Time)) {
						t.Errorf("got %v, want %v", gt, tt.want)
					}
					return
				}
				if tt.got != tt.want {
					t.Errorf("got %v, want %v", tt.got, tt.want)
				}
			})
		}

		t.Run("unknown token", func(t *testing.T) {
			if _, err := s.SessionByTokenHash(ctx, "hash-nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("error = %v, want ErrNotFound", err)
			}
		})
		t.Run("unknown user rejected", func(t *testing.T) {
			if err := s.CreateSession(ctx, testSession("orphan", "ghost", t0)); err == nil {
				t.Error("CreateSession for a missing user succeeded, want a foreign key error")
			}
		})
		t.Run("duplicate token hash rejected", func(t *testing.T) {
			dup := testSession("s2", "bob", t0)
			dup.TokenHash = want.TokenHash
			if err := s.CreateSession(ctx, dup); err == nil {
				t.Error("CreateSession with a duplicate token hash succeeded")
			}
		})
	})
}

func TestRevokeSession(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		sessionFixture(t, s)
		ss := testSession("s1", "bob", t0)
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		first, second := t0.Add(time.Minute), t0.Add(time.Hour)
		steps := []struct {
			name string
			at   time.Time
		}{
			{"first revoke sets the time", first},
			{"second revoke keeps the first time", second},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if _, err := s.RevokeSession(ctx, ss.ID, st.at); err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}
				if got := mustSession(t, s, ss.TokenHash).RevokedAt; !got.Equal(first) {
					t.Errorf("RevokedAt = %v, want %v", got, first)
				}
			})
		}
		t.Run("unknown id is harmless", func(t *testing.T) {
			if _, err := s.RevokeSession(ctx, "nope", second); err != nil {
				t.Errorf("RevokeSession(unknown): %v", err)
			}
		})
	})
}

func TestRevokeUserSessions(t *testing.T) {
	ctx := context.Background()
	at := t0.Add(time.Hour)
	tests := []struct {
		name        string
		except      string
		wantRevoked []string
	}{
		{"all", "", []string{"b1", "b2", "b3"}},
		{"all but the current one", "b2", []string{"b1", "b3"}},
		{"except another user's session", "a1", []string{"b1", "b2", "b3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, s *Store) {
				sessionFixture(t, s)
				for _, ss := range []Session{
					testSession("a1", "alice", t0),
					testSession("b1", "bob", t0),
					testSession("b2", "bob", t0),
					testSession("b3", "bob", t0),
					testSession("b-old", "bob", t0),
				} {
					if err := s.CreateSession(ctx, ss); err != nil {
						t.Fatalf("CreateSession(%s): %v", ss.ID, err)
					}
				}
				earlier := t0.Add(time.Minute)
				if _, err := s.RevokeSession(ctx, "b-old", earlier); err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}

				ids, err := s.RevokeUserSessions(ctx, "bob", tt.except, at)
				if err != nil {
					t.Fatalf("RevokeUserSessions: %v", err)
				}
				slices.Sort(ids)
				if !slices.Equal(ids, tt.wantRevoked) {
					t.Errorf("revoked %v, want %v", ids, tt.wantRevoked)
				}
				for _, id := range []string{"a1", "b1", "b2", "b3", "b-old"} {
					got := mustSession(t, s, "hash-"+id).RevokedAt
					var want time.Time
					switch {
					case id == "b-old":
						want = earlier // already revoked: time kept, not returned
					case slices.Contains(tt.wantRevoked, id):
						want = at
					}
					if !got.Equal(want) {
						t.Errorf("session %s RevokedAt = %v, want %v", id, got, want)
					}
				}

				again, err := s.RevokeUserSessions(ctx, "bob", tt.except, at.Add(time.Hour))
				if err != nil {
					t.Fatalf("second RevokeUserSessions: %v", err)
				}
				if len(again) != 0 {
					t.Errorf("second RevokeUserSessions revoked %v again", again)
				}
			})
		})
	}
}

func TestTouchSessions(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		sessionFixture(t, s)
		for _, id := range []string{"s1", "s2"} {
			ss := testSession(id, "bob", t0)
			ss.LastSeenAt = t0.Add(10 * time.Minute)
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
		}
		tests := []struct {
			name   string
			seen   map[string]time.Time
			wantS1 time.Time
			wantS2 time.Time
		}{
			{
				name:   "empty batch",
				seen:   nil,
				wantS1: t0.Add(10 * time.Minute),
				wantS2: t0.Add(10 * time.Minute),
			},
			{
				name: "moves forward",
				seen: map[string]time.Time{
					"s1": t0.Add(20 * time.Minute),
					"s2": t0.Add(30 * time.Minute),
				},
				wantS1: t0.Add(20 * time.Minute),
				wantS2: t0.Add(30 * time.Minute),
			},
			{
				name: "never moves back",
				seen: map[string]time.Time{
					"s1":   t0.Add(5 * time.Minute),  // older than stored
					"s2":   t0.Add(30 * time.Minute), // equal to stored
					"gone": t0.Add(time.Hour),        // unknown session
				},
				wantS1: t0.Add(20 * time.Minute),
				wantS2: t0.Add(30 * time.Minute),
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.TouchSessions(ctx, tt.seen); err != nil {
					t.Fatalf("TouchSessions: %v", err)
				}
				if got := mustSession(t, s, "hash-s1").LastSeenAt; !got.Equal(tt.wantS1) {
					t.Errorf("s1 LastSeenAt = %v, want %v", got, tt.wantS1)
				}
				if got := mustSession(t, s, "hash-s2").LastSeenAt; !got.Equal(tt.wantS2) {
					t.Errorf("s2 LastSeenAt = %v, want %v", got, tt.wantS2)
				}
			})
		}
	})
}

func TestPruneSessions(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		sessionFixture(t, s)
		now := t0.Add(48 * time.Hour)
		sessions := []struct {
			id        string
			created   time.Time
			revokedAt time.Time // zero: not revoked
			wantKept  bool
		}{
			{id: "active", created: now.Add(-time.Hour), wantKept: true},
			{id: "expired", created: now.Add(-25 * time.Hour), wantKept: false},
			{id: "revoked-old", created: now.Add(-2 * time.Hour), revokedAt: now.Add(-time.Hour), wantKept: false},
			{id: "revoked-recent", created: now.Add(-2 * time.Hour), revokedAt: now.Add(time.Minute), wantKept: true},
		}
		for _, ss := range sessions {
			if err := s.CreateSession(ctx, testSession(ss.id, "bob", ss.created)); err != nil {
				t.Fatalf("CreateSession(%s): %v", ss.id, err)
			}
			if !ss.revokedAt.IsZero() {
				if _, err := s.RevokeSession(ctx, ss.id, ss.revokedAt); err != nil {
					t.Fatalf("RevokeSession(%s): %v", ss.id, err)
				}
			}
		}
		n, err := s.PruneSessions(ctx, now)
		if err != nil {
			t.Fatalf("PruneSessions: %v", err)
		}
		if n != 2 {
			t.Errorf("PruneSessions removed %d, want 2", n)
		}
		for _, ss := range sessions {
			t.Run(ss.id, func(t *testing.T) {
				_, err := s.SessionByTokenHash(ctx, "hash-"+ss.id)
				switch {
				case ss.wantKept && err != nil:
					t.Errorf("pruned, want kept: %v", err)
				case !ss.wantKept && !errors.Is(err, ErrNotFound):
					t.Errorf("SessionByTokenHash error = %v, want ErrNotFound (pruned)", err)
				}
			})
		}
	})
}
