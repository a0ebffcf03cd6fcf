package traffic

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
	"github.com/proxyos/caddy-proxyos/internal/testkit"
)

var bounds = []float64{.001, .01, .1, 1}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q       float64
		buckets []uint64
		want    float64
	}{
		{"nothing counted", 0.5, []uint64{0, 0, 0, 0, 0}, 0},
		{"all in the first bucket interpolates from 0", 0.5, []uint64{10, 0, 0, 0, 0}, 0.0005},
		{"median in the middle of the second bucket", 0.5, []uint64{0, 10, 0, 0, 0}, 0.0055},
		{"p95 in the third bucket", 0.95, []uint64{50, 40, 10, 0, 0}, 0.055},
		{"median at a bucket's top", 0.5, []uint64{5, 5, 0, 0, 0}, 0.001},
		{"in +Inf is the highest bound", 0.95, []uint64{1, 0, 0, 0, 99}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quantile(tc.q, bounds, tc.buckets); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Quantile(%v, %v) = %v, want %v", tc.q, tc.buckets, got, tc.want)
			}
		})
	}
}

func TestRing(t *testing.T) {
	var r Ring
	t0 := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	r.Add(t0.Add(3*time.Second), Counts{Classes: [5]uint64{0, 2, 0, 0, 1}, Buckets: []uint64{1, 2, 0, 0, 0}})
	r.Add(t0.Add(9*time.Second), Counts{Classes: [5]uint64{0, 1}, Buckets: []uint64{0, 1, 0, 0, 0}})
	r.Add(t0.Add(15*time.Second), Counts{Classes: [5]uint64{0, 4}, Buckets: []uint64{0, 0, 4, 0, 0}})
	if c := r.Sum(t0, t0.Add(Slot), 5); c.Classes != [5]uint64{0, 3, 0, 0, 1} || fmt.Sprint(c.Buckets) != "[1 3 0 0 0]" {
		t.Errorf("first slot = %+v", c)
	}
	if c := r.Sum(t0, t0.Add(time.Minute), 5); c.Requests() != 8 {
		t.Errorf("minute = %d requests, want 8", c.Requests())
	}
	// An hour later the slot is reused: the old counts are gone.
	r.Add(t0.Add(time.Hour+time.Second), Counts{Classes: [5]uint64{0, 0, 0, 1}, Buckets: []uint64{1, 0, 0, 0, 0}})
	if c := r.Sum(t0, t0.Add(2*time.Hour), 5); c.Requests() != 5 {
		t.Errorf("after an hour = %d requests, want 5 (4 + 1)", c.Requests())
	}
	if r.Empty(t0.Add(time.Hour)) {
		t.Error("Empty after a request in the last hour")
	}
	if !r.Empty(t0.Add(2 * time.Hour)) {
		t.Error("not Empty with nothing since")
	}
}

func TestCountsSince(t *testing.T) {
	prev := Counts{Classes: [5]uint64{0, 5, 0, 0, 1}, Buckets: []uint64{3, 3}}
	d := Counts{Classes: [5]uint64{0, 7, 0, 0, 1}, Buckets: []uint64{4, 4}}.since(prev)
	if d.Classes != [5]uint64{0, 2} || fmt.Sprint(d.Buckets) != "[1 1]" {
		t.Errorf("since = %+v", d)
	}
	// Counters made again (a route's metrics dropped) count from zero.
	reset := Counts{Classes: [5]uint64{0, 1}, Buckets: []uint64{1, 0}}
	if d := reset.since(prev); d.Classes != reset.Classes {
		t.Errorf("since after a reset = %+v, want all of it", d)
	}
}

