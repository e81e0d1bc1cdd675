#!/bin/sh
# Installs Debian's prometheus (the server and promtool) when it is missing: the tests in
# tests/deploy run a real Prometheus against the live service. Idempotent; `make test`
# runs it first. If the package starts its own daemon (on :9090), that does not matter:
# the tests start their own instance on a free loopback port with a temporary store.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus
