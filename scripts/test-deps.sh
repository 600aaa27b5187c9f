#!/usr/bin/env bash
# Installs what the test suite needs beyond Go and the three services, when
# it is missing, so `make test` runs on a fresh Debian machine:
#   chromium  the dashboard's browser test (chromedp drives it headless)
#   promtool  `promtool test rules` on deploy/prometheus (Debian's prometheus)
# Needs root (or sudo) and Debian's apt to install; prints what it did.
# With nothing missing it does nothing and takes no network.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "test-deps: need root to apt-get install ${missing[*]}" >&2; exit 1; }
	sudo="sudo -n"
fi
command -v apt-get >/dev/null 2>&1 || { echo "test-deps: no apt-get; install ${missing[*]} by hand" >&2; exit 1; }
echo "test-deps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
# The prometheus package would start a server on :9090 under systemd; in a
# container there is no systemd, and policy-rc.d keeps any init script from
# starting it: only its promtool is wanted.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null && command -v promtool >/dev/null
echo "test-deps: chromium and promtool installed"
