#!/usr/bin/env bash
# Format, vet, staticcheck and the race-enabled tests of the bridge modules,
# ofprovider (OpenFeature) and otelmetrics (OpenTelemetry). Each is a module
# of its own with a replace directive to the root, apart from the go.work
# workspace (see go.work), so that users of the middleware download neither
# SDK. Run from anywhere; .ci/run installs staticcheck first.
set -euo pipefail
export GOWORK=off
cd "$(dirname "$0")/.."

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"

for m in ofprovider otelmetrics; do
  echo "== $m: gofmt"
  unformatted=$(gofmt -l "$m")
  if [ -n "$unformatted" ]; then
    printf 'gofmt would change:\n%s\n' "$unformatted"
    exit 1
  fi
  echo "== $m: go vet"
  (cd "$m" && go vet ./...)
  echo "== $m: staticcheck"
  (cd "$m" && "$gobin/staticcheck" ./...)
  echo "== $m: go test -race"
  (cd "$m" && go test -race -count=1 ./...)
done
