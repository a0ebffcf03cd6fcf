package main

import (
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	hundredToOne := func(n int) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = float64(n - i) // unsorted on purpose
		}
		return vs
	}
	for _, c := range []struct {
		name string
		vs   []float64
		p    float64
		want float64
	}{
		{"p99 of 200 is the third largest", hundredToOne(200), 99, 198},
		{"p99 of 100 is the second largest", hundredToOne(100), 99, 99},
		{"p99 of 99 is the largest", hundredToOne(99), 99, 99},
		{"p99 of 20 is the largest", hundredToOne(20), 99, 20},
		{"p50 of 200", hundredToOne(200), 50, 100},
		{"one sample", []float64{7}, 99, 7},
		{"none", nil, 99, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.vs, c.p); got != c.want {
				t.Errorf("percentile(p%g) = %g, want %g", c.p, got, c.want)
			}
		})
	}
}

// TestClusterSection: the verdicts of section 7 follow p99 (not the
// median) against 50 ms, and the paired throughput ratio against 0.97;
// missing figures are not met.
func TestClusterSection(t *testing.T) {
	fast := make([]float64, 200)
	slowTail := make([]float64, 200)
	for i := range fast {
		fast[i], slowTail[i] = 2, 2
	}
	slowTail[197], slowTail[198], slowTail[199] = 60, 70, 80 // p99 = 60 ms, median 2 ms
	for _, c := range []struct {
		name        string
		s           samples
		summary     []string // substrings of the two Summary rows
		notInReport string
	}{
		{"met", samples{
			"propagation/route/2": fast, "propagation/session/3": fast,
			"rps/cluster/gate/single": {1000, 1000}, "rps/cluster/gate/cluster": {1000, 1000},
			"rps/cluster/route/single": {1000, 1000}, "rps/cluster/route/cluster": {1000, 1000},
		}, []string{"worst p99: 2.00 ms", "| met |", "gate: 1.00; route: 1.00 | single node: gate 1000 req/s; route 1000 req/s | met"}, "not met"},
		{"slow tail", samples{
			"propagation/route/2": fast, "propagation/user/3": slowTail,
			"rps/cluster/gate/single": {1000}, "rps/cluster/gate/cluster": {900},
		}, []string{"worst p99: 60.00 ms (user disabled, 3 nodes) | single node: in effect at the response | **not met** |",
			"gate: 0.90 | single node: gate 1000 req/s | **not met** |"}, ""},
		{"nothing measured", samples{}, []string{"| not measured | single node: in effect at the response | **not met** (not measured) |",
			"| not measured | not measured | **not met** (not measured) |"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &report{s: c.s, meta: map[string]string{"cluster_gap": "250us", "cluster_changes": "200"}}
			r.clusterSection()
			out := r.b.String()
			if len(r.summary) != 2 {
				t.Fatalf("%d Summary rows, want 2", len(r.summary))
			}
			rows := "| " + strings.Join(r.summary[0], " | ") + " |\n| " + strings.Join(r.summary[1], " | ") + " |"
			for _, want := range c.summary {
				if !strings.Contains(rows, want) {
					t.Errorf("Summary rows lack %q:\n%s", want, rows)
				}
			}
			if c.notInReport != "" && strings.Contains(out+rows, c.notInReport) {
				t.Errorf("the report says %q:\n%s\n%s", c.notInReport, out, rows)
			}
		})
	}
}

// TestRulesThroughput: the access-rules row pairs each run of the gate
// with rules with the same run of the gate without them.
func TestRulesThroughput(t *testing.T) {
	for _, c := range []struct {
		name string
		s    samples
		want string
	}{
		{"met", samples{"rps/auth/proxyos_auth": {1000, 2000, 1000}, "rps/auth/proxyos_auth_rules": {990, 1960, 980}}, "proxyos_auth with 5 rules: 0.98 | proxyos_auth: 1000 req/s (1000 req/s–2000 req/s) | met"},
		// Unpaired, the medians would be 1000/1000; paired, 0.90 each run.
		{"unmet", samples{"rps/auth/proxyos_auth": {1000, 1100, 2000}, "rps/auth/proxyos_auth_rules": {900, 990, 1800}}, "proxyos_auth with 5 rules: 0.90 | proxyos_auth: 1100 req/s (1000 req/s–2000 req/s) | **not met**"},
		{"not measured", samples{}, "**not met** (not measured)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &report{s: c.s, meta: map[string]string{}}
			r.rulesThroughput()
			if len(r.summary) != 1 {
				t.Fatalf("%d Summary rows, want 1", len(r.summary))
			}
			if row := strings.Join(r.summary[0], " | "); !strings.Contains(row, c.want) {
				t.Errorf("Summary row %q lacks %q", row, c.want)
			}
		})
	}
}

// TestRoutingRateLimitRows: section 4 shows the rate-limited route
// beside the plain one, with the paired ratio, or says it was not
// measured.
func TestRoutingRateLimitRows(t *testing.T) {
	for _, c := range []struct {
		name string
		s    samples
		want []string
	}{
		{"measured", samples{
			"rps/routing/proxyos_1": {1000, 2000}, "rps/routing/proxyos_ratelimit": {950, 1900},
		}, []string{"| without a rate limit | 1500 req/s (1000 req/s–2000 req/s) | — |",
			"| with a rate limit | 1425 req/s (950 req/s–1900 req/s) | 0.95 (0.95–0.95) |"}},
		{"not measured", samples{"rps/routing/proxyos_1": {1000}},
			[]string{"| with a rate limit | " + notMeasured + " | " + notMeasured + " |"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &report{s: c.s, meta: map[string]string{"routes": "10000", "route_host": "r5000.bench.test"}}
			r.routingSection()
			out := r.b.String()
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestLocationsThroughput: the locations row pairs each run of the route
// with locations with the same run of the route without them.
func TestLocationsThroughput(t *testing.T) {
	for _, c := range []struct {
		name string
		s    samples
		want string
	}{
		{"met", samples{"rps/routing/proxyos_1": {1000, 2000, 1000}, "rps/routing/proxyos_locations": {990, 1960, 980}}, "with 4 locations: 0.98 | without: 1000 req/s (1000 req/s–2000 req/s) | met"},
		{"unmet", samples{"rps/routing/proxyos_1": {1000, 1100, 2000}, "rps/routing/proxyos_locations": {900, 990, 1800}}, "with 4 locations: 0.90 | without: 1100 req/s (1000 req/s–2000 req/s) | **not met**"},
		{"not measured", samples{}, "**not met** (not measured)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &report{s: c.s, meta: map[string]string{}}
			r.locationsThroughput()
			if len(r.summary) != 1 {
				t.Fatalf("%d Summary rows, want 1", len(r.summary))
			}
			if row := strings.Join(r.summary[0], " | "); !strings.Contains(row, c.want) {
				t.Errorf("Summary row %q lacks %q", row, c.want)
			}
		})
	}
}
