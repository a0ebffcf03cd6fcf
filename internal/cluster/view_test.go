package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

// The cluster view marks the node that answers, says how far behind the
// log each node was when it last reported, and calls a node silent for
// GoneAfter gone.
func TestStatus(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	ctx := context.Background()
	for _, id := range []string{"u1", "u2", "u3"} {
		if err := st.CreateUser(ctx, user(id)); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := st.LastChange(ctx)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []store.Node{
		{ID: "a", Name: "web-1", Version: "v1", StartedAt: now.Add(-time.Hour), LastSeen: now.Add(-2 * time.Second), LastSeq: last},
		{ID: "b", Name: "web-2", Version: "v1", StartedAt: now.Add(-time.Hour), LastSeen: now.Add(-3 * time.Second), LastSeq: last - 2},
		{ID: "c", Name: "web-3", Version: "v0", StartedAt: now.Add(-2 * time.Hour), LastSeen: now.Add(-GoneAfter), LastSeq: 0},
	} {
		if err := st.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	v, err := Status(ctx, st, "b", now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Database != store.SQLite || v.LastChange != last || len(v.Nodes) != 3 {
		t.Fatalf("view %+v", v)
	}
	want := map[string]struct {
		state string
		lag   int64
		this  bool
	}{"web-1": {"up", 0, false}, "web-2": {"up", 2, true}, "web-3": {"gone", last, false}}
	for _, n := range v.Nodes {
		w := want[n.Name]
		if n.State != w.state || n.Lag != w.lag || n.This != w.this {
			t.Errorf("%s: state %s lag %d this %v, want %s %d %v", n.Name, n.State, n.Lag, n.This, w.state, w.lag, w.this)
		}
	}
}
