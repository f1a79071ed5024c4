#!/usr/bin/env bash
# One sitting of the figures in BENCHMARKS.md, each against a fresh release server on loopback:
#   room        500 users, 50 senders × 0.9 lines/s × 30 s, with the floor measured right after
#   slow        the same with 20 sessions that stop reading
#   idle-N      N idle PTY sessions: memory per session, set-up CPU against the bench's
# Every run is done RUNS times (default 2), interleaved. Reports go to OUT (default
# ./bench-out), one file per run, with `uptime` before and after it: the machine is shared, so
# read the figures as ratios within the sitting.
#
#   cargo build --release -p chat-cli && scripts/bench-sitting.sh
#   IDLE="1000 10000" RUNS=1 scripts/bench-sitting.sh      # which idle runs
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chat-cli}
OUT=${OUT:-bench-out}
RUNS=${RUNS:-2}
IDLE=${IDLE:-1000}
PORT=${PORT:-22422}
mkdir -p "$OUT"
# 10,000 sessions need 10,000 descriptors in the server and as many in the bench.
ulimit -n "$(ulimit -Hn)"

run() {
  local label=$1
  shift
  local data
  data=$(mktemp -d)
  "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$data" --max-per-ip 1000000 \
    --max-unauthenticated 1000000 --max-connections 1000000 --max-new-per-ip 100000000 \
    2>"$OUT/$label.server.log" &
  local server=$!
  for _ in $(seq 1 100); do
    grep -q listening "$OUT/$label.server.log" 2>/dev/null && break
    sleep 0.1
  done
  {
    echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $label: $*"
    echo "# before: $(uptime)"
    "$BIN" bench --addr "127.0.0.1:$PORT" --server-pid "$server" "$@"
    echo "# after: $(uptime)"
  } >"$OUT/$label.txt"
  kill -TERM "$server"
  wait "$server" || true
  rm -rf "$data"
  cat "$OUT/$label.txt"
}

room=(--users 500 --senders 50 --rate 0.9 --duration 30 --warmup 3 --connect-concurrency 100 --floor)
for i in $(seq 1 "$RUNS"); do
  run "room-$i" "${room[@]}"
  run "slow-$i" "${room[@]}" --slow-readers 20
done
for n in $IDLE; do
  for i in $(seq 1 "$RUNS"); do
    run "idle-$n-$i" --users "$n" --senders 0 --connect-concurrency 100 --settle 900 --timeout 120
  done
done
