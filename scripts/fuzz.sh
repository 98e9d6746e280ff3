#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each.
#
#   scripts/fuzz.sh            # 60s per target
#   FUZZTIME=5m scripts/fuzz.sh
#
# New crashers are written by go test to testdata/fuzz/<Target>/; keep them,
# they become regression seeds that `go test ./...` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

targets=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' --include='*_test.go' . |
  sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' | sort -u)
for target in $targets; do
  pkg=$(grep -rlE "^func ${target}\(f \*testing\.F\)" --include='*_test.go' . | head -n1 | xargs dirname)
  before=$(ls "$(go env GOCACHE)/fuzz/$(go list "$pkg")/${target}" 2>/dev/null | wc -l || true)
  echo "== ${target} (${pkg}) for ${fuzztime}"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -n 3
  after=$(ls "$(go env GOCACHE)/fuzz/$(go list "$pkg")/${target}" 2>/dev/null | wc -l || true)
  echo "   generated corpus: ${before} -> ${after} entries; seeds in testdata: $(ls "${pkg}/testdata/fuzz/${target}" 2>/dev/null | wc -l)"
done
