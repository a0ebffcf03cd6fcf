package session

import (
	"context"
	"testing"
)

// BenchmarkSessionVerify times Cache.Verify of a valid session that is
// in the cache: the token's MAC check and the cache lookup, what every
// gated request pays. bench/run.sh runs it beside the gate benchmarks of
// bench/ and their basic_auth baseline (verify=basic_auth).
//
// Target (DESIGN 12): ≤ 1 µs and 0 allocs/op.
func BenchmarkSessionVerify(b *testing.B) {
	b.Run("verify=proxyos", func(b *testing.B) {
		f := newSessionFixture(b)
		cookie, _ := f.create(b)
		ctx := context.Background()
		if e, reason, err := f.cache.Verify(ctx, f.ring, cookie, testIdle); e == nil || reason != "" || err != nil {
			b.Fatalf("verify: entry %v, reason %q, error %v; want a valid session", e, reason, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, reason, _ := f.cache.Verify(ctx, f.ring, cookie, testIdle); reason != "" {
				b.Fatalf("session refused: %s", reason)
			}
		}
	})
}
