// Package ratelimit limits the rate of requests per key (a client
// network, a user, a header value) with the generic cell rate algorithm
// (GCRA): each key holds one number, its theoretical arrival time,
// updated with a compare-and-swap. Keys are 64-bit hashes with a random
// seed, spread over shards; the number of keys is bounded, and checking
// a request of a known key allocates nothing.
package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is how many keys a limiter remembers by default.
const DefaultMaxKeys = 1 << 16

// shards is the number of shards keys are spread over (a power of two).
const shards = 64

// sample is how many keys an insertion into a full shard looks at to
// choose the one it evicts.
const sample = 16

// Key identifies what a request is counted against. Make one with a
// Limiter's KeyOf or IPKey: keys of different kinds never meet.
type Key uint64

// Kinds of key, mixed into their hash.
const (
	KindIP     byte = 1 // a client address or network
	KindUser   byte = 2 // a user id
	KindHeader byte = 3 // a request header's value
)

// Limiter allows, per key, Requests per Per with bursts of Burst: a
// fresh key may make Burst requests at once, then one every
// Per/Requests. It is safe for concurrent use.
//
// It remembers at most MaxKeys keys. A key whose arrival time has passed
// is the same as a key never seen, so dropping it loses nothing; when a
// shard is full of keys still limited, inserting a new key evicts the
// one closest to expiry among a few sampled. A flood of new keys (an
// attacker cycling through addresses or header values) thus cannot grow
// memory past the bound: what it costs is that the keys it evicts start
// afresh.
type Limiter struct {
	interval  int64 // nanoseconds between requests at the steady rate
	tolerance int64 // how far ahead of now a key's arrival time may be
	perShard  int
	seed      maphash.Seed
	now       func() time.Time
	epoch     time.Time
	rejected  atomic.Uint64

	shards [shards]shard
}

type shard struct {
	mu  sync.RWMutex
	tat map[Key]*atomic.Int64 // theoretical arrival time, nanoseconds since epoch
	_   [32]byte              // keeps shards' locks on separate cache lines
}

// New returns a limiter allowing requests per per, in bursts of up to
// burst (at least 1; 0 means requests), for at most maxKeys keys (0
// means DefaultMaxKeys), reading the time from now (nil for time.Now).
func New(requests int, per time.Duration, burst, maxKeys int, now func() time.Time) *Limiter {
	if requests < 1 {
		requests = 1
	}
	if burst < 1 {
		burst = requests
	}
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	interval := max(int64(per)/int64(requests), 1)
	l := &Limiter{
		interval:  interval,
		tolerance: interval * int64(burst-1),
		perShard:  max(maxKeys/shards, 1),
		seed:      maphash.MakeSeed(),
		now:       now,
		epoch:     now(),
	}
	for i := range l.shards {
		l.shards[i].tat = make(map[Key]*atomic.Int64)
	}
	return l
}

// KeyOf returns the key of value s of a kind (KindUser, KindHeader, …).
func (l *Limiter) KeyOf(kind byte, s string) Key {
	return mix(kind, maphash.String(l.seed, s))
}

// IPKey returns the key of a client IP address: an IPv4 address is its
// own key, an IPv6 address counts with its /64 (one subscriber holds at
// least a /64, so rotating addresses within it changes nothing). A
// string that is no IP address is a key of its own.
func (l *Limiter) IPKey(ip string) Key {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return l.KeyOf(KindIP, ip)
	}
	b := addr.Unmap().As16()
	if addr.Unmap().Is6() {
		clear(b[8:])
	}
	return mix(KindIP, maphash.Bytes(l.seed, b[:]))
}

// mix folds the kind into a hash, so that the keys of different kinds
// of one value differ.
func mix(kind byte, h uint64) Key {
	return Key(h ^ uint64(kind)*0x9e3779b97f4a7c15)
}

// Allow counts a request of k. It reports whether the request may pass
// and, when not, how long until one would.
func (l *Limiter) Allow(k Key) (retryAfter time.Duration, ok bool) {
	now := int64(l.now().Sub(l.epoch))
	s := &l.shards[k%shards]
	s.mu.RLock()
	tat := s.tat[k]
	s.mu.RUnlock()
	if tat == nil {
		tat = l.insert(s, k, now)
	}
	for {
		old := tat.Load()
		t := max(old, now)
		if wait := t - now - l.tolerance; wait > 0 {
			l.rejected.Add(1)
			return time.Duration(wait), false
		}
		if tat.CompareAndSwap(old, t+l.interval) {
			return 0, true
		}
	}
}

// insert returns k's arrival time in s, adding it (after an eviction if
// s is full).
func (l *Limiter) insert(s *shard, k Key, now int64) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tat := s.tat[k]; tat != nil {
		return tat
	}
	if len(s.tat) >= l.perShard {
		l.evict(s, now)
	}
	tat := new(atomic.Int64)
	s.tat[k] = tat
	return tat
}

// evict makes room in s, full: of a few keys (map iteration starts at a
// random place), it drops every one that expired or, if none had, the
// one that expires first. Callers hold s.mu.
func (l *Limiter) evict(s *shard, now int64) {
	var (
		oldest   Key
		oldestAt int64
		found    bool
		seen     int
		dropped  bool
	)
	for k, tat := range s.tat {
		at := tat.Load()
		if at <= now {
			delete(s.tat, k)
			dropped = true
		} else if !found || at < oldestAt {
			oldest, oldestAt, found = k, at, true
		}
		if seen++; seen == sample {
			break
		}
	}
	if !dropped {
		delete(s.tat, oldest)
	}
}

// Len returns how many keys the limiter remembers.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.RLock()
		n += len(s.tat)
		s.mu.RUnlock()
	}
	return n
}

// Rejected returns how many requests Allow refused, for metrics.
func (l *Limiter) Rejected() uint64 { return l.rejected.Load() }
