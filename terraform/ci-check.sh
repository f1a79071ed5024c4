#!/usr/bin/env bash
# CI checks for the AWS deployment: terraform/ and deploy/chat.service. Runnable from any cwd:
#   bash terraform/ci-check.sh
#
#   1. user-data template: rendered with sample values (sed), then bash -n and shellcheck
#      (terraform/apply-check.sh renders it through a real terraform apply instead)
#   2. deploy/chat.service: required directives present, systemd-analyze verify (where available)
#   3. terraform fmt -check, init (offline, provider from the local mirror), validate, test
#
# Without terraform on PATH, step 3 is skipped with a loud warning and the script still exits 0
# if the rest passes. Without shellcheck it is installed with apt-get when running as root;
# if that is impossible the step fails under CI=true and is skipped (loudly) otherwise.
# Environment: TF_PLUGIN_DIR (default /opt/tf-plugins): provider mirror for offline init; when
# that directory does not exist, init downloads the provider from the registry instead.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TEMPLATE=$HERE/user-data.sh.tftpl
UNIT=$REPO/deploy/chat.service
PLUGIN_DIR=${TF_PLUGIN_DIR:-/opt/tf-plugins}
CI=${CI:-false}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0

banner() {
  printf '\n'
  printf '!%.0s' {1..78}
  printf '\n!! %s\n' "$@"
  printf '!%.0s' {1..78}
  printf '\n\n'
}

# step NAME FUNCTION: runs FUNCTION in a subshell with errexit really on (a function called as an
# `if` condition would run with set -e silently disabled), records pass/fail, carries on.
step() {
  local name=$1 rc=0
  shift
  printf '==> %s\n' "$name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    printf '    ok: %s\n' "$name"
    passed=$((passed + 1))
  else
    printf '    FAILED (exit %s): %s\n' "$rc" "$name"
    failed=$((failed + 1))
  fi
}

skip() {
  banner "SKIPPED: $1" "$2"
  skipped=$((skipped + 1))
}

# --- 1. user-data --------------------------------------------------------------------------

# The template may interpolate values only in its header, one whole single-quoted assignment a
# line (NAME='${placeholder}'), so that sed renders it exactly as Terraform does;
# tests/deploy.tftest.hcl asserts that equality. Two renderings: every feature on (a cluster
# node with DynamoDB, a domain, Redis and the shared host key) and every optional value empty
# (the default single server), so that both sides of each `if` are linted with real values.
SAMPLE_ALL=(
  repo_url=https://github.com/example/ssh-chat-rs.git
  git_ref=v0.1.0
  data_volume_id=vol-0123456789abcdef0
  region=eu-central-1
  'directory=dynamodb://ssh-chat-directory?region=eu-central-1'
  public_url=https://chat.example.org
  web_domain=chat.example.org
  cluster_url=redis://ssh-chat-bus.abc123.ng.0001.euc1.cache.amazonaws.com:6379
  node_name=ssh-chat-0
  host_key_parameter=/ssh-chat/host_ed25519_key
  host_key_writer=yes
)
SAMPLE_NONE=(
  repo_url=https://github.com/example/ssh-chat-rs.git
  git_ref=main
  data_volume_id=vol-0123456789abcdef0
  region=us-east-1
  directory= public_url= web_domain= cluster_url= node_name= host_key_parameter= host_key_writer=
)

# render_with OUT NAME=VALUE...: the template with each ${NAME} replaced by VALUE.
render_with() {
  local out=$1 kv script=()
  shift
  for kv in "$@"; do
    script+=(-e "s|\\\${${kv%%=*}}|${kv#*=}|")
  done
  sed "${script[@]}" "$TEMPLATE" >"$out"
  # shellcheck disable=SC2016
  if grep -n '\${' "$out"; then
    echo "unrendered placeholders left in $out"
    return 1
  fi
  head -n 1 "$out" | grep -qx '#!/bin/bash'
  grep -qx 'set -euo pipefail' "$out"
}

render_user_data() {
  local stray placeholders
  stray=$(grep -nE '[$%]\{' "$TEMPLATE" | grep -vE "^[0-9]+:[A-Z_]+='\\$\\{[a-z_]+\\}'( .*)?$" || true)
  if [ -n "$stray" ]; then
    echo "template syntax outside the header assignments (write \$VAR, not the braced form):"
    echo "$stray"
    return 1
  fi
  # Every placeholder of the template has a sample value, and no sample names a missing one.
  placeholders=$(grep -oE "^[A-Z_]+='\\$\\{[a-z_]+\\}'" "$TEMPLATE" | sed -E 's/.*\{([a-z_]+)\}.*/\1/' | sort)
  diff <(echo "$placeholders") <(printf '%s\n' "${SAMPLE_ALL[@]%%=*}" | sort)
  diff <(echo "$placeholders") <(printf '%s\n' "${SAMPLE_NONE[@]%%=*}" | sort)
  render_with "$WORK/user-data.sh" "${SAMPLE_ALL[@]}"
  render_with "$WORK/user-data-default.sh" "${SAMPLE_NONE[@]}"
}

ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "shellcheck missing: installing the Debian package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >"$WORK/apt.log" 2>&1 ||
      { apt-get update -q >>"$WORK/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >>"$WORK/apt.log" 2>&1; } ||
      { tail -n 20 "$WORK/apt.log"; return 1; }
  fi
  command -v shellcheck >/dev/null 2>&1
}

