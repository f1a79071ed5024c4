#!/usr/bin/env bash
# terraform apply for real, against moto (an AWS API server on loopback), for every variant of
# the configuration. Runnable from any cwd, offline but for PyPI the first time:
#   bash terraform/apply-check.sh [VARIANT...]      (default: all; names listed below)
#
# Each variant gets its own moto (on a free loopback port) and its own copy of the
# configuration, and they run side by side. For each: snapshot what exists (through moto's AWS
# APIs), terraform init (offline, provider from the local mirror), apply -auto-approve, check
# the outputs, read every instance's user-data back from EC2 and compare it with what Terraform
# rendered, bash -n and shellcheck it; for a cluster, run the user-data's host key exchange
# against moto's SSM; then plan -detailed-exitcode (must be 0: no changes), destroy
# -auto-approve, and require the snapshot to be what it was before the apply. The moto
# emulation gaps this relies on being fixed are in tests/moto/server.py.
#
# Environment: TF_PLUGIN_DIR (default /opt/tf-plugins), the provider mirror; APPLY_CHECK_CACHE
# (default ~/.cache/ssh-chat-apply-check), where the moto virtualenv is kept between runs, one
# per requirements file and Python version; APPLY_CHECK_JOBS (default 6): variants run at once;
# APPLY_CHECK_KEEP=1 keeps the work directory (logs, states) for a look afterwards. Each moto
# is stopped by its PID when its variant ends and on exit, failure included.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PLUGIN_DIR=${TF_PLUGIN_DIR:-/opt/tf-plugins}
REQUIREMENTS=$HERE/moto-requirements.txt
MOTO_DIR=$HERE/tests/moto
CACHE=${APPLY_CHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssh-chat-apply-check}
REGION=us-east-1

# name|terraform variables (HCL, one per line). Each variable that changes which resources
# exist, alone, then all of them at once with the rest that does (IPv6 and admin rules): so
# every resource of the configuration is created at least once, the Elastic IP and single
# node, the table and role, the web rules, the cluster (NLB, Redis, SSM) without and with the
# web listeners.
VARIANTS=(
  'default|'
  'dynamodb|key_store = "dynamodb"'
  'domain|domain_name = "chat.example.org"'
  'cluster|node_count = 3
key_store = "dynamodb"'
  'everything|node_count = 3
key_store = "dynamodb"
domain_name = "chat.example.org"
web_cidrs = ["0.0.0.0/0", "::/0"]
chat_cidrs = ["0.0.0.0/0", "::/0"]
admin_cidrs = ["198.51.100.7/32", "2001:db8::/32"]'
)

WORK=$(mktemp -d)
cleanup() {
  local pid
  # Every moto this run started, by PID (a variant that failed may have left its own running).
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      kill "$pid" 2>/dev/null || true
    done <"$WORK/pids"
  fi
  wait 2>/dev/null || true
  if [ "${APPLY_CHECK_KEEP:-}" = 1 ]; then
    echo "apply-check: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

log() { printf '%s apply-check: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() {
  log "FAILED: $*"
  if [ -n "${VDIR:-}" ] && [ -s "$VDIR/moto.log" ]; then
    echo "--- last errors in the moto log"
    grep -v '" 200 -$' "$VDIR/moto.log" | tail -n 30
  fi
  exit 1
}

# --- Tools ----------------------------------------------------------------------------------

command -v terraform >/dev/null || die "terraform is not installed (1.11+ needed)"
command -v python3 >/dev/null || die "python3 is not installed"
command -v shellcheck >/dev/null || die "shellcheck is not installed (apt-get install shellcheck)"
command -v ssh-keygen >/dev/null || die "ssh-keygen is not installed (apt-get install openssh-client)"
[ -d "$PLUGIN_DIR" ] || die "no provider mirror at $PLUGIN_DIR (set TF_PLUGIN_DIR)"

# The virtualenv: made once per requirements file and Python version; the marker file is
# written last, so that an interrupted install is never taken for a finished one.
venv_key=$( (cat "$REQUIREMENTS"; python3 -VV) | sha256sum | cut -c1-16)
VENV=$CACHE/venv-$venv_key
if [ ! -f "$VENV/.complete" ]; then
  log "installing the pinned moto into $VENV"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$REQUIREMENTS" >"$WORK/pip.log" 2>&1 || {
    tail -n 30 "$WORK/pip.log"
    die "pip install of $REQUIREMENTS"
  }
  touch "$VENV/.complete"
