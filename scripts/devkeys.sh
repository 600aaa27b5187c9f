# shellcheck shell=bash
# Sourced by scripts/run.sh: the development keys make run uses, created
# under $KEY_DIR (default ./var) when missing, unless the environment
# already names them:
#   - JWT_PRIVATE_KEY_FILE: the Ed25519 signing key;
#   - MAIL_SEAL_PUBLIC_KEY / MAIL_SEAL_PRIVATE_KEY: one-time link tokens are
#     sealed to the email service's key; the api gets the public half, the
#     consumer the private one (never the api);
#   - PERSONAL_DATA_KEY_FILE: events with personal fields also go out as
#     version 2, encrypted under each user's data key; the api and the
#     consumers share this key-encryption key (docs/privacy.md).
# Several make runs may start on one checkout at once (the e2e tests do):
# every key is created with --if-missing, which keeps a key another run
# wrote first.
key_dir=${KEY_DIR:-$root/var}
mkdir -p "$key_dir"
if [ -z "${JWT_PRIVATE_KEY_FILE:-}" ]; then
	export JWT_PRIVATE_KEY_FILE="$key_dir/jwt-ed25519.pem"
	"${BIN_DIR:-bin}/authctl" keygen --if-missing "$JWT_PRIVATE_KEY_FILE" >/dev/null
fi
if [ -z "${MAIL_SEAL_PUBLIC_KEY:-}" ]; then
	"${BIN_DIR:-bin}/authctl" mailkey --if-missing "$key_dir/mail-seal.env" >/dev/null
	MAIL_SEAL_PUBLIC_KEY=$(sed -n 's/^MAIL_SEAL_PUBLIC_KEY=//p' "$key_dir/mail-seal.env")
	MAIL_SEAL_PRIVATE_KEY=$(sed -n 's/^MAIL_SEAL_PRIVATE_KEY=//p' "$key_dir/mail-seal.env")
fi
if [ -z "${PERSONAL_DATA_KEY:-}" ] && [ -z "${PERSONAL_DATA_KEY_FILE:-}" ]; then
	export PERSONAL_DATA_KEY_FILE="$key_dir/personal-data.key"
	"${BIN_DIR:-bin}/authctl" personal kek --if-missing "$PERSONAL_DATA_KEY_FILE" >/dev/null
fi
