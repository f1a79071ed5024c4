# Offline tests: the AWS provider is mocked, nothing is created and no credentials are needed.
# Run from terraform/: terraform init -backend=false -plugin-dir=/opt/tf-plugins && terraform test
# "apply" runs against the mock so that computed values (IDs, the rendered user-data) are known.

mock_provider "aws" {
  source = "./tests"
}

variables {
  owner           = "ops@example.com"
  repo_url        = "https://github.com/example/ssh-chat-rs.git"
  git_ref         = "v0.1.0"
  public_key_path = "tests/fixtures/test_ed25519.pub"
}

run "defaults_open_chat_to_everyone_and_keep_22_closed" {
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.chat_v4) == 1 && length(aws_vpc_security_group_ingress_rule.chat_v6) == 0
    error_message = "With default chat_cidrs there must be exactly one IPv4 chat rule."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.chat_v4["0.0.0.0/0"].from_port == 2222 && aws_vpc_security_group_ingress_rule.chat_v4["0.0.0.0/0"].to_port == 2222 && aws_vpc_security_group_ingress_rule.chat_v4["0.0.0.0/0"].ip_protocol == "tcp"
    error_message = "The chat rule must open TCP 2222 only."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.admin_v4) == 0 && length(aws_vpc_security_group_ingress_rule.admin_v6) == 0
    error_message = "Port 22 must be closed when admin_cidrs is empty."
  }
  assert {
    condition     = length(aws_security_group.chat.ingress) == 0
    error_message = "The security group must have no inline ingress rules (all ingress is in the separate rule resources)."
  }
  assert {
    condition     = output.admin_ssh_command == null && strcontains(output.host_key_fingerprint_command, "aws ec2 get-console-output")
    error_message = "Without admin access the fingerprint must be read from the console output, and there is no admin ssh command."
  }
}

run "chat_port_reaches_only_chat_cidrs" {
  variables {
    chat_cidrs = ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.chat_v4 : r.cidr_ipv4]) == toset(["203.0.113.0/24", "198.51.100.7/32"])
    error_message = "IPv4 chat rules must cover exactly the IPv4 chat_cidrs."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.chat_v6 : r.cidr_ipv6]) == toset(["2001:db8::/32"])
    error_message = "IPv6 chat rules must cover exactly the IPv6 chat_cidrs."
  }
  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.chat_v4), values(aws_vpc_security_group_ingress_rule.chat_v6)) :
      r.from_port == 2222 && r.to_port == 2222 && r.ip_protocol == "tcp" && r.security_group_id == aws_security_group.chat.id
    ])
    error_message = "Every chat rule must open only TCP 2222 on the chat security group."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.admin_v4) + length(aws_vpc_security_group_ingress_rule.admin_v6) == 0
    error_message = "No other ingress may exist while admin_cidrs is empty."
  }
}

run "admin_cidrs_open_22_to_them_only" {
  variables {
    admin_cidrs = ["198.51.100.7/32", "2001:db8:1::/48"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.admin_v4 : r.cidr_ipv4]) == toset(["198.51.100.7/32"]) && toset([for r in aws_vpc_security_group_ingress_rule.admin_v6 : r.cidr_ipv6]) == toset(["2001:db8:1::/48"])
    error_message = "Port 22 must be open to exactly the admin_cidrs."
  }
  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.admin_v4), values(aws_vpc_security_group_ingress_rule.admin_v6)) :
      r.from_port == 22 && r.to_port == 22 && r.ip_protocol == "tcp"
    ])
    error_message = "Admin rules must open only TCP 22."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.chat_v4 : r.cidr_ipv4]) == toset(["0.0.0.0/0"]) && alltrue([for r in aws_vpc_security_group_ingress_rule.chat_v4 : r.from_port == 2222])
    error_message = "Admin CIDRs must not change the chat rules."
  }
  assert {
    condition     = output.admin_ssh_command == "ssh ubuntu@203.0.113.10" && output.host_key_fingerprint_command == "ssh ubuntu@203.0.113.10 sudo ssh-keygen -lf /var/lib/chat/host_ed25519_key"
    error_message = "With admin access the outputs must give the admin ssh and fingerprint commands."
  }
}

