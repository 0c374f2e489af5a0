#!/usr/bin/env bash
# Install the real services the test suite starts by itself (Debian packages): the Prometheus
# server + promtool (tests/prometheus) and redis-server (the controller's lock).
# Idempotent and quiet when everything is present; needs root or sudo to install.
# Package installs do not start services here; the tests run the binaries themselves.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-services: need root or sudo to install ${missing[*]}" >&2; exit 1
  fi
  sudo="sudo"
fi
echo "ensure-services: installing ${missing[*]} (Debian packages)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for bin in prometheus promtool redis-server; do
  command -v "$bin" >/dev/null 2>&1 || { echo "ensure-services: $bin still missing after install" >&2; exit 1; }
done
