#!/usr/bin/env bash
# Interop check of statsigmw.Bootstrap with the real @statsig/js-client:
# installs Node.js and npm when missing (Debian packages), the client from
# e2e/js/package-lock.json, then runs the e2e module's Bootstrap tests.
# Idempotent; needs no network beyond apt and the npm registry.
set -euo pipefail
# e2e is a module apart from the go.work workspace at the root.
export GOWORK=off
cd "$(dirname "$0")/.."

# The tests skip when node or the client is missing, except under CI=true,
# where they fail: after installing both here, a skip would hide a fault.
export CI="${CI:-true}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== apt-get install nodejs npm"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nodejs npm
fi
echo "== node $(node --version), npm $(npm --version)"

echo "== npm ci (e2e/js)"
npm ci --prefix e2e/js --no-audit --no-fund --prefer-offline

echo "== go test -race -run Bootstrap (e2e)"
cd e2e
go test -race -count=1 -run Bootstrap ./...
