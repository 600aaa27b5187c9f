#!/usr/bin/env bash
# `make run`: the whole system on this machine.
#   1. PostgreSQL, Redis and NATS JetStream on their default loopback ports
#      (started from the installed Debian binaries with data under ./var/
#      when they are not already running);
#   2. the database created and migrated;
#   3. a development signing key under ./var/ unless JWT_PRIVATE_KEY_FILE is set;
#   4. the API, the relay and the four consumers, URLs printed.
# Ctrl-C stops everything this script started, services included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p var

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/authevents?sslmode=disable}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
export OPS_ADDR=${OPS_ADDR:-127.0.0.1:9090}
export APP_ENV=${APP_ENV:-development}
if [ -z "${JWT_PRIVATE_KEY_FILE:-}" ]; then
	export JWT_PRIVATE_KEY_FILE="$root/var/jwt-ed25519.pem"
	[ -f "$JWT_PRIVATE_KEY_FILE" ] || bin/authctl keygen "$JWT_PRIVATE_KEY_FILE"
fi

pids=()
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	scripts/services.sh stop-started
	echo "stopped"
}
trap cleanup INT TERM EXIT

scripts/services.sh local
bin/authctl db create
bin/authctl migrate up

start() { # name binary [args...]
	local name=$1; shift
	# The prefixer ignores SIGINT so the last log lines of a stopping
	# service still reach the terminal.
	"$@" > >(trap "" INT; exec sed -u "s/^/[$name] /") 2>&1 &
	pids+=($!)
}
start api bin/api
OPS_ADDR=${RELAY_OPS_ADDR:-127.0.0.1:9091} start relay bin/relay
OPS_ADDR=${CONSUMER_OPS_ADDR:-127.0.0.1:9092} MAIL_DIR=${MAIL_DIR:-$root/var/mail} start consumer bin/consumer --service all

# Wait until the API answers, then print where everything is.
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/${HTTP_ADDR%:*}/${HTTP_ADDR##*:}") 2>/dev/null && break
	sleep 0.1
done
cat <<MSG

authevents is running:
  API            http://$HTTP_ADDR        (POST /auth/register, /auth/login; GET /auth/me)
  JWKS           http://$HTTP_ADDR/.well-known/jwks.json
  API ops        http://$OPS_ADDR/metrics  /healthz  /readyz
  relay ops      http://${RELAY_OPS_ADDR:-127.0.0.1:9091}/metrics  /healthz  /readyz
  consumers ops  http://${CONSUMER_OPS_ADDR:-127.0.0.1:9092}/metrics  (email, analytics, security, audit)
  welcome mail   ${MAIL_DIR:-$root/var/mail}/*.eml  (SMTP_URL unset)
  PostgreSQL     $DATABASE_URL
  Redis          $REDIS_URL
  NATS           $NATS_URL
Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
