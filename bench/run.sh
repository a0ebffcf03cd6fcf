#!/usr/bin/env bash
# Benchmarks proxyos against Caddy baselines, in process (go test -bench)
# and over HTTP against real Caddy processes driven by wrk, and writes
# bench/RESULTS.md. Every figure has its baseline measured in the same run.
#
#	bench/run.sh           full run (about 10 minutes), writes bench/RESULTS.md
#	bench/run.sh --quick   tiny counts and ~1 s runs (CI: keeps the scripts
#	                       working); writes the report to a temporary file
#	                       and prints it, unless RESULTS is set
#
# Environment: WRK_THREADS (default 1), WRK_CONNS (default 32),
# RESULTS (report path), KEEP=1 (keep the temporary directory and logs),
# PROXYOS_TEST_POSTGRES (the PostgreSQL server of the cluster benchmarks,
# on which they create and drop a database of their own; default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, as
# scripts/test.sh).
# Needs Go, wrk (installed with apt-get when missing and run as root) and
# a PostgreSQL server.
# oauth2-proxy, the realistic forward_auth peer, is built by
# bench/oauth2proxy.sh into the temporary directory: about 50 s the first
# time on 2 cores (module download and compile), then the Go build cache
# makes it a link of a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=full
case "${1:-}" in
--quick) mode=quick ;;
"") ;;
*)
	echo "usage: bench/run.sh [--quick]" >&2
	exit 2
	;;
esac

if [ "$mode" = full ]; then
	runs=5 duration=5 apply_counts=(10 1000 10000) apply_reps=20 load_reps=5 startup_reps=3
	cluster_changes=200 cluster_gap=250us
	gobench_args=(-count 5 -benchtime 500ms)
	results=${RESULTS:-$root/bench/RESULTS.md}
else
	runs=2 duration=1 apply_counts=(10 30 100) apply_reps=3 load_reps=2 startup_reps=1
	cluster_changes=20 cluster_gap=250us
	gobench_args=(-count 1 -benchtime 20x)
	export BENCH_QUICK=1
fi
routes=${apply_counts[-1]}
wrk_threads=${WRK_THREADS:-1}
wrk_conns=${WRK_CONNS:-32}
secret=bench-secret-0123456789-abcdefghij
: "${PROXYOS_TEST_POSTGRES:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export PROXYOS_TEST_POSTGRES

