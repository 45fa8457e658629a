#!/usr/bin/env bash
# Installs graphite-web and carbon-cache (Debian packages "graphite-web" and "graphite-carbon")
# that TestAgainstGraphiteWeb in pkg/metrics/graphite starts on loopback ports, as the user
# running the test, with its own files in a temporary directory. Does nothing when they are
# there. Needs root (CI and the developer machines run as root).
set -euo pipefail

if command -v carbon-cache >/dev/null && /usr/bin/python3 -c 'import graphite' 2>/dev/null; then
	echo "graphite.sh: carbon-cache and graphite-web are installed"
	exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
	echo "graphite.sh: graphite-web or carbon-cache is missing and this is not root; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends graphite-web graphite-carbon" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "graphite.sh: running: apt-get update"
apt-get update
echo "graphite.sh: running: apt-get install -y --no-install-recommends graphite-web graphite-carbon"
# The tests start their own carbon-cache and graphite-web: a failed service start by the
# packages' maintainer scripts (there is no init system here) is not an error.
apt-get install -y --no-install-recommends graphite-web graphite-carbon

if ! command -v carbon-cache >/dev/null || ! /usr/bin/python3 -c 'import graphite' 2>/dev/null; then
	echo "graphite.sh: apt-get finished but carbon-cache or graphite-web is still missing" >&2
	exit 1
fi