func TestLog(t *testing.T) {
	var ls Logs
	for i := range 7 {
		ls.Record("r1", 5, Request{Path: fmt.Sprintf("/%d", i), Status: 200})
	}
	got := ls.List("r1")
	if len(got) != 5 || got[0].Path != "/6" || got[4].Path != "/2" {
		t.Fatalf("List = %v, want /6 … /2", paths(got))
	}
	// A smaller size keeps the newest; a larger one keeps them all.
	ls.Record("r1", 3, Request{Path: "/7"})
	if got := paths(ls.List("r1")); fmt.Sprint(got) != "[/7 /6 /5]" {
		t.Errorf("after shrinking: %v", got)
	}
	ls.Record("r1", 10, Request{Path: "/8"})
	if got := paths(ls.List("r1")); fmt.Sprint(got) != "[/8 /7 /6 /5]" {
		t.Errorf("after growing: %v", got)
	}
	ls.Record("r1", 100000, Request{Path: string(make([]byte, 2000))})
	if got := ls.List("r1"); len(got[0].Path) != maxPath {
		t.Errorf("a long path is kept with %d bytes, want %d", len(got[0].Path), maxPath)
	}
	if LogSize(0) != DefaultLogSize || LogSize(100000) != MaxLogSize {
		t.Error("LogSize does not bound the size")
	}
	ls.Keep(func(id string) bool { return id != "r1" })
	if got := ls.List("r1"); len(got) != 0 {
		t.Errorf("a dropped log still lists %d entries", len(got))
	}
}

func paths(rs []Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Path)
	}
	return out
}

// TestSamplerSeries follows counters through two nodes sharing a
// database (one SQLite store; two connections to PostgreSQL): each
// node's rings, the per-minute rows, the sum, and the latency
// percentiles.
func TestSamplerSeries(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, _ := testkit.OpenStore(t)
		testSamplerSeries(t, st, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testkit.PostgresDSN(t)
		testSamplerSeries(t, testkit.OpenPostgres(t, dsn), testkit.OpenPostgres(t, dsn))
	})
}

