package traffic

import (
	"context"
	"sync"
	"time"

	"github.com/proxyos/caddy-proxyos/internal/store"
)

// Retention is how long the database keeps the per-minute rows.
const Retention = 2 * time.Hour

// Sampler reads the routes' counters every Slot (Sample): what each
// route served since the last reading goes into its ring, and the
// current minute of each route that served requests is written to the
// database as this node's row, so a node writes at most one row per
// route and minute (updated while the minute lasts), and nothing for
// idle routes. Only the counters of routes that served requests since
// the last reading are read and kept, so a reading of thousands of
// mostly idle routes costs little. It answers the charts' series
// (Series).
type Sampler struct {
	// Store holds every node's per-minute rows.
	Store *store.Store
	// Node returns this node's instance and name.
	Node func() (id, name string)
	// Bounds are the latency buckets' upper bounds in seconds.
	Bounds []float64
	// Read calls f for each route that has counters: with changed
	// false when the route counted no request since the previous Read
	// (c is then empty, and the counters are not read), else with
	// changed true and the counters as they are now.
	Read func(f func(id string, changed bool, c Counts))
	// Now is the clock.
	Now func() time.Time

	mu    sync.Mutex
	rings map[string]*Ring
	last  map[string]Counts
}

// Sample reads the counters once. It returns the error of writing to the
// database; the rings are updated either way.
func (s *Sampler) Sample(ctx context.Context) error {
	now := s.Now()
	at := now.Add(-Slot / 2) // the middle of the time the reading covers
	minute := at.Truncate(time.Minute)
	id, name := s.Node()
	var rows []store.TrafficRow
	s.mu.Lock()
	if s.rings == nil {
		s.rings, s.last = make(map[string]*Ring), make(map[string]Counts)
	}
	// The routes of last that still have counters (the rings' routes
	// are among them).
	seen := make(map[string]bool, len(s.last))
	s.Read(func(route string, changed bool, c Counts) {
		if !changed {
			if _, ok := s.last[route]; ok {
				seen[route] = true
			}
			return
		}
		seen[route] = true
		d := c.since(s.last[route])
		s.last[route] = c
		if d.Requests() == 0 {
			return
		}
		r := s.rings[route]
		if r == nil {
			r = new(Ring)
			s.rings[route] = r
		}
		r.Add(at, d)
		sum := r.Sum(minute, minute.Add(time.Minute), len(s.Bounds)+1)
		rows = append(rows, store.TrafficRow{Node: id, NodeName: name, RouteID: route, Minute: minute,
			Classes: sum.Classes, Buckets: sum.Buckets})
	})
	for route, r := range s.rings {
		if !seen[route] || r.Empty(now.Add(-Slots*Slot)) {
			delete(s.rings, route)
		}
	}
	for route := range s.last {
		if !seen[route] {
			delete(s.last, route)
		}
	}
	s.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	return s.Store.PutTraffic(ctx, rows)
}

// Prune deletes the database's rows older than Retention.
func (s *Sampler) Prune(ctx context.Context) error {
	_, err := s.Store.PruneTraffic(ctx, s.Now().Add(-Retention))
	return err
}

// Point is a route's traffic in one interval: requests by status class
// (1xx … 5xx) and the median and 95th percentile latency in
// milliseconds, interpolated in the histogram's buckets (0 without
// requests).
type Point struct {
	T        int64     `json:"t"` // the interval's start, unix seconds
	Requests [5]uint64 `json:"requests"`
	P50      float64   `json:"p50_ms"`
	P95      float64   `json:"p95_ms"`
}

// NodeSeries is one node's points.
type NodeSeries struct {
	Node   string  `json:"node"` // its name
	Points []Point `json:"points"`
}

// Series is a route's traffic over the last hour: this node's in
// 10-second points from memory, and every node's and their sum in
// minutes from the database (the current minute as far as it went).
type Series struct {
	Local     NodeSeries   `json:"local"`
	LocalStep int          `json:"local_step"` // seconds
	Step      int          `json:"step"`       // seconds, of Nodes and Sum
	Nodes     []NodeSeries `json:"nodes"`
	Sum       []Point      `json:"sum"`
}

// Series returns route id's series.
func (s *Sampler) Series(ctx context.Context, id string) (Series, error) {
	now := s.Now()
	_, name := s.Node()
	out := Series{LocalStep: int(Slot / time.Second), Step: 60, Local: NodeSeries{Node: name}}
	// Local: the slots of the last hour, the current one last.
	last := time.Unix(slotStart(now), 0)
	s.mu.Lock()
	r := s.rings[id]
	for i := Slots - 1; i >= 0; i-- {
		from := last.Add(-time.Duration(i) * Slot)
		var c Counts
		if r != nil {
			c = r.Sum(from, from.Add(Slot), len(s.Bounds)+1)
		}
		out.Local.Points = append(out.Local.Points, s.point(from, c))
	}
	s.mu.Unlock()
	// Cluster: per minute, per node and summed.
	first := now.Truncate(time.Minute).Add(-59 * time.Minute)
	rows, err := s.Store.Traffic(ctx, id, first)
	if err != nil {
		return Series{}, err
	}
	byNode := map[string][]Counts{}
	var names []string
	sum := make([]Counts, 60)
	for _, row := range rows {
		i := int(row.Minute.Sub(first) / time.Minute)
		if i < 0 || i >= 60 {
			continue
		}
		cs, ok := byNode[row.NodeName]
		if !ok {
			cs = make([]Counts, 60)
			byNode[row.NodeName] = cs
			names = append(names, row.NodeName)
		}
		c := Counts{Classes: row.Classes, Buckets: row.Buckets}
		cs[i].add(c)
		sum[i].add(c)
	}
	out.Nodes = []NodeSeries{}
	for _, n := range names {
		ns := NodeSeries{Node: n}
		for i, c := range byNode[n] {
			ns.Points = append(ns.Points, s.point(first.Add(time.Duration(i)*time.Minute), c))
		}
		out.Nodes = append(out.Nodes, ns)
	}
	for i, c := range sum {
		out.Sum = append(out.Sum, s.point(first.Add(time.Duration(i)*time.Minute), c))
	}
	return out, nil
}

// point makes the point of c, counted from t on.
func (s *Sampler) point(t time.Time, c Counts) Point {
	p := Point{T: t.Unix(), Requests: c.Classes}
	if c.Requests() > 0 {
		p.P50 = round(Quantile(0.5, s.Bounds, c.Buckets) * 1000)
		p.P95 = round(Quantile(0.95, s.Bounds, c.Buckets) * 1000)
	}
	return p
}

// round keeps 3 decimals of a millisecond value.
func round(ms float64) float64 { return float64(int64(ms*1000+0.5)) / 1000 }
