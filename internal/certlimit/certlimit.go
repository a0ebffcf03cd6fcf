// Package certlimit bounds how many new names each managed route may get
// an on-demand certificate for in an interval, remembering the names it
// has allowed so that they are never counted (or refused) again.
package certlimit

import (
	"sync"
	"time"
)

// MaxRemembered is how many allowed names a route remembers. Past it the
// oldest are forgotten: asked again, they count as new unless the caller
// knows them otherwise (a certificate in storage).
const MaxRemembered = 4096

// Limiter counts, per route, the new names allowed in fixed intervals:
// the first counted name starts an interval, in which at most limit
// names are allowed; the next name after its end starts the next one.
// It is safe for concurrent use.
type Limiter struct {
	mu       sync.Mutex
	limit    int
	interval time.Duration
	now      func() time.Time
	routes   map[string]*routeState
}

// routeState is what the limiter knows of one route.
type routeState struct {
	names map[string]struct{} // remembered names
	order []string            // the same, oldest first once full (a ring)
	next  int                 // index in order of the oldest, once full

	start  time.Time // of the current interval; zero before the first
	count  int       // names counted in the current interval
	logged time.Time // start of the interval whose refusal was reported
	unseen int       // refusals not yet reported
}

// Decision is the answer of Allow.
type Decision struct {
	Allowed bool

	// ResetAt, on a refusal, is when the route may get new names again.
	ResetAt time.Time

	// Report is set on the first refusal of an interval, which the caller
	// reports (logs) once: Refused counts the refusals since the previous
	// report, this one included.
	Report  bool
	Refused int
}

// New returns a limiter allowing limit new names per route per interval,
// reading the time from now.
func New(limit int, interval time.Duration, now func() time.Time) *Limiter {
	return &Limiter{limit: limit, interval: interval, now: now, routes: make(map[string]*routeState)}
}

// SetLimit changes the limit; it applies from the next call on, to the
// interval under way as well.
func (l *Limiter) SetLimit(limit int, interval time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit, l.interval = limit, interval
}

// Known reports whether name was allowed for route before.
func (l *Limiter) Known(route, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.routes[route]
	if rs == nil {
		return false
	}
	_, ok := rs.names[name]
	return ok
}

// Remember records name as allowed for route without counting it: for a
// name that needs no new certificate.
func (l *Limiter) Remember(route, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.route(route).remember(name)
}

// Allow allows a name remembered for route, else counts it as new while
// the route's interval has room, else refuses it.
func (l *Limiter) Allow(route, name string) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.route(route)
	if _, ok := rs.names[name]; ok {
		return Decision{Allowed: true}
	}
	now := l.now()
	end := rs.start.Add(l.interval)
	if rs.start.IsZero() || !now.Before(end) {
		rs.start, rs.count = now, 0
		end = now.Add(l.interval)
	}
	if rs.count < l.limit {
		rs.count++
		rs.remember(name)
		return Decision{Allowed: true}
	}
	rs.unseen++
	d := Decision{ResetAt: end}
	if rs.logged.Equal(rs.start) {
		return d
	}
	d.Report, d.Refused = true, rs.unseen
	rs.logged, rs.unseen = rs.start, 0
	return d
}

// Forget drops what the limiter knows of route (a deleted route).
func (l *Limiter) Forget(route string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.routes, route)
}

// route returns the state of route, making it on first use. Callers hold
// l.mu.
func (l *Limiter) route(id string) *routeState {
	rs := l.routes[id]
	if rs == nil {
		rs = &routeState{names: make(map[string]struct{})}
		l.routes[id] = rs
	}
	return rs
}

// remember adds name, forgetting the oldest name when full.
func (rs *routeState) remember(name string) {
	if _, ok := rs.names[name]; ok {
		return
	}
	if len(rs.order) < MaxRemembered {
		rs.order = append(rs.order, name)
	} else {
		delete(rs.names, rs.order[rs.next])
		rs.order[rs.next] = name
		rs.next = (rs.next + 1) % MaxRemembered
	}
	rs.names[name] = struct{}{}
}
