#!/usr/bin/env bash
# Sessions set up per second with USERS registered keys, in one sitting: `--join open` with
# fresh keys (each new key's first visit registers its name), `--join registered` on SQLite,
# and `--join registered` on DynamoDB (dynalite on loopback). The figures for BENCHMARKS.md.
#
#   BIN=target/release/chat-cli scripts/bench-directory.sh
#
# Needs tools/dynalite installed (`cd tools/dynalite && npm ci`). Reports go to OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/chat-cli}
OUT=${OUT:-bench-out}
USERS=${USERS:-1000}
RUNS=${RUNS:-2}
PORT=${PORT:-22423}
SEED=${SEED:-1}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

limits=(--max-per-ip 1000000 --max-unauthenticated 1000000 --max-connections 1000000
  --max-new-per-ip 100000000)
bench=(--users "$USERS" --senders 0 --connect-concurrency 100 --settle 120 --timeout 60)

dynalite_log=$(mktemp)
node tools/dynalite/server.js --port 0 --createTableMs 0 --deleteTableMs 0 >"$dynalite_log" 2>&1 &
dynalite=$!
trap 'kill "$dynalite" 2>/dev/null; wait "$dynalite" 2>/dev/null; rm -f "$dynalite_log"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$dynalite_log" && break
  sleep 0.1
done
endpoint=$(sed -n 's/^listening on //p' "$dynalite_log")
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true

keys=$(mktemp)
"$BIN" bench --users "$USERS" --key-seed "$SEED" --export-keys "$keys"

# run LABEL DIRECTORY JOIN [bench flags...]: a fresh data directory (and table) each time.
run() {
  local label=$1 directory=$2 join=$3
  shift 3
  local data
  data=$(mktemp -d)
  if [ "$directory" != sqlite ]; then
    "$BIN" directory create-table --directory "$directory" >/dev/null
  fi
  "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$data" --directory "$directory" \
    --join "$join" "${limits[@]}" 2>"$OUT/$label.server.log" &
  local server=$!
  for _ in $(seq 1 100); do
    grep -q listening "$OUT/$label.server.log" 2>/dev/null && break
    sleep 0.1
  done
  # Registered while the server runs (it made the database), as an operator would.
  if [ "$join" = registered ]; then
    local started=$SECONDS
    "$BIN" accounts --directory "$directory" --data-dir "$data" import "$keys" \
      >/dev/null 2>"$OUT/$label.import.log"
    echo "# $label: imported $USERS accounts in $((SECONDS - started)) s" >&2
  fi
  {
    echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $label: --join $join --directory $directory $*"
    echo "# before: $(uptime)"
    "$BIN" bench --addr "127.0.0.1:$PORT" --server-pid "$server" "${bench[@]}" "$@"
    echo "# after: $(uptime)"
  } >"$OUT/$label.txt"
  kill -TERM "$server"
  wait "$server" || true
  rm -rf "$data"
  cat "$OUT/$label.txt"
}

for i in $(seq 1 "$RUNS"); do
  run "open-$i" sqlite open
  run "sqlite-$i" sqlite registered --key-seed "$SEED"
  run "dynamodb-$i" "dynamodb://bench$i?region=us-east-1&endpoint=$endpoint" registered \
    --key-seed "$SEED"
done
rm -f "$keys"
