package bench

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/proxyos/caddy-proxyos/internal/route"
	"github.com/proxyos/caddy-proxyos/proxyos"
)

// limitedHost is the static route with a rate limit.
const limitedHost = "limited.bench.test"

// BenchmarkRouteRateLimit times the proxyos_routes handler serving the
// static route, and the same route with a rate limit per client IP that
// the benchmark never reaches (a billion requests per second): the
// limiter's cost on a request of a known client, which allocates
// nothing.
//
//   - plain: the static route;
//   - rate_limit: the same with rate_limit {requests: 1e9, per: 1s}.
func BenchmarkRouteRateLimit(b *testing.B) {
	app := loadProxyos(b, filepath.Join(workDir, "ratelimit.db"))
	ctx := context.Background()
	limited := staticRoute()
	limited.Name, limited.Hosts = "limited", []string{limitedHost}
	limited.RateLimit = &route.RateLimit{Requests: 1_000_000_000, Per: "1s"}
	for _, r := range []*route.Route{staticRoute(), limited} {
		if _, err := app.Routes().Create(ctx, r, benchActor); err != nil {
			b.Fatalf("creating route %s: %v", r.Hosts[0], err)
		}
	}
	for _, c := range []struct{ name, host string }{{"plain", staticHost}, {"rate_limit", limitedHost}} {
		b.Run(c.name, func(b *testing.B) {
			h := &proxyos.RoutesHandler{}
			if err := h.Provision(caddy.ActiveContext()); err != nil {
				b.Fatalf("provisioning proxyos_routes: %v", err)
			}
			w, req := preparedRequest(func(http.Header) {})
			req.Host = c.host
			caddyhttp.SetVar(req.Context(), caddyhttp.ClientIPVarKey, "192.0.2.1")
			served := func() {
				var fellThrough bool
				miss := caddyHandler(func() { fellThrough = true })
				if err := h.ServeHTTP(w, req, miss); err != nil || fellThrough || w.h.Get("Content-Type") != "text/plain" || w.h.Get("Retry-After") != "" {
					b.Fatalf("%s not served: error %v, fell through %v, headers %v", c.host, err, fellThrough, w.h)
				}
				w.reset()
			}
			served()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h.ServeHTTP(w, req, nextHandler) //nolint:errcheck // checked above
				w.reset()
			}
			b.StopTimer()
			served()
		})
	}
}
