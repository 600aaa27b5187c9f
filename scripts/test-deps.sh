#!/usr/bin/env bash
# Installs what the test suite needs beyond Go and the three services, when
# it is missing, so `make test` runs on a fresh Debian machine:
#   chromium  the dashboard's browser test (chromedp drives it headless)
#   promtool  `promtool test rules` on deploy/prometheus (Debian's prometheus)
# Needs root (or sudo) and Debian's apt to install; prints what it did.
# With nothing missing it does nothing and takes no network. When it
# cannot install, it warns and the tests that need the tool skip; under
# CI=true it fails (and so would those tests).
set -euo pipefail
cannot() {
	echo "test-deps: $*" >&2
	if [ "${CI:-}" = true ]; then exit 1; fi
	echo "test-deps: the tests that need them will skip (CI=true makes this a failure)" >&2
	exit 0
}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || cannot "need root to apt-get install ${missing[*]}"
	sudo="sudo -n"
fi
command -v apt-get >/dev/null 2>&1 || cannot "no apt-get; install ${missing[*]} by hand"
echo "test-deps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || cannot "apt-get update failed"
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || cannot "apt-get install ${missing[*]} failed"
# Only promtool is wanted from the prometheus package: on a machine with
# systemd the package starts a server on :9090, the API's ops port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled prometheus >/dev/null 2>&1; then
	$sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v chromium >/dev/null && command -v promtool >/dev/null
echo "test-deps: chromium and promtool installed"
