#!/usr/bin/env bash
# 100,000 concurrent PTY sessions on one machine, and one line said to all of them.
#
# A process may hold at most `ulimit -Hn` descriptors (20,000 in the containers here, and
# raising it needs CAP_SYS_RESOURCE), and a session needs one in the server and one in the
# bench. So the sessions are spread over NODES nodes of a cluster on one redis-server (each
# node one process, with its own data directory, all sharing one SQLite key directory) and
# the bench over PROCESSES processes (`bench --processes`), each well under the limit. Where
# the limit allows (a systemd unit's LimitNOFILE=262144, `sysctl fs.nr_open` >= 262144),
# NODES=1 PROCESSES=1 is the same run on one server.
#
#   cargo build --release -p chat-cli && scripts/bench-100k.sh
#   USERS=20000 NODES=2 PROCESSES=2 scripts/bench-100k.sh     # a smaller trial
#
# The report goes to OUT (default ./bench-out/100k), with `uptime` and `free -m` before and
# after, and each node's RSS at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chat-cli}
OUT=${OUT:-bench-out/100k}
USERS=${USERS:-100000}
NODES=${NODES:-6}
PROCESSES=${PROCESSES:-6}
BASE_PORT=${BASE_PORT:-23600}
# Eight source addresses: 12,500 connections each at 100,000, well inside the ~28,000
# ephemeral ports per address.
BIND_IPS=${BIND_IPS:-127.0.0.2-127.0.0.9}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"
command -v redis-server >/dev/null || {
  echo "redis-server is needed (apt-get install redis-server)" >&2
  exit 1
}
# shellcheck source=scripts/servers.sh
source scripts/servers.sh

work=$(mktemp -d)
trap 'cleanup; rm -rf "$work"' EXIT
# NODES=1 is one server without a cluster.
start_servers "$work" "$OUT/server" "$((NODES == 1 ? 0 : NODES))"
joined_addrs=$(IFS=,; echo "${addrs[*]}")
joined_pids=$(IFS=,; echo "${server_pids[*]}")
{
  echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD): $USERS sessions, $NODES node(s), $PROCESSES bench process(es), pids $joined_pids"
  echo "# before: $(uptime)"
  free -m | sed 's/^/# /'
  "$BIN" bench --addr "$joined_addrs" --server-pid "$joined_pids" --users "$USERS" \
    --processes "$PROCESSES" --senders 1 --rate 1 --duration 1 --drain 30 --settle 900 \
    --timeout 120 --connect-concurrency 100 --bind-ips "$BIND_IPS" "$@"
  echo "# after: $(uptime)"
  free -m | sed 's/^/# /'
  for pid in "${server_pids[@]}"; do
    echo "# pid $pid: $(grep -E 'VmRSS' "/proc/$pid/status" 2>/dev/null || echo gone)"
  done
} 2>&1 | tee "$OUT/report.txt"
