#!/usr/bin/env bash
# Soak (issue 16): a release server under churn for an hour, failing if anything grows without
# bound. Not a CI test: it takes the whole run, and it reads the machine's /proc.
#
# One server on a free loopback port (fresh data directory, web front-end off, metrics on,
# an operator key made here) gets, for the whole run:
#   a busy room   `chat-cli bench`: 200 users, 20 senders × 1 line/s, 10 slow readers, in
#                 consecutive rounds of SOAK_ROUND s (the same keys and names every round)
#   churn         2 keyless OpenSSH sessions a second that say a line and leave, by `/exit`,
#                 by end of input, or by being killed (an abrupt close), in turn
#   floods        every 30 s, a session that sends 500 lines at once (the rate limit answers)
#   kicks         every 60 s, a victim joins and the operator kicks it (`ssh … "/kick NAME"`)
# Every minute it records the server's RSS, open descriptors and threads (/proc) and
# chat_tasks_alive, chat_sessions and chat_connections_open (/metrics) into minutes.csv.
#
# The verdict: the first WARMUP minutes (5, or 10 % of a run shorter than 50 minutes) are not
# judged; the rest is cut into quarters, and the run fails if the median of the last quarter
# exceeds the median of the first by more than the tolerance: RSS 25 %, descriptors 10 % + 20,
# tasks 10 % + 100 (the slack covers the sessions that come and go between two samples). It
# also fails if the server dies, if it does not stop cleanly on SIGTERM at the end, or if the
# load did not run (no churn, flood, kick or bench round succeeded). The table it prints, per
# quantity and quarter min / median / max, is meant for BENCHMARKS.md.
#
#   scripts/soak.sh                              # an hour, into target/soak/<time>/
#   nice -n 10 scripts/soak.sh --minutes 6       # or SOAK_MINUTES=6
#   CHAT_CLI=/path/to/chat-cli scripts/soak.sh --out /tmp/soak
#
# It builds nothing: it waits for target/release/chat-cli (built by someone else, e.g.
# `cargo build --release -p chat-cli`) unless CHAT_CLI names a binary, and runs a copy of it, so
# a rebuild during the run changes nothing. Needs OpenSSH (ssh, ssh-keygen) and curl. Every
# process it starts is stopped on exit, Ctrl-C included.
set -euo pipefail
# Paths given by the caller (CHAT_CLI, --out) are taken from where they called it.
caller_dir=$PWD
cd "$(dirname "$0")/.."
from_caller() { if [[ $1 == /* ]]; then echo "$1"; else echo "$caller_dir/$1"; fi; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  cat <<EOF
Options:  --minutes N (SOAK_MINUTES, default 60)   --out DIR (SOAK_OUT)   -h, --help
Tuning:   SOAK_USERS=$USERS_N SOAK_SENDERS=$SENDERS SOAK_RATE=$RATE SOAK_SLOW=$SLOW SOAK_ROUND=$ROUND
          SOAK_CHURN_PER_SECOND=$CHURN_PER_SECOND SOAK_FLOOD_EVERY=$FLOOD_EVERY SOAK_FLOOD_LINES=$FLOOD_LINES
          SOAK_KICK_EVERY=$KICK_EVERY SOAK_BINARY_WAIT=$BINARY_WAIT (minutes to wait for the binary)
Limits:   SOAK_RSS_TOLERANCE=$RSS_TOLERANCE SOAK_FD_TOLERANCE=$FD_TOLERANCE SOAK_FD_SLACK=$FD_SLACK
          SOAK_TASK_TOLERANCE=$TASK_TOLERANCE SOAK_TASK_SLACK=$TASK_SLACK (percent, and absolute slack)
EOF
}

MINUTES=${SOAK_MINUTES:-60}
OUT=${SOAK_OUT:-}
USERS_N=${SOAK_USERS:-200}
SENDERS=${SOAK_SENDERS:-20}
RATE=${SOAK_RATE:-1}
SLOW=${SOAK_SLOW:-10}
ROUND=${SOAK_ROUND:-300}
CHURN_PER_SECOND=${SOAK_CHURN_PER_SECOND:-2}
FLOOD_EVERY=${SOAK_FLOOD_EVERY:-30}
FLOOD_LINES=${SOAK_FLOOD_LINES:-500}
KICK_EVERY=${SOAK_KICK_EVERY:-60}
BINARY_WAIT=${SOAK_BINARY_WAIT:-120}
RSS_TOLERANCE=${SOAK_RSS_TOLERANCE:-25}
FD_TOLERANCE=${SOAK_FD_TOLERANCE:-10}
FD_SLACK=${SOAK_FD_SLACK:-20}
TASK_TOLERANCE=${SOAK_TASK_TOLERANCE:-10}
TASK_SLACK=${SOAK_TASK_SLACK:-100}

die() {
  echo "soak: $*" >&2
  exit 2
}

while (($#)); do
  case $1 in
    --minutes) MINUTES=${2:?--minutes needs a number}; shift 2 ;;
    --minutes=*) MINUTES=${1#*=}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument \`$1' (see --help)" ;;
  esac
done
if [[ ! $MINUTES =~ ^[0-9]+$ ]] || ((10#$MINUTES < 5)); then
  die "--minutes must be a whole number of at least 5 (each quarter after the warm-up needs a sample)"
fi
MINUTES=$((10#$MINUTES))
# 5 minutes, or 10 % of a shorter run, rounded up.
WARMUP=$(((MINUTES + 9) / 10))
((WARMUP > 5)) && WARMUP=5
if [[ -n $OUT ]]; then OUT=$(from_caller "$OUT"); else OUT=target/soak/$(date -u +%Y%m%dT%H%M%SZ); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# --- the binary: never built here -------------------------------------------------------------
if [[ -n ${CHAT_CLI:-} ]]; then
  source_bin=$(from_caller "$CHAT_CLI")
  [[ -x $source_bin ]] || die "CHAT_CLI=$CHAT_CLI is not an executable file"
else
  source_bin=target/release/chat-cli
  if [[ ! -x $source_bin ]]; then
    echo "soak: waiting for $source_bin (this script builds nothing; up to $BINARY_WAIT min)"
    waited=0
    until [[ -x $source_bin ]]; do
      ((waited < BINARY_WAIT * 60)) || die "$source_bin did not appear in $BINARY_WAIT minutes"
      sleep 10
      waited=$((waited + 10))
    done
  fi
  # Cargo links it into place when the link is done; give a slow disk a moment all the same.
  while (($(date +%s) - $(stat -c %Y "$source_bin") < 10)); do sleep 2; done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
bin=$work/chat-cli
cp "$source_bin" "$bin"
events=$OUT/events.log
: >"$events"

# --- clean-up: every process started here has its own process group, stopped on exit --------
# alive [PID]: whether the process (the server by default) runs; a zombie does not.
alive() {
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/${1:-$server}/status" 2>/dev/null) &&
    [[ -n $state && $state != Z ]]
}
groups=()
server=
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  local g
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  if [[ -n $server ]] && alive "$server"; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 100); do alive "$server" || break; sleep 0.1; done
    kill -KILL -- "-$server" 2>/dev/null || true
  fi
  for g in "${groups[@]}" ${server:+"$server"}; do wait "$g" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# spawn FUNCTION ARGS...: runs it in the background in a process group of its own (so that
# clean-up takes its ssh and bench children with it), input from /dev/null, output to load.log.
spawn() {
  set -m
  "$@" </dev/null >>"$OUT/load.log" 2>&1 &
  groups+=("$!")
  set +m
}

event() { echo "$*" >>"$events"; }

# --- the server --------------------------------------------------------------------------------
# A port below the kernel's ephemeral range that nothing listens on.
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 12000))
    [[ $port != "${1:-}" ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}
port=$(free_port)
metrics_port=$(free_port "$port")
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=65536
ulimit -n "$hard"

ssh-keygen -q -t ed25519 -N '' -C soak-operator -f "$work/operator"
cp "$work/operator.pub" "$work/admins"
set -m
"$bin" serve --bind "127.0.0.1:$port" --data-dir "$work/data" --web-bind off \
  --metrics-bind "127.0.0.1:$metrics_port" --admins "$work/admins" \
  --max-connections 100000 --max-per-ip 100000 --max-new-per-ip 10000000 \
  --max-unauthenticated 10000 </dev/null 2>"$OUT/server.log" &
server=$!
set +m

server_died() {
  echo "soak: FAIL: the server died ($1); the end of its log ($OUT/server.log):" >&2
  tail -n 20 "$OUT/server.log" >&2
  exit 1
}
for _ in $(seq 300); do
  grep -q 'listening' "$OUT/server.log" && grep -q 'serving /metrics' "$OUT/server.log" && break
  alive || server_died "before it listened"
  sleep 0.1
done
grep -q 'listening' "$OUT/server.log" || die "the server did not listen within 30 s"

# --- the load ------------------------------------------------------------------------------------
ssh_common=(-F /dev/null -T -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ConnectTimeout=20)
# Keyless users come in by keyboard-interactive with no questions (no BatchMode: it forbids that).
keyless=("${ssh_common[@]}" -o PubkeyAuthentication=no -o PasswordAuthentication=no)
operator=("${ssh_common[@]}" -i "$work/operator" -o IdentitiesOnly=yes -o IdentityAgent=none
  -o BatchMode=yes -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no)

# The busy room: consecutive bench rounds until the end of the run; the last one is planned to
# end a little after the last sample, so that every sample sees the room.
bench_loop() {
  set +e
  local n=0 left d rc
  while :; do
    left=$((deadline - $(date +%s)))
    ((left > 0)) || break
    if ((left > ROUND + 60)); then d=$ROUND; else d=$((left + 15)); fi
    n=$((n + 1))
    "$bin" bench --addr "127.0.0.1:$port" --users "$USERS_N" --senders "$SENDERS" --rate "$RATE" \
      --slow-readers "$SLOW" --duration "$d" --settle 5 --drain 10 --timeout 30 \
      --connect-concurrency 50 --key-seed 16 --user-prefix soak >"$OUT/bench-$n.txt" 2>&1
    rc=$?
    event "bench $n $rc"
    ((rc == 0)) || sleep 5
  done
}

# One churn session, leaving in one of three ways.
churn_one() {
  local i=$1 out rc expect=0
  case $((i % 3)) in
    0) out=$({ echo "churn$i says hello"; sleep 1; echo /exit; } |
      timeout --foreground -k 2 20 ssh "${keyless[@]}" "churn$i@127.0.0.1" 2>&1) ;;
    1) out=$({ echo "churn$i says hello"; sleep 1; } |
      timeout --foreground -k 2 20 ssh "${keyless[@]}" "churn$i@127.0.0.1" 2>&1) ;;
    *) expect=137 out=$({ echo "churn$i says hello"; sleep 3; } |
      timeout --foreground -s KILL 2 ssh "${keyless[@]}" "churn$i@127.0.0.1" 2>&1) ;;
  esac
  rc=$?
  if ((rc == expect)) && [[ $out == *Welcome* ]]; then
    event "churn ok"
  else
    event "churn fail $((i % 3)) rc=$rc: ${out//$'\n'/ | }"
  fi
}
churn_loop() {
  set +e +o pipefail
  local i=0 pause
  pause=$(awk -v r="$CHURN_PER_SECOND" 'BEGIN {printf "%.3f", 1 / r}')
  while :; do
    i=$((i + 1))
    churn_one "$i" &
    sleep "$pause"
  done
}

flood_one() {
  local n=$1 out rc
  out=$({ seq 1 "$FLOOD_LINES" | sed "s/^/flood$n line /"; sleep 3; } |
    timeout --foreground -k 2 30 ssh "${keyless[@]}" "flood$n@127.0.0.1" 2>&1)
  rc=$?
  if ((rc == 0)) && [[ $out == *Welcome* ]]; then
    event "flood ok"
  else
    event "flood fail rc=$rc: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
}
flood_loop() {
  set +e +o pipefail
  local n=0
  while :; do
    sleep "$FLOOD_EVERY"
    n=$((n + 1))
    flood_one "$n" &
  done
}

# A victim joins (and would stay 30 s); once it is in, the operator kicks it by a one-shot
# command; the kick worked if the operator's command succeeded and the victim's session ended
# with the notice.
kick_one() {
  local v=victim$1 vout=$work/victim-$1.out vrc=$work/victim-$1.rc out rc
  sleep 30 | {
    timeout --foreground -k 2 40 ssh "${keyless[@]}" "$v@127.0.0.1" >"$vout" 2>&1
    echo "$?" >"$vrc"
  } &
  for _ in $(seq 100); do
    grep -q Welcome "$vout" 2>/dev/null && break
    sleep 0.2
  done
  if ! grep -q Welcome "$vout" 2>/dev/null; then
    event "kick fail: $v did not get in"
    return
  fi
  out=$(timeout --foreground -k 2 30 ssh "${operator[@]}" soakop@127.0.0.1 "/kick $v soak" 2>&1)
  rc=$?
  for _ in $(seq 100); do
    [[ -s $vrc ]] && break
    sleep 0.2
  done
  if ((rc == 0)) && [[ -s $vrc ]] && grep -q 'kicked out' "$vout"; then
    event "kick ok"
  else
    event "kick fail: operator rc=$rc ($out); victim $([[ -s $vrc ]] && echo gone || echo 'still in')"
  fi
}
kick_loop() {
  set +e +o pipefail
  local n=0
  while :; do
    sleep 5
    n=$((n + 1))
    kick_one "$n" &
    sleep $((KICK_EVERY - 5))
  done
}

# --- sampling ------------------------------------------------------------------------------------
csv=$OUT/minutes.csv
echo "minute,unix_time,rss_kib,fds,threads,tasks_alive,sessions,connections_open,load1,rss_anon_kib,rss_file_kib" >"$csv"
tasks_metric=unknown
sample() {
  local minute=$1 status rss rss_anon rss_file threads fds metrics tasks sessions connections
  status=$(cat "/proc/$server/status" 2>/dev/null) || server_died "at minute $minute"
  rss=$(awk '/^VmRSS:/ {print $2}' <<<"$status")
  # Anonymous (the heap, stacks) apart from file-backed and shared (the binary, SQLite's
  # mapped WAL index): a step in one is not a step in the other.
  rss_anon=$(awk '/^RssAnon:/ {print $2}' <<<"$status")
  rss_file=$(awk '/^Rss(File|Shmem):/ {s += $2} END {print s + 0}' <<<"$status")
  threads=$(awk '/^Threads:/ {print $2}' <<<"$status")
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null) || {
    sleep 2
    metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null)
  } || {
    echo "soak: minute $minute: /metrics did not answer" >&2
    metrics=
  }
  if [[ -n $metrics ]]; then
    tasks=$(awk '$1 == "chat_tasks_alive" {print $2}' <<<"$metrics")
    if [[ -z $tasks ]]; then tasks_metric=missing; tasks=0; else tasks_metric=present; fi
    sessions=$(awk '$1 ~ /^chat_sessions([{]|$)/ {s += $2} END {print s + 0}' <<<"$metrics")
    connections=$(awk '$1 == "chat_connections_open" {print $2}' <<<"$metrics")
  else
    tasks='' sessions='' connections=''
  fi
  echo "$minute,$(date +%s),$rss,$fds,$threads,$tasks,$sessions,$connections,$(cut -d' ' -f1 /proc/loadavg),$rss_anon,$rss_file" >>"$csv"
  printf 'soak: minute %3d/%d  rss %6.1f MiB  fds %5s  threads %3s  tasks %6s  sessions %5s  connections %5s\n' \
    "$minute" "$MINUTES" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$fds" "$threads" \
    "${tasks:--}" "${sessions:--}" "${connections:--}"
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
{
  echo "# soak of $source_bin ($(stat -c %y "$source_bin" | cut -d. -f1), commit $commit)"
  echo "# $(date -u +%FT%TZ): $MINUTES min, warm-up $WARMUP min; server pid $server on 127.0.0.1:$port, metrics :$metrics_port"
  echo "# load: bench $USERS_N users, $SENDERS senders x $RATE/s, $SLOW slow readers, rounds of ${ROUND} s;" \
    "churn $CHURN_PER_SECOND/s; flood of $FLOOD_LINES lines every $FLOOD_EVERY s; kick every $KICK_EVERY s"
  echo "# before: $(uptime)"
} | tee "$OUT/header.txt"
echo "soak: output in $OUT"

t0=$(date +%s)
deadline=$((t0 + MINUTES * 60))
sample 0
spawn bench_loop
bench_group=${groups[-1]}
spawn churn_loop
spawn flood_loop
spawn kick_loop

for minute in $(seq 1 "$MINUTES"); do
  while left=$((t0 + minute * 60 - $(date +%s))) && ((left > 0)); do
    alive || server_died "during minute $minute"
    sleep $((left < 5 ? left : 5))
  done
  sample "$minute"
done

# --- the end: stop the load, then the server ----------------------------------------------------
for g in "${groups[@]}"; do
  [[ $g == "$bench_group" ]] || kill -TERM -- "-$g" 2>/dev/null || true
done
for _ in $(seq 120); do # the last bench round ends about 15 s after the last sample
  alive "$bench_group" || break
  sleep 1
done
kill -TERM -- "-$bench_group" 2>/dev/null || true
echo "# after: $(uptime)" | tee -a "$OUT/header.txt"
failures=()
kill -TERM "$server"
stopped=
for _ in $(seq 200); do
  alive || { stopped=yes; break; }
  sleep 0.1
done
if [[ -n $stopped ]]; then
  server_status=0
  wait "$server" || server_status=$?
  ((server_status == 0)) || failures+=("the server exited with status $server_status on SIGTERM")
else
  failures+=("the server did not stop within 20 s of SIGTERM")
fi
if [[ -n $stopped ]]; then server=; fi

# --- the verdict ---------------------------------------------------------------------------------
# stats COLUMN FROM TO [SCALE]: "min / median / max" of a column over minutes FROM..TO.
stats() {
  awk -F, -v c="$1" -v from="$2" -v to="$3" \
    'NR > 1 && $1 >= from && $1 <= to && $c != "" {print $c}' "$csv" | sort -n |
    awk -v scale="${4:-1}" '{v[NR] = $1 / scale}
      END {
        if (NR == 0) { print "-"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        f = (scale == 1) ? "%g / %g / %g" : "%.1f / %.1f / %.1f"
        printf f "\n", v[1], m, v[NR]
      }'
}
median() { stats "$@" | awk -F' / ' '{print $2}'; }
column_of() { head -1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }

span=$((MINUTES - WARMUP))
# Quarter q holds the samples of minutes WARMUP + ((q-1)·span/4, q·span/4].
quarter_from() { echo $((WARMUP + ((($1 - 1) * span) / 4) + 1)); }
quarter_to() { echo $((WARMUP + ($1 * span) / 4)); }
q1_from=$(quarter_from 1) q1_to=$(quarter_to 1) q4_from=$(quarter_from 4) q4_to=$(quarter_to 4)

# judge NAME COLUMN TOLERANCE SLACK SCALE: sets limit (on the last quarter's median, in the
# column's units) and verdict, and notes a failure if the last quarter's median is over it.
judge() {
  local name=$1 column=$2 tolerance=$3 slack=$4 scale=$5 first last unit=
  first=$(median "$column" "$q1_from" "$q1_to")
  last=$(median "$column" "$q4_from" "$q4_to")
  limit=$(awk -v f="$first" -v t="$tolerance" -v s="$slack" 'BEGIN {print f * (1 + t / 100) + s}')
  if awk -v l="$last" -v m="$limit" 'BEGIN {exit !(l > m)}'; then
    ((scale == 1)) || unit=" MiB"
    failures+=("$(awk -v n="${name% (*}" -v u="$unit" -v s="$scale" -v f="$first" -v l="$last" -v m="$limit" \
      'BEGIN {x = (s == 1) ? "%g" : "%.1f"
        printf "%s grew: median " x "%s in the last quarter against " x "%s in the first (limit " x "%s)", \
          n, l / s, u, f / s, u, m / s, u}')")
    verdict="**grew**"
  else
    verdict=ok
  fi
}

{
  echo
  echo "| quantity | warm-up (min 0–$WARMUP) | 1st quarter (min $q1_from–$q1_to) | 2nd ($(quarter_from 2)–$(quarter_to 2)) | 3rd ($(quarter_from 3)–$(quarter_to 3)) | last ($q4_from–$q4_to) | limit on the last median | verdict |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for row in "RSS (MiB)|rss_kib|$RSS_TOLERANCE|0|1024" "RSS anonymous (MiB)|rss_anon_kib|||1024" \
    "RSS file-backed (MiB)|rss_file_kib|||1024" "open fds|fds|$FD_TOLERANCE|$FD_SLACK|1" \
    "threads|threads|||1" "tasks (chat_tasks_alive)|tasks_alive|$TASK_TOLERANCE|$TASK_SLACK|1" \
    "sessions (chat_sessions)|sessions|||1" "connections (chat_connections_open)|connections_open|||1"; do
    IFS='|' read -r name column tolerance slack scale <<<"$row"
    c=$(column_of "$column")
    cells=("$(stats "$c" 0 "$WARMUP" "$scale")")
    for q in 1 2 3 4; do cells+=("$(stats "$c" "$(quarter_from $q)" "$(quarter_to $q)" "$scale")"); done
    shown=– verdict="not judged"
    if [[ -n $tolerance && ! ($column == tasks_alive && $tasks_metric != present) ]]; then
      judge "$name" "$c" "$tolerance" "$slack" "$scale"
      if ((scale == 1)); then
        shown=$(printf '≤ %.0f (+%s %% + %s)' "$limit" "$tolerance" "$slack")
      else
        shown=$(printf '≤ %.1f (+%s %%)' "$(awk -v l="$limit" -v s="$scale" 'BEGIN {print l / s}')" "$tolerance")
      fi
    fi
    echo "| $name | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | ${cells[4]} | $shown | $verdict |"
  done
  echo
  echo "Cells: min / median / max of the once-a-minute samples."
  [[ $tasks_metric == present ]] ||
    echo "This binary does not export chat_tasks_alive: tasks recorded as 0 and not judged."
  count() { grep -c "^$1" "$events" || true; }
  echo "Load: $(count 'churn ok') churn sessions in and out ($(count 'churn fail') failed)," \
    "$(count 'flood ok') floods ($(count 'flood fail') failed), $(count 'kick ok') kicks" \
    "($(count 'kick fail') failed), bench rounds: $(grep -c '^bench [0-9]* 0$' "$events" || true)" \
    "($(grep -c '^bench [0-9]* [1-9]' "$events" || true) failed)."
  for f in "$OUT"/bench-*.txt; do
    [[ -e $f ]] || continue
    echo "- $(basename "$f" .txt): $(grep -E '^ +(deliveries|slow|errors) ' "$f" |
      awk '{sub(/^ +/, ""); gsub(/ +/, " "); printf "%s%s", (NR > 1 ? "; " : ""), $0}')"
  done
  # Slow readers cannot see that they were cut off (they do not read): the server's log can.
  echo "The server disconnected $(grep -c 'client stopped reading; disconnecting' "$OUT/server.log" || true)" \
    "clients that stopped reading, and kicked $(grep -c 'closed by the hub.*kicked out' "$OUT/server.log" || true)."
  panics=$(grep -c 'panicked' "$OUT/server.log" || true)
  ((panics == 0)) || echo "Warning: $panics panics in the server's log."
  grep '^churn fail\|^flood fail\|^kick fail' "$events" | sort | uniq -c | sort -rn | head -5 |
    sed 's/^/  /' || true
} >"$OUT/summary.md" # not a pipe: judge's failures must reach this shell
cat "$OUT/summary.md"

for what in churn flood kick; do
  (($(grep -c "^$what ok" "$events" || true) > 0)) || failures+=("the load did not run: no $what succeeded")
done
grep -q '^bench [0-9]* 0$' "$events" || failures+=("the load did not run: no bench round succeeded")

if ((${#failures[@]})); then
  printf 'soak: FAIL: %s\n' "${failures[@]}" | tee -a "$OUT/summary.md" >&2
  exit 1
fi
echo "soak: PASS ($OUT)" | tee -a "$OUT/summary.md"
