# shellcheck shell=bash
# Sourced by the benchmark scripts: starting and stopping release servers and redis-server
# on loopback. Expects BIN (the chat-cli binary). Add each pid started to `pids`: all of them
# are stopped when the sourcing script exits.

pids=()
# stop PID...: SIGTERM, then waits for each to be gone (they are started in $(...), so they
# are not this shell's children and `wait` cannot be used).
stop() {
  local pid
  for pid in "$@"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
}
cleanup() {
  ((${#pids[@]})) && stop "${pids[@]}"
  return 0
}
trap cleanup EXIT

limits=(--max-per-ip 1000000 --max-unauthenticated 1000000 --max-connections 1000000
  --max-new-per-ip 100000000 --web-bind off)

# start_server LOG PORT DATA [ARGS...]: starts a server, waits until it listens, prints its pid.
start_server() {
  local log=$1 port=$2 data=$3
  shift 3
  # stdout elsewhere: this runs in $(...), which would otherwise wait for the server to exit.
  "$BIN" serve --bind "127.0.0.1:$port" --data-dir "$data" "${limits[@]}" "$@" \
    >/dev/null 2>"$log" &
  local pid=$!
  for _ in $(seq 1 200); do
    grep -q listening "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || {
      cat "$log" >&2
      exit 1
    }
    sleep 0.1
  done
  echo "$pid"
}

# start_redis DIR PORT: a redis-server with persistence on, as the README asks; prints its pid.
start_redis() {
  local dir=$1 port=$2
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly yes \
    --protected-mode no >"$dir/redis.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  echo "$pid"
}


# start_servers WORK LOG_PREFIX NODES: NODES=0 starts one server without a cluster; NODES>=1
# starts that many nodes of a cluster on one redis-server (each its own data directory, all
# sharing one SQLite key directory), on ports BASE_PORT, BASE_PORT+1, ... Sets `addrs` (the
# servers' HOST:PORT) and `server_pids` (redis-server last: its CPU is the bus's share,
# reported beside the nodes'); logs go to LOG_PREFIX.a.log or LOG_PREFIX.node-N.log.
start_servers() {
  local work=$1 log_prefix=$2 nodes=$3 pid
  addrs=() server_pids=()
  if [ "$nodes" = 0 ]; then
    mkdir "$work/a"
    pid=$(start_server "$log_prefix.a.log" "$BASE_PORT" "$work/a")
    pids+=("$pid")
    server_pids+=("$pid")
    addrs+=("127.0.0.1:$BASE_PORT")
    return
  fi
  local redis_port=$((BASE_PORT + 100)) redis node port
  redis=$(start_redis "$work" "$redis_port")
  pids+=("$redis")
  for node in $(seq 1 "$nodes"); do
    port=$((BASE_PORT + node - 1))
    mkdir "$work/node-$node"
    pid=$(start_server "$log_prefix.node-$node.log" "$port" "$work/node-$node" \
      --cluster "redis://127.0.0.1:$redis_port/0" --node-name "node-$node" \
      --directory "sqlite:$work/accounts.db")
    pids+=("$pid")
    server_pids+=("$pid")
    addrs+=("127.0.0.1:$port")
  done
  server_pids+=("$redis")
}
