// Package metrics holds proxyos's Prometheus metrics. They live as long as
// the process (across config reloads) and are registered in the metrics
// registry of each config, the one Caddy serves at its admin endpoint's
// /metrics and through the metrics handler: proxyos opens nothing of its
// own.
//
// What request paths count is resolved ahead (a counter per session
// check result, per gate decision, per route and status class), so that
// counting is an atomic add and never allocates. Each route's counters
// are plain atomics in one allocation without pointers (Route), turned
// into series only when scraped: with thousands of routes, Prometheus's
// own labelled counters and histograms (some 70 heap objects a route)
// would be most of the heap the garbage collector scans.
package metrics

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const ns = "proxyos"

// Gate decisions, the values of the gate counter's decision label.
const (
	GateSession   = "session"   // a valid session let the request through
	GateToken     = "token"     // a route token let it through
	GateAllow     = "allow"     // an access rule let it through without a login
	GateDeny      = "deny"      // an access rule denied it
	GateRefused   = "refused"   // no valid session (401 or the login page)
	GateForbidden = "forbidden" // a valid session the route does not admit
	gateKinds     = 6
)

// SessionValid is the session check counter's result for a valid session;
// others are the reasons a session is refused.
const SessionValid = "valid"

// sessionResults are the results a session check counts under: valid and
// the session package's reasons (kept here as strings so that this
// package imports nothing of proxyos). Another reason counts as "other".
var sessionResults = []string{SessionValid, "no_cookie", "malformed", "unknown_key", "bad_signature",
	"expired", "idle_timeout", "revoked", "user_disabled", "other_host", "handoff_invalid", "other"}

// Set is every metric of one process. The methods of a nil Set count
// nothing.
type Set struct {
	logins        *prometheus.CounterVec
	sessionChecks map[string]prometheus.Counter // read-only after New
	gate          [gateKinds]prometheus.Counter
	ruleMatches   [3]prometheus.Counter // allow, deny, login
	applies       *prometheus.HistogramVec
	storeErrors   prometheus.Counter
	storeLoad     prometheus.Histogram
	views         *viewCollector

	collectors []prometheus.Collector
	mu         sync.Mutex
	routes     map[string]*Route
}

// New makes the metrics of a process.
func New() *Set {
	s := &Set{routes: make(map[string]*Route), views: &viewCollector{}}
	s.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "logins_total",
		Help: "Logins by method (password, passkey, oidc) and result (success, failure)."}, []string{"method", "result"})
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "session_checks_total",
		Help: "Session checks of the gate and the dashboard by result: valid, or the reason the session was refused."}, []string{"result"})
	s.sessionChecks = make(map[string]prometheus.Counter, len(sessionResults))
	for _, r := range sessionResults {
		s.sessionChecks[r] = checks.WithLabelValues(r)
	}
	gate := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "gate_decisions_total",
		Help: "Requests decided by proxyos_auth gates: session, token, allow, deny, refused, forbidden."}, []string{"decision"})
	for i, d := range []string{GateSession, GateToken, GateAllow, GateDeny, GateRefused, GateForbidden} {
		s.gate[i] = gate.WithLabelValues(d)
	}
	rules := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "access_rule_matches_total",
		Help: "Requests an access rule matched, by the rule's action."}, []string{"action"})
	for i, a := range []string{"allow", "deny", "login"} {
		s.ruleMatches[i] = rules.WithLabelValues(a)
	}
	s.applies = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "route_apply_seconds",
		Help:    "Time to apply a route change (validate, compile, provision, store, swap), by result (ok, refused, error).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"result"})
	s.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "store_errors_total",
		Help: "Failed reads and writes of the database that proxyos logged or answered with 503."})
	s.storeLoad = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "store_session_load_seconds",
		Help:    "Time to read a session and its user from the database on a cache miss.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}})
	s.collectors = []prometheus.Collector{s.logins, checks, gate, rules, s.applies, s.storeErrors, s.storeLoad,
		routeCollector{s}, s.views}
	return s
}

// Register adds the metrics to a config's registry. The same Set is
// registered in each config's registry in turn (a reload makes a new
// one); registering it twice in one is not an error.
func (s *Set) Register(reg prometheus.Registerer) error {
	for _, c := range s.collectors {
		if err := reg.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
				continue
			}
			return err
		}
	}
	return nil
}

// Login counts a login by method and result.
func (s *Set) Login(method string, ok bool) {
	if s == nil {
		return
	}
	result := "failure"
	if ok {
		result = "success"
	}
	s.logins.WithLabelValues(method, result).Inc()
}

// SessionCheck counts a session check with its result: SessionValid or
// the reason it was refused.
func (s *Set) SessionCheck(result string) {
	if s == nil {
		return
	}
	c, ok := s.sessionChecks[result]
	if !ok {
		c = s.sessionChecks["other"]
	}
	c.Inc()
}

// Gate counts a gate decision (one of the Gate… constants).
func (s *Set) Gate(decision string) {
	if s == nil {
		return
	}
	switch decision {
	case GateSession:
		s.gate[0].Inc()
	case GateToken:
		s.gate[1].Inc()
	case GateAllow:
		s.gate[2].Inc()
	case GateDeny:
		s.gate[3].Inc()
	case GateRefused:
		s.gate[4].Inc()
	case GateForbidden:
		s.gate[5].Inc()
	}
}