if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing wrk"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		echo "wrk is missing: install Debian's wrk package" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d /tmp/proxyos-bench.XXXXXX)
declare -A pid_of=()
cleanup() {
	for name in "${!pid_of[@]}"; do
		kill -KILL "${pid_of[$name]}" 2>/dev/null || true
	done
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
if [ "$mode" = quick ]; then
	results=${RESULTS:-$tmp/RESULTS.md}
fi
samples=$tmp/samples.tsv
: >"$samples"

echo "== building caddy and benchtool ($mode mode, work dir $tmp)"
caddy=$tmp/caddy
tool=$tmp/benchtool
go build -o "$caddy" ./cmd/caddy
go build -o "$tool" ./bench/benchtool
# The cluster benchmarks run last: find out now that they cannot.
if ! pg_version=$("$tool" cluster -check); then
	echo "the cluster benchmarks need a PostgreSQL server on which they may create databases: start one, or set PROXYOS_TEST_POSTGRES to its postgres:// URL" >&2
	exit 1
fi
echo "== building oauth2-proxy (bench/oauth2proxy.sh)"
o2p=$tmp/oauth2-proxy
bench/oauth2proxy.sh build "$o2p"

{
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'mode\t%s\n' "$mode"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	printf 'loadavg\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'caddy_version\t%s\n' "$("$caddy" version | cut -d' ' -f1)"
	printf 'go_version\t%s\n' "$(go env GOVERSION)"
	printf 'oauth2_proxy_version\t%s\n' "$("$o2p/oauth2-proxy" --version)"
	printf 'postgres_version\t%s\n' "$pg_version"
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit + uncommitted changes"; fi
	printf 'commit\t%s\n' "$commit"
	printf 'runs\t%s\n' "$runs"
	printf 'duration\t%ss\n' "$duration"
	printf 'wrk\t-t%s -c%s\n' "$wrk_threads" "$wrk_conns"
	printf 'routes\t%s\n' "$routes"
	printf 'apply_span\t%s\n' "$((apply_counts[-1] / apply_counts[0]))"
	printf 'cluster_changes\t%s\n' "$cluster_changes"
	printf 'cluster_gap\t%s\n' "$cluster_gap"
	printf 'gobench\tgo test -bench . -benchmem %s%s (./bench/, and the in-package benchmarks of ./internal/session/, ./internal/router/ and ./internal/access/)\n' "${gobench_args[*]}" "$([ "$mode" = quick ] && echo ' (BENCH_QUICK=1)')"
} >"$tmp/meta.tsv"

# ---------------------------------------------------------------- in process
echo "== go test -bench (in process)"
go test -run '^$' -bench . -benchmem "${gobench_args[@]}" -timeout 60m ./bench/ | tee "$tmp/gobench.txt"
# The hot paths alone are in-package benchmarks of their packages.
go test -p 1 -run '^$' -bench '^(BenchmarkSessionVerify|BenchmarkRouteLookup|BenchmarkAccessDecide)$' -benchmem "${gobench_args[@]}" -timeout 20m \
	./internal/session/ ./internal/router/ ./internal/access/ | tee -a "$tmp/gobench.txt"
for name in BenchmarkSessionVerify/verify=proxyos BenchmarkRouteLookup/lookup/routes= BenchmarkAccessDecide; do
	if ! grep -q "^$name" "$tmp/gobench.txt"; then
		echo "no result for $name" >&2
		exit 1
	fi
done

# ---------------------------------------------------------------- processes
mapfile -t ports < <("$tool" ports -n 17)
up=${ports[0]} authp=${ports[1]} front_admin=${ports[2]} dash=${ports[3]} plain=${ports[4]}
gate=${ports[5]} basic=${ports[6]} fwd=${ports[7]} routes1=${ports[8]} nat1=${ports[9]}
px_admin=${ports[10]} pxp=${ports[11]} nat_admin=${ports[12]} natp=${ports[13]}
o2p_port=${ports[14]} fwd_o2p=${ports[15]} gate_rules=${ports[16]}

# global prints the global options block shared by every Caddyfile.
global() { # admin-address [extra-lines]
	printf '{\n\tadmin %s\n\tdefault_bind 127.0.0.1\n\tpersist_config off\n\tlog {\n\t\tlevel WARN\n\t}\n%s\n}\n\n' "$1" "${2:-}"
}

# start_caddy runs Caddy in the background with its own data and config
# directories; the config is a Caddyfile or, when it ends in .json, JSON.
start_caddy() { # name config
	local name=$1 config=$2 args=(--adapter caddyfile)
	case "$config" in *.json) args=() ;; esac
	mkdir -p "$tmp/$name"
	XDG_DATA_HOME=$tmp/$name/data XDG_CONFIG_HOME=$tmp/$name/config HOME=$tmp/$name \
		"$caddy" run --config "$config" "${args[@]}" >>"$tmp/$name.log" 2>&1 &
	pid_of[$name]=$!
}

# stop_caddy ends one Caddy we started (SIGTERM, then SIGKILL after 30 s).
stop_caddy() { # name
	local pid=${pid_of[$1]}
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "pid_of[$1]"
}

# ready waits until a URL of a Caddy we started answers (status 200
# unless given).
ready() { # name url [host [status]]
	if ! "$tool" wait -pid "${pid_of[$1]}" -url "$2" -host "${3:-}" -status "${4:-200}" -timeout 5m; then
		echo "caddy $1 did not come up; its log:" >&2
		tail -n 40 "$tmp/$1.log" >&2
		exit 1
	fi
}

