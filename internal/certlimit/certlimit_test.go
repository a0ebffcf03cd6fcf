package certlimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is an injectable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// allow calls Allow and fails unless the name is allowed (want true) or
// refused.
func allow(t *testing.T, l *Limiter, route, name string, want bool) Decision {
	t.Helper()
	d := l.Allow(route, name)
	if d.Allowed != want {
		t.Fatalf("Allow(%s, %s) = %+v, want allowed %v", route, name, d, want)
	}
	return d
}

// TestLimiterBoundsNewNames is the unbounded certificates attack: a
// client making up names under a route's wildcard host gets at most
// limit of them per interval, and the count starts over after it.
func TestLimiterBoundsNewNames(t *testing.T) {
	c := newClock()
	l := New(3, time.Hour, c.now)
	for i := range 3 {
		allow(t, l, "r1", fmt.Sprintf("n%d.example.com", i), true)
	}
	allow(t, l, "r1", "n3.example.com", false)
	c.advance(59 * time.Minute)
	allow(t, l, "r1", "n4.example.com", false)
	c.advance(time.Minute) // the interval ends an hour after its first name
	for i := 5; i < 8; i++ {
		allow(t, l, "r1", fmt.Sprintf("n%d.example.com", i), true)
	}
	allow(t, l, "r1", "n8.example.com", false)
}

// TestLimiterPerRoute: one route's names do not use up another's.
func TestLimiterPerRoute(t *testing.T) {
	l := New(1, time.Hour, newClock().now)
	allow(t, l, "r1", "a.one.example", true)
	allow(t, l, "r1", "b.one.example", false)
	allow(t, l, "r2", "a.two.example", true)
	allow(t, l, "r2", "b.two.example", false)
}

// TestLimiterKnownNames: a name allowed once is allowed again without
// counting, also after the limit is reached, so handshakes retrying a
// name (or renewing its certificate) never fail for the limit.
func TestLimiterKnownNames(t *testing.T) {
	l := New(2, time.Hour, newClock().now)
	allow(t, l, "r1", "a.example.com", true)
	allow(t, l, "r1", "a.example.com", true)
	allow(t, l, "r1", "b.example.com", true)
	allow(t, l, "r1", "c.example.com", false)
	for _, n := range []string{"a.example.com", "b.example.com"} {
		allow(t, l, "r1", n, true)
		if !l.Known("r1", n) {
			t.Errorf("Known(r1, %s) = false after it was allowed", n)
		}
	}
	if l.Known("r1", "c.example.com") {
		t.Errorf("Known(r1, c.example.com) = true, but it was refused")
	}
	if l.Known("r2", "a.example.com") {
		t.Errorf("Known(r2, a.example.com) = true, but it was allowed for r1 only")
	}
}

// TestLimiterRemember: a name remembered without counting (its
// certificate is in storage) uses none of the route's new names.
func TestLimiterRemember(t *testing.T) {
	l := New(1, time.Hour, newClock().now)
	for i := range 10 {
		l.Remember("r1", fmt.Sprintf("stored%d.example.com", i))
	}
	allow(t, l, "r1", "stored3.example.com", true)
	allow(t, l, "r1", "new.example.com", true)
	allow(t, l, "r1", "newer.example.com", false)
}

// TestLimiterMemoryBound: a route remembers at most MaxRemembered names,
// forgetting the oldest first, so a client making up names for a long
// time cannot grow the server's memory.
func TestLimiterMemoryBound(t *testing.T) {
	l := New(1, time.Hour, newClock().now)
	for i := range MaxRemembered + 10 {
		l.Remember("r1", fmt.Sprintf("n%d.example.com", i))
	}
	rs := l.routes["r1"]
	if len(rs.names) != MaxRemembered || len(rs.order) != MaxRemembered {
		t.Fatalf("remembers %d names (%d in order), want %d", len(rs.names), len(rs.order), MaxRemembered)
	}
	for i := range 10 {
		if l.Known("r1", fmt.Sprintf("n%d.example.com", i)) {
			t.Errorf("n%d, among the oldest, is still remembered", i)
		}
	}
	for _, i := range []int{10, MaxRemembered, MaxRemembered + 9} {
		if !l.Known("r1", fmt.Sprintf("n%d.example.com", i)) {
			t.Errorf("n%d, among the newest, is forgotten", i)
		}
	}
	l.Remember("r1", "n10.example.com") // known: no change
	if !l.Known("r1", "n11.example.com") {
		t.Errorf("remembering a known name forgot another one")
	}
}

// TestLimiterReportsOncePerInterval: the first refusal of an interval is
// reported, with the refusals since the previous report and the end of
// the interval; the others are not, so a flood of handshakes cannot
// flood the log.
func TestLimiterReportsOncePerInterval(t *testing.T) {
	c := newClock()
	start := c.t
	l := New(1, time.Hour, c.now)
	allow(t, l, "r1", "a.example.com", true)
	c.advance(10 * time.Minute)
	d := allow(t, l, "r1", "b.example.com", false)
	if !d.Report || d.Refused != 1 || !d.ResetAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("first refusal = %+v, want a report of 1 refusal resetting at %s", d, start.Add(time.Hour))
	}
	for i := range 5 {
		if d := allow(t, l, "r1", fmt.Sprintf("x%d.example.com", i), false); d.Report || !d.ResetAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("refusal %d in the same interval = %+v, want no report, resetting at %s", i+2, d, start.Add(time.Hour))
		}
	}
	if d := allow(t, l, "r2", "a.example.com", true); d.Report {
		t.Fatalf("an allowed name reported: %+v", d)
	}

	c.advance(time.Hour) // next interval
	start = c.t
	allow(t, l, "r1", "c.example.com", true)
	d = allow(t, l, "r1", "d.example.com", false)
	if !d.Report || d.Refused != 6 || !d.ResetAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("first refusal of the next interval = %+v, want a report of 6 refusals resetting at %s", d, start.Add(time.Hour))
	}
	if d := allow(t, l, "r1", "e.example.com", false); d.Report {
		t.Fatalf("second refusal of the next interval reported: %+v", d)
	}
}

// TestLimiterSetLimitAndForget: a new limit applies at once; a forgotten
// route starts afresh.
func TestLimiterSetLimitAndForget(t *testing.T) {
	l := New(1, time.Hour, newClock().now)
	allow(t, l, "r1", "a.example.com", true)
	allow(t, l, "r1", "b.example.com", false)
	l.SetLimit(2, time.Hour)
	allow(t, l, "r1", "b.example.com", true)
	allow(t, l, "r1", "c.example.com", false)
	l.Forget("r1")
	if l.Known("r1", "a.example.com") {
		t.Fatalf("a forgotten route still remembers its names")
	}
	allow(t, l, "r1", "c.example.com", true)
}

// TestLimiterConcurrent: concurrent handshakes never get more than the
// limit of new names (run with -race).
func TestLimiterConcurrent(t *testing.T) {
	l := New(5, time.Hour, newClock().now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow("r1", fmt.Sprintf("n%d.example.com", i)).Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
			l.Known("r1", "n0.example.com")
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d names allowed, want 5", allowed)
	}
}
