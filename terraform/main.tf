locals {
  tags = {
    Name      = var.name
    Owner     = var.owner
    Project   = "ssh-chat"
    ManagedBy = "terraform"
  }

  # Chat and admin CIDRs split by address family: a rule holds either cidr_ipv4 or cidr_ipv6.
  chat_cidrs_v4  = toset([for c in var.chat_cidrs : c if !strcontains(c, ":")])
  chat_cidrs_v6  = toset([for c in var.chat_cidrs : c if strcontains(c, ":")])
  admin_cidrs_v4 = toset([for c in var.admin_cidrs : c if !strcontains(c, ":")])
  admin_cidrs_v6 = toset([for c in var.admin_cidrs : c if strcontains(c, ":")])

  # The instance and its data volume must share one zone. Only regular zones (us-east-1a), not
  # Local/Wavelength zones (us-west-2-lax-1a); sorted so the choice is stable between applies.
  offered_zones = var.availability_zone != null ? [] : sort([for z in data.aws_ec2_instance_type_offerings.chat[0].locations : z if can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", z))])
  zones         = var.availability_zone != null ? [var.availability_zone] : local.offered_zones
  # Node i (and its data volume) in zone i modulo the zones: one node stays in the first zone,
  # several spread over all of them.
  node_zones = [for i in range(var.node_count) : local.zones[i % length(local.zones)]]

  chat_port = 2222
  web_port  = 8080 # the chat server's web front-end, on loopback behind Caddy

  cluster  = var.node_count > 1
  dynamodb = var.key_store == "dynamodb"
  web      = var.domain_name != ""

  # What each node's server is started with (user-data writes them to /etc/chat/chat.env).
  directory_url = local.dynamodb ? "dynamodb://${local.table_name}?region=${var.region}" : ""
  public_url    = local.web ? "https://${var.domain_name}" : ""
}

# Current Ubuntu 24.04 LTS (Noble), amd64, published by Canonical.
data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

data "aws_ec2_instance_type_offerings" "chat" {
  count         = var.availability_zone == null ? 1 : 0
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }

  lifecycle {
    postcondition {
      condition     = length(self.locations) > 0
      error_message = "No availability zone of this region offers the chosen instance_type; pick another type or region."
    }
  }
}

resource "aws_key_pair" "admin" {
  key_name_prefix = "${var.name}-"
  public_key      = trimspace(file(pathexpand(var.public_key_path)))
  tags            = local.tags
}

# Lives in the default VPC (no vpc_id), like the instances.
resource "aws_security_group" "chat" {
  name_prefix = "${var.name}-"
  description = "SSH chat: TCP 2222 from chat_cidrs, TCP 22 from admin_cidrs only"
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "chat_v4" {
  for_each = local.chat_cidrs_v4

  security_group_id = aws_security_group.chat.id
  description       = "chat"
  ip_protocol       = "tcp"
  from_port         = local.chat_port
  to_port           = local.chat_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "chat_v6" {
  for_each = local.chat_cidrs_v6

  security_group_id = aws_security_group.chat.id
  description       = "chat"
  ip_protocol       = "tcp"
  from_port         = local.chat_port
  to_port           = local.chat_port
  cidr_ipv6         = each.value
  tags              = local.tags
}

# Port 22 (the instance's own OpenSSH) exists only when admin_cidrs is non-empty.
resource "aws_vpc_security_group_ingress_rule" "admin_v4" {
  for_each = local.admin_cidrs_v4

  security_group_id = aws_security_group.chat.id
  description       = "admin ssh"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "admin_v6" {
  for_each = local.admin_cidrs_v6

  security_group_id = aws_security_group.chat.id
  description       = "admin ssh"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv6         = each.value
  tags              = local.tags
}

# Ports 80 and 443 (Caddy: HTTPS, and HTTP for Let's Encrypt and the redirect) exist only
# when domain_name is set.
resource "aws_vpc_security_group_ingress_rule" "web_v4" {
  for_each = local.web_rules_v4

  security_group_id = aws_security_group.chat.id
  description       = "web"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "web_v6" {
  for_each = local.web_rules_v6

  security_group_id = aws_security_group.chat.id
  description       = "web"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv6         = each.value.cidr
  tags              = local.tags
}

locals {
  web_ports    = local.web ? [80, 443] : []
  web_rules_v4 = { for pc in setproduct(local.web_ports, [for c in var.web_cidrs : c if !strcontains(c, ":")]) : "${pc[0]} ${pc[1]}" => { port = pc[0], cidr = pc[1] } }
  web_rules_v6 = { for pc in setproduct(local.web_ports, [for c in var.web_cidrs : c if strcontains(c, ":")]) : "${pc[0]} ${pc[1]}" => { port = pc[0], cidr = pc[1] } }
}

# Open egress: apt, rustup, git and crates.io downloads during the bootstrap, and updates later.
resource "aws_vpc_security_group_egress_rule" "all_v4" {
  security_group_id = aws_security_group.chat.id
  description       = "all outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "all_v6" {
  security_group_id = aws_security_group.chat.id
  description       = "all outbound"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
  tags              = local.tags
}

# /var/lib/chat lives on its own volume so that the host key (the fingerprint users pin) and any
# chat data survive instance replacement, which every change of git_ref causes. One per node.
resource "aws_ebs_volume" "data" {
  count = var.node_count

  availability_zone = local.node_zones[count.index]
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  tags              = merge(local.tags, { Name = local.cluster ? "${var.name}-${count.index}-data" : "${var.name}-data" })
}

resource "aws_instance" "chat" {
  count = var.node_count

  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.instance_type
  availability_zone      = local.node_zones[count.index] # lands in the default VPC's subnet of that zone
  key_name               = aws_key_pair.admin.key_name
  vpc_security_group_ids = [aws_security_group.chat.id]
  # The instance role (DynamoDB directory, shared host key) exists only with key_store = "dynamodb".
  iam_instance_profile = local.dynamodb ? aws_iam_instance_profile.chat[0].name : null

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    delete_on_termination = true
    tags                  = merge(local.tags, { Name = local.cluster ? "${var.name}-${count.index}-root" : "${var.name}-root" })
  }

  # Builds and starts the server on first boot. A new git_ref changes the script, and
  # user_data_replace_on_change turns that into a fresh instance running the new ref.
  user_data                   = local.user_data[count.index]
  user_data_replace_on_change = true

  tags = merge(local.tags, { Name = local.cluster ? "${var.name}-${count.index}" : var.name })

  lifecycle {
    # A newer Ubuntu image alone must not replace a running server; the next replacement
    # (a new git_ref, or terraform apply -replace='aws_instance.chat[0]') picks it up.
    ignore_changes = [ami]
  }
}

locals {
  # Each node's bootstrap script. Every value is a plain string pasted between single quotes
  # (see the template's header); an empty one switches its feature off.
  user_data = [for i in range(var.node_count) : templatefile("${path.module}/user-data.sh.tftpl", {
    repo_url       = var.repo_url
    git_ref        = var.git_ref
    data_volume_id = aws_ebs_volume.data[i].id
    region         = var.region
    directory      = local.directory_url
    public_url     = local.public_url
    # Caddy runs on the node that the web ports lead to: the only node, or node 0 of a cluster
    # (Let's Encrypt's validation must reach the node that asked for the certificate).
    web_domain         = i == 0 ? var.domain_name : ""
    cluster_url        = local.cluster ? "redis://${aws_elasticache_replication_group.bus[0].primary_endpoint_address}:${aws_elasticache_replication_group.bus[0].port}" : ""
    node_name          = local.cluster ? "${var.name}-${i}" : ""
    host_key_parameter = local.cluster ? aws_ssm_parameter.host_key[0].name : ""
    host_key_writer    = local.cluster && i == 0 ? "yes" : ""
  })]
}

resource "aws_volume_attachment" "data" {
  count = var.node_count

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[count.index].id
  instance_id = aws_instance.chat[count.index].id

  # Stop the server cleanly (chat gets SIGTERM, the filesystem is unmounted) before detaching.
  stop_instance_before_detaching = true
}

# A fixed address: replacing the instance keeps the IP, so with the kept host key users'
# known_hosts entries for "[ip]:2222" stay valid across deploys. A cluster is reached through
# its load balancer instead (cluster.tf).
resource "aws_eip" "chat" {
  count = local.cluster ? 0 : 1

  domain   = "vpc"
  instance = aws_instance.chat[0].id
  tags     = local.tags
}

# These were single resources before node_count existed: existing deployments keep them.
moved {
  from = aws_instance.chat
  to   = aws_instance.chat[0]
}

moved {
  from = aws_ebs_volume.data
  to   = aws_ebs_volume.data[0]
}

moved {
  from = aws_volume_attachment.data
  to   = aws_volume_attachment.data[0]
}

moved {
  from = aws_eip.chat
  to   = aws_eip.chat[0]
}
