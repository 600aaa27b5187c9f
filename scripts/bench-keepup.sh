#!/usr/bin/env bash
# `make bench/keepup`: does one replica of each consumer service keep up
# with one API node serving refreshes flat out? Starts, on a database, a
# pinned nats-server (bin/nats-server) and loopback ports of their own,
# one bin/api (EMAIL_VERIFICATION=optional, rate limits off), one
# bin/relay and one bin/consumer per service, then bin/authbench keepup
# reads each consumer's authevents_consumer_lag_seconds while the API
# refreshes flat out (-d, default 60s). Everything is removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh system >/dev/null 2>&1 || scripts/services.sh local
admin=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
db=authevents_bench_keepup_$$
dir=$(mktemp -d)
export DATABASE_URL="$admin/$db?sslmode=disable"
export LOG_LEVEL=warn
mkdir -p var
export JWT_PRIVATE_KEY_FILE="$root/var/bench-ed25519.pem"
export MAIL_SEAL_PUBLIC_KEY_FILE="$root/var/bench-mail-seal.env"
bin/authctl keygen --if-missing "$JWT_PRIVATE_KEY_FILE" >/dev/null
bin/authctl mailkey --if-missing "$MAIL_SEAL_PUBLIC_KEY_FILE" >/dev/null
bin/authctl db create >/dev/null
bin/authctl migrate up >/dev/null
pids=()
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	psql -q "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nport=$(port)
bin/nats-server -a 127.0.0.1 -p "$nport" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 & pids+=($!)
export NATS_URL=nats://127.0.0.1:$nport
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$nport) 2>/dev/null && break; sleep 0.1; done
api=$(port) apiops=$(port) relayops=$(port)
RATE_LIMIT_ENABLED=false EMAIL_VERIFICATION=optional HTTP_ADDR=127.0.0.1:$api OPS_ADDR=127.0.0.1:$apiops \
	bin/api >var/bench-keepup-api.log 2>&1 & pids+=($!)
OPS_ADDR=127.0.0.1:$relayops bin/relay >var/bench-keepup-relay.log 2>&1 & pids+=($!)
consumers=()
for svc in analytics audit security email; do
	p=$(port)
	OPS_ADDR=127.0.0.1:$p MAIL_DIR="$dir/mail" bin/consumer --service "$svc" >"var/bench-keepup-$svc.log" 2>&1 & pids+=($!)
	consumers+=("$svc=http://127.0.0.1:$p")
done
for p in $api $relayops; do
	for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
bin/authbench keepup -url "http://127.0.0.1:$api" -relay "http://127.0.0.1:$relayops" \
	-consumers "$(IFS=,; echo "${consumers[*]}")" "$@"
# What the outbox still holds (a relay that fell behind shows here).
psql -q "$DATABASE_URL" -c "SELECT state, count(*), max(attempts) AS max_attempts, now() - min(created_at) AS oldest, max(next_attempt_at) - now() AS next_retry_in FROM outbox GROUP BY state"