run "instance_is_hardened" {
  assert {
    condition     = aws_instance.chat[0].metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required."
  }
  assert {
    condition     = aws_instance.chat[0].root_block_device[0].encrypted == true
    error_message = "The root volume must be encrypted."
  }
  assert {
    condition     = aws_ebs_volume.data[0].encrypted == true
    error_message = "The data volume must be encrypted."
  }
  assert {
    condition     = aws_instance.chat[0].instance_type == "t3.medium"
    error_message = "The default instance type must be t3.medium (enough memory to build russh)."
  }
  assert {
    condition = aws_instance.chat[0].ami == "ami-0123456789abcdef0" && data.aws_ami.ubuntu.owners == tolist(["099720109477"]) && anytrue([
      for f in data.aws_ami.ubuntu.filter : f.name == "name" && contains(f.values, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*")
    ])
    error_message = "The instance must use the Canonical Ubuntu image found by the data source."
  }
  assert {
    condition     = aws_instance.chat[0].vpc_security_group_ids == toset([aws_security_group.chat.id])
    error_message = "The instance must use the chat security group only."
  }
  assert {
    condition = alltrue([
      for t in [aws_instance.chat[0].tags, aws_security_group.chat.tags, aws_ebs_volume.data[0].tags, aws_eip.chat[0].tags, aws_key_pair.admin.tags, aws_instance.chat[0].root_block_device[0].tags] :
      t["Owner"] == "ops@example.com"
    ])
    error_message = "Every resource must carry the Owner tag."
  }
}

run "data_volume_sits_with_the_instance" {
  assert {
    condition     = aws_instance.chat[0].availability_zone == "us-east-1a" && aws_ebs_volume.data[0].availability_zone == "us-east-1a"
    error_message = "Instance and data volume must share the first regular zone offering the type."
  }
  assert {
    condition     = aws_volume_attachment.data[0].instance_id == aws_instance.chat[0].id && aws_volume_attachment.data[0].volume_id == aws_ebs_volume.data[0].id && aws_volume_attachment.data[0].stop_instance_before_detaching == true
    error_message = "The data volume must be attached to the instance, stopping it cleanly before a detach."
  }
}

run "user_data_builds_installs_and_starts_the_service" {
  assert {
    condition     = aws_instance.chat[0].user_data_replace_on_change == true
    error_message = "A new user-data (e.g. a new git_ref) must replace the instance."
  }
  assert {
    condition = alltrue([for s in [
      "set -euo pipefail",
      "REPO_URL='https://github.com/example/ssh-chat-rs.git'",
      "GIT_REF='v0.1.0'",
      "DATA_VOLUME_ID='vol-0123456789abcdef0'",
      "/var/log/chat-bootstrap.log",
      "build-essential pkg-config git curl ca-certificates",
      "cargo build --release --locked -p chat-cli",
      "/usr/local/bin/chat-cli",
      "useradd --system --user-group --no-create-home --home-dir \"$DATA_DIR\"",
      "chmod 0750 \"$DATA_DIR\"",
      "\"$SRC_DIR/deploy/chat.service\" \"$UNIT\"",
      "systemctl daemon-reload",
      "systemctl enable --now chat",
    ] : strcontains(aws_instance.chat[0].user_data, s)])
    error_message = "The user-data must install the build deps, build chat-cli, install the unit from the repo and start it."
  }
  assert {
    # ci-check.sh renders the template with sed (plain text substitution of the header's
    # placeholders) to run bash -n and shellcheck; this proves that is what Terraform renders.
    condition = aws_instance.chat[0].user_data == replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
      file("user-data.sh.tftpl"),
      "$${repo_url}", "https://github.com/example/ssh-chat-rs.git"),
      "$${git_ref}", "v0.1.0"),
      "$${data_volume_id}", "vol-0123456789abcdef0"),
      "$${region}", "us-east-1"),
      "$${directory}", ""),
      "$${public_url}", ""),
      "$${web_domain}", ""),
      "$${cluster_url}", ""),
      "$${node_name}", ""),
      "$${host_key_parameter}", ""),
    "$${host_key_writer}", "")
    error_message = "The template must render by plain substitution of its header placeholders (no other template syntax)."
  }
  assert {
    # EC2 refuses user-data over 16 KiB.
    condition     = length(aws_instance.chat[0].user_data) < 16384
    error_message = "The rendered user-data must stay under EC2's 16 KiB limit."
  }
  assert {
    condition     = !can(regex("(?m)^(DIRECTORY|PUBLIC_URL|WEB_DOMAIN|CLUSTER_URL|NODE_NAME|HOST_KEY_PARAMETER|HOST_KEY_WRITER)='[^']", aws_instance.chat[0].user_data))
    error_message = "The default single server must start with every optional setting empty (embedded store, no domain, no cluster)."
  }
  assert {
    condition     = length(aws_iam_instance_profile.chat) == 0 && length(aws_iam_role.chat) == 0 && length(aws_dynamodb_table.directory) == 0
    error_message = "The embedded store needs no instance role and no table."
  }
}

run "a_new_git_ref_changes_the_user_data" {
  variables {
    git_ref = "0123456789abcdef0123456789abcdef01234567"
  }

  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "GIT_REF='0123456789abcdef0123456789abcdef01234567'")
    error_message = "The git_ref must reach the user-data, so that changing it redeploys."
  }
}

run "outputs_tell_users_how_to_connect" {
  assert {
    condition     = output.public_ip == "203.0.113.10" && output.ssh_command == "ssh -p 2222 203.0.113.10"
    error_message = "ssh_command must be 'ssh -p 2222 <public ip>'."
  }
  assert {
    condition     = output.host_key_fingerprint_console_command == "aws ec2 get-console-output --region us-east-1 --instance-id i-0123456789abcdef0 --latest --output text | grep 'chat host key'"
    error_message = "The console fingerprint command must name the region and instance."
  }
}

run "explicit_availability_zone_is_used" {
  command = plan

  variables {
    region            = "eu-central-1"
    availability_zone = "eu-central-1b"
  }

  assert {
    condition     = aws_ebs_volume.data[0].availability_zone == "eu-central-1b" && aws_instance.chat[0].availability_zone == "eu-central-1b"
    error_message = "An explicit availability_zone must be used for instance and volume."
  }
}
