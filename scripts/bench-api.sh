#!/usr/bin/env bash
# `make bench/api`: runs bin/api against its own benchmark database on a
# free loopback port, with the production argon2id parameters, and drives
# it with bin/authbench. Nothing else of the machine is touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh system >/dev/null 2>&1 || scripts/services.sh local
admin=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
db=authevents_bench_$$
export DATABASE_URL="$admin/$db?sslmode=disable"
export HTTP_ADDR=127.0.0.1:18080 OPS_ADDR=127.0.0.1:19090 LOG_LEVEL=warn
export RATE_LIMIT_ENABLED=false
# authbench signs its users in at registration (201): the api runs in
# optional mode, without a mail seal key (no link, as the figures in
# docs/benchmarks.md were measured), unless the caller says otherwise.
export EMAIL_VERIFICATION=${EMAIL_VERIFICATION:-optional}
mkdir -p var
export JWT_PRIVATE_KEY_FILE="$root/var/bench-ed25519.pem"
bin/authctl keygen --if-missing "$JWT_PRIVATE_KEY_FILE" >/dev/null
bin/authctl db create >/dev/null
bin/authctl migrate up >/dev/null
env ${API_ENV:-} bin/api & api=$!
cleanup() {
	kill "$api" 2>/dev/null || true
	wait "$api" 2>/dev/null || true
	psql -q "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done
bin/authbench api -url "http://$HTTP_ADDR" "$@"
# The api's peak resident memory over the whole run (deploy/k8s limits).
awk '/^VmHWM/ {printf "api peak RSS: %.1f MB\n", $2 / 1024}' "/proc/$api/status"