step "render user-data template with sample values" render_user_data
if [ -f "$WORK/user-data-default.sh" ]; then
  step "bash -n user-data (all features, default)" bash -n "$WORK/user-data.sh" "$WORK/user-data-default.sh"
  if ensure_shellcheck; then
    step "shellcheck user-data (all features, default)" shellcheck --shell=bash "$WORK/user-data.sh" "$WORK/user-data-default.sh"
    step "shellcheck the scripts here" shellcheck "$HERE"/*.sh
  elif [ "$CI" = true ]; then
    banner "shellcheck is not installed and could not be installed (apt-get install shellcheck)."
    failed=$((failed + 1))
  else
    skip "shellcheck is not installed" "Install it (apt-get install shellcheck) to lint the user-data."
  fi
fi

# --- 2. systemd unit -----------------------------------------------------------------------

check_unit_directives() {
  local d missing=0
  for d in 'User=chat' 'Group=chat' 'ExecStart=/usr/local/bin/chat-cli serve' \
    'Environment=CHAT_DATA_DIR=/var/lib/chat' 'Environment=CHAT_BIND=0.0.0.0:2222' \
    'Restart=on-failure' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/chat' 'CapabilityBoundingSet=' 'KillSignal=SIGTERM' \
    'LimitNOFILE=65536' 'WantedBy=multi-user.target'; do
    if ! grep -qxF "$d" "$UNIT"; then
      echo "missing line: $d"
      missing=1
    fi
  done
  return "$missing"
}

# systemd-analyze verify fails when ExecStart's binary does not exist, and chat-cli is not
# installed here (nor should CI build it for this). So verify a copy whose ExecStart points at
# /bin/true; every other line, the sandboxing included, is checked as written.
verify_unit() {
  mkdir -p "$WORK/unit"
  sed 's|^ExecStart=/usr/local/bin/chat-cli |ExecStart=/bin/true |' "$UNIT" >"$WORK/unit/chat.service"
  grep -q '^ExecStart=/bin/true serve$' "$WORK/unit/chat.service"
  # verify prints problems as warnings on stderr: treat any output as a failure.
  systemd-analyze verify --man=no "$WORK/unit/chat.service" >"$WORK/verify.log" 2>&1 || {
    cat "$WORK/verify.log"
    return 1
  }
  if [ -s "$WORK/verify.log" ]; then
    cat "$WORK/verify.log"
    return 1
  fi
}

step "deploy/chat.service has the required directives" check_unit_directives
if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify deploy/chat.service" verify_unit
else
  skip "systemd-analyze is not installed: deploy/chat.service was NOT verified" \
    "Install the systemd package (Debian/Ubuntu) to run this check."
fi

# --- 3. terraform --------------------------------------------------------------------------

export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
# A TF_CLI_CONFIG_FILE naming a missing file only makes every command print a warning.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi
# Keep the provider install out of the checkout and away from a developer's own .terraform/.
export TF_DATA_DIR="$WORK/tf-data"
color=()
if [ "$CI" = true ] || [ ! -t 1 ]; then
  color=(-no-color)
fi

tf_fmt() {
  terraform fmt -check -recursive -diff "$HERE"
  # fmt ignores *.example files: check the tfvars example through stdin.
  # shellcheck disable=SC2094 # both sides only read the file
  terraform fmt - <"$HERE/terraform.tfvars.example" | diff -u "$HERE/terraform.tfvars.example" -
}
tf_init() {
  local mirror=()
  if [ -d "$PLUGIN_DIR" ]; then
    mirror=(-plugin-dir="$PLUGIN_DIR")
  else
    echo "    note: $PLUGIN_DIR does not exist; terraform init will download the provider"
  fi
  cd "$HERE"
  terraform init -backend=false ${mirror[@]+"${mirror[@]}"} -input=false ${color[@]+"${color[@]}"} >"$WORK/init.log" 2>&1 || {
    cat "$WORK/init.log"
    return 1
  }
}
tf_validate() {
  cd "$HERE"
  terraform validate ${color[@]+"${color[@]}"}
}
tf_test() {
  cd "$HERE"
  terraform test ${color[@]+"${color[@]}"}
}

if command -v terraform >/dev/null 2>&1; then
  terraform version | sed -n 1p # not head: under pipefail, terraform could die of SIGPIPE
  step "terraform fmt -check -recursive" tf_fmt
  step "terraform init -backend=false (offline with $PLUGIN_DIR)" tf_init
  step "terraform validate" tf_validate
  step "terraform test (mocked AWS provider)" tf_test
else
  skip "terraform is NOT installed: fmt, init, validate and test were NOT run" \
    "Install Terraform >= 1.11 to run them. The shell and unit checks above still ran."
fi

printf '\nci-check: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
