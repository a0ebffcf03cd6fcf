package metrics

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The same Set is registered in the registry of each config in turn, and
// its counts carry over: a reload loses nothing.
func TestRegisterAcrossReloads(t *testing.T) {
	s := New()
	first := prometheus.NewPedanticRegistry()
	if err := s.Register(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(first); err != nil {
		t.Fatalf("registering twice in one registry: %v", err)
	}
	s.Login("password", true)
	s.Login("oidc", false)
	second := prometheus.NewPedanticRegistry()
	if err := s.Register(second); err != nil {
		t.Fatal(err)
	}
	s.Login("password", true)
	want := `
# HELP proxyos_logins_total Logins by method (password, passkey, oidc) and result (success, failure).
# TYPE proxyos_logins_total counter
proxyos_logins_total{method="oidc",result="failure"} 1
proxyos_logins_total{method="password",result="success"} 2
`
	if err := testutil.GatherAndCompare(second, strings.NewReader(want), "proxyos_logins_total"); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Gather(); err != nil {
		t.Fatalf("the pedantic registry refuses the set: %v", err)
	}
}

func TestCounts(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	s.SessionCheck(SessionValid)
	s.SessionCheck("revoked")
	s.SessionCheck("something new")
	for _, d := range []string{GateSession, GateSession, GateToken, GateAllow, GateDeny, GateRefused, GateForbidden, "unknown"} {
		s.Gate(d)
	}
	s.RuleMatch("allow")
	s.RuleMatch("deny")
	s.RuleMatch("login")
	s.Apply("ok", 3*time.Millisecond)
	s.Apply("refused", time.Millisecond)

	r := s.Route("r1")
	if s.Route("r1") != r {
		t.Fatal("a route's metrics are made twice")
	}
	r.Observe(200, 2*time.Millisecond)
	r.Observe(204, time.Millisecond)
	r.Observe(502, time.Second)
	r.Observe(101, time.Minute)
	s.Route("r2").Observe(404, time.Millisecond)

	for name, want := range map[string]float64{
		`proxyos_session_checks_total{result="valid"}`:             1,
		`proxyos_session_checks_total{result="revoked"}`:           1,
		`proxyos_session_checks_total{result="other"}`:             1,
		`proxyos_gate_decisions_total{decision="session"}`:         2,
		`proxyos_gate_decisions_total{decision="forbidden"}`:       1,
		`proxyos_access_rule_matches_total{action="login"}`:        1,
		`proxyos_route_apply_seconds_count{result="ok"}`:           1,
		`proxyos_route_requests_total{code="2xx",route="r1"}`:      2,
		`proxyos_route_requests_total{code="5xx",route="r1"}`:      1,
		`proxyos_route_requests_total{code="1xx",route="r1"}`:      1,
		`proxyos_route_requests_total{code="4xx",route="r2"}`:      1,
		`proxyos_route_request_duration_seconds_count{route="r1"}`: 4,
	} {
		if got := sample(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// A deleted route's series go, and come back from zero if the id
	// is used again.
	s.ForgetRoute("r1")
	if got := sample(t, reg, `proxyos_route_requests_total{code="2xx",route="r1"}`); got != -1 {
		t.Fatalf("a forgotten route still has its series (%v)", got)
	}
	s.Route("r1").Observe(200, time.Millisecond)
	if got := sample(t, reg, `proxyos_route_requests_total{code="2xx",route="r1"}`); got != 1 {
		t.Fatalf("after forgetting: %v, want 1", got)
	}
}

// Counting on request paths allocates nothing.
func TestCountingAllocs(t *testing.T) {
	s := New()
	r := s.Route("r1")
	if n := testing.AllocsPerRun(100, func() {
		s.SessionCheck(SessionValid)
		s.SessionCheck("expired")
		s.Gate(GateSession)
		s.RuleMatch("allow")
		r.Observe(200, time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// A nil Set counts nothing and does not fail.
func TestNilSet(t *testing.T) {
	var s *Set
	s.Login("password", true)
	s.SessionCheck(SessionValid)
	s.Gate(GateSession)
	s.RuleMatch("allow")
	s.Apply("ok", time.Millisecond)
	s.StoreError()
	s.SessionLoad(time.Millisecond)
	s.ForgetRoute("r1")
	if s.Route("r1") != nil {
		t.Fatal("a nil set made route metrics")
	}
}

func TestView(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	expiry := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	s.SetView(func() View {
		return View{
			Routes: []RouteCount{{Kind: "proxy", TLS: "auto", N: 3}, {Kind: "static", TLS: "off", N: 1}},
			Certificates: []Certificate{{Name: "a.example.com", NotAfter: expiry},
				{Name: "a.example.com", NotAfter: expiry.Add(time.Hour)}}, // listed twice: one series
			Cluster: &Cluster{Head: 12, Applied: 9, Down: true},
		}
	})
	for name, want := range map[string]float64{
		`proxyos_routes{kind="proxy",tls="auto"}`:                            3,
		`proxyos_routes{kind="static",tls="off"}`:                            1,
		`proxyos_certificate_expiry_timestamp_seconds{name="a.example.com"}`: float64(expiry.Unix()),
		`proxyos_cluster_lag_changes`:                                        3,
		`proxyos_cluster_database_up`:                                        0,
	} {
		if got := sample(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// sample returns the value of one series in the registry's text output,
// or -1 when it is not there.
func sample(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			value := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if h := m.GetHistogram(); h != nil {
				if series == name+"_count{"+strings.Join(labels, ",")+"}" {
					return float64(h.GetSampleCount())
				}
				continue
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			if key == series {
				return value
			}
		}
	}
	return -1
}

// Snapshot reads what Observe counted: classes and per-bucket counts.
func TestRouteSnapshot(t *testing.T) {
	s := New()
	r := s.Route("r1")
	r.Observe(200, 2*time.Millisecond)
	r.Observe(204, 2*time.Millisecond)
	r.Observe(502, 20*time.Second)
	var ids []string
	s.EachRoute(func(id string, got *Route) {
		ids = append(ids, id)
		if got != r {
			t.Error("EachRoute gave another Route")
		}
	})
	if len(ids) != 1 || ids[0] != "r1" {
		t.Fatalf("EachRoute gave %v", ids)
	}
	classes, buckets := r.Snapshot()
	if classes != [5]uint64{0, 2, 0, 0, 1} {
		t.Errorf("classes = %v", classes)
	}
	if len(buckets) != len(DurationBuckets)+1 || buckets[1] != 2 || buckets[len(buckets)-1] != 1 {
		t.Errorf("buckets = %v, want 2 in (1ms, 2.5ms] and 1 in +Inf", buckets)
	}
}

// The route series are exposed as they always were: five counters by
// status class from the route's first use, and a latency histogram with
// DurationBuckets (cumulative), its sum in seconds and its count.
func TestRouteExposition(t *testing.T) {
	s := New()
	reg := prometheus.NewPedanticRegistry()
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	r := s.Route("r1")
	r.Observe(200, time.Millisecond) // on a bound: counted in its bucket
	r.Observe(201, 3*time.Millisecond)
	r.Observe(503, 20*time.Second)
	s.Route("idle")
	want := `
# HELP proxyos_route_requests_total Requests served by managed routes, by route id and status class (1xx…5xx).
# TYPE proxyos_route_requests_total counter
proxyos_route_requests_total{code="1xx",route="idle"} 0
proxyos_route_requests_total{code="2xx",route="idle"} 0
proxyos_route_requests_total{code="3xx",route="idle"} 0
proxyos_route_requests_total{code="4xx",route="idle"} 0
proxyos_route_requests_total{code="5xx",route="idle"} 0
proxyos_route_requests_total{code="1xx",route="r1"} 0
proxyos_route_requests_total{code="2xx",route="r1"} 2
proxyos_route_requests_total{code="3xx",route="r1"} 0
proxyos_route_requests_total{code="4xx",route="r1"} 0
proxyos_route_requests_total{code="5xx",route="r1"} 1
# HELP proxyos_route_request_duration_seconds Time to serve a managed route's requests, by route id.
# TYPE proxyos_route_request_duration_seconds histogram
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.001"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.0025"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.005"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.01"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.025"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.05"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.1"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.25"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="0.5"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="1"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="2.5"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="5"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="10"} 0
proxyos_route_request_duration_seconds_bucket{route="idle",le="+Inf"} 0
proxyos_route_request_duration_seconds_sum{route="idle"} 0
proxyos_route_request_duration_seconds_count{route="idle"} 0
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.001"} 1
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.0025"} 1
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.005"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.01"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.025"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.05"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.1"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.25"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="0.5"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="1"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="2.5"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="5"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="10"} 2
proxyos_route_request_duration_seconds_bucket{route="r1",le="+Inf"} 3
proxyos_route_request_duration_seconds_sum{route="r1"} 20.004
proxyos_route_request_duration_seconds_count{route="r1"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"proxyos_route_requests_total", "proxyos_route_request_duration_seconds"); err != nil {
		t.Fatal(err)
	}
}

// A route's counters hold no pointers, so the garbage collector never
// scans them: with thousands of routes, Prometheus's labelled metrics
// (some 70 heap objects a route) made most of the heap it scanned and
// cost routing with 10,000 routes a tenth of its throughput.
func TestRouteHoldsNoPointers(t *testing.T) {
	var walk func(reflect.Type) string
	walk = func(ty reflect.Type) string {
		switch ty.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.String, reflect.Interface, reflect.Chan,
			reflect.Func, reflect.UnsafePointer:
			return ty.String()
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if p := walk(ty.Field(i).Type); p != "" {
					return ty.Field(i).Name + ": " + p
				}
			}
		}
		return ""
	}
	if p := walk(reflect.TypeFor[Route]()); p != "" {
		t.Fatalf("metrics.Route holds a pointer (%s)", p)
	}
}

// Touched marks a route that counted a request since the last call, so
// the sampler reads only those; a reader that calls it before reading
// the counters misses no request, however they interleave.
func TestRouteTouched(t *testing.T) {
	r := New().Route("r1")
	if r.Touched() {
		t.Fatal("a new route is touched")
	}
	r.Observe(200, time.Millisecond)
	if !r.Touched() {
		t.Fatal("a route that counted a request is not touched")
	}
	if r.Touched() {
		t.Fatal("still touched after the mark was taken")
	}
	r.Observe(200, time.Millisecond)
	r.Observe(500, time.Millisecond)
	if !r.Touched() {
		t.Fatal("not touched again after more requests")
	}

	// Writers count while a reader follows the deltas of touched reads:
	// what it sums is every request, exactly. (A stress check: the
	// interleavings that would lose a request last nanoseconds.)
	const writers, each = 4, 20000
	r = New().Route("r2")
	var seen uint64
	var last [5]uint64
	read := func() {
		if !r.Touched() {
			return
		}
		classes, _ := r.Snapshot()
		seen += classes[1] - last[1]
		last = classes
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				r.Observe(200, time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			read()
		}
	}
	read()
	if seen != writers*each {
		t.Fatalf("the touched reads saw %d requests, want %d", seen, writers*each)
	}
}
