#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Debian's redis-server, memcached, postgresql, varnish with
# varnish-modules (vmod xkey: the edge cache in front of the API in the edge tests)
# (the tests start their own on a free loopback port; postgresql's initdb and postgres live under
# /usr/lib/postgresql/<version>/bin) and chromium (the example app's end-to-end test), then the npm
# dependencies from the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v varnishd >/dev/null 2>&1 || missing+=(varnish)
ls /usr/lib/*/varnish/vmods/libvmod_xkey.so >/dev/null 2>&1 || missing+=(varnish-modules)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]} from Debian's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A redis-server installed by apt starts a system service on 6379, postgresql one on 5432, varnish one on 6081; the
# tests never use them.

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "setup: done (node $(node --version), $(redis-server --version | cut -d' ' -f3))"
