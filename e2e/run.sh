#!/usr/bin/env bash
# Browser end-to-end tests for Ballsy. Builds nothing: it uses the binaries named by
#   BALLSY_BIN        (default /root/.cache/ballsy-target/debug/ballsy)
#   FAKE_GEMINI_BIN   (default /root/.cache/ballsy-target/debug/fake-gemini)
#   FAKE_LIVE_BIN     (default /root/.cache/ballsy-target/debug/fake-live)
# Build them first with
#   CARGO_TARGET_DIR=/root/.cache/ballsy-target cargo build --bin ballsy
#   CARGO_TARGET_DIR=/root/.cache/ballsy-target cargo build -p ballsy-bench --bin fake-gemini --bin fake-live
# Other knobs: CHROMIUM_BIN (default /usr/bin/chromium), UPDATE_SCREENSHOTS=1 (refresh the four
# docs/screenshot-*.png), extra arguments are passed to `node --test` (e.g. a single file:
# `bash e2e/run.sh tests/05-restart.test.mjs`).
# Artifacts (server logs, screenshots, failure screenshots) go to e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

export BALLSY_BIN="${BALLSY_BIN:-/root/.cache/ballsy-target/debug/ballsy}"
export FAKE_GEMINI_BIN="${FAKE_GEMINI_BIN:-/root/.cache/ballsy-target/debug/fake-gemini}"
export FAKE_LIVE_BIN="${FAKE_LIVE_BIN:-/root/.cache/ballsy-target/debug/fake-live}"
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"

for bin in "$BALLSY_BIN" "$FAKE_GEMINI_BIN" "$FAKE_LIVE_BIN"; do
  if [ ! -x "$bin" ]; then
    echo "e2e: $bin is missing or not executable; build it first (see the top of e2e/run.sh)" >&2
    exit 2
  fi
done

if [ ! -x "$CHROMIUM_BIN" ]; then
  echo "e2e: installing chromium (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

# tests/19-recorder.test.mjs and the Live test (tests/24-live.test.mjs) make their fake
# microphone input with espeak-ng (and sox).
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
  echo "e2e: installing espeak-ng and sox (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq espeak-ng sox >/dev/null
fi

if ! command -v node >/dev/null; then
  echo "e2e: node (>= 20) is required" >&2
  exit 2
fi

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

rm -rf artifacts/logs artifacts/failures
mkdir -p artifacts

if [ "$#" -eq 0 ]; then
  set -- tests/
fi
exec node --test --test-concurrency=1 --test-timeout=120000 --test-force-exit --test-reporter=spec "$@"
