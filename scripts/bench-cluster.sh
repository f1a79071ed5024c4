#!/usr/bin/env bash
# The 500-user room (50 senders x 0.9 lines/s x 30 s) on one machine, in one sitting:
#   single      one server, no cluster (the default deployment), and the floor
#   one-node    one node of a cluster on redis-server: what the bus costs with no fan-out
#   two-nodes   two nodes on one redis-server, the sessions spread over both (bench --addr A,B)
# Each run is done RUNS times (default 2), interleaved. The bench is given every server
# process and redis-server (--server-pid), so its report has their CPU summed and each one's
# beside it. Reports go to OUT (default ./bench-out/cluster), with `uptime` before and after.
#
#   cargo build --release -p chat-cli && scripts/bench-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chat-cli}
OUT=${OUT:-bench-out/cluster}
RUNS=${RUNS:-2}
BASE_PORT=${BASE_PORT:-22522}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"
command -v redis-server >/dev/null || {
  echo "redis-server is needed (apt-get install redis-server)" >&2
  exit 1
}

# shellcheck source=scripts/servers.sh
source scripts/servers.sh

room=(--users 500 --senders 50 --rate 0.9 --duration 30 --warmup 3 --connect-concurrency 100)

# run LABEL NODES [BENCH ARGS...]: NODES is 0 (no cluster), 1 or 2.
run() {
  local label=$1 nodes=$2
  shift 2
  local work
  work=$(mktemp -d)
  start_servers "$work" "$OUT/$label" "$nodes"
  local joined_addrs joined_pids
  joined_addrs=$(IFS=,; echo "${addrs[*]}")
  joined_pids=$(IFS=,; echo "${server_pids[*]}")
  {
    echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $label: $nodes node(s), pids $joined_pids (redis last)"
    echo "# before: $(uptime)"
    "$BIN" bench --addr "$joined_addrs" --server-pid "$joined_pids" "${room[@]}" "$@"
    echo "# after: $(uptime)"
  } >"$OUT/$label.txt"
  stop "${server_pids[@]}"
  rm -rf "$work"
  cat "$OUT/$label.txt"
}

for i in $(seq 1 "$RUNS"); do
  # The single server's run also measures the floor, for its ratio.
  run "single-$i" 0 --floor
  run "one-node-$i" 1
  run "two-nodes-$i" 2
done
