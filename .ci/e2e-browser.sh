#!/usr/bin/env bash
# The real-browser test of the example. Installs Debian's chromium, and a font
# (chromium does not depend on one; pages must be laid out with real glyph
# widths), when missing, then runs the browser tests of the e2e module, a
# module of its own so that the root module does not depend on chromedp.
# Safe to run again.
set -euo pipefail
# e2e is a module apart from the go.work workspace at the root.
export GOWORK=off
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ] ||
   ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
  echo "== installing chromium and fonts-dejavu-core"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
echo "== $(chromium --version 2>/dev/null || /usr/bin/chromium --version)"

echo "== browser tests (e2e)"
cd e2e
CI="${CI:-true}" go test -count=1 -run Browser ./...
