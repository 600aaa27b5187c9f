#!/usr/bin/env bash
# `make bench/relay`: the relay against the raw JetStream publish rate of
# this machine, on a database and streams of its own (removed afterwards).
# BENCH_PROTECT=off|v1+v2|v2 (default off): the backlog's events as the API
# makes them with PERSONAL_DATA_KEY set and EVENTS_V1=true (v1+v2) or false
# (v2), version 2 encrypted under data keys made in the benchmark database.
# The relay does not read them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh system >/dev/null 2>&1 || scripts/services.sh local
admin=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
db=authevents_bench_relay_$$
export DATABASE_URL="$admin/$db?sslmode=disable"
bin/authctl db create >/dev/null
bin/authctl migrate up >/dev/null
trap 'psql -q "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
bin/authbench relay -db "$DATABASE_URL" -nats "${NATS_URL:-nats://127.0.0.1:4222}" -relay-bin bin/relay -protect "${BENCH_PROTECT:-off}" "$@"
