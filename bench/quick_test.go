package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestQuick runs every in-process benchmark a few iterations with tiny
// route counts (BENCH_QUICK=1), in a child run of this test binary, so
// that `go test ./...` keeps the benchmarks working. It asserts nothing
// about time: a benchmark fails by itself when what it measures is wrong
// (a refused session, a missing route, a failed apply), and this test
// fails when any benchmark fails or one that RESULTS.md reports is gone.
func TestQuick(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=.", "-test.benchtime=3x", "-test.benchmem", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "BENCH_QUICK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quick benchmarks failed: %v\n%s", err, out)
	}
	for _, name := range []string{
		"BenchmarkSessionVerify/gate=none",
		"BenchmarkSessionVerify/gate=proxyos_auth-",
		"BenchmarkSessionVerify/gate=proxyos_auth_route",
		"BenchmarkSessionVerify/gate=proxyos_auth_rules",
		"BenchmarkSessionVerify/gate=basic_auth",
		"BenchmarkSessionVerify/verify=basic_auth",
		"BenchmarkRouteLookup/handler/routes=100-",
		"BenchmarkRouteLookup/handler-locations/routes=100-",
		"BenchmarkApplyRoute/proxyos/routes=100-",
		"BenchmarkApplyRoute/caddy_load/routes=100-",
		"BenchmarkStartup/proxyos/routes=100-",
		"BenchmarkStartup/caddy_json/routes=100-",
	} {
		if !strings.Contains(string(out), name) {
			t.Errorf("no result for %s in:\n%s", name, out)
		}
	}
	if !strings.Contains(string(out), "B/route") {
		t.Errorf("BenchmarkStartup reported no B/route:\n%s", out)
	}
}
