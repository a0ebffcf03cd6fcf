package certstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lock timings of the tests: scaled down from the defaults so that an
// expiry passes quickly, with a refresh an eighth of the expiry (the
// defaults: a third) so that a loaded test machine keeps its locks (with
// a quarter of 2 s, a CI run with every package's tests at once once saw
// four refreshes in a row miss).
const (
	testExpiry  = 4 * time.Second
	testRefresh = 500 * time.Millisecond
	testPoll    = 20 * time.Millisecond
)

// lockNodes returns n storages on one database with the test timings.
func lockNodes(t *testing.T, n int) []*Storage {
	t.Helper()
	nodes := newNodes(t, n)
	for _, s := range nodes {
		s.expiry, s.refresh, s.poll = testExpiry, testRefresh, testPoll
	}
	return nodes
}

// die stops s refreshing and forgetting its lock name without releasing
// it, as a node killed with SIGKILL leaves its locks.
func (s *Storage) die(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		t.Fatalf("die: %s is not held", name)
	}
	l.cancel()
	<-l.done
}

// freeze stops s refreshing its lock name but keeps it held, as a node
// cut off from the database or paused for longer than the expiry.
func (s *Storage) freeze(t *testing.T, name string) {
	t.Helper()
	s.mu.Lock()
	l := s.held[name]
	s.mu.Unlock()
	if l == nil {
		t.Fatalf("freeze: %s is not held", name)
	}
	l.cancel()
	<-l.done
}

// lockWithin calls Lock with a deadline and returns how long it took and
// its error.
func lockWithin(s *Storage, name string, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := s.Lock(ctx, name)
	return time.Since(start), err
}

func mustLock(t *testing.T, s *Storage, name string) {
	t.Helper()
	if took, err := lockWithin(s, name, 5*time.Second); err != nil {
		t.Fatalf("Lock(%s) after %s: %v", name, took, err)
	}
}

func mustUnlock(t *testing.T, s *Storage, name string) {
	t.Helper()
	if err := s.Unlock(context.Background(), name); err != nil {
		t.Fatalf("Unlock(%s): %v", name, err)
	}
}

// TestLockExcludesNodes: while one node holds a lock, another node's Lock
// waits (until its context ends); once released, the waiter gets it
// within a few polls.
func TestLockExcludesNodes(t *testing.T) {
	t.Parallel()
	nodes := lockNodes(t, 2)
	a, b := nodes[0], nodes[1]

	mustLock(t, a, "issue_cert_example.com")
	if took, err := lockWithin(b, "issue_cert_example.com", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second node's Lock of a held lock: %v after %s, want a deadline error", err, took)
	}
	if ok, err := b.TryLock(context.Background(), "issue_cert_example.com"); ok || err != nil {
		t.Fatalf("TryLock of a held lock = %v, %v", ok, err)
	}
	// Other names are independent.
	mustLock(t, b, "issue_cert_example.net")

	got := make(chan time.Duration, 1)
	go func() {
		took, err := lockWithin(b, "issue_cert_example.com", 5*time.Second)
		if err != nil {
			t.Errorf("waiting Lock: %v", err)
		}
		got <- took
	}()
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	mustUnlock(t, a, "issue_cert_example.com")
	<-got
	if waited := time.Since(released); waited > time.Second {
		t.Errorf("the waiter got the released lock %s later, want within a few polls (%s)", waited, testPoll)
	}
	if took, err := lockWithin(a, "issue_cert_example.com", 200*time.Millisecond); err == nil {
		t.Fatalf("the first node took the lock back from the second after %s", took)
	}
	mustUnlock(t, b, "issue_cert_example.com")
	mustUnlock(t, b, "issue_cert_example.net")
}