func testSamplerSeries(t *testing.T, st, other *store.Store) {
	clock := testkit.NewClock()
	ctx := context.Background()
	counters := map[string]Counts{}
	node := func(id string, st *store.Store, counts map[string]Counts) *Sampler {
		return &Sampler{Store: st, Node: func() (string, string) { return id, "node-" + id }, Bounds: bounds, Now: clock.Now,
			Read: func(f func(string, bool, Counts)) {
				for k, c := range counts {
					f(k, true, c)
				}
			}}
	}
	a := node("a", st, counters)
	otherCounters := map[string]Counts{"r1": {Classes: [5]uint64{0, 0, 0, 0, 10}, Buckets: []uint64{0, 0, 0, 10, 0}}}
	b := node("b", other, otherCounters)

	counters["r1"] = Counts{Classes: [5]uint64{0, 90, 0, 0, 10}, Buckets: []uint64{0, 100, 0, 0, 0}}
	counters["idle"] = Counts{Buckets: make([]uint64, 5)}
	for _, s := range []*Sampler{a, b} {
		if err := s.Sample(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(Slot)
	counters["r1"] = Counts{Classes: [5]uint64{0, 180, 0, 0, 20}, Buckets: []uint64{0, 200, 0, 0, 0}}
	if err := a.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := a.Series(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Local.Points) != Slots || len(s.Sum) != 60 {
		t.Fatalf("%d local points and %d summed, want %d and 60", len(s.Local.Points), len(s.Sum), Slots)
	}
	var local uint64
	for _, p := range s.Local.Points {
		local += p.Requests[1] + p.Requests[4]
	}
	if local != 200 {
		t.Errorf("node a's local points hold %d requests, want 200", local)
	}
	if len(s.Nodes) != 2 {
		t.Fatalf("%d nodes, want 2", len(s.Nodes))
	}
	last := s.Sum[len(s.Sum)-1]
	if last.Requests != [5]uint64{0, 180, 0, 0, 30} {
		t.Errorf("the current minute's sum = %v, want 180 2xx and 30 5xx (a's 20 and b's 10)", last.Requests)
	}
	// 200 requests between 1 and 10 ms, 10 between 100 ms and 1 s: the
	// median is in the first, the 95th percentile at 10 ms.
	if last.P50 < 1 || last.P50 > 10 || last.P95 < 9 || last.P95 > 100 {
		t.Errorf("p50 %v ms, p95 %v ms: implausible", last.P50, last.P95)
	}
	if rows, _ := st.Traffic(ctx, "idle", time.Time{}); len(rows) != 0 {
		t.Errorf("an idle route wrote %d rows, want none", len(rows))
	}
	// One row per route, minute and node, however often it was sampled.
	if rows, _ := st.Traffic(ctx, "r1", time.Time{}); len(rows) != 2 {
		t.Errorf("%d rows for r1, want 2 (one per node)", len(rows))
	}
	// A route whose counters are gone (deleted) loses its ring.
	delete(counters, "r1")
	clock.Advance(Slot)
	if err := a.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if a.rings["r1"] != nil {
		t.Error("a deleted route's ring is kept")
	}
	clock.Advance(Retention + time.Minute)
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _ := st.Traffic(ctx, "r1", time.Time{}); len(rows) != 0 {
		t.Errorf("%d rows after the retention, want 0", len(rows))
	}
}

// The sampler reads only the routes whose counters changed since the
// last reading: an idle route costs no reading and keeps its ring, and
// when it serves requests again they are all counted, from the counters
// it last read.
func TestSamplerSkipsIdleRoutes(t *testing.T) {
	st, _ := testkit.OpenStore(t)
	clock := testkit.NewClock()
	ctx := context.Background()
	type counter struct {
		c       Counts
		changed bool
	}
	counters := map[string]*counter{}
	count := func(id string, n uint64) {
		c := counters[id]
		if c == nil {
			c = &counter{c: Counts{Buckets: make([]uint64, len(bounds)+1)}}
			counters[id] = c
		}
		c.c.Classes[1] += n
		c.c.Buckets[0] += n
		c.changed = true
	}
	var read []string
	s := &Sampler{Store: st, Node: func() (string, string) { return "a", "node-a" }, Bounds: bounds, Now: clock.Now,
		Read: func(f func(string, bool, Counts)) {
			for id, c := range counters {
				if !c.changed {
					f(id, false, Counts{})
					continue
				}
				c.changed = false
				read = append(read, id)
				f(id, true, Counts{Classes: c.c.Classes, Buckets: append([]uint64(nil), c.c.Buckets...)})
			}
		}}
	sample := func() {
		t.Helper()
		read = nil
		clock.Advance(Slot)
		if err := s.Sample(ctx); err != nil {
			t.Fatal(err)
		}
	}
	local := func(id string) uint64 {
		t.Helper()
		series, err := s.Series(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, p := range series.Local.Points {
			n += p.Requests[1]
		}
		return n
	}

	count("busy", 5)
	counters["never"] = &counter{c: Counts{Buckets: make([]uint64, len(bounds)+1)}}
	sample()
	if fmt.Sprint(read) != "[busy]" {
		t.Errorf("read %v, want only the route with requests", read)
	}
	if _, ok := s.last["never"]; ok {
		t.Error("the sampler keeps counters of a route that never served a request")
	}
	// Idle for two readings: nothing read, the ring and the last reading
	// kept.
	sample()
	sample()
	if len(read) != 0 {
		t.Errorf("read %v with no requests", read)
	}
	if s.rings["busy"] == nil || s.last["busy"].Requests() != 5 {
		t.Fatal("an idle route lost its ring or its last reading")
	}
	// Requests again: counted from the last reading, exactly.
	count("busy", 3)
	sample()
	if got := local("busy"); got != 8 {
		t.Errorf("the ring holds %d requests, want 8 (5 + 3)", got)
	}
	if rows, _ := st.Traffic(ctx, "busy", time.Time{}); len(rows) == 0 {
		t.Error("no per-minute row after the route served requests again")
	}
	// A route whose counters are gone (deleted) loses its ring and its
	// last reading, idle or not.
	delete(counters, "busy")
	sample()
	if s.rings["busy"] != nil {
		t.Error("a deleted route's ring is kept")
	}
	if _, ok := s.last["busy"]; ok {
		t.Error("a deleted route's last reading is kept")
	}
}
