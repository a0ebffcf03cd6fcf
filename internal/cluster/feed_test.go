package cluster

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// node is a store of one cluster node, with a feed and what it applied.
type node struct {
	store   *store.Store
	feed    *Feed
	logs    *observer.ObservedLogs
	mu      sync.Mutex
	applied []string // kind:entity
	resyncs int
}

func (n *node) got() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.applied...)
}

// openNode opens the database dsn as node id. Its feed connects through
// feedDSN (dsn when empty) and is not running yet.
func openNode(t *testing.T, dsn, feedDSN, id string) *node {
	t.Helper()
	st, err := store.Open(context.Background(), store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetOrigin(id)
	if feedDSN == "" {
		feedDSN = dsn
	}
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core)
	n := &node{store: st, logs: logs}
	n.feed = &Feed{
		Store: st, DSN: feedDSN, Node: store.Node{ID: id, Name: "node-" + id, Version: "test", StartedAt: time.Now()},
		Apply: func(_ context.Context, c store.Change) error {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.applied = append(n.applied, c.Kind+":"+c.Entity)
			return nil
		},
		Resync: func(context.Context) error {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.resyncs++
			return nil
		},
		Poll: time.Minute, Now: time.Now, Logger: func() *zap.Logger { return logger },
	}
	return n
}

