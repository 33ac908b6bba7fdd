#!/usr/bin/env bash
# Benchmark of the emulator itself: requests per second for a simple authenticated GET (wrk,
# Debian package `wrk`), and rows per second for a large result (a 1,000,000-row, 3-column
# statement with EXTERNAL_LINKS + ARROW_STREAM, every chunk downloaded; scripts/bench_rows.py).
#
# Usage: scripts/bench_emulator.sh [ROWS]
# Env: CARGO_TARGET_DIR (default target), PROFILE (default bench-fast; `dev` for a debug build),
#      PYTHON (default .venv/bin/python), PORT (default 18767), DURATION (wrk seconds, default 10).
set -euo pipefail

ROWS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${PROFILE:-bench-fast}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
PORT=${PORT:-18767}
DURATION=${DURATION:-10}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOG=$(mktemp)
trap 'kill "$EMU_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --quiet -p brickwire --profile "$PROFILE"
case "$PROFILE" in dev) BIN=$TARGET/debug/brickwire ;; *) BIN=$TARGET/$PROFILE/brickwire ;; esac

"$BIN" emulator --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
EMU_PID=$!
HOST="http://127.0.0.1:$PORT"
for _ in $(seq 100); do grep -q "emulator at" "$LOG" && break; sleep 0.1; done
WAREHOUSE=$(curl -fsS -X POST "$HOST/_emulator/seed" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["warehouse_id"])')

echo "== GET /api/2.0/sql/warehouses/{id}: wrk, 2 threads, 32 connections, ${DURATION}s"
wrk -t2 -c32 -d"${DURATION}s" -H "Authorization: Bearer dapi-emulator" \
  "$HOST/api/2.0/sql/warehouses/$WAREHOUSE" | grep -E "Requests/sec|Latency|requests in"

echo "== $ROWS rows, 3 columns, EXTERNAL_LINKS + ARROW_STREAM"
"$PYTHON" "$ROOT/scripts/bench_rows.py" "$HOST" dapi-emulator "$WAREHOUSE" "$ROWS"
