#!/usr/bin/env bash
# Load figures of the example's /tasks with statsigmw against healthy,
# failing and hanging Statsig backends, next to the same page without the
# middleware (see internal/loadtest).
#
#   scripts/load.sh                          # 10s per scenario, 16 workers
#   DURATION=30s CONCURRENCY=32 scripts/load.sh
#   scripts/load.sh -scenarios baseline,healthy -show-logs
#
# Extra arguments are passed to the tool; -h lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./internal/loadtest -duration "${DURATION:-10s}" -concurrency "${CONCURRENCY:-16}" "$@"
