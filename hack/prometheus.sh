#!/usr/bin/env bash
# Installs the Prometheus server (Debian package "prometheus", binary /usr/bin/prometheus) that
# the integration tests of pkg/metrics/prometheus start on a loopback port. Does nothing when the
# binary is already there. Needs root (CI and the developer machines run as root).
set -euo pipefail

bin=/usr/bin/prometheus

if [[ -x "$bin" ]]; then
	echo "prometheus.sh: $bin is installed: $("$bin" --version 2>&1 | head -n1)"
	exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
	echo "prometheus.sh: $bin is missing and this is not root; install it with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "prometheus.sh: $bin is missing; running: apt-get update"
apt-get update
echo "prometheus.sh: running: apt-get install -y --no-install-recommends prometheus"
# The package's maintainer scripts try to start a system service; there is no init system here,
# and the tests start their own server, so a failed service start is not an error.
apt-get install -y --no-install-recommends prometheus

if [[ ! -x "$bin" ]]; then
	echo "prometheus.sh: apt-get finished but $bin is still missing" >&2
	exit 1
fi
echo "prometheus.sh: installed $("$bin" --version 2>&1 | head -n1)"