echo "== upstream and auth servers (a Caddy answering 200; oauth2-proxy)"
global off >"$tmp/upstream.Caddyfile"
printf 'http://:%s {\n\trespond "ok"\n}\n' "$up" >>"$tmp/upstream.Caddyfile"
global off >"$tmp/authsrv.Caddyfile"
printf 'http://:%s {\n\theader X-Bench-User bench\n\trespond 200\n}\n' "$authp" >>"$tmp/authsrv.Caddyfile"
start_caddy upstream "$tmp/upstream.Caddyfile"
start_caddy authsrv "$tmp/authsrv.Caddyfile"
ready upstream "http://127.0.0.1:$up/"
ready authsrv "http://127.0.0.1:$authp/"
# oauth2proxy.sh logs in with a random htpasswd password and checks that
# /oauth2/auth answers 202 with the session cookie and 401 without; it
# prints the pid, then the Cookie header line (whose value contains "|":
# it stays the last field of its scenario line). A command substitution,
# not a process substitution, so that a failed start ends the run.
o2p_out=$(CADDY=$caddy bench/oauth2proxy.sh start "$o2p" "$o2p_port")
pid_of[oauth2proxy]=${o2p_out%%$'\n'*}
o2p_cookie=${o2p_out#*$'\n'}
# What copy_headers has to copy: with an htpasswd login the session has a
# user but no email, so only X-Auth-Request-User is set.
o2p_headers=$(curl -sS -D - -o /dev/null -H "$o2p_cookie" "http://127.0.0.1:$o2p_port/oauth2/auth" | tr -d '\r')
if ! grep -qix 'X-Auth-Request-User: bench' <<<"$o2p_headers"; then
	echo "oauth2-proxy: /oauth2/auth with the session cookie set no X-Auth-Request-User: bench" >&2
	exit 1
fi

echo "== native configs (Caddyfile site blocks, adapted to JSON)"
for n in "${apply_counts[@]}"; do
	for v in a b; do
		"$tool" native -n "$n" -port "$natp" -upstream "127.0.0.1:$up" -admin "127.0.0.1:$nat_admin" -version "$v" >"$tmp/native-$n-$v.Caddyfile"
		"$caddy" adapt --config "$tmp/native-$n-$v.Caddyfile" --adapter caddyfile >"$tmp/native-$n-$v.json" 2>/dev/null
	done
done
host=$("$tool" middle -config "$tmp/native-$routes-a.json")
printf 'route_host\t%s\n' "$host" >>"$tmp/meta.tsv"
echo "routing throughput host: $host"

echo "== front: reverse_proxy alone, behind proxyos_auth (and with 5 access rules), basic_auth, forward_auth to Caddy and to oauth2-proxy; 1 managed route; 1 site block"
hash=$("$caddy" hash-password --plaintext bench-password-0123)
{
	global "127.0.0.1:$front_admin" "$(printf '\tproxyos {\n\t\tsecret %s\n\t\tdatabase sqlite %s\n\t\turl http://127.0.0.1:%s\n\t}\n' "$secret" "$tmp/front/proxyos.db" "$dash")"
	printf 'http://:%s {\n\tproxyos_dashboard\n}\n\n' "$dash"
	printf 'http://:%s {\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$plain" "$up"
	printf 'http://:%s {\n\tproxyos_auth\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$gate" "$up"
	# The same gate with five access rules, none matching the benchmark's
	# request, so each is evaluated before the login (DESIGN: ≥ 0.97 of
	# the gate without them).
	printf 'http://:%s {\n\tproxyos_auth {\n\t\tallow /health\n\t\tallow /hooks/* POST\n\t\tdeny /admin/*\n\t\tallow 192.168.0.0/16 10.0.0.0/8\n\t\tdeny *.php\n\t}\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$gate_rules" "$up"
	printf 'http://:%s {\n\tbasic_auth {\n\t\tbench %s\n\t}\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$basic" "$hash" "$up"
	printf 'http://:%s {\n\tforward_auth 127.0.0.1:%s {\n\t\turi /auth\n\t\tcopy_headers X-Bench-User\n\t}\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$fwd" "$authp" "$up"
	printf 'http://:%s {\n\tforward_auth 127.0.0.1:%s {\n\t\turi /oauth2/auth\n\t\tcopy_headers X-Auth-Request-User X-Auth-Request-Email\n\t}\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$fwd_o2p" "$o2p_port" "$up"
	printf 'http://:%s {\n\tproxyos_routes\n\trespond "no route" 404\n}\n\n' "$routes1"
	printf 'http://%s:%s {\n\treverse_proxy 127.0.0.1:%s\n}\n' "$host" "$nat1" "$up"
} >"$tmp/front.Caddyfile"
start_caddy front "$tmp/front.Caddyfile"
ready front "http://127.0.0.1:$plain/"
cookie=$("$tool" session -admin "127.0.0.1:$front_admin" -dash "http://127.0.0.1:$dash")
"$tool" seed -admin "127.0.0.1:$front_admin" -upstream "http://127.0.0.1:$up" -host "$host"
# The same route with a rate limit per client IP far above what wrk
# sends: every request is counted, none refused.
"$tool" seed -admin "127.0.0.1:$front_admin" -upstream "http://127.0.0.1:$up" -host "ratelimit.$host" -rate-limit 1000000000
# The route of "routing with locations": four locations to the same
# upstream; the request's path matches the third most specific.
loc_host=locations.bench.test
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$front_admin/proxyos/routes" -d "$(printf '{"name":"locations","hosts":["%s"],"kind":"proxy","tls":"off","upstreams":["http://127.0.0.1:%s"],"locations":[{"path":"/exact","upstreams":["http://127.0.0.1:%s"]},{"path":"/api/v1/users/*","upstreams":["http://127.0.0.1:%s"]},{"path":"/api/*","upstreams":["http://127.0.0.1:%s"]},{"path":"/static*","upstreams":["http://127.0.0.1:%s"]}]}' "$loc_host" "$up" "$up" "$up" "$up" "$up")"

echo "== proxyos: apply latency at ${apply_counts[*]} routes, heap, start-up with $routes routes"
{
	global "127.0.0.1:$px_admin" "$(printf '\tproxyos {\n\t\tsecret %s\n\t\tdatabase sqlite %s\n\t}\n' "$secret" "$tmp/px/proxyos.db")"
	printf 'http://:%s {\n\tproxyos_routes\n\trespond "no route" 404\n}\n' "$pxp"
} >"$tmp/px.Caddyfile"
start_caddy px "$tmp/px.Caddyfile"
ready px "http://127.0.0.1:$pxp/" none.bench.test 404
"$tool" heap -admin "127.0.0.1:$px_admin" -name heap/proxyos/0 >>"$samples"
prev=0
for n in "${apply_counts[@]}"; do
	t0=$(date +%s)
	"$tool" seed -admin "127.0.0.1:$px_admin" -upstream "http://127.0.0.1:$up" -from $((prev + 1)) -to "$n"
	echo "   seeded $n routes ($(($(date +%s) - t0)) s)"
	"$tool" apply -admin "127.0.0.1:$px_admin" -url "http://127.0.0.1:$pxp/" -host r1.bench.test \
		-upstream "http://127.0.0.1:$up" -reps "$apply_reps" -name "apply/proxyos/$n" | tee -a "$samples"
	prev=$n
done
stop_caddy px
for i in $(seq "$startup_reps"); do
	t0=$(date +%s%N)
	start_caddy px "$tmp/px.Caddyfile"
	"$tool" wait -pid "${pid_of[px]}" -url "http://127.0.0.1:$pxp/" -host "$host" -since "$t0" -name "startup/proxyos/$routes" | tee -a "$samples"
	if [ "$i" -lt "$startup_reps" ]; then stop_caddy px; fi
done
"$tool" heap -admin "127.0.0.1:$px_admin" -name "heap/proxyos/$routes" | tee -a "$samples"

echo "== native Caddy: POST /load at ${apply_counts[*]} site blocks, heap, start-up with $routes"
first=${apply_counts[0]}
start_caddy nat "$tmp/native-$first-a.json"
ready nat "http://127.0.0.1:$natp/" r1.bench.test
"$tool" heap -admin "127.0.0.1:$nat_admin" -name "heap/native/$first" | tee -a "$samples"
for n in "${apply_counts[@]}"; do
	"$tool" load -admin "127.0.0.1:$nat_admin" -url "http://127.0.0.1:$natp/" -host r1.bench.test \
		-reps "$load_reps" -name "apply/load/$n" -a "$tmp/native-$n-a.json" -b "$tmp/native-$n-b.json" | tee -a "$samples"
done
stop_caddy nat
for i in $(seq "$startup_reps"); do
	t0=$(date +%s%N)
	start_caddy nat "$tmp/native-$routes-a.json"
	"$tool" wait -pid "${pid_of[nat]}" -url "http://127.0.0.1:$natp/" -host "$host" -since "$t0" -name "startup/native/$routes" | tee -a "$samples"
	if [ "$i" -lt "$startup_reps" ]; then stop_caddy nat; fi
done
"$tool" heap -admin "127.0.0.1:$nat_admin" -name "heap/native/$routes" | tee -a "$samples"

# ---------------------------------------------------------------- throughput
# name|url|Host header|extra header (last: it may contain "|")
scenarios=(
	"auth/none|http://127.0.0.1:$plain/||"
	"auth/proxyos_auth|http://127.0.0.1:$gate/||Cookie: proxyos_session=$cookie"
	"auth/proxyos_auth_rules|http://127.0.0.1:$gate_rules/||Cookie: proxyos_session=$cookie"
	"auth/basic_auth|http://127.0.0.1:$basic/||Authorization: Basic $(printf 'bench:bench-password-0123' | base64)"
	"auth/forward_auth|http://127.0.0.1:$fwd/||"
	"auth/forward_auth_oauth2proxy|http://127.0.0.1:$fwd_o2p/||$o2p_cookie"
	"routing/proxyos_1|http://127.0.0.1:$routes1/|$host|"
	"routing/proxyos_ratelimit|http://127.0.0.1:$routes1/|ratelimit.$host|"
	"routing/proxyos_locations|http://127.0.0.1:$routes1/api/v1/x|$loc_host|"
	"routing/proxyos_$routes|http://127.0.0.1:$pxp/|$host|"
	"routing/native_1|http://127.0.0.1:$nat1/|$host|"
	"routing/native_$routes|http://127.0.0.1:$natp/|$host|"
)
echo "== checking every scenario answers 200 ok (and forward_auth to oauth2-proxy 401 without its cookie)"
for s in "${scenarios[@]}"; do
	IFS='|' read -r name url vhost extra <<<"$s"
	args=(-sS -o "$tmp/check.body" -w '%{http_code}')
	[ -n "$vhost" ] && args+=(-H "Host: $vhost")
	[ -n "$extra" ] && args+=(-H "$extra")
	code=$(curl "${args[@]}" "$url")
	if [ "$code" != 200 ] || [ "$(cat "$tmp/check.body")" != ok ]; then
		echo "$name: $url answered $code $(head -c 200 "$tmp/check.body")" >&2
		exit 1
	fi
done
# Without the session cookie, oauth2-proxy's 401 must reach the client:
# otherwise the scenario would not be checking anything.
code=$(curl -sS -o "$tmp/check.body" -w '%{http_code}' "http://127.0.0.1:$fwd_o2p/")
if [ "$code" != 401 ]; then
	echo "auth/forward_auth_oauth2proxy: without the session cookie answered $code, not 401: $(head -c 200 "$tmp/check.body")" >&2
	exit 1
fi

echo "== wrk: $runs × ${duration}s per scenario, interleaved"
for run in $(seq "$runs"); do
	for s in "${scenarios[@]}"; do
		IFS='|' read -r name url vhost extra <<<"$s"
		args=(-t "$wrk_threads" -c "$wrk_conns" -d "${duration}s")
		[ -n "$vhost" ] && args+=(-H "Host: $vhost")
		[ -n "$extra" ] && args+=(-H "$extra")
		out=$(wrk "${args[@]}" "$url")
		if grep -q 'Non-2xx' <<<"$out"; then
			echo "$name: wrk got error responses:" >&2
			echo "$out" >&2
			exit 1
		fi
		rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
		printf 'rps/%s\t%s\treq/s\n' "$name" "$rps" >>"$samples"
		printf '   run %s %-30s %10s req/s\n' "$run" "$name" "$rps"
	done
done

for name in px nat front authsrv; do stop_caddy "$name"; done
bench/oauth2proxy.sh stop "$o2p"
unset 'pid_of[oauth2proxy]'

# ---------------------------------------------------------------- cluster
# benchtool starts the nodes itself (each on its own loopback address,
# the same ports), on a database of its own that it drops at the end.
echo "== cluster: propagation on 2 and 3 nodes on one PostgreSQL database ($cluster_changes changes of each kind); gate and route throughput of a 2-node cluster vs a single node, $runs × ${duration}s, interleaved"
for nodes in 2 3; do
	cluster_args=(-caddy "$caddy" -dir "$tmp/cluster$nodes" -nodes "$nodes" -changes "$cluster_changes" -gap "$cluster_gap" -upstream "127.0.0.1:$up")
	if [ "$nodes" = 2 ]; then
		cluster_args+=(-runs "$runs" -duration "${duration}s" -threads "$wrk_threads" -conns "$wrk_conns")
	fi
	"$tool" cluster "${cluster_args[@]}" >>"$samples"
done
stop_caddy upstream

echo "== report"
"$tool" report -dir "$tmp" -out "$results"
echo "wrote $results"
if [ "$mode" = full ]; then
	# The raw figures the report was made from, for anyone who wants to
	# check a median or compute something else.
	mkdir -p "$root/bench/raw"
	cp "$tmp/meta.tsv" "$tmp/samples.tsv" "$tmp/gobench.txt" "$root/bench/raw/"
else
	cat "$results"
fi
