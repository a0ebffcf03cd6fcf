package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestRecordLoginFailure walks one key through sequences of failures and
// checks the counter after each: the brute-force lockout must count every
// failure inside the window, lock at max, and start over after the window.
func TestRecordLoginFailure(t *testing.T) {
	const (
		window  = 15 * time.Minute
		lockout = 10 * time.Minute
	)
	type step struct {
		at           time.Duration // after t0
		wantFailures int
		wantStart    time.Duration // after t0
		wantLocked   time.Duration // after t0; 0: not locked at that moment
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{
			name: "counts within the window",
			max:  5,
			steps: []step{
				{at: 0, wantFailures: 1, wantStart: 0},
				{at: time.Minute, wantFailures: 2, wantStart: 0},
				{at: 14 * time.Minute, wantFailures: 3, wantStart: 0},
			},
		},
		{
			name: "resets after the window",
			max:  5,
			steps: []step{
				{at: 0, wantFailures: 1, wantStart: 0},
				{at: time.Minute, wantFailures: 2, wantStart: 0},
				{at: 16 * time.Minute, wantFailures: 1, wantStart: 16 * time.Minute},
				{at: 17 * time.Minute, wantFailures: 2, wantStart: 16 * time.Minute},
			},
		},
		{
			name: "locks when failures reach max",
			max:  3,
			steps: []step{
				{at: 0, wantFailures: 1, wantStart: 0},
				{at: time.Minute, wantFailures: 2, wantStart: 0},
				{at: 2 * time.Minute, wantFailures: 3, wantStart: 0, wantLocked: 2*time.Minute + lockout},
				{at: 3 * time.Minute, wantFailures: 4, wantStart: 0, wantLocked: 3*time.Minute + lockout},
			},
		},
		{
			name: "max of one locks on the first failure",
			max:  1,
			steps: []step{
				{at: 0, wantFailures: 1, wantStart: 0, wantLocked: lockout},
			},
		},
		{
			name: "new window after the lock ended starts unlocked",
			max:  2,
			steps: []step{
				{at: 0, wantFailures: 1, wantStart: 0},
				{at: time.Minute, wantFailures: 2, wantStart: 0, wantLocked: time.Minute + lockout},
				{at: 16 * time.Minute, wantFailures: 1, wantStart: 16 * time.Minute},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDriver(t, func(t *testing.T, s *Store) {
				ctx := context.Background()
				const key = "account:alice@example.com"
				for i, st := range tt.steps {
					now := t0.Add(st.at)
					got, err := s.RecordLoginFailure(ctx, key, now, window, tt.max, lockout)
					if err != nil {
						t.Fatalf("step %d: RecordLoginFailure: %v", i, err)
					}
					stored, err := s.LoginLimit(ctx, key)
					if err != nil {
						t.Fatalf("step %d: LoginLimit: %v", i, err)
					}
					for _, l := range []struct {
						what string
						l    LoginLimit
					}{{"returned", got}, {"stored", stored}} {
						if l.l.Key != key {
							t.Errorf("step %d: %s Key = %q, want %q", i, l.what, l.l.Key, key)
						}
						if l.l.Failures != st.wantFailures {
							t.Errorf("step %d: %s Failures = %d, want %d", i, l.what, l.l.Failures, st.wantFailures)
						}
						if want := t0.Add(st.wantStart); !l.l.WindowStart.Equal(want) {
							t.Errorf("step %d: %s WindowStart = %v, want %v", i, l.what, l.l.WindowStart, want)
						}
						if st.wantLocked == 0 {
							if l.l.LockedUntil.After(now) {
								t.Errorf("step %d: %s LockedUntil = %v, want not locked at %v", i, l.what, l.l.LockedUntil, now)
							}
						} else if want := t0.Add(st.wantLocked); !l.l.LockedUntil.Equal(want) {
							t.Errorf("step %d: %s LockedUntil = %v, want %v", i, l.what, l.l.LockedUntil, want)
						}
					}
				}
			})
		})
	}
}

