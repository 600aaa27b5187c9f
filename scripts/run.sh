#!/usr/bin/env bash
# `make run`: the whole system on this machine.
#   1. PostgreSQL, Redis and NATS JetStream on their default loopback ports
#      (started from the installed Debian binaries with data under ./var/
#      when they are not already running);
#   2. the database created and migrated;
#   3. a development signing key under ./var/ unless JWT_PRIVATE_KEY_FILE is set,
#      a mail seal key pair (./var/mail-seal.env) unless MAIL_SEAL_PUBLIC_KEY is set,
#      and the personal data key-encryption key (./var/personal-data.key)
#      unless PERSONAL_DATA_KEY(_FILE) is set;
#   4. the API, the relay, the four consumers and the dashboard, URLs printed.
# Ctrl-C stops everything this script started, services included.
#
# CLUSTER=1 (`make run CLUSTER=1`): NATS is a 3-node JetStream cluster
# started by scripts/cluster.sh (client ports 14222-14224), the stream has 3
# replicas (STREAM_REPLICAS=3), and NATS_URL lists the three nodes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p var

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/authevents?sslmode=disable}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
if [ "${CLUSTER:-}" = 1 ]; then
	export NATS_URL=${NATS_URL:-$(scripts/cluster.sh url)}
	export STREAM_REPLICAS=${STREAM_REPLICAS:-3}
	export SKIP_NATS=1 # scripts/services.sh: the cluster replaces the server on 4222
else
	export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
fi
export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
export OPS_ADDR=${OPS_ADDR:-127.0.0.1:9090}
export APP_ENV=${APP_ENV:-development}
# shellcheck source=scripts/devkeys.sh
source scripts/devkeys.sh
export LINK_BASE_URL=${LINK_BASE_URL:-http://$HTTP_ADDR}

bin=${BIN_DIR:-bin}
logs=${LOG_DIR:-$root/var/log}
mkdir -p "$logs"

pids=() names=()
stopping=
stop_all() {
	stopping=1
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	scripts/services.sh stop-started
	if [ "${CLUSTER:-}" = 1 ]; then scripts/cluster.sh stop; fi
}
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	stop_all
	echo "stopped"
}
trap cleanup INT TERM EXIT

# fail names a component that failed, shows its last log lines, stops
# everything and exits non-zero: a run with a dead component is no run.
fail() { # name message
	trap - INT TERM EXIT
	{
		echo
		echo "make run: $1 $2; its last log lines ($logs/$1.log):"
		tail -n 20 "$logs/$1.log" | sed "s/^/  [$1] /"
		echo "stopping everything."
	} >&2
	stop_all >/dev/null 2>&1
	exit 1
}

scripts/services.sh local
if [ "${CLUSTER:-}" = 1 ]; then
	LOG_DIR=$logs scripts/cluster.sh start
fi
"$bin/authctl" db create
"$bin/authctl" migrate up

start() { # name binary [args...]
	local name=$1; shift
	: >"$logs/$name.log"
	# The prefixer ignores SIGINT so the last log lines of a stopping
	# service still reach the terminal; the log file keeps them for fail.
	"$@" > >(trap "" INT; exec tee -a "$logs/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
	pids+=($!) names+=("$name")
}

# exited sets dead_name and dead_rc for a component that is no longer
# running, if any (not in a subshell: only this shell can reap them).
exited() {
	local i
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			dead_name=${names[$i]} dead_rc=0
			wait "${pids[$i]}" 2>/dev/null || dead_rc=$?
			return 0
		fi
	done
	return 1
}

# http_ok: GET http://hostport/path answers 200 (bash only, no curl).
http_ok() { # hostport path
	local line
	exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
	IFS= read -r -t 2 line <&3 || line=
	exec 3<&-
	[[ $line == "HTTP/1."?" 200"* ]]
}

# ready waits until hostport/path answers 200, failing the run if a
# component exits first or it does not answer within 30 s.
ready() { # name hostport path
	for _ in $(seq 1 300); do
		if exited; then
			fail "$dead_name" "exited with status $dead_rc while starting"
		fi
		http_ok "$2" "$3" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$1" "did not become ready at http://$2$3 within 30 s"
}

relay_ops=${RELAY_OPS_ADDR:-127.0.0.1:9091}
consumer_ops=${CONSUMER_OPS_ADDR:-127.0.0.1:9092}
dashboard_addr=${DASHBOARD_ADDR:-127.0.0.1:8081}
dashboard_ops=${DASHBOARD_OPS_ADDR:-127.0.0.1:9093}
MAIL_SEAL_PUBLIC_KEY=$MAIL_SEAL_PUBLIC_KEY start api "$bin/api"
OPS_ADDR=$relay_ops start relay "$bin/relay"
OPS_ADDR=$consumer_ops MAIL_DIR=${MAIL_DIR:-$root/var/mail} MAIL_SEAL_PRIVATE_KEY=${MAIL_SEAL_PRIVATE_KEY:-} start consumer "$bin/consumer" --service all
DASHBOARD_ADDR=$dashboard_addr OPS_ADDR=$dashboard_ops start dashboard "$bin/dashboard"

ready api "$OPS_ADDR" /healthz
ready api "$HTTP_ADDR" /.well-known/jwks.json
ready relay "$relay_ops" /healthz
ready consumer "$consumer_ops" /healthz
ready dashboard "$dashboard_ops" /healthz
cat <<MSG

authevents is running:
  Dashboard      http://$dashboard_addr/        (live: events per type, latency, stream, consumers, outbox)
  API            http://$HTTP_ADDR        (POST /auth/register, /auth/login; GET /auth/me)
  JWKS           http://$HTTP_ADDR/.well-known/jwks.json
  API ops        http://$OPS_ADDR/metrics  /healthz  /readyz
  relay ops      http://$relay_ops/metrics  /healthz  /readyz
  consumers ops  http://$consumer_ops/metrics  (email, analytics, security, audit)
  dashboard ops  http://$dashboard_ops/metrics  /healthz  /readyz
  mail           ${MAIL_DIR:-$root/var/mail}/*.eml  (SMTP_URL unset): welcome, verification and reset links
  logs           $logs/{api,relay,consumer,dashboard}.log
  PostgreSQL     $DATABASE_URL
  Redis          $REDIS_URL
  NATS           $NATS_URL
Press Ctrl-C to stop.

MSG
# Any component that stops while the system runs stops the run.
while :; do
	wait -n "${pids[@]}" 2>/dev/null || true
	[ -n "$stopping" ] && exit 0
	if exited; then
		fail "$dead_name" "stopped with status $dead_rc"
	fi
done
