#!/usr/bin/env bash
# Benchmark: `brickwire sql` against the Python SDK's execute-and-fetch-chunks loop, on the same
# 3-column result of ROWS rows (default 1,000,000) served by a local brickwire emulator.
# Measures wall time and peak RSS of each client with /usr/bin/time -v (Debian package `time`).
#
# Usage: scripts/bench_sql.sh [ROWS] [RUNS]   (SKIP_SDK=1 leaves the Python SDK out)
# Env: CARGO_TARGET_DIR (default target), PROFILE (default bench-fast; `dev` for a debug build),
#      PYTHON (default /work/main/.venv/bin/python), PORT (default 18766),
#      PIN=1 runs the emulator on CPU 0 and every client on CPU 1 (taskset), so the server's
#      work does not compete with the client's: the raw-download figure is then the limit the
#      emulator sets, the same for every client, and not the client's share of the cores.
set -euo pipefail

ROWS=${1:-1000000}
RUNS=${2:-3}
PROFILE=${PROFILE:-bench-fast}
PYTHON=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
PORT=${PORT:-18766}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT_DIR=$(mktemp -d)
trap 'kill "$EMU_PID" 2>/dev/null || true; rm -rf "$OUT_DIR"' EXIT

cargo build --quiet -p brickwire --profile "$PROFILE"
case "$PROFILE" in dev) BIN=$TARGET/debug/brickwire ;; *) BIN=$TARGET/$PROFILE/brickwire ;; esac

SERVER_CPU=()
CLIENT_CPU=()
if [ "${PIN:-0}" = 1 ]; then
  SERVER_CPU=(taskset -c 0)
  CLIENT_CPU=(taskset -c 1)
fi

"${SERVER_CPU[@]}" "$BIN" emulator --listen "127.0.0.1:$PORT" >"$OUT_DIR/emulator.log" 2>&1 &
EMU_PID=$!
HOST="http://127.0.0.1:$PORT"
TOKEN=dapi-emulator
for _ in $(seq 100); do
  grep -q "emulator at" "$OUT_DIR/emulator.log" && break
  sleep 0.1
done

# A running warehouse for the statements: the admin API's seed creates one.
WAREHOUSE=$(curl -fsS -X POST "$HOST/_emulator/seed" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["warehouse_id"])')

SQL="SELECT id, id * 2 AS d, CAST(id AS STRING) AS s FROM range($ROWS)"

# Prints "wall_seconds max_rss_mib" of the command it is given.
measure() {
  "${CLIENT_CPU[@]}" /usr/bin/time -v -o "$OUT_DIR/time.txt" "$@" 2>"$OUT_DIR/cmd.err" >/dev/null \
    || { cat "$OUT_DIR/cmd.err" "$OUT_DIR/time.txt" >&2; exit 1; }
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
    /Maximum resident set size/ { rss = $2 / 1024 }
    END { printf "%.2f %.0f\n", s, rss }' "$OUT_DIR/time.txt"
}

echo "rows=$ROWS runs=$RUNS profile=$PROFILE cores=$(nproc) $(uname -m) pinned=${PIN:-0}"
echo "statement: $SQL"
printf '%-34s %8s %10s\n' client wall_s max_rss_MiB
for run in $(seq "$RUNS"); do
  # `discard` fetches every chunk and drops it undecoded: the raw-download limit, same run.
  for format in discard csv json ndjson arrow; do
    case "$format" in csv | discard) ;; *) [ "$run" = 1 ] || continue ;; esac
    r=$(measure env DATABRICKS_HOST="$HOST" DATABRICKS_TOKEN="$TOKEN" \
      "$BIN" sql "$SQL" --warehouse "$WAREHOUSE" --format "$format" --output "$OUT_DIR/bw.$format")
    printf '%-34s %8s %10s\n' "brickwire sql --format $format" $r
    echo "$format $r" >>"$OUT_DIR/walls"
  done
  [ "${SKIP_SDK:-0}" = 1 ] && continue
  # `bytes` appends the CSV chunks unparsed (a lower bound); `rows` parses JSON_ARRAY chunks
  # and writes their rows with the csv module (what a program that needs the rows does).
  for mode in bytes rows; do
    r=$(measure "$PYTHON" "$ROOT/scripts/bench_sql_sdk.py" "$HOST" "$TOKEN" "$WAREHOUSE" "$SQL" \
      "$OUT_DIR/sdk.$mode.csv" "$mode")
    printf '%-34s %8s %10s   (%s)\n' "python sdk loop, $mode" $r "$(cat "$OUT_DIR/cmd.err")"
    echo "sdk-$mode $r" >>"$OUT_DIR/walls"
  done
done

# Medians over the runs, and the two targets' ratios: csv against the raw download (discard)
# and the SDK's rows loop against csv.
"$PYTHON" - "$OUT_DIR/walls" <<'PY'
import statistics, sys
walls = {}
for line in open(sys.argv[1]):
    client, wall, rss = line.split()
    walls.setdefault(client, []).append((float(wall), int(rss)))
median = {c: statistics.median(w for w, _ in v) for c, v in walls.items()}
for c, v in walls.items():
    print(f"median {c}: {median[c]:.2f} s over {len(v)} runs, max RSS {max(r for _, r in v)} MiB")
if "discard" in median:
    print(f"csv / discard (raw download): {median['csv'] / median['discard']:.2f}x")
if "sdk-rows" in median:
    print(f"sdk rows loop / csv: {median['sdk-rows'] / median['csv']:.1f}x")
PY

lines=$(wc -l <"$OUT_DIR/bw.csv")
[ "$lines" = $((ROWS + 1)) ] || { echo "brickwire wrote $lines lines, not $((ROWS + 1))" >&2; exit 1; }
[ "${SKIP_SDK:-0}" = 1 ] && { echo "csv rows: $((lines - 1))"; exit 0; }
# Both clients must have produced the same rows (engine order may differ: compare sorted).
bw=$(tail -n +2 "$OUT_DIR/bw.csv" | sort | md5sum)
for mode in bytes rows; do
  sdk=$(tail -n +2 "$OUT_DIR/sdk.$mode.csv" | sort | md5sum)
  [ "$bw" = "$sdk" ] || { echo "brickwire and the sdk loop ($mode) wrote different rows!" >&2; exit 1; }
done
echo "outputs identical: $((lines - 1)) rows"
