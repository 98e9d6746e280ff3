#!/usr/bin/env bash
# Tests of the redisstore module against a real redis-server, which the
# tests start themselves. Installs redis-server when it is missing.
# Idempotent; run from anywhere. CI=true (passed through) makes a missing
# redis-server fail the tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends redis-server
fi
# The package may start a system instance; the tests use their own.
redis-server --version

cd redisstore
echo "== redisstore: gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  printf 'gofmt would change:\n%s\n' "$unformatted"
  exit 1
fi
echo "== redisstore: go vet"
go vet ./...
echo "== redisstore: go test -race"
go test -race -count=1 ./...
