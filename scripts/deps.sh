#!/usr/bin/env bash
# Installs and starts what the test suite needs, with Debian's packages:
# Chromium (browser tests), nginx (forward-auth tests start
# their own), wrk (the benchmarks' quick mode), libfaketime (the doctor's
# clock test runs a PostgreSQL server whose clock is off) and a
# PostgreSQL server on 127.0.0.1:5432 that
# accepts the user postgres without a password from loopback (store and
# cluster tests). Run as root; anything already there is left alone.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
updated=
apt_install() {
	if [ -z "$updated" ]; then
		apt-get update -qq
		updated=1
	fi
	apt-get install -y -qq "$@" >/dev/null
}

if ! command -v chromium >/dev/null 2>&1; then
	echo "deps: installing chromium"
	apt_install chromium
fi

if ! command -v nginx >/dev/null 2>&1; then
	echo "deps: installing nginx (forward-auth tests with auth_request)"
	apt_install nginx
fi

if ! command -v wrk >/dev/null 2>&1; then
	echo "deps: installing wrk (benchmarks)"
	apt_install wrk
fi

if ! ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1; then
	echo "deps: installing faketime (a PostgreSQL server with its clock off)"
	apt_install faketime
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_up; then
	fresh=
	if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
		echo "deps: installing postgresql"
		apt_install postgresql
		fresh=1
	fi
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	if [ -n "$fresh" ]; then
		# A cluster made just now for the tests: let postgres in from
		# loopback without a password, as on the development machines.
		hba=/etc/postgresql/$version/main/pg_hba.conf
		sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
	fi
	echo "deps: starting postgresql $version"
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	for _ in $(seq 1 60); do
		pg_up && break
		sleep 0.5
	done
	pg_up || { echo "deps: postgresql did not start on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "deps: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), postgresql ready on 127.0.0.1:5432"
