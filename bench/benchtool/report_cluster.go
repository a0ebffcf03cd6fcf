package main

import (
	"fmt"
	"strings"
	"time"
)

// propagationRows describes each kind of change that benchtool cluster
// times (see propagation.go), in the report's order.
var propagationRows = []struct{ kind, change, written, shows string }{
	{"route", "route changed",
		"`PUT /proxyos/routes/{id}` on the admin API (a static route's body)",
		"serves the new body"},
	{"session", "session revoked",
		"`POST /api/auth/logout` on the dashboard API, once each other node cached the session (one gated request)",
		"answers 401 at its `proxyos_auth` gate"},
	{"user", "user disabled",
		"`PUT /proxyos/users/{email}` `{\"disabled\": true}` on the admin API, the user enabled again and logged in before each change, the session cached on each other node",
		"answers the session 401 at its gate"},
	{"key", "API key revoked",
		"`DELETE /api/keys/{id}` on the dashboard API, a new key used once on every node before each change",
		"answers `GET /api/routes` with the key 401"},
}

// clusterSection reports benchtool cluster: propagation per kind and
// node count, and the throughput of a cluster node against a single one.
func (r *report) clusterSection() {
	m := r.meta
	r.p("## 7. Cluster mode (PostgreSQL, 2 and 3 nodes)")
	r.p("")
	r.p("Real Caddy processes of this build, each on its own loopback address (127.0.0.2, 127.0.0.3, …) on the same ports, on a fresh database of one PostgreSQL server (%s): a change travels from node to node through the change log and `LISTEN/NOTIFY`. Every change is written on node A. A figure is the time from the writing request's response to the moment every other node shows the change, each other node polled at once by a poller of its own (a keep-alive connection, %s between polls), so it includes one poll's round trip and up to one pause. %s changes of each kind per node count, one of each kind per round (the kinds see the same moments of the machine), after one untimed round; p99 by nearest rank (of 200 samples the third largest; of fewer than 100, the largest). On a single node every one of these changes is in effect when the response arrives.",
		orDash(m["postgres_version"]), gapText(m["cluster_gap"]), orDash(m["cluster_changes"]))
	r.p("")
	for _, k := range propagationRows {
		r.p("- *%s*: written through %s; each other node %s.", k.change, k.written, k.shows)
	}
	r.p("")
	var rows [][]string
	worst, worstAt, sv, measured := 0.0, "", metText, false
	for _, k := range propagationRows {
		for _, n := range r.counts("propagation/"+k.kind+"/", "") {
			vs := r.s[fmt.Sprintf("propagation/%s/%d", k.kind, n)]
			st, _ := statOf(vs)
			p99 := percentile(vs, 99)
			v := closeTo(verdict(p99 <= targetPropagateMs, true), p99, targetPropagateMs)
			sv, measured = combine(sv, v), true
			if p99 >= worst {
				worst, worstAt = p99, fmt.Sprintf("%s, %d nodes", k.change, n)
			}
			rows = append(rows, []string{k.change, fmt.Sprint(n), fmt.Sprint(st.n),
				fmtMs(percentile(vs, 50)), fmtMs(p99), fmtMs(st.max), "p99 ≤ 50 ms", v})
		}
	}
	r.table([]string{"Change", "Nodes", "Changes", "p50", "p99", "max", "target", "verdict"}, rows)
	figure := notMeasured
	if measured {
		figure = fmt.Sprintf("worst p99: %s (%s)", fmtMs(worst), worstAt)
	} else {
		sv = verdict(false, false)
	}
	r.summarize("cluster propagation (2–3 nodes): route change served, session, user and key refused on every other node ≤ 50 ms p99",
		figure, "single node: in effect at the response", sv)

	r.p("Throughput with cluster mode: requests/s through node B of the 2-node cluster, whose session and route were made on node A and reached node B through the change log, against a single node of the same binary and config on SQLite (no feed), both running throughout. *gate*: `proxyos_auth` with a cached session + `reverse_proxy` to the upstream; *route*: a managed proxy route to it (`proxyos_routes`). Runs interleaved (single node, then cluster node, for each), the ratio taken per run, median (min–max).")
	r.p("")
	rows = nil
	var figs, bases []string
	tv, tputMeasured := metText, false
	for _, c := range []struct{ key, label string }{{"gate", "gate (`proxyos_auth` + `reverse_proxy`)"}, {"route", "managed route"}} {
		single, cl := "rps/cluster/"+c.key+"/single", "rps/cluster/"+c.key+"/cluster"
		st, ok := r.s.pairedRatios(cl, single)
		ratio := notMeasured
		if ok {
			ratio = st.format(fmtRatio)
			figs = append(figs, c.key+": "+fmtRatio(st.med))
			bases = append(bases, c.key+" "+fmtRate(r.med(single)))
		}
		v := closeTo(verdict(ok && st.med >= targetClusterTput, ok), st.med, targetClusterTput)
		tv, tputMeasured = combine(tv, v), tputMeasured || ok
		rows = append(rows, []string{c.label, r.fig(single, fmtRate), r.fig(cl, fmtRate), ratio, "≥ 0.97", v})
	}
	r.table([]string{"", "single node (SQLite)", "2-node cluster, node B (PostgreSQL)", "ratio cluster / single", "target", "verdict"}, rows)
	figure, base := notMeasured, notMeasured
	if tputMeasured {
		figure, base = strings.Join(figs, "; "), "single node: "+strings.Join(bases, "; ")
	} else {
		tv = verdict(false, false)
	}
	r.summarize("gate and routing throughput with cluster mode ≥ 0.97 of single node", figure, base, tv)
}

// med is the median of a sample set (0 if there is none).
func (r *report) med(name string) float64 {
	st, _ := r.s.stat(name)
	return st.med
}

// gapText renders the pause between polls given to benchtool cluster.
func gapText(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return orDash(s)
	}
	return fmtNs(float64(d.Nanoseconds()))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
