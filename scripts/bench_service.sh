#!/usr/bin/env bash
# Benchmark: what the service adds to one action, and what stays resident.
# 1. `brickwire --help` start time (hyperfine, Debian package `hyperfine`).
# 2. CPU the service spends per action: wrk (Debian package `wrk`) on loopback calls Retrieve
#    Warehouse through `POST /api/v1/linked-accounts/{id}/actions/retrieve-warehouse`, then the
#    same GET straight against the emulator; CPU time of each process is read from /proc before
#    and after, so the figure is CPU per request, not wall time.
# 3. Peak and idle RSS of `brickwire serve` with ACCOUNTS (default 10,000) linked accounts.
#
# Usage: scripts/bench_service.sh [ACCOUNTS] [SECONDS]
# Env: CARGO_TARGET_DIR (default target), PROFILE (default bench-fast; `dev` for a debug build).
set -euo pipefail

ACCOUNTS=${1:-10000}
SECONDS_PER_RUN=${2:-10}
PROFILE=${PROFILE:-bench-fast}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
trap 'kill $EMU_PID $SRV_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
EMU_PID="" SRV_PID=""

cargo build --quiet -p brickwire --profile "$PROFILE"
case "$PROFILE" in dev) BIN=$TARGET/debug/brickwire ;; *) BIN=$TARGET/$PROFILE/brickwire ;; esac
echo "profile=$PROFILE cores=$(nproc) $(uname -m)"

echo "== brickwire --help start time"
hyperfine --warmup 5 --runs 50 --style basic "$BIN --help" 2>&1 | grep -E "Time|Range"

wait_for() { for _ in $(seq 200); do grep -q "$2" "$1" && return 0; sleep 0.05; done; cat "$1" >&2; return 1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
TICKS=$(getconf CLK_TCK)

EMU_PORT=18801 SRV_PORT=18802
"$BIN" emulator --listen "127.0.0.1:$EMU_PORT" --token dapi-bench >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
wait_for "$WORK/emu.log" "emulator at"
EMU="http://127.0.0.1:$EMU_PORT"
WAREHOUSE=$(curl -fsS -X POST "$EMU/_emulator/seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["warehouse_id"])')

export BRICKWIRE_API_KEY=bw-bench-operator-key-0123456789
"$BIN" serve --listen "127.0.0.1:$SRV_PORT" --data-dir "$WORK/data" --rate-limit 0 >"$WORK/srv.log" 2>&1 &
SRV_PID=$!
wait_for "$WORK/srv.log" "listening\|http://"
SRV="http://127.0.0.1:$SRV_PORT"
# Links N accounts (by API key, verified against the emulator) and prints their ids.
link_accounts() {
  python3 - "$SRV" "$BRICKWIRE_API_KEY" "$EMU" "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
srv, key, emu, first, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(srv)
conn = http.client.HTTPConnection(u.hostname, u.port)
for i in range(first, first + n):
    body = json.dumps({"workspace_url": emu, "token": "dapi-bench", "end_user_ref": f"user-{i}"})
    conn.request("POST", "/api/v1/linked-accounts", body,
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 201:
        sys.exit(f"link {i}: HTTP {r.status} {data[:200]!r}")
    print(json.loads(data)["id"])
PY
}
# The service runs with --rate-limit 0 (no client-side limit per workspace, default 15/s) and
# the load is spread over 64 accounts, so every request reaches its account's cached client.
LOAD_ACCOUNTS=64
link_accounts 0 $LOAD_ACCOUNTS >"$WORK/ids"
{
  echo 'paths = {'
  while read -r id; do echo "  \"/api/v1/linked-accounts/$id/actions/retrieve-warehouse\","; done <"$WORK/ids"
  echo '}'
  echo 'i = 0'
  echo 'request = function() i = i % #paths + 1; return wrk.format(nil, paths[i]) end'
} >"$WORK/action.lua"
cat >>"$WORK/action.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $BRICKWIRE_API_KEY"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"warehouse_id": "$WAREHOUSE"}'
LUA
cat >"$WORK/direct.lua" <<LUA
wrk.headers["Authorization"] = "Bearer dapi-bench"
LUA

# Runs wrk and prints "requests cpu_ms_service cpu_ms_emulator".
load() {
  local s0 e0 s1 e1 out
  s0=$(cpu_ticks "$SRV_PID") e0=$(cpu_ticks "$EMU_PID")
  out=$(wrk -t1 -c4 -d"${SECONDS_PER_RUN}s" -s "$2" "$1")
  s1=$(cpu_ticks "$SRV_PID") e1=$(cpu_ticks "$EMU_PID")
  local n
  n=$(echo "$out" | awk '/requests in/ { print $1 }')
  echo "$out" | grep -qE "Non-2xx" && { echo "$out" >&2; echo "non-2xx answers" >&2; exit 1; }
  echo "$n $(((s1 - s0) * 1000 / TICKS)) $(((e1 - e0) * 1000 / TICKS))"
}
load "$EMU/api/2.0/sql/warehouses/$WAREHOUSE" "$WORK/direct.lua" >/dev/null # warm-up
read -r n_direct _ emu_direct < <(load "$EMU/api/2.0/sql/warehouses/$WAREHOUSE" "$WORK/direct.lua")
load "$SRV/" "$WORK/action.lua" >/dev/null # warm-up: every account's client is built once
read -r n_action srv_action emu_action < <(load "$SRV/" "$WORK/action.lua")
echo "== one cheap action (Retrieve Warehouse), wrk 4 connections, ${SECONDS_PER_RUN}s each"
printf '%-42s %9s %12s %14s\n' path requests req_per_s cpu_us_per_req
printf '%-42s %9s %12s %14s\n' "emulator direct (emulator CPU)" "$n_direct" $((n_direct / SECONDS_PER_RUN)) $((emu_direct * 1000 / n_direct))
printf '%-42s %9s %12s %14s\n' "through the service (service CPU)" "$n_action" $((n_action / SECONDS_PER_RUN)) $((srv_action * 1000 / n_action))
printf '%-42s %9s %12s %14s\n' "through the service (emulator CPU)" "$n_action" "" $((emu_action * 1000 / n_action))

echo "== RSS with $ACCOUNTS linked accounts ($LOAD_ACCOUNTS of them used above)"
echo "before linking: $(($(rss_kib "$SRV_PID") / 1024)) MiB"
link_accounts $LOAD_ACCOUNTS $((ACCOUNTS - LOAD_ACCOUNTS)) >/dev/null
sleep 2
echo "after linking $ACCOUNTS, idle: $(($(rss_kib "$SRV_PID") / 1024)) MiB (peak $(($(hwm_kib "$SRV_PID") / 1024)) MiB)"