// TestLockMutualExclusion: goroutines on two nodes (four on each node's
// one Storage) take turns: never two inside at once.
func TestLockMutualExclusion(t *testing.T) {
	t.Parallel()
	nodes := lockNodes(t, 2)
	var (
		inside, overlaps atomic.Int32
		wg               sync.WaitGroup
	)
	for i := range 8 {
		s := nodes[i%2]
		wg.Go(func() {
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := s.Lock(ctx, "shared")
				cancel()
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				if err := s.Unlock(context.Background(), "shared"); err != nil {
					t.Errorf("Unlock: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d times two holders at once, want none", n)
	}
}

// TestLockOfDeadHolderTakenOver: the lock of a node that died holding it
// is free once its expiry passes, not before: another node waiting for it
// gets it then.
func TestLockOfDeadHolderTakenOver(t *testing.T) {
	t.Parallel()
	nodes := lockNodes(t, 2)
	a, b := nodes[0], nodes[1]
	mustLock(t, a, "issue_cert_example.com")
	a.die(t, "issue_cert_example.com")
	died := time.Now()

	took, err := lockWithin(b, "issue_cert_example.com", testExpiry+2*time.Second)
	if err != nil {
		t.Fatalf("the dead holder's lock was not taken over within %s: %v", testExpiry+2*time.Second, err)
	}
	// It died at most a refresh interval after its last refresh.
	if since := time.Since(died); since < testExpiry-testRefresh-100*time.Millisecond {
		t.Fatalf("the lock was taken over %s after its holder died (Lock waited %s), before its expiry %s", since, took, testExpiry)
	}
	// The new holder keeps it: the dead node's token no longer counts.
	if took, err := lockWithin(a, "issue_cert_example.com", 300*time.Millisecond); err == nil {
		t.Fatalf("the lock was taken again from its new holder after %s", took)
	}
	mustUnlock(t, b, "issue_cert_example.com")
}

// TestLockRefreshKeepsLongHold: a node that holds a lock for several
// expiries keeps it, because it refreshes it.
func TestLockRefreshKeepsLongHold(t *testing.T) {
	t.Parallel()
	nodes := lockNodes(t, 2)
	a, b := nodes[0], nodes[1]
	mustLock(t, a, "renew_cert_example.com")
	if took, err := lockWithin(b, "renew_cert_example.com", 3*testExpiry); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a lock held for 3 expiries was taken after %s: %v", took, err)
	}
	mustUnlock(t, a, "renew_cert_example.com")
	mustLock(t, b, "renew_cert_example.com")
	mustUnlock(t, b, "renew_cert_example.com")
}

// TestUnlockOnlyOwnLock: Unlock by a node that does not hold the lock is
// an error and leaves it held; a holder whose lock expired and was taken
// over meanwhile does not release the new holder's lock.
func TestUnlockOnlyOwnLock(t *testing.T) {
	t.Parallel()
	nodes := lockNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()

	mustLock(t, a, "l")
	if err := b.Unlock(ctx, "l"); err == nil {
		t.Fatal("Unlock by a node that does not hold the lock succeeded")
	}
	if ok, _ := b.TryLock(ctx, "l"); ok {
		t.Fatal("the lock is free after another node's Unlock")
	}
	mustUnlock(t, a, "l")
	if err := a.Unlock(ctx, "l"); err == nil {
		t.Fatal("a second Unlock succeeded")
	}

	// a stops refreshing (cut off), its lock expires, b takes it over.
	mustLock(t, a, "l")
	a.freeze(t, "l")
	if _, err := lockWithin(b, "l", testExpiry+2*time.Second); err != nil {
		t.Fatalf("the expired lock was not taken over: %v", err)
	}
	if err := a.Unlock(ctx, "l"); err != nil {
		t.Fatalf("Unlock of a lock that was taken over: %v, want nil (logged)", err)
	}
	if ok, _ := c.TryLock(ctx, "l"); ok {
		t.Fatal("the former holder's Unlock released the new holder's lock")
	}
	mustUnlock(t, b, "l")
	if ok, err := c.TryLock(ctx, "l"); !ok || err != nil {
		t.Fatalf("TryLock after the holder's Unlock = %v, %v", ok, err)
	}
	mustUnlock(t, c, "l")
}