fi
PY=$VENV/bin/python
log "$("$PY" -c 'import moto, boto3; print("moto", moto.__version__, "boto3", boto3.__version__)')"

# --- moto -----------------------------------------------------------------------------------

# One image for the aws_ami data source to find: Ubuntu 24.04 amd64, owned by Canonical.
cat >"$WORK/amis.json" <<'EOF'
[
  {
    "ami_id": "ami-0e2c8caa4b6378d8c",
    "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115",
    "description": "Canonical, Ubuntu, 24.04, amd64 noble image",
    "owner_id": "099720109477",
    "public": true,
    "virtualization_type": "hvm",
    "architecture": "x86_64",
    "state": "available",
    "platform": null,
    "image_type": "machine",
    "hypervisor": "xen",
    "root_device_name": "/dev/sda1",
    "root_device_type": "ebs",
    "sriov": "simple"
  }
]
EOF

# start_moto DIR: a moto server of its own for one variant, on a free loopback port; sets
# ENDPOINT and MOTO_PID, and records the PID for the exit trap.
start_moto() {
  local dir=$1 port
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  ENDPOINT=http://127.0.0.1:$port
  MOTO_AMIS_PATH=$WORK/amis.json "$PY" "$MOTO_DIR/server.py" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  MOTO_PID=$!
  echo "$MOTO_PID" >>"$WORK/pids"
  for _ in $(seq 1 150); do
    if "$PY" -c "import urllib.request as u; u.urlopen('$ENDPOINT/moto-api/', timeout=1)" 2>/dev/null; then
      export AWS_ENDPOINT_URL=$ENDPOINT
      return 0
    fi
    kill -0 "$MOTO_PID" 2>/dev/null || die "moto exited at start"
    sleep 0.2
  done
  die "moto did not answer on $ENDPOINT"
}

stop_moto() {
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
}

# Fake credentials for everyone: Terraform, boto3, and the user-data's Python.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=$REGION
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

# --- The configuration, copied for each variant, with the provider pointed at its moto -----

export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi

