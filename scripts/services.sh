#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (with JetStream) answer on their
# default loopback ports, starting any that is down.
#
#   scripts/services.sh system        start the machine's own daemons (CI)
#   scripts/services.sh local         start private instances with data under ./var/
#                                     (what `make run` does on a fresh machine)
#   scripts/services.sh stop-started  stop what `local` started (make run's Ctrl-C)
#
# Prints one line per service; exits non-zero, naming the Debian package to
# install, when a service is down and cannot be started.
set -euo pipefail
mode=${1:-local}
root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
started="$var/started-services"
mkdir -p "$var"

up_pg()    { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
up_redis() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
up_nats()  { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

wait_for() { # name check
	for _ in $(seq 1 120); do "$2" && return 0; sleep 0.25; done
	echo "$1 did not come up; see its log under $var/ or /var/log/" >&2
	exit 1
}

need() { # binary package
	command -v "$1" >/dev/null 2>&1 || { echo "$1 not found: apt-get install $2" >&2; exit 1; }
}

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# as_pg runs a PostgreSQL server command; initdb and postgres refuse root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
	if [ "$mode" = system ] && [ -d /etc/postgresql ]; then
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
		return
	fi
	local bin; bin=$(pgbin)
	[ -n "$bin" ] || { echo "PostgreSQL server not found: apt-get install postgresql" >&2; exit 1; }
	mkdir -p "$var/postgres" "$var/run"
	[ "$(id -u)" = 0 ] && chown postgres "$var/postgres" "$var/run"
	if [ ! -f "$var/postgres/PG_VERSION" ]; then
		as_pg "$bin/initdb" -D "$var/postgres" -U postgres --auth=trust >/dev/null
	fi
	as_pg "$bin/pg_ctl" -D "$var/postgres" -l "$var/postgres/server.log" -w \
		-o "-c listen_addresses=127.0.0.1 -c port=5432 -c unix_socket_directories=$var/run" start >/dev/null
	echo postgres >>"$started"
}

start_redis() {
	need redis-server redis-server
	if [ "$mode" = system ]; then
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log
		return
	fi
	mkdir -p "$var/redis"
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
		--dir "$var/redis" --logfile "$var/redis/redis.log" --pidfile "$var/redis/redis.pid"
	echo redis >>"$started"
}

start_nats() {
	if [ "$mode" = system ] && [ -x /usr/sbin/nats-server ]; then
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
			-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
		return
	fi
	local bin; bin=$(command -v nats-server || true)
	[ -n "$bin" ] || { echo "nats-server not found: apt-get install nats-server" >&2; exit 1; }
	mkdir -p "$var/nats"
	start-stop-daemon --start --background --make-pidfile --pidfile "$var/nats/nats.pid" --exec "$bin" -- \
		-a 127.0.0.1 -p 4222 -js -sd "$var/nats" -l "$var/nats/nats.log"
	echo nats >>"$started"
}

if [ "$mode" = stop-started ]; then
	[ -f "$started" ] || exit 0
	while read -r svc; do
		case $svc in
		postgres) as_pg "$(pgbin)/pg_ctl" -D "$var/postgres" -m fast -w stop >/dev/null && echo "postgres: stopped" ;;
		redis) kill "$(cat "$var/redis/redis.pid")" 2>/dev/null && echo "redis: stopped" ;;
		nats) start-stop-daemon --stop --quiet --pidfile "$var/nats/nats.pid" --retry 10 && rm -f "$var/nats/nats.pid" && echo "nats: stopped" ;;
		esac
	done <"$started"
	rm -f "$started"
	exit 0
fi

up_pg    || { start_pg;    wait_for postgres up_pg; };  echo "postgres: up on 127.0.0.1:5432"
up_redis || { start_redis; wait_for redis up_redis; };  echo "redis: up on 127.0.0.1:6379"
# SKIP_NATS=1: NATS is someone else's (make run CLUSTER=1 starts a cluster).
if [ -z "${SKIP_NATS:-}" ]; then
	up_nats || { start_nats; wait_for nats up_nats; }; echo "nats: up on 127.0.0.1:4222"
fi
