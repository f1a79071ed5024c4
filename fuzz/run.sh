#!/usr/bin/env bash
# Runs the fuzz targets (all, or those named) from their seed corpus in corpus/TARGET/.
#
#   fuzz/run.sh                      FUZZ_RUNS (20000) inputs for each target but keyfile: CI
#   fuzz/run.sh session store        only these
#   fuzz/run.sh all                  every target, keyfile too
#   FUZZ_TIME=3600 fuzz/run.sh render   one hour (crashes are kept and the run goes on)
#
# keyfile is left out of the default because it builds chat-server, and so russh, tokio and ring,
# with coverage instrumentation: about 5.5 CPU-minutes, more than the other five together.
#
# What a run finds beyond the seeds goes to work/TARGET/ (not committed), crashes to
# artifacts/TARGET/. Builds with `-s none`: our code forbids `unsafe`, so AddressSanitizer adds
# little, and without it cargo-fuzz passes rustc no nightly-only flag, so stable Rust builds it.
# FUZZ_SANITIZER=address brings ASan back; that needs `-Zsanitizer`, which stable rustc accepts
# only with RUSTC_BOOTSTRAP=1, so the script sets it then.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

targets=("$@")
((${#targets[@]})) || targets=(editor command render store session)
[ "${targets[*]}" = all ] && targets=(editor command render store session keyfile)
runs=${FUZZ_RUNS:-20000}
time_limit=${FUZZ_TIME:-}
sanitizer=${FUZZ_SANITIZER:-none}
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# No --locked (cargo-fuzz has none): when chat-core, chat-store or chat-server gain a dependency,
# cargo adds it to fuzz/Cargo.lock here rather than failing CI. Commit the updated lock file.

build() {
  local features=()
  # Only the authorized_keys target needs chat-server (and so russh): see Cargo.toml.
  [ "$1" = keyfile ] && features=(--features keyfile)
  cargo fuzz build --sanitizer "$sanitizer" "${features[@]}" "$1"
}

for target in "${targets[@]}"; do
  build "$target"
done

for target in "${targets[@]}"; do
  mkdir -p "work/$target" "artifacts/$target"
  features=()
  [ "$target" = keyfile ] && features=(--features keyfile)
  if [ -n "$time_limit" ]; then
    # One process that forks workers: a crash is written to artifacts/ and fuzzing goes on.
    limits=(-max_total_time="$time_limit" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  else
    limits=(-runs="$runs")
  fi
  echo "=== fuzz $target (${time_limit:+${time_limit}s}${time_limit:-$runs runs})"
  cargo fuzz run --sanitizer "$sanitizer" "${features[@]}" "$target" "work/$target" "corpus/$target" -- \
    -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 "${limits[@]}"
done