# Every service the configuration calls. A resource type that none of them serves fails the
# check before anything runs: give its service an endpoint here, and add it to the list.
SERVICES=(ec2 iam sts dynamodb elbv2 elasticache ssm)
SERVED_TYPES='ami|ec2_instance_type_offerings|instance|key_pair|security_group|vpc_security_group_(ingress|egress)_rule|ebs_volume|volume_attachment|eip|vpc|subnet|availability_zones|route_table|route_table_association|dynamodb_table|iam_role|iam_role_policy|iam_instance_profile|lb|lb_target_group|lb_listener|lb_target_group_attachment|elasticache_subnet_group|elasticache_replication_group|ssm_parameter'
unserved=$(grep -ohE '^(resource|data) "aws_[a-z0-9_]+"' "$HERE"/*.tf | sed -E 's/.*"aws_([a-z0-9_]+)"/\1/' | sort -u | grep -vxE "$SERVED_TYPES" || true)
[ -z "$unserved" ] || die "resource types with no moto endpoint in apply-check.sh: $unserved"

# copy_config DIR: the configuration, the test key, the override that sends the provider to
# moto, and one output (the rendered user-data): the only files that differ from what an
# operator applies.
copy_config() {
  local dir=$1 s
  mkdir -p "$dir/tests/fixtures"
  cp "$HERE"/*.tf "$HERE/user-data.sh.tftpl" "$dir/"
  cp "$HERE/tests/fixtures/test_ed25519.pub" "$dir/tests/fixtures/"
  {
    echo '# Written by apply-check.sh: the AWS provider talks to moto only.'
    echo 'provider "aws" {'
    echo '  access_key                  = "testing"'
    echo '  secret_key                  = "testing"'
    echo '  skip_credentials_validation = true'
    echo '  skip_metadata_api_check     = true'
    echo '  skip_region_validation      = true'
    echo '  endpoints {'
    for s in "${SERVICES[@]}"; do
      printf '    %s = "%s"\n' "$s" "$ENDPOINT"
    done
    echo '  }'
    echo '}'
  } >"$dir/moto_override.tf"
  # An override file cannot add an output: this one goes into a file of its own.
  {
    echo '# Written by apply-check.sh: what Terraform rendered for each instance (the state keeps'
    echo '# only a SHA-1 of it).'
    echo 'output "apply_check_user_data" {'
    echo '  value = local.user_data'
    echo '}'
  } >"$dir/apply_check_outputs.tf"
}

# --- One variant ----------------------------------------------------------------------------

# check_outputs NODE_COUNT KEY_STORE DOMAIN: the outputs a user and an operator read.
check_outputs() {
  "$PY" - terraform.tfstate "$@" <<'PY'
import ipaddress, json, re, sys

out = {k: v["value"] for k, v in json.load(open(sys.argv[1]))["outputs"].items()}
for k in ("public_ip", "dns_records", "web_url", "cluster_bus", "host_key_parameter", "dns_alias_target"):
    out.setdefault(k, None)  # the state leaves out null outputs
nodes, key_store, domain = int(sys.argv[2]), sys.argv[3], sys.argv[4]
address = out["address"]
problems = []
if nodes == 1:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        problems.append(f"address {address!r} is not an IPv4 address")
    if out["public_ip"] != address:
        problems.append("public_ip must be the address")
else:
    if not re.fullmatch(r"([a-z0-9-]+\.)+amazonaws\.com", address):
        problems.append(f"address {address!r} is not a load balancer DNS name")
    if out["public_ip"] is not None:
        problems.append("a cluster has no public_ip")
if out["ssh_command"] != f"ssh -p 2222 {address}":
    problems.append(f"ssh_command {out['ssh_command']!r} is not 'ssh -p 2222 {address}'")
if len(out["instance_ids"]) != nodes or not all(re.fullmatch(r"i-[0-9a-f]+", i) for i in out["instance_ids"]):
    problems.append(f"instance_ids {out['instance_ids']!r}: want {nodes} instance IDs")
if key_store == "dynamodb":
    if out["directory"] != "dynamodb://ssh-chat-directory?region=us-east-1":
        problems.append(f"directory {out['directory']!r}")
elif out["directory"] != "sqlite":
    problems.append(f"directory {out['directory']!r}, want sqlite")
if domain:
    want = f"{domain}. 300 IN {'A' if nodes == 1 else 'CNAME'} {address}{'' if nodes == 1 else '.'}"
    if out["dns_records"] != [want]:
        problems.append(f"dns_records {out['dns_records']!r}, want [{want!r}]")
    if out["web_url"] != f"https://{domain}":
        problems.append(f"web_url {out['web_url']!r}")
elif out["dns_records"] is not None or out["web_url"] is not None:
    problems.append("no domain: dns_records and web_url must be null")
if nodes > 1:
    if not re.fullmatch(r"redis://[a-z0-9.-]+:6379", out["cluster_bus"] or ""):
        problems.append(f"cluster_bus {out['cluster_bus']!r}")
    if out["host_key_parameter"] != "/ssh-chat/host_ed25519_key":
        problems.append(f"host_key_parameter {out['host_key_parameter']!r}")
for p in problems:
    print("   ", p)
print(f"    outputs: {out['ssh_command']}")
sys.exit(1 if problems else 0)
PY
}

# plan_no_changes WHAT: a plan right now must find nothing to do.
plan_no_changes() {
  local rc=0
  terraform plan -detailed-exitcode -input=false -no-color >"$VDIR/plan.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$VDIR/plan.log"
    die "$1: plan -detailed-exitcode gave $rc (2: changes, 1: error), want 0"
  fi
  log "$1: plan shows no changes"
}

# check_user_data: every instance's user-data, as EC2 returns it, is what Terraform rendered
# (the apply_check_user_data output; the state keeps its SHA-1, compared too), and lints clean.
check_user_data() {
  local dir=$VDIR/user-data id i=0
  rm -rf "$dir"
  mkdir -p "$dir/rendered" "$dir/ec2"
  "$PY" - terraform.tfstate "$dir/rendered" <<'PY'
import hashlib, json, sys

state = json.load(open(sys.argv[1]))
rendered = state["outputs"]["apply_check_user_data"]["value"]
instances = [
    (i["index_key"], i["attributes"])
    for r in state["resources"]
    if r["mode"] == "managed" and r["type"] == "aws_instance"
    for i in r["instances"]
]
if len(instances) != len(rendered) or not instances:
    sys.exit(f"{len(instances)} instances, {len(rendered)} rendered user-data")
for index, attrs in instances:
    text = rendered[index]
    if hashlib.sha1(text.encode()).hexdigest() != attrs["user_data"]:
        sys.exit(f"aws_instance.chat[{index}]: the state's user_data is not the SHA-1 of what was rendered")
    # Named by node index then instance ID, so that node order survives the file listing.
    open(f"{sys.argv[2]}/{index:02d}-{attrs['id']}", "w").write(text)
PY
  for f in "$dir"/rendered/*; do
    id=$(basename "$f" | cut -d- -f2-)
    "$PY" "$MOTO_DIR/inventory.py" user-data "$id" "$dir/ec2"
    cmp "$f" "$dir/ec2/$id" || die "user-data of $id in EC2 differs from what Terraform rendered"
    [ "$(wc -c <"$f")" -lt 16384 ] || die "user-data of $id is over EC2's 16 KiB"
    bash -n "$f" || die "bash -n on the user-data of $id"
    shellcheck --shell=bash "$f" || die "shellcheck on the user-data of $id"
    i=$((i + 1))
  done
  log "user-data of $i instance(s): EC2 has what Terraform rendered; bash -n and shellcheck clean"
}

# check_host_key_exchange NODE_COUNT: the user-data's own Python (sync_host_key), run against
# moto's SSM: node 0 stores a key, every other node installs that same key. The plan that
# follows proves Terraform does not want the placeholder back; here, that the state does not
# hold the key.
check_host_key_exchange() {
  local nodes=$1 dir=$VDIR/host-key i first='' fp writer rendered
  rm -rf "$dir"
  mkdir -p "$dir"
  rendered=("$VDIR"/user-data/rendered/00-*)
  sed -n "/<<'PY'\$/,/^PY\$/p" "${rendered[0]}" | sed '1d;$d' >"$dir/sync.py"
  grep -q 'put_parameter' "$dir/sync.py" || die "no host key exchange found in the user-data"
  for i in $(seq 0 $((nodes - 1))); do
    mkdir -p "$dir/node$i"
    writer=
    [ "$i" -eq 0 ] && writer=yes
    timeout 60 "$PY" "$dir/sync.py" /ssh-chat/host_ed25519_key "$REGION" "$writer" "$dir/node$i/host_ed25519_key" >"$dir/node$i.log" 2>&1 ||
      { cat "$dir/node$i.log"; die "host key exchange on node $i"; }
    [ "$(stat -c %a "$dir/node$i/host_ed25519_key")" = 600 ] || die "node $i's host key is not mode 0600"
    fp=$(ssh-keygen -lf "$dir/node$i/host_ed25519_key")
    if [ -z "$first" ]; then
      first=$fp
    elif [ "$fp" != "$first" ]; then
      die "node $i presents $fp, node 0 $first"
    fi
  done
  log "host key: all $nodes nodes present $(echo "$first" | cut -d' ' -f2)"
  # The key's first line of base64 (the user-data itself contains the PEM header as text).
  if grep -qF "$(sed -n 2p "$dir/node0/host_ed25519_key")" terraform.tfstate; then
    die "the Terraform state holds the host key"
  fi
  log "host key: not in the Terraform state"
}

# count_resources: managed resource instances in the local state.
count_resources() {
  "$PY" -c 'import json, sys; print(sum(len(r["instances"]) for r in json.load(open(sys.argv[1]))["resources"] if r["mode"] == "managed"))' terraform.tfstate
}

# run_variant NAME VARS: the whole cycle for one variant, in its own directory with its own moto.
run_variant() {
  local name=$1 vars=$2 nodes key_store domain start=$SECONDS
  VDIR=$WORK/$name
  mkdir -p "$VDIR"
  start_moto "$VDIR"
  copy_config "$VDIR/config"
  cd "$VDIR/config"
  {
    echo 'owner           = "ci@example.com"'
    echo 'repo_url        = "https://github.com/example/ssh-chat-rs.git"'
    echo 'git_ref         = "v0.1.0"'
    echo 'public_key_path = "tests/fixtures/test_ed25519.pub"'
    echo 'dynamodb_deletion_protection = false'
    printf '%s\n' "$vars"
  } >terraform.tfvars
  nodes=$(sed -nE 's/^node_count *= *([0-9]+).*/\1/p' terraform.tfvars)
  key_store=$(sed -nE 's/^key_store *= *"([a-z]+)".*/\1/p' terraform.tfvars)
  domain=$(sed -nE 's/^domain_name *= *"([^"]*)".*/\1/p' terraform.tfvars)
  log "$name: moto (pid $MOTO_PID) on $ENDPOINT; $(tr '\n' ' ' <<<"$vars")"

  TF_DATA_DIR=$VDIR/tf-data terraform init -backend=false -plugin-dir="$PLUGIN_DIR" -input=false -no-color >"$VDIR/init.log" 2>&1 || {
    cat "$VDIR/init.log"
    die "$name: terraform init"
  }
  export TF_DATA_DIR=$VDIR/tf-data

  "$PY" "$MOTO_DIR/inventory.py" snapshot >"$VDIR/before.json"
  terraform apply -auto-approve -input=false -no-color >"$VDIR/apply.log" 2>&1 || {
    cat "$VDIR/apply.log"
    die "$name: terraform apply"
  }
  log "$name: applied, $(count_resources) resources ($((SECONDS - start)) s)"
  check_outputs "${nodes:-1}" "${key_store:-embedded}" "$domain" || die "$name: outputs"
  check_user_data
  if [ "${nodes:-1}" -gt 1 ]; then
    check_host_key_exchange "$nodes"
  fi
  plan_no_changes "$name"

  "$PY" "$MOTO_DIR/inventory.py" snapshot >"$VDIR/applied.json"
  # No refresh: the plan above has just read everything back.
  terraform destroy -auto-approve -refresh=false -input=false -no-color >"$VDIR/destroy.log" 2>&1 || {
    cat "$VDIR/destroy.log"
    die "$name: terraform destroy"
  }
  [ "$(count_resources)" = 0 ] || die "$name: resources left in the state after destroy"
  "$PY" "$MOTO_DIR/inventory.py" snapshot >"$VDIR/after.json"
  "$PY" - "$VDIR/before.json" "$VDIR/applied.json" "$VDIR/after.json" <<'PY' || die "$name: moto is not back to where it was"
import json, sys

before, applied, after = (json.load(open(p)) for p in sys.argv[1:4])
created = {k: len(set(applied[k]) - set(before[k])) for k in applied}
print("    created and destroyed:", ", ".join(f"{k} {n}" for k, n in sorted(created.items()) if n))
bad = False
for kind in sorted(set(before) | set(after)):
    left = set(after.get(kind, [])) - set(before.get(kind, []))
    gone = set(before.get(kind, [])) - set(after.get(kind, []))
    if left:
        print(f"    left behind after destroy: {kind}: {sorted(left)}")
        bad = True
    if gone:
        print(f"    removed though not ours: {kind}: {sorted(gone)}")
        bad = True
sys.exit(1 if bad else 0)
PY
  log "$name: destroyed, nothing of ours left in moto ($((SECONDS - start)) s)"
  stop_moto
}

# --- All of them, side by side --------------------------------------------------------------

# Each variant runs in the background with its own moto and directory: most of a variant's
# time is the provider's polling sleeps, so they overlap well even on two cores.
JOBS=${APPLY_CHECK_JOBS:-6}
selected=("$@")
known=" ${VARIANTS[*]%%|*} "
for name in "${selected[@]}"; do
  [[ "$known" == *" $name "* ]] || die "no variant $name; there are:$known"
done
names=()
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  if [ "${#selected[@]}" -gt 0 ] && ! [[ " ${selected[*]} " == *" $name "* ]]; then
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
    wait -n || true
  done
  names+=("$name")
  (run_variant "$name" "${v#*|}") >"$WORK/$name.out" 2>&1 &
  echo "$!" >"$WORK/$name.job"
done
[ "${#names[@]}" -gt 0 ] || die "no variant matched: ${selected[*]}"

passed=0
failed=0
for name in "${names[@]}"; do
  rc=0
  wait "$(cat "$WORK/$name.job")" || rc=$?
  echo
  cat "$WORK/$name.out"
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
log "${#names[@]} variants in $SECONDS s"
printf '\napply-check: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
