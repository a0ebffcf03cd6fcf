// Package traffic keeps the recent traffic of each managed route for the
// dashboard: an hour of requests by status class and latency in rings of
// 10-second slots in memory (this node), the same per minute in the
// database for every node of a cluster, and, for the routes that ask for
// it, the last requests in a bounded log. It reads counters, it does not
// count: the request path counts in internal/metrics and a sampler
// (Sampler) reads the counters every 10 seconds.
package traffic

import (
	"time"
)

// Slot is how long one slot of a ring covers, and how often the sampler
// reads the counters.
const Slot = 10 * time.Second

// Slots is how many slots a ring keeps: an hour.
const Slots = 360

// maxBuckets bounds the latency buckets a ring keeps per slot (the
// metrics' bounds plus +Inf), so that a slot is a fixed-size value.
const maxBuckets = 16

// Counts is what a route served in some time: requests by status class
// (1xx … 5xx) and the count of each latency bucket (not cumulative; the
// last is +Inf).
type Counts struct {
	Classes [5]uint64
	Buckets []uint64
}

// Requests returns the number of requests counted.
func (c Counts) Requests() uint64 {
	var n uint64
	for _, v := range c.Classes {
		n += v
	}
	return n
}

// add adds o to c, growing c's buckets as needed.
func (c *Counts) add(o Counts) {
	for i, v := range o.Classes {
		c.Classes[i] += v
	}
	for len(c.Buckets) < len(o.Buckets) {
		c.Buckets = append(c.Buckets, 0)
	}
	for i, v := range o.Buckets {
		c.Buckets[i] += v
	}
}

// since returns what c counted more than prev, two readings of the same
// counters. A counter that went down was reset (the route's metrics
// were dropped and made again): all of c is new then.
func (c Counts) since(prev Counts) Counts {
	d := Counts{Buckets: make([]uint64, len(c.Buckets))}
	for i, v := range c.Classes {
		if v < prev.Classes[i] {
			return c
		}
		d.Classes[i] = v - prev.Classes[i]
	}
	for i, v := range c.Buckets {
		var p uint64
		if i < len(prev.Buckets) {
			p = prev.Buckets[i]
		}
		if v < p {
			return c
		}
		d.Buckets[i] = v - p
	}
	return d
}

// slot is one 10-second slot of a ring. Counts fit in 32 bits: a slot
// is 10 seconds of one route.
type slot struct {
	start   int64 // unix seconds; 0 when unused
	classes [5]uint32
	buckets [maxBuckets]uint32
}

// Ring is an hour of one route's traffic on this node, in 10-second
// slots. It is not safe for concurrent use (the Sampler guards it).
type Ring struct {
	slots [Slots]slot
}

// slotStart returns the start, in unix seconds, of the slot holding t.
func slotStart(t time.Time) int64 {
	s := t.Unix()
	return s - s%int64(Slot/time.Second)
}

// Add adds c to the slot holding t, reusing a slot an hour old.
func (r *Ring) Add(t time.Time, c Counts) {
	start := slotStart(t)
	sl := &r.slots[(start/int64(Slot/time.Second))%Slots]
	if sl.start != start {
		*sl = slot{start: start}
	}
	for i, v := range c.Classes {
		sl.classes[i] += uint32(v)
	}
	for i, v := range c.Buckets {
		if i < maxBuckets {
			sl.buckets[i] += uint32(v)
		}
	}
}

// Sum returns what the ring holds for [from, to), in slots, with
// nBuckets buckets.
func (r *Ring) Sum(from, to time.Time, nBuckets int) Counts {
	c := Counts{Buckets: make([]uint64, min(nBuckets, maxBuckets))}
	a, b := from.Unix(), to.Unix()
	for i := range r.slots {
		sl := &r.slots[i]
		if sl.start == 0 || sl.start < a || sl.start >= b {
			continue
		}
		for j, v := range sl.classes {
			c.Classes[j] += uint64(v)
		}
		for j := range c.Buckets {
			c.Buckets[j] += uint64(sl.buckets[j])
		}
	}
	return c
}

// Empty reports whether the ring holds no request after since.
func (r *Ring) Empty(since time.Time) bool {
	s := since.Unix()
	for i := range r.slots {
		if sl := &r.slots[i]; sl.start >= s && sl.classes != [5]uint32{} {
			return false
		}
	}
	return true
}
