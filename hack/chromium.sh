#!/usr/bin/env bash
# Installs Debian's chromium, the headless browser the dashboard's browser test
# (pkg/dashboard/browser_test.go) drives through chromedp. Does nothing when a chromium is
# already on PATH (or SISKIN_CHROMIUM names one). Needs root to install (CI and the developer
# machines run as root).
set -euo pipefail

if [[ -n "${SISKIN_CHROMIUM:-}" && -x "${SISKIN_CHROMIUM}" ]]; then
	echo "chromium.sh: using ${SISKIN_CHROMIUM}"
	exit 0
fi
for name in chromium chromium-browser google-chrome; do
	if bin="$(command -v "$name")"; then
		echo "chromium.sh: $bin is installed"
		exit 0
	fi
done

if [[ "$(id -u)" != 0 ]]; then
	echo "chromium.sh: chromium is missing and this is not root; install it with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "chromium.sh: chromium is missing; running: apt-get update"
apt-get update
echo "chromium.sh: running: apt-get install -y chromium"
apt-get install -y chromium

if ! command -v chromium >/dev/null; then
	echo "chromium.sh: apt-get finished but chromium is still missing" >&2
	exit 1
fi
echo "chromium.sh: installed $(command -v chromium)"
