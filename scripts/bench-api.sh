#!/usr/bin/env bash
# `make bench/api`: runs two bin/api processes against one benchmark
# database on free loopback ports, with the production argon2id parameters:
# one with EMAIL_VERIFICATION=optional (register 201, login, forgot,
# refresh, the login flood) and one with EMAIL_VERIFICATION=required
# (register 202), and drives them with bin/authbench. Nothing else of the
# machine is touched. API_ENV="K=V …" adds settings to both APIs.
# BENCH_PROTECT=off|v1+v2|v2 (default off): protection of the personal
# fields (docs/privacy.md, "Events v2"): unless off, both APIs get a new
# PERSONAL_DATA_KEY, and EVENTS_V1=true (v1+v2) or false (v2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/services.sh system >/dev/null 2>&1 || scripts/services.sh local
admin=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
db=authevents_bench_$$
export DATABASE_URL="$admin/$db?sslmode=disable"
export LOG_LEVEL=warn RATE_LIMIT_ENABLED=false
# Two APIs: optional mode (authbench signs its login users in at
# registration, 201) and required mode (register answers 202).
mkdir -p var
export JWT_PRIVATE_KEY_FILE="$root/var/bench-ed25519.pem"
# Register in required mode and forgot mail links: they need the email
# service's public key (its private half is never used here).
export MAIL_SEAL_PUBLIC_KEY_FILE="$root/var/bench-mail-seal.env"
bin/authctl keygen --if-missing "$JWT_PRIVATE_KEY_FILE" >/dev/null
bin/authctl mailkey --if-missing "$MAIL_SEAL_PUBLIC_KEY_FILE" >/dev/null
bin/authctl db create >/dev/null
bin/authctl migrate up >/dev/null
protect=()
case ${BENCH_PROTECT:-off} in
off) ;;
v1+v2) protect=(PERSONAL_DATA_KEY="$(bin/authbench kek)" EVENTS_V1=true) ;;
v2) protect=(PERSONAL_DATA_KEY="$(bin/authbench kek)" EVENTS_V1=false) ;;
*) echo "BENCH_PROTECT=$BENCH_PROTECT: want off, v1+v2 or v2" >&2; exit 2 ;;
esac
echo "personal fields: BENCH_PROTECT=${BENCH_PROTECT:-off}"
# Their logs (a 503 line per shed login in the flood) go to var/.
# Register in required mode is held to ENUMERATION_FLOOR, so its clients
# answer and ask again all at once: 32 of them (to be bound by the hashes,
# not by 32 / 0.25 s) would overrun the default queue (8 per slot) and be
# shed with 503; that API gets room for them, as an operator expecting
# such bursts would give it (HASH_QUEUE_DEPTH).
env "${protect[@]}" ${API_ENV:-} EMAIL_VERIFICATION=optional HTTP_ADDR=127.0.0.1:18080 OPS_ADDR=127.0.0.1:19090 bin/api >var/bench-api.log 2>&1 & api=$!
env "${protect[@]}" HASH_QUEUE_DEPTH=64 ${API_ENV:-} EMAIL_VERIFICATION=required HTTP_ADDR=127.0.0.1:18081 OPS_ADDR=127.0.0.1:19091 bin/api >var/bench-api-required.log 2>&1 & api_required=$!
cleanup() {
	kill "$api" "$api_required" 2>/dev/null || true
	wait "$api" "$api_required" 2>/dev/null || true
	psql -q "$admin/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for port in 18080 18081; do
	for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
bin/authbench api -url http://127.0.0.1:18080 -url-required http://127.0.0.1:18081 "$@"
# Peak resident memory over the whole run (deploy/k8s limits): the api
# that took the load, and each of its hash workers (HASH_WORKERS).
awk '/^VmHWM/ {printf "api peak RSS: %.1f MB\n", $2 / 1024}' "/proc/$api/status"
for w in $(pgrep -P "$api" || true); do
	awk -v w="$w" '/^VmHWM/ {printf "hash worker %s peak RSS: %.1f MB\n", w, $2 / 1024}' "/proc/$w/status"
done