// run starts the node's feed until the test ends.
func (n *node) run(t *testing.T) {
	t.Helper()
	if err := n.feed.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitApplied waits until the node applied the store's last change.
func waitApplied(t *testing.T, n *node, on *store.Store, within time.Duration) {
	t.Helper()
	seq, err := on.LastChange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := n.feed.WaitFor(ctx, seq); err != nil {
		t.Fatalf("change %d not applied within %s (at %d; applied %v)", seq, within, n.feed.Last(), n.got())
	}
}

func user(id string) store.User {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return store.User{ID: id, Email: id + "@example.com", PasswordHash: "x", Role: "viewer", CreatedAt: at, UpdatedAt: at}
}

// A node applies the changes of the others in order, as they are
// announced (the poll is a minute away), and skips its own.
func TestFeedAppliesOtherNodesChanges(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	a, b := openNode(t, dsn, "", "A"), openNode(t, dsn, "", "B")
	b.feed.Heartbeat = time.Millisecond // a report after each change applied
	b.run(t)
	ctx := context.Background()
	at := time.Now()
	if err := a.store.CreateUser(ctx, user("u1")); err != nil {
		t.Fatal(err)
	}
	if err := b.store.CreateUser(ctx, user("u2")); err != nil {
		t.Fatal(err)
	}
	if err := a.store.CreateSession(ctx, store.Session{ID: "s1", TokenHash: "h1", UserID: "u1", CreatedAt: at, ExpiresAt: at.Add(time.Hour), LastSeenAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeSession(ctx, "s1", at); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, a.store, 5*time.Second)
	if got := strings.Join(b.got(), " "); got != "user:u1 session:s1 session:s1" {
		t.Fatalf("node B applied %q, want A's changes in order and none of its own", got)
	}
	if n := b.feed.Applied(); n != 3 {
		t.Fatalf("Applied() = %d, want 3", n)
	}
	// The node reported itself, with how far it got.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, err := a.store.ListNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) == 1 && ns[0].ID == "B" && ns[0].Name == "node-B" && ns[0].LastSeq == b.feed.Last() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %+v, want node B at change %d", ns, b.feed.Last())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A lost notification is caught by the poll: a change in the log that
// was never announced is applied within the poll interval.
func TestFeedPollsForUnannouncedChanges(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	b := openNode(t, dsn, "", "B")
	b.feed.Poll = 100 * time.Millisecond
	b.run(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO changes (kind, entity, origin, at) VALUES ('user', 'quiet', 'A', 0)`); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, b.store, 5*time.Second)
	if got := strings.Join(b.got(), " "); got != "user:quiet" {
		t.Fatalf("applied %q, want user:quiet", got)
	}
}

// When its connection is cut, a node reconnects and catches up with
// what changed meanwhile; a lost connection is not a database outage.
func TestFeedReconnects(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	feedDSN := withParam(t, dsn, "application_name", "proxyos-feed-test")
	a, b := openNode(t, dsn, "", "A"), openNode(t, dsn, feedDSN, "B")
	b.run(t)
	ctx := context.Background()
	if err := a.store.CreateUser(ctx, user("before")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, a.store, 5*time.Second)

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed int
	if err := db.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'proxyos-feed-test' AND datname = current_database()`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d feed connections (%v), want 1", killed, err)
	}
	if err := a.store.CreateUser(ctx, user("after")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, a.store, 10*time.Second)
	if got := strings.Join(b.got(), " "); got != "user:before user:after" {
		t.Fatalf("applied %q", got)
	}
	if n := b.logs.FilterMessageSnippet("database unavailable").Len(); n != 0 {
		t.Fatalf("a lost connection was logged as a database outage")
	}
}

// A node that was away longer than the change log reaches reloads
// everything instead of applying what is left.
func TestFeedResyncsWhenTheLogNoLongerReaches(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	a, b := openNode(t, dsn, "", "A"), openNode(t, dsn, "", "B")
	ctx := context.Background()
	if err := b.feed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u1", "u2", "u3"} {
		if err := a.store.CreateUser(ctx, user(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.store.PruneChanges(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.feed.Run(ctx2) }()
	defer func() { cancel(); <-done }()
	waitApplied(t, b, a.store, 5*time.Second)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.resyncs != 1 || len(b.applied) != 0 {
		t.Fatalf("resyncs %d, applied %v; want one resync and nothing applied", b.resyncs, b.applied)
	}
}

// An outage is logged once, however long it lasts, and the end of it
// once; the node then catches up with what changed meanwhile. The
// database sits behind a TCP relay the test can cut, as a network would.
func TestFeedOutage(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	relay := newRelay(t, dsn)
	a, b := openNode(t, dsn, "", "A"), openNode(t, dsn, relay.dsn, "B")
	b.feed.Poll = 200 * time.Millisecond
	b.run(t)
	ctx := context.Background()
	if err := a.store.CreateUser(ctx, user("before")); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, b, a.store, 5*time.Second)

	relay.cut()
	if err := a.store.CreateUser(ctx, user("during")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !b.feed.Down() {
		if time.Now().After(deadline) {
			t.Fatal("the feed did not notice the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // several reconnection attempts
	if n := b.logs.FilterMessageSnippet("database unavailable").Len(); n != 1 {
		t.Fatalf("outage logged %d times, want once", n)
	}
	for _, e := range b.logs.FilterMessageSnippet("database unavailable").All() {
		if strings.Contains(e.ContextMap()["error"].(string), "password") {
			t.Fatalf("the outage log line holds connection details: %v", e.ContextMap())
		}
	}

	relay.restore()
	waitApplied(t, b, a.store, 15*time.Second)
	if got := strings.Join(b.got(), " "); got != "user:before user:during" {
		t.Fatalf("applied %q after the outage", got)
	}
	// Polls may catch up before the feed's own connection is back (it
	// reconnects with a backoff): the end of the outage is logged then.
	deadline = time.Now().Add(15 * time.Second)
	for b.feed.Down() || b.logs.FilterMessageSnippet("database available again").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the end of the outage was not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.logs.FilterMessageSnippet("database available again").Len(); n != 1 {
		t.Fatalf("the end of the outage logged %d times, want once", n)
	}
}

// withParam returns dsn with the query parameter set.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// relay forwards TCP connections from a loopback port to the PostgreSQL
// server; cut closes the port and every connection through it, restore
// opens the same port again.
type relay struct {
	t      *testing.T
	addr   string // the relay's
	target string // the server's
	dsn    string // dsn through the relay
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newRelay(t *testing.T, dsn string) *relay {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, target: u.Host}
	if !strings.Contains(r.target, ":") {
		r.target += ":5432"
	}
	r.listen("127.0.0.1:0")
	r.addr = r.ln.Addr().String()
	u.Host = r.addr
	r.dsn = u.String()
	t.Cleanup(r.cut)
	return r
}

func (r *relay) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", r.target)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, s)
			r.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }() //nolint:errcheck // ends with the connection
			go func() { io.Copy(c, s); c.Close() }() //nolint:errcheck // ends with the connection
		}
	}()
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *relay) restore() { r.listen(r.addr) }