// TestRecordLoginFailureConcurrent checks that parallel failures (an
// attacker firing many guesses at once to slip past the limit) are all
// counted.
func TestRecordLoginFailureConcurrent(t *testing.T) {
	const n = 20
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const key = "ip:203.0.113.9"
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := s.RecordLoginFailure(ctx, key, t0, time.Hour, n, time.Hour)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("RecordLoginFailure: %v", err)
			}
		}
		l, err := s.LoginLimit(ctx, key)
		if err != nil {
			t.Fatalf("LoginLimit: %v", err)
		}
		if l.Failures != n {
			t.Errorf("Failures = %d, want %d", l.Failures, n)
		}
		if want := t0.Add(time.Hour); !l.LockedUntil.Equal(want) {
			t.Errorf("LockedUntil = %v, want %v (max reached)", l.LockedUntil, want)
		}
	})
}

func TestLoginLimitUnknownKey(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		l, err := s.LoginLimit(context.Background(), "account:nobody@example.com")
		if err != nil {
			t.Fatalf("LoginLimit: %v", err)
		}
		if l.Key != "account:nobody@example.com" || l.Failures != 0 || !l.LockedUntil.IsZero() {
			t.Errorf("LoginLimit(unknown) = %+v, want a zero counter", l)
		}
	})
}

func TestResetLoginLimit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, key := range []string{"account:a@example.com", "account:b@example.com"} {
			for range 3 {
				if _, err := s.RecordLoginFailure(ctx, key, t0, time.Hour, 3, time.Hour); err != nil {
					t.Fatalf("RecordLoginFailure: %v", err)
				}
			}
		}
		if err := s.ResetLoginLimit(ctx, "account:a@example.com"); err != nil {
			t.Fatalf("ResetLoginLimit: %v", err)
		}
		tests := []struct {
			key          string
			wantFailures int
			wantLocked   bool
		}{
			{"account:a@example.com", 0, false},
			{"account:b@example.com", 3, true},
		}
		for _, tt := range tests {
			t.Run(tt.key, func(t *testing.T) {
				l, err := s.LoginLimit(ctx, tt.key)
				if err != nil {
					t.Fatalf("LoginLimit: %v", err)
				}
				if l.Failures != tt.wantFailures || l.LockedUntil.After(t0) != tt.wantLocked {
					t.Errorf("LoginLimit = %+v, want %d failures, locked %v", l, tt.wantFailures, tt.wantLocked)
				}
			})
		}
		t.Run("unknown key", func(t *testing.T) {
			if err := s.ResetLoginLimit(ctx, "account:nobody@example.com"); err != nil {
				t.Errorf("ResetLoginLimit(unknown): %v", err)
			}
		})
	})
}

func TestPruneLoginLimits(t *testing.T) {
	forEachDriver(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := t0.Add(48 * time.Hour)
		before := now.Add(-24 * time.Hour)
		keys := []struct {
			key      string
			at       time.Time
			max      int
			lockout  time.Duration
			wantKept bool
		}{
			{key: "old", at: before.Add(-time.Hour), max: 5, lockout: time.Hour, wantKept: false},
			{key: "old but still locked", at: before.Add(-time.Hour), max: 1, lockout: 48 * time.Hour, wantKept: true},
			{key: "recent", at: now, max: 5, lockout: time.Hour, wantKept: true},
		}
		for _, k := range keys {
			if _, err := s.RecordLoginFailure(ctx, k.key, k.at, 15*time.Minute, k.max, k.lockout); err != nil {
				t.Fatalf("RecordLoginFailure(%s): %v", k.key, err)
			}
		}
		if err := s.PruneLoginLimits(ctx, before); err != nil {
			t.Fatalf("PruneLoginLimits: %v", err)
		}
		for _, k := range keys {
			t.Run(k.key, func(t *testing.T) {
				l, err := s.LoginLimit(ctx, k.key)
				if err != nil {
					t.Fatalf("LoginLimit: %v", err)
				}
				if kept := l.Failures > 0; kept != k.wantKept {
					t.Errorf("kept = %v (Failures %d), want %v", kept, l.Failures, k.wantKept)
				}
			})
		}
	})
}
