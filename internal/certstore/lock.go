package certstore

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// A lock is a row of the database naming its owner, the random token of
// the Lock call that took it, and its expiry on the database's clock (so
// the nodes' own clocks do not matter). Taking a lock is one statement
// that succeeds only if the row is absent or expired, so of several nodes
// exactly one gets it. While held, the lock is refreshed every refresh
// interval (20 s) to expire one expiry (1 min) later: a long operation
// keeps its lock, and the lock of a node that died without unlocking
// (killed, cut off) is free at most a minute after its last refresh.
//
// A node waiting for a lock asks again every poll interval (250 ms, with
// jitter) rather than listening for notifications: certmagic locks the
// rare, slow work of obtaining and renewing certificates, where a quarter
// of a second is nothing next to an ACME order, a waiter costs one small
// indexed statement per poll, and a dead holder's expiry would send no
// notification anyway, so waiters would have to poll for that case too.

// lease is a lock this Storage holds, and its refresher.
type lease struct {
	name, token string
	cancel      context.CancelFunc // stops the refresher
	done        chan struct{}      // closed when the refresher stopped
}

// Lock takes the lock name, waiting while another holds it, until ctx is
// done. Two Lock calls for one name exclude each other whether they are
// made on one node or on several.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		// ±20% so that waiters do not ask in step.
		wait := s.poll - s.poll/5 + mrand.N(s.poll*2/5+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free, without waiting, and reports
// whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	token := rand.Text()
	ok, err := s.store.AcquireCertLock(ctx, name, token, s.expiry)
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		return false, nil
	}
	refreshCtx, cancel := context.WithCancel(context.Background())
	l := &lease{name: name, token: token, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	old := s.held[name]
	s.held[name] = l
	s.mu.Unlock()
	if old != nil {
		// This Storage lost the lock earlier (it expired unrefreshed and
		// was taken over) and has just taken it again.
		old.cancel()
	}
	go s.keep(refreshCtx, l)
	return true, nil
}

// keep refreshes the lease until ctx is done or the lock is lost.
func (s *Storage) keep(ctx context.Context, l *lease) {
	defer close(l.done)
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.refresh)
		ok, err := s.store.RefreshCertLock(rctx, l.name, l.token, s.expiry)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.logger.Warn("refreshing certificate lock", zap.String("lock", l.name), zap.Error(err))
		case !ok:
			s.logger.Error("certificate lock lost: it expired before it was refreshed and another holder may have taken it",
				zap.String("lock", l.name), zap.Duration("expiry", s.expiry))
			return
		}
	}
}

// Unlock releases the lock name that this Storage holds. It never
// releases another's: a lock this Storage does not hold is an error, and
// a lock that expired and was taken over meanwhile stays with its new
// holder.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("unlock %s: not locked by this node", name)
	}
	l.cancel()
	<-l.done
	ok, err := s.store.ReleaseCertLock(ctx, name, l.token)
	if err != nil {
		// Unrefreshed now, the lock expires by itself.
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	if !ok {
		s.logger.Warn("certificate lock had expired and was taken over before it was released",
			zap.String("lock", name), zap.Duration("expiry", s.expiry))
	}
	return nil
}
