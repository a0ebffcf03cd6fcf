// Package bench measures proxyos against Caddy baselines. Its Go
// benchmarks (go test -bench . -benchmem ./bench/) run in process; run.sh
// drives real Caddy processes with wrk and writes RESULTS.md. See
// README.md for how to run each part and how to read the figures.
package bench
