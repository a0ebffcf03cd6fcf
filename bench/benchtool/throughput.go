package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkRate finds the throughput in wrk's output.
var wrkRate = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)

// throughput runs wrk against the gate (a cached session) and a managed
// proxy route, on node B of the cluster and on single, the same binary
// and config on SQLite, in interleaved runs: run 1 of every scenario,
// then run 2, … Samples: rps/cluster/<gate|route>/<single|cluster>.
func (c *cluster) throughput(ctx context.Context, single *node, runs int, d time.Duration, threads, conns int) error {
	a, b := c.nodes[0], c.nodes[1]
	singleCookie, err := c.setup(single)
	if err != nil {
		return err
	}
	route := map[string]any{"name": tputHost, "hosts": []string{tputHost}, "kind": "proxy", "tls": "off",
		"upstreams": []string{"http://" + c.upstream}}
	for _, n := range []*node{single, a} {
		if err := c.admin(n, http.MethodPost, "/proxyos/routes", route, http.StatusCreated, nil); err != nil {
			return err
		}
	}
	// The cluster's route and session are made on node A and served by
	// node B, as in a cluster behind a load balancer.
	clusterCookie, err := c.login(a, adminEmail, adminPassword)
	if err != nil {
		return err
	}
	if _, err := c.until([]*node{b}, time.Now(), c.serves(tputHost, "ok")); err != nil {
		return err
	}
	type scenario struct {
		name       string
		n          *node
		url, check string // for wrk (with h); checked first (the same request)
		h          string // a header line
	}
	var scenarios []scenario
	for _, s := range []struct {
		where  string
		n      *node
		cookie string
	}{{"single", single, singleCookie}, {"cluster", b, clusterCookie}} {
		scenarios = append(scenarios,
			scenario{"gate/" + s.where, s.n, fmt.Sprintf("http://%s:%d/", s.n.ip, c.ports[1]), c.gateURL(), "Cookie: proxyos_session=" + s.cookie},
			scenario{"route/" + s.where, s.n, fmt.Sprintf("http://%s:%d/", s.n.ip, c.ports[2]), c.routeURL(tputHost), "Host: " + tputHost})
	}
	// Gate and route, single then cluster: each ratio's pair is taken
	// moments apart.
	order := []int{0, 2, 1, 3}
	for _, i := range order {
		s := scenarios[i]
		h := http.Header{}
		if k, v, _ := strings.Cut(s.h, ": "); k != "Host" { // the check's URL has the host
			h.Set(k, v)
		}
		status, raw, err := c.send(s.n, http.MethodGet, s.check, nil, h)
		if err != nil || status != http.StatusOK || string(raw) != "ok" {
			return fmt.Errorf("%s: %s on %s answered %d %.200q %v, want 200 ok", s.name, s.check, s.n.name, status, raw, err)
		}
	}
	for run := 1; run <= runs; run++ {
		for _, i := range order {
			s := scenarios[i]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rps, err := wrk(ctx, s.url, s.h, d, threads, conns)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			sample("rps/cluster/"+s.name, rps, "req/s")
			fmt.Fprintf(os.Stderr, "   run %d %-30s %10.2f req/s\n", run, "cluster throughput "+s.name, rps)
		}
	}
	return nil
}

// wrk runs wrk once, keep-alive, and returns its requests/s; any non-2xx
// answer fails the run.
func wrk(ctx context.Context, url, header string, d time.Duration, threads, conns int) (float64, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "-H", header, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk got error responses:\n%s", out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
