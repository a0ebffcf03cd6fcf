package router

import (
	"fmt"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkRouteLookup times Table.Lookup, finding the live route of a
// request's host, with 1 and 10,000 routes in the table (published
// without provisioning: the lookup reads only the host table), for a
// host among them. bench/run.sh runs it beside bench/'s HTTP figures.
//
// Target (DESIGN 12): routing with 10,000 hosts ≥ 0.95 of the throughput
// with 1; this shows whether the lookup depends on the count at all.
func BenchmarkRouteLookup(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("lookup/routes=%d", n), func(b *testing.B) {
			rt := NewTable(rtuCaddyContext(b), zap.NewNop(), rtuGuard())
			b.Cleanup(rt.Stop)
			for i := range n {
				lr, _ := rtuFake(fmt.Sprintf("r%d", i), fmt.Sprintf("r%d.bench.test", i))
				rtuPublish(rt, lr.Route.ID, lr)
			}
			host := fmt.Sprintf("r%d.bench.test", n/2)
			if rt.Lookup(host) == nil || rt.Lookup("unknown.bench.test") != nil {
				b.Fatal("lookup: wrong answers")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if rt.Lookup(host) == nil {
					b.Fatal("no route")
				}
			}
		})
	}
}
