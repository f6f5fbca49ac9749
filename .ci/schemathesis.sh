#!/usr/bin/env bash
# Fuzzes the HTTP API from its own /openapi.json with schemathesis: every operation, valid and
# invalid inputs, stateful sequences. Fails on any 5xx, any response that breaks the documented
# schema or status codes, and any valid request rejected.
#   usage: .ci/schemathesis.sh BALLSY_BIN FAKE_GEMINI_BIN [MAX_EXAMPLES]
set -euo pipefail
ballsy_bin=$1
fake_bin=$2
max_examples=${3:-40}
venv="${BALLSY_CACHE:-$HOME/.cache/ballsy}/venv-schemathesis"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Reads the first line a process prints and extracts its port.
wait_for_port() {
  local file=$1 pattern=$2
  for _ in $(seq 1 200); do
    if port=$(grep -o "$pattern" "$file" | head -1 | grep -o '[0-9]*$'); then
      [ -n "$port" ] && { echo "$port"; return 0; }
    fi
    sleep 0.05
  done
  echo "no port in $file" >&2; cat "$file" >&2; return 1
}

"$fake_bin" --port 0 --chunks 3 > "$work/fake.log" 2>&1 &
pids+=($!)
fake_port=$(wait_for_port "$work/fake.log" 'http://127.0.0.1:[0-9]*')

run_against() {
  local label=$1 database_url=$2
  echo "--- schemathesis on $label"
  # The fake Gemini answers questions and transcribes uploads, so voice is exercised too; limits
  # are off because schemathesis sends thousands of requests from one address.
  env -i PATH="$PATH" PORT=0 DATABASE_URL="$database_url" GEMINI_API_KEY=schemathesis \
    GEMINI_BASE_URL="http://127.0.0.1:$fake_port" RATE_LIMIT_ENABLED=false LOG_FORMAT=json \
    LOG_LEVEL=warn "$ballsy_bin" > "$work/ballsy-$label.log" 2>&1 &
  local server=$!
  pids+=("$server")
  local port
  port=$(wait_for_port "$work/ballsy-$label.log" '"port":[0-9]*')
  "$venv/bin/st" --config-file "$(dirname "$0")/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
    --max-examples "$max_examples" \
    --seed 20261124 \
    --request-timeout 30 \
    --no-color
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

run_against sqlite "sqlite://$work/st.db"

# PostgreSQL too, whenever a test server is configured (CI always has one).
if [ -n "${BALLSY_TEST_DATABASE_URL:-}" ]; then
  db="schemathesis_$$"
  psql -q "$BALLSY_TEST_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  trap 'cleanup; psql -q "$BALLSY_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  run_against postgres "${BALLSY_TEST_DATABASE_URL%/*}/$db"
elif [ -n "${BALLSY_REQUIRE_POSTGRES:-}" ]; then
  echo "BALLSY_REQUIRE_POSTGRES is set but BALLSY_TEST_DATABASE_URL is not" >&2
  exit 1
else
  echo "skipped schemathesis on PostgreSQL: BALLSY_TEST_DATABASE_URL is not set"
fi
