package ratelimit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newClock() *clock {
	c := new(clock)
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// allowN makes n requests of k and returns how many passed.
func allowN(l *Limiter, k Key, n int) int {
	passed := 0
	for range n {
		if _, ok := l.Allow(k); ok {
			passed++
		}
	}
	return passed
}

func TestLimiterRateAndBurst(t *testing.T) {
	tests := []struct {
		name     string
		requests int
		per      time.Duration
		burst    int
		first    int           // passing at once from a fresh key
		wait     time.Duration // then after waiting this long
		next     int           // this many more pass
	}{
		{"burst defaults to requests", 5, time.Second, 0, 5, 200 * time.Millisecond, 1},
		{"whole period refills", 5, time.Second, 0, 5, time.Second, 5},
		{"smaller burst", 60, time.Minute, 2, 2, 3 * time.Second, 2},
		{"burst of one is a steady rate", 10, time.Second, 1, 1, 250 * time.Millisecond, 1},
		{"burst above requests", 1, time.Second, 3, 3, 2 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := New(tt.requests, tt.per, tt.burst, 0, c.now)
			k := l.KeyOf(KindUser, "alice")
			if got := allowN(l, k, tt.first+3); got != tt.first {
				t.Fatalf("%d passed at once, want %d", got, tt.first)
			}
			c.advance(tt.wait)
			if got := allowN(l, k, tt.next+3); got != tt.next {
				t.Fatalf("%d passed after %s, want %d", got, tt.wait, tt.next)
			}
		})
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	c := newClock()
	l := New(2, time.Second, 0, 0, c.now) // one every 500ms, burst 2
	k := l.KeyOf(KindUser, "bob")
	allowN(l, k, 2)
	retry, ok := l.Allow(k)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("Allow = %s, %v; want 500ms, false", retry, ok)
	}
	c.advance(retry - time.Nanosecond)
	if _, ok := l.Allow(k); ok {
		t.Fatal("passed before the retry time")
	}
	c.advance(time.Nanosecond)
	if _, ok := l.Allow(k); !ok {
		t.Fatal("refused at the retry time")
	}
	if got := l.Rejected(); got != 2 {
		t.Errorf("Rejected = %d, want 2", got)
	}
}

// TestLimiterKeysApart checks that one key's requests do not count
// against another's, and that kinds never meet: a header value equal to
// a victim's address does not spend the victim's address limit.
func TestLimiterKeysApart(t *testing.T) {
	c := newClock()
	l := New(1, time.Minute, 0, 0, c.now)
	if allowN(l, l.IPKey("192.0.2.1"), 3) != 1 {
		t.Fatal("first address: want one request through")
	}
	for _, k := range []Key{l.IPKey("192.0.2.2"), l.KeyOf(KindHeader, "192.0.2.3"), l.KeyOf(KindUser, "192.0.2.3")} {
		if _, ok := l.Allow(k); !ok {
			t.Errorf("key %x refused: another key's requests counted against it", k)
		}
	}
	if l.KeyOf(KindHeader, "x") == l.KeyOf(KindUser, "x") {
		t.Error("a header value and a user id of the same text share a key")
	}
}

// TestIPKeyNetworks checks that an IPv6 client rotating addresses within
// its /64 stays one key (an attack that would otherwise multiply its
// limit by 2^64), while IPv4 addresses and other /64s stay apart.
func TestIPKeyNetworks(t *testing.T) {
	l := New(1, time.Second, 0, 0, nil)
	same := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"192.0.2.1", "::ffff:192.0.2.1"},
	}
	for _, p := range same {
		if l.IPKey(p[0]) != l.IPKey(p[1]) {
			t.Errorf("%s and %s have different keys", p[0], p[1])
		}
	}
	apart := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
		{"not-an-ip", "not-an-ip2"},
	}
	for _, p := range apart {
		if l.IPKey(p[0]) == l.IPKey(p[1]) {
			t.Errorf("%s and %s share a key", p[0], p[1])
		}
	}
}

// TestLimiterKeyFlood is the key-flood attack: a client sending every
// request with a new key (source addresses of a large network, random
// header values) must not grow the limiter's memory past its bound,
// whether the keys it made expired or are still limited.
func TestLimiterKeyFlood(t *testing.T) {
	const maxKeys = 1024
	c := newClock()
	l := New(1, time.Hour, 0, maxKeys, c.now)
	for i := range 50 * maxKeys {
		l.Allow(l.KeyOf(KindHeader, strconv.Itoa(i)))
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("%d keys after a flood of still-limited keys, bound %d", n, maxKeys)
	}
	c.advance(2 * time.Hour) // all expired
	for i := range 50 * maxKeys {
		l.Allow(l.KeyOf(KindHeader, "again"+strconv.Itoa(i)))
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("%d keys after a flood of expired keys, bound %d", n, maxKeys)
	}
}

// TestLimiterEvictsExpiredFirst checks that a full shard drops keys that
// expired (which lose nothing) before a key still limited.
func TestLimiterEvictsExpiredFirst(t *testing.T) {
	c := newClock()
	l := New(1, time.Hour, 0, shards, c.now) // one key per shard
	victim := l.KeyOf(KindUser, "victim")
	l.Allow(victim)
	s := &l.shards[victim%shards]
	// Another key of the victim's shard, expired by the time it is evicted.
	var other Key
	for i := 0; ; i++ {
		if other = l.KeyOf(KindUser, strconv.Itoa(i)); other%shards == victim%shards && other != victim {
			break
		}
	}
	s.mu.Lock()
	s.tat[other] = new(atomic.Int64) // arrival time 0: expired
	delete(s.tat, victim)
	s.mu.Unlock()
	l.Allow(victim) // evicts other, the only key, which expired
	if _, ok := l.Allow(victim); ok {
		t.Fatal("the victim's limit was lost")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	c := newClock()
	l := New(100, time.Hour, 0, 0, c.now)
	var (
		wg     sync.WaitGroup
		passed atomic.Int64
	)
	k := l.KeyOf(KindUser, "shared")
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, ok := l.Allow(k); ok {
					passed.Add(1)
				}
				l.Allow(l.KeyOf(KindUser, strconv.Itoa(g*1000+i)))
			}
		}()
	}
	wg.Wait()
	if got := passed.Load(); got != 100 {
		t.Fatalf("%d requests of one key passed from 8 goroutines, want exactly 100", got)
	}
}

func TestLimiterAllowAllocs(t *testing.T) {
	l := New(1<<30, time.Second, 0, 0, nil)
	ip := l.IPKey("2001:db8::1")
	l.Allow(ip)
	allocs := testing.AllocsPerRun(1000, func() {
		l.Allow(l.IPKey("2001:db8::1"))
		l.Allow(l.KeyOf(KindUser, "alice"))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request of a known key, want 0", allocs)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(1<<30, time.Second, 0, 0, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(l.IPKey("192.0.2.1"))
		}
	})
}
