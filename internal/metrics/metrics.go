// Package metrics holds proxyos's Prometheus metrics. They live as long as
// the process (across config reloads) and are registered in the metrics
// registry of each config, the one Caddy serves at its admin endpoint's
// /metrics and through the metrics handler: proxyos opens nothing of its
// own.
//
// What request paths count is resolved ahead (a counter per session
// check result, per gate decision, per route and status class), so that
// counting is an atomic add and never allocates.
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	routeRequests *prometheus.CounterVec
	routeDuration *prometheus.HistogramVec
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
	s.routeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "route_requests_total",
		Help: "Requests served by managed routes, by route id and status class (1xx…5xx)."}, []string{"route", "code"})
	s.routeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "route_request_duration_seconds",
		Help:    "Time to serve a managed route's requests, by route id.",
		Buckets: DurationBuckets}, []string{"route"})
	s.collectors = []prometheus.Collector{s.logins, checks, gate, rules, s.applies, s.storeErrors, s.storeLoad,
		s.routeRequests, s.routeDuration, s.views}
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
	r := &Route{duration: s.routeDuration.WithLabelValues(id)}
	for i := range r.classes {
		r.classes[i] = s.routeRequests.WithLabelValues(id, strconv.Itoa(i+1)+"xx")
	}
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
	for i := 1; i <= 5; i++ {
		s.routeRequests.DeleteLabelValues(id, strconv.Itoa(i)+"xx")
	}
	s.routeDuration.DeleteLabelValues(id)
}

// DurationBuckets are the upper bounds, in seconds, of the buckets of
// each route's latency histogram.
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

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

// Route is what one route's requests count to, resolved ahead.
type Route struct {
	classes  [5]prometheus.Counter // 1xx … 5xx
	duration prometheus.Observer
}

// Observe counts a request that got status and took d. It does not
// allocate.
func (r *Route) Observe(status int, d time.Duration) {
	if c := status / 100; c >= 1 && c <= 5 {
		r.classes[c-1].Inc()
	}
	r.duration.Observe(d.Seconds())
}

// Snapshot returns the route's requests so far by status class (1xx …
// 5xx) and the count of each latency bucket (DurationBuckets, then
// +Inf; not cumulative). It reads the counters through the Prometheus
// client's Write, for use off the request path.
func (r *Route) Snapshot() (classes [5]uint64, buckets []uint64) {
	var m dto.Metric
	for i, c := range r.classes {
		if c.Write(&m) == nil && m.Counter != nil {
			classes[i] = uint64(m.Counter.GetValue())
		}
		m.Reset()
	}
	buckets = make([]uint64, len(DurationBuckets)+1)
	h, ok := r.duration.(prometheus.Metric)
	if !ok || h.Write(&m) != nil || m.Histogram == nil {
		return classes, buckets
	}
	var below uint64
	for i, b := range m.Histogram.GetBucket() {
		if i < len(DurationBuckets) {
			n := b.GetCumulativeCount()
			buckets[i] = n - below
			below = n
		}
	}
	if total := m.Histogram.GetSampleCount(); total > below {
		buckets[len(DurationBuckets)] = total - below
	}
	return classes, buckets
}