// RuleMatch counts a request an access rule with action (allow, deny or
// login) matched.
func (s *Set) RuleMatch(action string) {
	if s == nil {
		return
	}
	switch action {
	case "allow":
		s.ruleMatches[0].Inc()
	case "deny":
		s.ruleMatches[1].Inc()
	case "login":
		s.ruleMatches[2].Inc()
	}
}

// Apply records a route change's duration and result (ok, refused,
// error).
func (s *Set) Apply(result string, d time.Duration) {
	if s == nil {
		return
	}
	s.applies.WithLabelValues(result).Observe(d.Seconds())
}

// StoreError counts a failed database operation.
func (s *Set) StoreError() {
	if s != nil {
		s.storeErrors.Inc()
	}
}

// SessionLoad records the time of a session read on a cache miss.
func (s *Set) SessionLoad(d time.Duration) {
	if s != nil {
		s.storeLoad.Observe(d.Seconds())
	}
}

// Route returns the metrics of route id, made on first use.
func (s *Set) Route(id string) *Route {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.routes[id]; ok {
		return r
	}
	r := &Route{created: time.Now().UnixNano()}
	s.routes[id] = r
	return r
}

// ForgetRoute drops a deleted route's series.
func (s *Set) ForgetRoute(id string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.routes, id)
	s.mu.Unlock()
}

// durationBounds are DurationBuckets, as an array so that a Route's
// buckets are one too.
var durationBounds = [...]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DurationBuckets are the upper bounds, in seconds, of the buckets of
// each route's latency histogram.
var DurationBuckets = durationBounds[:]

// EachRoute calls f with the metrics of each route counted since New or
// its ForgetRoute.
func (s *Set) EachRoute(f func(id string, r *Route)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.routes))
	rs := make([]*Route, 0, len(s.routes))
	for id, r := range s.routes {
		ids, rs = append(ids, id), append(rs, r)
	}
	s.mu.Unlock()
	for i, id := range ids {
		f(id, rs[i])
	}
}

// Route is what one route's requests count to: atomic counters in one
// allocation that holds no pointers, so the garbage collector never
// scans it. The Set's collector makes the route's series from them at
// each scrape.
type Route struct {
	classes [5]atomic.Uint64                       // 1xx … 5xx
	buckets [len(durationBounds) + 1]atomic.Uint64 // not cumulative; the last is +Inf
	sum     atomic.Uint64                          // nanoseconds
	touched atomic.Bool                            // see Touched
	created int64                                  // unix nanoseconds
}

// Observe counts a request that got status and took d. It does not
// allocate.
func (r *Route) Observe(status int, d time.Duration) {
	if c := status / 100; c >= 1 && c <= 5 {
		r.classes[c-1].Add(1)
	}
	// The first bucket whose bound is at least d, as Prometheus's
	// histograms count.
	v, i := d.Seconds(), 0
	for i < len(durationBounds) && v > durationBounds[i] {
		i++
	}
	r.buckets[i].Add(1)
	r.sum.Add(uint64(max(d, 0)))
	// Set after counting (see Touched), and written only when it
	// changes, so that requests to a busy route only read it.
	if !r.touched.Load() {
		r.touched.Store(true)
	}
}

// Touched reports whether the route counted a request since the
// previous call (or since it was made), and clears the mark: a reader
// that calls it before Snapshot and skips the routes it reports false
// for misses no request, since Observe marks the route after counting.
// One reader only: the traffic sampler.
func (r *Route) Touched() bool { return r.touched.Swap(false) }

// Snapshot returns the route's requests so far by status class (1xx …
// 5xx) and the count of each latency bucket (DurationBuckets, then
// +Inf; not cumulative).
func (r *Route) Snapshot() (classes [5]uint64, buckets []uint64) {
	for i := range r.classes {
		classes[i] = r.classes[i].Load()
	}
	buckets = make([]uint64, len(r.buckets))
	for i := range r.buckets {
		buckets[i] = r.buckets[i].Load()
	}
	return classes, buckets
}

var (
	routeRequestsDesc = prometheus.NewDesc(ns+"_route_requests_total",
		"Requests served by managed routes, by route id and status class (1xx…5xx).", []string{"route", "code"}, nil)
	routeDurationDesc = prometheus.NewDesc(ns+"_route_request_duration_seconds",
		"Time to serve a managed route's requests, by route id.", []string{"route"}, nil)
	statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
)

// routeCollector makes the series of each route's counters when
// scraped: five counters by status class and a latency histogram.
type routeCollector struct{ s *Set }

// Describe implements prometheus.Collector.
func (c routeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- routeRequestsDesc
	ch <- routeDurationDesc
}

// Collect implements prometheus.Collector.
func (c routeCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.EachRoute(func(id string, r *Route) {
		created := time.Unix(0, r.created)
		classes, buckets := r.Snapshot()
		for i, n := range classes {
			ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(routeRequestsDesc, prometheus.CounterValue,
				float64(n), created, id, statusClasses[i])
		}
		// The count is the buckets' sum, so the series agree however
		// requests interleave with the reading.
		cumulative := make(map[float64]uint64, len(durationBounds))
		var count uint64
		for i, n := range buckets {
			count += n
			if i < len(durationBounds) {
				cumulative[durationBounds[i]] = count
			}
		}
		sum := float64(r.sum.Load()) / float64(time.Second)
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(routeDurationDesc, count, sum, cumulative, created, id)
	})
}
