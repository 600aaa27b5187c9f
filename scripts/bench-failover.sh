#!/usr/bin/env bash
# `make bench/failover`: a JetStream cluster losing its stream leader while two relays
# publish, on a database and nats-servers of its own (removed afterwards).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh system >/dev/null 2>&1 || scripts/services.sh local
admin=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
db=authevents_bench_failover_$$
export DATABASE_URL="$admin/$db?sslmode=disable"
bin/authctl db create >/dev/null
bin/authctl migrate up >/dev/null
trap 'psql -q "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
bin/authbench failover -db "$DATABASE_URL" -nats-bin bin/nats-server -relay-bin bin/relay "$@"
