#!/usr/bin/env bash
# Runs the whole test suite: vet, gofmt, staticcheck, then every package's
# tests (unit, store on SQLite and PostgreSQL, Caddyfile adapt, integration
# with real Caddy processes, browser tests with headless Chromium), then a
# short run of each fuzz target and the benchmarks' quick mode. Fails on any skipped test: nothing may be
# skipped for a missing tool.
#
# Needs Go, Chromium, wrk and a PostgreSQL server (scripts/deps.sh
# installs them); PROXYOS_TEST_POSTGRES overrides the server's connection URL.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROXYOS_TEST_POSTGRES:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export PROXYOS_TEST_POSTGRES

# Caddy reads these early: keep tests out of the real home.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
status=0
go test -count=1 -v -timeout 20m ./... >"$tmp/test.log" 2>&1 || status=$?
grep -E '^(ok|FAIL|---|panic:)|^\s+--- FAIL' "$tmp/test.log" | grep -v -- '--- PASS' || true
if [ "$status" -ne 0 ]; then
	echo "== failures (test output without Caddy's JSON log lines)"
	grep -v '^\s*{"level"' "$tmp/test.log" | grep -B 3 -A 25 -E -- '--- FAIL|^panic:|\[build failed\]' | head -n 300
	# With -v, parallel tests print their messages where they happen, far
	# from their FAIL line: show every test message too.
	echo "== test messages"
	grep -E '^\s+[A-Za-z0-9_]+_test\.go:[0-9]+: ' "$tmp/test.log" | grep -v 'caddy log:$' | head -n 200
	exit "$status"
fi
if grep -q -- '--- SKIP' "$tmp/test.log"; then
	echo "skipped tests are not allowed:" >&2
	grep -B2 -A3 -- '--- SKIP' "$tmp/test.log" >&2
	exit 1
fi
passed=$(grep -c -- '--- PASS' "$tmp/test.log" || true)

echo "== go test -race (plain-Go packages)"
go test -count=1 -race ./proxyos/... ./internal/...

echo "== fuzz (5s each)"
grep -rlE '^func Fuzz' --include='*_test.go' . | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for fn in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | cut -d' ' -f2); do
		echo "-- $pkg $fn"
		# On a loaded machine the fuzzing engine can miss its own deadline
		# ("context deadline exceeded" with no failing input): that run is
		# repeated once. A failing input always fails.
		for attempt in 1 2; do
			if go test -run='^$' -fuzz="^${fn}\$" -fuzztime=5s "$pkg" >"$tmp/fuzz.log" 2>&1; then
				break
			fi
			if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$tmp/fuzz.log" && ! grep -q 'Failing input written' "$tmp/fuzz.log"; then
				echo "   (the fuzzing engine missed its deadline; once more)"
				continue
			fi
			cat "$tmp/fuzz.log"
			exit 1
		done
	done
done

echo "== benchmarks, quick mode (figures only, no timed assertions)"
bash bench/run.sh --quick >"$tmp/bench.log" 2>&1 || { tail -n 60 "$tmp/bench.log"; exit 1; }
tail -n 5 "$tmp/bench.log"

echo "$passed passed, 0 failed"
