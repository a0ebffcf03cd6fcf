// Package cluster keeps the nodes of a cluster (several Caddy processes
// on one PostgreSQL database) in step. Every change that a node keeps in
// memory — a route, a user, a session, an API key — is written to the
// store's change log in the transaction of the change and announced with
// NOTIFY (see store.Change). A Feed follows the log for one node: it
// LISTENs on a connection of its own, applies the changes of other nodes
// in order, reads the log from the last change it applied whenever it
// (re)connects, and polls every few seconds in case a notification was
// lost. It also reports the node (see store.Node) and notices when the
// database is unreachable: the node then serves what it has in memory
// and says so once in its log.
package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"go.uber.org/zap"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Defaults of a Feed's timings.
const (
	DefaultPoll      = 2 * time.Second
	DefaultHeartbeat = 5 * time.Second
	maxBackoff       = 5 * time.Second
	batch            = 500
)

// Feed follows the change log for one node. Set the fields, call Start
// once, then run Run until its context ends.
type Feed struct {
	// Store is the node's store; changes it writes carry its origin.
	Store *store.Store
	// DSN connects the LISTEN connection (the store's own pool cannot
	// hold one).
	DSN string
	// Node is this node: ID (its Store's origin), Name, Version and
	// StartedAt. Heartbeats add the rest.
	Node store.Node
	// Name, if set, gives the node's current name for its heartbeats
	// (a config reload may rename it), instead of Node.Name.
	Name func() string

	// Apply applies one change made by another node: it reloads the
	// entity or drops it from memory. Applying a change twice must be
	// harmless: after an error the feed applies it again later.
	Apply func(ctx context.Context, c store.Change) error
	// Own, if set, is given this node's own changes, which Apply is
	// not: the node applied them when it made them, but another config
	// of the node (during a reload) may need them too.
	Own func(ctx context.Context, c store.Change) error
	// Resync reloads everything the node keeps in memory, for a node
	// that fell further behind than the change log reaches.
	Resync func(ctx context.Context) error

	// Poll is how often the log is read without a notification
	// (default DefaultPoll); Heartbeat how often the node reports
	// itself (default DefaultHeartbeat).
	Poll, Heartbeat time.Duration

	Now    func() time.Time
	Logger func() *zap.Logger

	last    atomic.Int64 // the last change applied
	down    atomic.Bool  // the database is unreachable
	applied atomic.Int64 // changes of other nodes applied, for tests and stats

	mu      sync.Mutex // serializes catchUp
	lastHB  time.Time
	waiters []waiter
}

// waiter is a caller of WaitFor.
type waiter struct {
	seq  int64
	done chan struct{}
}

// Start makes the node begin after the last change in the log: what it
// loads into memory after Start is at least as new as that change.
func (f *Feed) Start(ctx context.Context) error {
	if f.Poll <= 0 {
		f.Poll = DefaultPoll
	}
	if f.Heartbeat <= 0 {
		f.Heartbeat = DefaultHeartbeat
	}
	seq, err := f.Store.LastChange(ctx)
	if err != nil {
		return err
	}
	f.last.Store(seq)
	return nil
}

// Last returns the seq of the last change the node applied (or skipped as
// its own).
func (f *Feed) Last() int64 { return f.last.Load() }

// Applied returns how many changes of other nodes the feed applied.
func (f *Feed) Applied() int64 { return f.applied.Load() }

// Down reports whether the database was unreachable at the last attempt.
func (f *Feed) Down() bool { return f.down.Load() }

// Run follows the change log until ctx ends, reconnecting with backoff
// when the connection or the database goes away.
func (f *Feed) Run(ctx context.Context) {
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	for ctx.Err() == nil {
		worked, err := f.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if worked {
			// A connection that worked and broke: try again at once;
			// the database may be fine.
			backoff = minBackoff
			f.Logger().Warn("change feed connection lost; reconnecting", zap.String("error", store.RedactError(err, f.DSN)))
		} else {
			f.markDown(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if !worked {
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// listen connects, LISTENs, catches up and then applies changes as they
// are announced (or every Poll), until the connection fails. worked
// reports whether it got as far as catching up.
func (f *Feed) listen(ctx context.Context) (worked bool, err error) {
	cfg, err := pgx.ParseConfig(f.DSN)
	if err != nil {
		return false, err
	}
	cfg.ConnectTimeout = 5 * time.Second
	// A poll's timeout must leave the connection usable: set a deadline
	// on it instead of asking the server to cancel.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+store.ChangesChannel); err != nil {
		return false, err
	}
	// Listening before reading: a change committed from now on is
	// announced, one committed before is in the log.
	if err := f.catchUp(ctx, true); err != nil {
		return false, err
	}
	f.markUp()
	for {
		wait, cancel := context.WithTimeout(ctx, f.Poll)
		_, err := conn.WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
			return true, err
		}
		if err := f.catchUp(ctx, false); err != nil {
			return true, err
		}
	}
}

// catchUp applies every change after the last one applied. After a
// (re)connect it first checks that the log still reaches back there, and
// resyncs when it does not.
func (f *Feed) catchUp(ctx context.Context, connected bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if connected {
		first, err := f.Store.FirstChange(ctx)
		if err != nil {
			return err
		}
		if last := f.last.Load(); first > last+1 {
			target, err := f.Store.LastChange(ctx)
			if err != nil {
				return err
			}
			f.Logger().Warn("this node missed changes the change log no longer holds; reloading routes and sessions",
				zap.Int64("last_applied", last), zap.Int64("oldest_in_log", first))
			if err := f.Resync(ctx); err != nil {
				return err
			}
			f.last.Store(target)
		}
	}
	for {
		cs, err := f.Store.ChangesAfter(ctx, f.last.Load(), batch)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Origin != f.Node.ID {
				if err := f.Apply(ctx, c); err != nil {
					return err // applied again from here next time
				}
				f.applied.Add(1)
			} else if f.Own != nil {
				if err := f.Own(ctx, c); err != nil {
					return err
				}
			}
			f.last.Store(c.Seq)
			f.wake()
		}
		if len(cs) < batch {
			break
		}
	}
	f.wake()
	now := f.Now()
	if now.Sub(f.lastHB) >= f.Heartbeat {
		n := f.Node
		n.LastSeen, n.LastSeq = now, f.last.Load()
		if f.Name != nil {
			n.Name = f.Name()
		}
		if err := f.Store.Heartbeat(ctx, n); err != nil {
			return err
		}
		f.lastHB = now
	}
	return nil
}

// WaitFor waits until the node applied the change seq (or ctx ends), for
// tests and benchmarks that measure propagation.
func (f *Feed) WaitFor(ctx context.Context, seq int64) error {
	f.mu.Lock()
	if f.last.Load() >= seq {
		f.mu.Unlock()
		return nil
	}
	w := waiter{seq: seq, done: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wake releases the waiters whose change was applied. Callers hold f.mu.
func (f *Feed) wake() {
	last := f.last.Load()
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.seq <= last {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
}

// markDown notes that the database is unreachable, logging it once.
func (f *Feed) markDown(err error) {
	if f.down.CompareAndSwap(false, true) {
		f.Logger().Error("database unavailable: serving the routes and the sessions this node has in memory; logins and changes answer 503 until it is back",
			zap.String("error", store.RedactError(err, f.DSN)))
	}
}

// markUp notes that the database is reachable again, logging it once.
func (f *Feed) markUp() {
	if f.down.CompareAndSwap(true, false) {
		f.Logger().Info("database available again; caught up with the change log", zap.Int64("last_change", f.last.Load()))
	}
}
