#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (seconds each, default 20). cargo-fuzz is installed
# if missing. Sanitizers are off (`-s none`): the code is safe Rust, and the instrumentation for
# coverage works on the stable toolchain with RUSTC_BOOTSTRAP. A crash (or a build failure)
# fails the run; a crashing input is left under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/ballsy-fuzz-target}"
export RUSTC_BOOTSTRAP=1
cd fuzz
targets=$(cargo fuzz list)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $targets; do
  echo "--- fuzz $target (${seconds}s)"
  if ! cargo fuzz run -s none -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed; the input is under fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || true
done
