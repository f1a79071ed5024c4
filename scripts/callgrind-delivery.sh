#!/usr/bin/env bash
# Instructions the server spends per delivered line, counted by callgrind: a figure that does
# not depend on the machine's speed or load, so a change that makes delivery dearer shows up in
# review (BENCHMARKS.md records the current figure).
#
# It runs the release server under `valgrind --tool=callgrind` twice, with the same room
# (USERS sessions, SENDERS of them sending RATE lines a second) but SHORT and LONG seconds of
# sending, and divides the difference in instructions by the difference in deliveries: set-up,
# start-up and shutdown cancel out. User-space instructions only (the kernel's share of a
# socket write is not counted); everything the server's process runs is (russh, ring, tokio,
# the allocator).
#
# The rate is low on purpose (one line a second to 99 others): a line must be fully delivered
# before the next one arrives, even under valgrind on a loaded machine. At ten lines a second
# the slowed server fell behind, handled several lines per wake-up, and the count per delivery
# moved by 30 % with the machine's load.
#
#   scripts/callgrind-delivery.sh            # prints the figure
#   CHECK=31000 scripts/callgrind-delivery.sh   # ...and fails if it is over 31,000 + 5 %
#   KEEP=/tmp/cg scripts/callgrind-delivery.sh    # ...and keeps both callgrind files there, to
#                                                 # compare builds with callgrind_annotate
#
# Needs valgrind and a release build (`cargo build --release -p chat-cli`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chat-cli}
USERS=${USERS:-100}
SENDERS=${SENDERS:-1}
RATE=${RATE:-1}
SHORT=${SHORT:-5}
LONG=${LONG:-65}
PORT=${PORT:-22522}
work=$(mktemp -d)
trap 'if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP" && cp "$work"/cg-* "$KEEP"/; fi; rm -rf "$work"' EXIT

# One run: prints "INSTRUCTIONS DELIVERIES".
measure() {
  local seconds=$1 data="$work/data-$1" out="$work/cg-$1"
  valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
    "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$data" --web-bind off --max-per-ip 100000 \
    --max-new-per-ip 1000000 --max-unauthenticated 1000 2>"$work/server-$seconds.log" &
  local server=$!
  for _ in $(seq 1 300); do
    grep -q "listening" "$work/server-$seconds.log" 2>/dev/null && break
    sleep 0.1
  done
  "$BIN" bench --addr "127.0.0.1:$PORT" --json --users "$USERS" --senders "$SENDERS" \
    --rate "$RATE" --duration "$seconds" --warmup 1 --connect-concurrency 10 --timeout 60 \
    --drain 20 --settle 30 >"$work/bench-$seconds.json"
  kill -TERM "$server"
  wait "$server" || true
  local instructions deliveries
  instructions=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')
  deliveries=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["deliveries_seen"])' "$work/bench-$seconds.json")
  echo "$instructions $deliveries"
}

read -r short_ir short_del < <(measure "$SHORT")
read -r long_ir long_del < <(measure "$LONG")
per=$(( (long_ir - short_ir) / (long_del - short_del) ))
echo "runs: $SHORT s: $short_ir instructions, $short_del deliveries; $LONG s: $long_ir, $long_del"
echo "instructions per delivery: $per"
if [[ -n "${CHECK:-}" ]] && (( per * 100 > CHECK * 105 )); then
  echo "more than 5 % over the recorded $CHECK" >&2
  exit 1
fi
