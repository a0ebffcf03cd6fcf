package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestUserRoundtrip(t *testing.T) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+2", 2*60*60)
	tests := []struct {
		name string
		user User
	}{
		{
			name: "enabled admin",
			user: testUser("u-admin", "admin@example.com"),
		},
		{
			name: "disabled viewer with sub-millisecond times in another zone",
			user: User{
				ID:           "u-viewer",
				Email:        "viewer@example.com",
				PasswordHash: "$2a$10$abcdefghijklmnopqrstuv",
				Role:         "viewer",
				Disabled:     true,
				CreatedAt:    time.Date(2024, 12, 31, 23, 59, 59, 999_999_999, zone),
				UpdatedAt:    time.Date(2025, 1, 1, 0, 0, 0, 1_500_000, zone),
			},
		},
	}
	forEachDriver(t, func(t *testing.T, s *Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreateUser(ctx, tt.user); err != nil {
					t.Fatalf("CreateUser: %v", err)
				}
				want := tt.user
				want.CreatedAt = want.CreatedAt.Truncate(time.Millisecond).UTC()
				want.UpdatedAt = want.UpdatedAt.Truncate(time.Millisecond).UTC()

				byEmail, err := s.UserByEmail(ctx, tt.user.Email)
				if err != nil {
					t.Fatalf("UserByEmail: %v", err)
				}
				assertUser(t, "UserByEmail", byEmail, want)

				byID, err := s.UserByID(ctx, tt.user.ID)
				if err != nil {
					t.Fatalf("UserByID: %v", err)
				}
				assertUser(t, "UserByID", byID, want)
			})
		}

		t.Run("unknown", func(t *testing.T) {
			if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
				t.Errorf("UserByEmail(unknown) error = %v, want ErrNotFound", err)
			}
			if _, err := s.UserByID(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
				t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
			}
		})

		t.Run("count", func(t *testing.T) {
			n, err := s.CountUsers(ctx)
			if err != nil {
				t.Fatalf("CountUsers: %v", err)
			}
			if n != len(tests) {
				t.Errorf("CountUsers = %d, want %d", n, len(tests))
			}
		})
	})
}

// assertUser compares every field; times must be equal instants in UTC.
func assertUser(t *testing.T, what string, got, want User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.PasswordHash != want.PasswordHash ||
		got.Role != want.Role || got.Disabled != want.Disabled {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("%s CreatedAt = %v, want %v", what, got.CreatedAt, want.CreatedAt)
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("%s UpdatedAt = %v, want %v", what, got.UpdatedAt, want.UpdatedAt)
	}
}

func TestCreateUserConflict(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		if err := s.CreateUser(ctx, testUser("u1", "taken@example.com")); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		tests := []struct {
			name string
			user User
		}{
			{"same email", testUser("u2", "taken@example.com")},
			{"same id", testUser("u1", "other@example.com")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreateUser(ctx, tt.user); !errors.Is(err, ErrConflict) {
					t.Errorf("CreateUser error = %v, want ErrConflict", err)
				}
			})
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 1 {
			t.Errorf("CountUsers = %d, %v; want 1 after rejected duplicates", n, err)
		}
	})
}

// TestCreateFirstUser checks the first-run setup guard: once an account
// exists, setup can never create another one, so a stranger who reaches an
// instance after its owner cannot take it over.
func TestCreateFirstUser(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		t.Run("once", func(t *testing.T) {
			if err := s.CreateFirstUser(ctx, testUser("first", "first@example.com")); err != nil {
				t.Fatalf("first CreateFirstUser: %v", err)
			}
			if err := s.CreateFirstUser(ctx, testUser("second", "second@example.com")); !errors.Is(err, ErrConflict) {
				t.Fatalf("second CreateFirstUser error = %v, want ErrConflict", err)
			}
			if _, err := s.UserByID(ctx, "second"); !errors.Is(err, ErrNotFound) {
				t.Errorf("second user was stored: UserByID error = %v", err)
			}
			u, err := s.UserByID(ctx, "first")
			if err != nil {
				t.Fatalf("UserByID(first): %v", err)
			}
			if u.Email != "first@example.com" {
				t.Errorf("first user email = %q", u.Email)
			}
		})
	})

}

// TestCreateFirstUserConcurrent races several setup requests against a
// fresh instance: exactly one may create the first account.
func TestCreateFirstUserConcurrent(t *testing.T) {
	ctx := context.Background()
	forEachDriver(t, func(t *testing.T, s *Store) {
		t.Run("concurrent", func(t *testing.T) {
			const n = 10
			var (
				wg   sync.WaitGroup
				errs = make(chan error, n)
			)
			for i := range n {
				wg.Go(func() {
					errs <- s.CreateFirstUser(ctx, testUser(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@example.com", i)))
				})
			}
			wg.Wait()
			close(errs)
			var won, lost int
			for err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, ErrConflict):
					lost++
				default:
					t.Errorf("CreateFirstUser: %v", err)
				}
			}
			if won != 1 || lost != n-1 {
				t.Errorf("%d won, %d got ErrConflict; want 1 and %d", won, lost, n-1)
			}
			if c, err := s.CountUsers(ctx); err != nil || c != 1 {
				t.Errorf("CountUsers = %d, %v; want 1", c, err)
			}
		})
	})
}
