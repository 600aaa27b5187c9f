#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (with JetStream) answer on their
# default loopback ports, starting any that is down.
#
#   scripts/services.sh system   start the machine's own daemons (CI, this dev box)
#   scripts/services.sh local    start private instances with data under ./var/
#                                 (what `make run` does on a fresh machine)
#
# Prints one line per service; exits non-zero, naming the Debian package to
# install, when a service is down and cannot be started.
set -euo pipefail
mode=${1:-local}
root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"

up_pg()    { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
up_redis() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
up_nats()  { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

wait_for() { # name check
	for _ in $(seq 1 60); do "$2" && { echo "$1: up"; return 0; }; sleep 0.5; done
	echo "$1: did not come up" >&2; return 1
}

need() { # binary package
	command -v "$1" >/dev/null 2>&1 || { echo "missing $1: apt-get install $2" >&2; exit 1; }
}

pgbin() { # newest installed PostgreSQL server binary directory
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

start_pg() {
	if [ "$mode" = system ] && [ -d /etc/postgresql ]; then
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
		return
	fi
	local bin; bin=$(pgbin)
	[ -n "$bin" ] || { echo "missing PostgreSQL server: apt-get install postgresql" >&2; exit 1; }
	if [ ! -f "$var/postgres/PG_VERSION" ]; then
		mkdir -p "$var/postgres"
		"$bin/initdb" -D "$var/postgres" -U postgres --auth=trust >/dev/null
	fi
	mkdir -p "$var/run"
	"$bin/pg_ctl" -D "$var/postgres" -l "$var/postgres.log" -w \
		-o "-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories=$var/run" start >/dev/null
}

start_redis() {
	need redis-server redis-server
	if [ "$mode" = system ]; then
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log
	else
		mkdir -p "$var/redis"
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
			--dir "$var/redis" --logfile "$var/redis.log" --pidfile "$var/redis.pid"
	fi
}

start_nats() {
	if [ "$mode" = system ] && [ -x /usr/sbin/nats-server ]; then
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
			-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
		return
	fi
	local bin; bin=$(command -v nats-server || true)
	[ -n "$bin" ] || { echo "missing nats-server: apt-get install nats-server" >&2; exit 1; }
	mkdir -p "$var/nats"
	"$bin" -a 127.0.0.1 -p 4222 -js -sd "$var/nats" -l "$var/nats.log" -P "$var/nats.pid" &
	disown
}

up_pg    || { start_pg;    wait_for postgres up_pg; }    && up_pg    && echo "postgres: 127.0.0.1:5432"
up_redis || { start_redis; wait_for redis up_redis; }    && up_redis && echo "redis: 127.0.0.1:6379"
up_nats  || { start_nats;  wait_for nats up_nats; }      && up_nats  && echo "nats: 127.0.0.1:4222"
