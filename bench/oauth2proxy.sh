#!/usr/bin/env bash
# Builds and runs oauth2-proxy as a realistic forward_auth peer for the
# HTTP benchmarks: an htpasswd login only, so no identity provider is ever
# contacted, and a session cookie for wrk.
#
#	bench/oauth2proxy.sh build <dir>         builds <dir>/oauth2-proxy
#	bench/oauth2proxy.sh start <dir> <port>  starts it on 127.0.0.1:<port>
#	bench/oauth2proxy.sh stop <dir>          stops the one started in <dir>
#
# build: `go install` of the pinned module version (OAUTH2_PROXY_VERSION,
# default v7.15.6) with GOBIN=<dir>: its own go.mod and go.sum, checked
# against the checksum database; nothing is added to this module. Cold (module
# download and compile) about 50 s on 2 cores, then the Go build cache makes
# it a link of a few seconds. v7.15.6 needs go 1.26.0: Go 1.26 builds it as
# it is, with no GOTOOLCHAIN.
#
# start: writes into <dir> an htpasswd file (user "bench", a random password
# hashed with bcrypt) and a config file (mode 600, with a random cookie
# secret), starts <dir>/oauth2-proxy in the background (its log in
# <dir>/oauth2-proxy.log), waits until it answers /ping, logs in through
# POST /oauth2/sign_in, and checks that GET /oauth2/auth answers 202 with the
# session cookie and 401 without. Then it prints exactly two lines on stdout:
#
#	<pid of oauth2-proxy>
#	Cookie: _oauth2_proxy=<value>
#
# (also written to <dir>/oauth2-proxy.pid and <dir>/cookie). The password is
# never printed, written or put on a command line: it only lives in this
# script's memory and reaches curl and the hasher on their standard input.
# Everything else goes to stderr; on any failure start exits non-zero after
# stopping the process it started. The provider is "github" with a dummy
# client: it needs no network at start-up, and with cookie refresh off (the
# default) checking a session is a cookie decryption, no provider call.
#
# Request logging is off (as the benchmarked Caddys log only warnings);
# oauth2-proxy.log keeps start-up, errors and the login. The cookie value
# contains "|" characters: keep it the last field of a "|"-separated line.
#
# Bcrypt hashing uses `$CADDY hash-password` (CADDY, else `caddy` on PATH;
# any Caddy build has it); without one the entry is htpasswd's {SHA}
# (SHA-1), which oauth2-proxy also accepts. Only the login checks it.
set -euo pipefail

version=${OAUTH2_PROXY_VERSION:-v7.15.6}
module=github.com/oauth2-proxy/oauth2-proxy/v7

usage() {
	echo "usage: $0 build <dir> | start <dir> <port> | stop <dir>" >&2
	exit 2
}

# random prints n random bytes as hex (2n characters).
random() { # n
	od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# hash_password prints the htpasswd hash of the password on stdin.
hash_password() {
	local caddy=${CADDY:-}
	if [ -z "$caddy" ]; then caddy=$(command -v caddy || true); fi
	if [ -n "$caddy" ]; then
		# Cost 10: the hash is checked once per run, at login.
		"$caddy" hash-password --bcrypt-cost 10
	else
		echo "oauth2proxy.sh: no caddy for bcrypt (set CADDY): using a {SHA} entry" >&2
		printf '{SHA}%s\n' "$(openssl dgst -sha1 -binary | base64)"
	fi
}

build() { # dir
	mkdir -p "$1"
	local dir
	dir=$(cd "$1" && pwd)
	# pkg@version ignores the module of the current directory; cd away from
	# it all the same, so that a go.work or vendor directory cannot interfere.
	(cd / && GOBIN=$dir GOWORK=off go install \
		-ldflags "-X $module/pkg/version.VERSION=$version" "$module@$version")
	"$dir/oauth2-proxy" --version >&2
}

stop() { # dir
	local pidfile=$1/oauth2-proxy.pid pid
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pidfile"
}

start() { # dir port
	local dir port=$2 base pw pid code cookie
	mkdir -p "$1"
	dir=$(cd "$1" && pwd)
	base=http://127.0.0.1:$port
	[ -x "$dir/oauth2-proxy" ] || {
		echo "oauth2proxy.sh: $dir/oauth2-proxy missing: run build first" >&2
		exit 1
	}
	# Something already on the port would answer the readiness check and
	# the login in place of the process started here.
	code=$(curl -s -o /dev/null -w '%{http_code}' "$base/ping" || true)
	if [ "$code" != 000 ]; then
		echo "oauth2proxy.sh: 127.0.0.1:$port is already in use (answered $code)" >&2
		exit 1
	fi
	umask 077
	pw=$(random 24)
	printf 'bench:%s\n' "$(printf '%s' "$pw" | hash_password)" >"$dir/htpasswd"
	cat >"$dir/oauth2-proxy.cfg" <<EOF
http_address = "127.0.0.1:$port"
provider = "github"
client_id = "bench-dummy"
client_secret = "bench-dummy"
htpasswd_file = "$dir/htpasswd"
email_domains = ["*"]
cookie_secret = "$(random 16)"
cookie_secure = false
upstreams = ["static://202"]
reverse_proxy = true
trusted_proxy_ips = ["127.0.0.1/32"]
skip_provider_button = true
set_xauthrequest = true
request_logging = false
silence_ping_logging = true
EOF
	"$dir/oauth2-proxy" --config "$dir/oauth2-proxy.cfg" </dev/null >>"$dir/oauth2-proxy.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/oauth2-proxy.pid"
	fail() {
		echo "oauth2proxy.sh: $*; last lines of $dir/oauth2-proxy.log:" >&2
		tail -n 20 "$dir/oauth2-proxy.log" >&2 || true
		stop "$dir"
		exit 1
	}

	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || fail "oauth2-proxy exited"
		code=$(curl -s -o /dev/null -w '%{http_code}' "$base/ping" || true)
		if [ "$code" = 200 ]; then
			kill -0 "$pid" 2>/dev/null || fail "oauth2-proxy exited"
			break
		fi
		[ "$i" = 200 ] && fail "$base/ping did not answer 200 within 10 s"
		sleep 0.05
	done

	# A wrong login is sent on to the provider (302 to github.com, as
	# skip_provider_button asks) without a session cookie: look for it.
	cookie=$(printf '%s' "$pw" | curl -sS -o /dev/null -D - \
		--data-urlencode username=bench --data-urlencode password@- \
		"$base/oauth2/sign_in" |
		tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(_oauth2_proxy=[^;]*\).*/\1/p')
	[ -n "$cookie" ] || fail "login through POST /oauth2/sign_in gave no _oauth2_proxy cookie"

	code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$base/oauth2/auth")
	[ "$code" = 202 ] || fail "GET /oauth2/auth with the session cookie answered $code, not 202"
	code=$(curl -sS -o /dev/null -w '%{http_code}' "$base/oauth2/auth")
	[ "$code" = 401 ] || fail "GET /oauth2/auth without a cookie answered $code, not 401"

	printf 'Cookie: %s\n' "$cookie" >"$dir/cookie"
	printf '%s\nCookie: %s\n' "$pid" "$cookie"
}

case "${1:-}" in
build)
	[ $# = 2 ] || usage
	build "$2"
	;;
start)
	[ $# = 3 ] || usage
	start "$2" "$3"
	;;
stop)
	[ $# = 2 ] || usage
	stop "$2"
	;;
*) usage ;;
esac
