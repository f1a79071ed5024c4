# node_count > 1: the nodes behind a network load balancer, one chat through ElastiCache for
# Redis (the server's --cluster bus) in private subnets, and one SSH host key for all of them.
#
# Everything stays in the region's default VPC, like the single server: the nodes in its
# default (public) subnets, where they have the outbound internet access the bootstrap needs
# without a NAT gateway; Redis in private subnets of its own that have no route out at all.

data "aws_vpc" "default" {
  count   = local.cluster ? 1 : 0
  default = true
}

# The default subnet of each zone that holds a node: where the load balancer listens.
data "aws_subnet" "default" {
  for_each = local.cluster ? toset(local.node_zones) : toset([])

  vpc_id            = data.aws_vpc.default[0].id
  availability_zone = each.key
  default_for_az    = true
}

data "aws_availability_zones" "redis" {
  count = local.cluster ? 1 : 0
  state = "available"
}

locals {
  # Redis in two zones (a replica survives the loss of one), regular zones only, sorted so the
  # choice is stable. Their subnets are carved from the top of the default VPC's range
  # (172.31.240.0/24 and up in a default VPC, whose own subnets start at the bottom).
  redis_zones = local.cluster ? slice(
    sort([for z in data.aws_availability_zones.redis[0].names : z if can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", z))]),
    0, min(2, length([for z in data.aws_availability_zones.redis[0].names : z if can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", z))]))
  ) : []
  redis_port = 6379

  # The load balancer's listeners: chat always, the web ports with a domain.
  lb_ports = local.cluster ? toset([for p in concat([local.chat_port], local.web_ports) : tostring(p)]) : toset([])
}

resource "aws_subnet" "redis" {
  count = length(local.redis_zones)

  vpc_id                  = data.aws_vpc.default[0].id
  availability_zone       = local.redis_zones[count.index]
  cidr_block              = cidrsubnet(data.aws_vpc.default[0].cidr_block, 8, 240 + count.index)
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-redis-${local.redis_zones[count.index]}" })
}

# Private: only the VPC's implicit local route, no internet gateway.
resource "aws_route_table" "redis" {
  count = local.cluster ? 1 : 0

  vpc_id = data.aws_vpc.default[0].id
  tags   = merge(local.tags, { Name = "${var.name}-redis" })
}

resource "aws_route_table_association" "redis" {
  count = length(local.redis_zones)

  subnet_id      = aws_subnet.redis[count.index].id
  route_table_id = aws_route_table.redis[0].id
}

resource "aws_elasticache_subnet_group" "bus" {
  count = local.cluster ? 1 : 0

  name        = "${var.name}-bus"
  description = "SSH chat cluster bus: private subnets"
  subnet_ids  = aws_subnet.redis[*].id
  tags        = local.tags
}

# Only the chat nodes reach Redis, and only on its port. No egress rule: Redis starts no
# connection of its own.
resource "aws_security_group" "redis" {
  count = local.cluster ? 1 : 0

  name_prefix = "${var.name}-redis-"
  description = "SSH chat cluster bus: TCP 6379 from the chat nodes only"
  vpc_id      = data.aws_vpc.default[0].id
  tags        = merge(local.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_nodes" {
  count = local.cluster ? 1 : 0

  security_group_id            = aws_security_group.redis[0].id
  description                  = "redis from the chat nodes"
  ip_protocol                  = "tcp"
  from_port                    = local.redis_port
  to_port                      = local.redis_port
  referenced_security_group_id = aws_security_group.chat.id
  tags                         = local.tags
}

# Redis without TLS or AUTH: the server's --cluster takes redis:// URLs, and what guards the
# bus is that nothing but the nodes can open a connection to it (private subnets, the group
# above). Encrypted at rest; one snapshot a day kept; a replica in another zone takes over
# automatically when redis_replicas > 0.
resource "aws_elasticache_replication_group" "bus" {
  count = local.cluster ? 1 : 0

  replication_group_id       = "${var.name}-bus"
  description                = "SSH chat cluster bus"
  engine                     = "redis"
  engine_version             = "7.1"
  parameter_group_name       = "default.redis7"
  node_type                  = var.redis_node_type
  port                       = local.redis_port
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = var.redis_replicas > 0
  multi_az_enabled           = var.redis_replicas > 0
  subnet_group_name          = aws_elasticache_subnet_group.bus[0].name
  security_group_ids         = [aws_security_group.redis[0].id]
  at_rest_encryption_enabled = true
  transit_encryption_enabled = false
  snapshot_retention_limit   = 1
  apply_immediately          = true
  tags                       = local.tags
}

# The SSH host key every node presents, so that users see one fingerprint whichever node the
# load balancer picks. Terraform creates the parameter with a placeholder, write-only, so the
# key never enters the Terraform state; node 0 puts the real key in on its first boot (its own
# existing key when the data volume has one, else a new one), and every other node waits for
# it. Encrypted with the AWS managed key aws/ssm.
resource "aws_ssm_parameter" "host_key" {
  count = local.cluster ? 1 : 0

  name             = "/${var.name}/host_ed25519_key"
  description      = "SSH chat: the host key (OpenSSH private key) all nodes share; written by node 0"
  type             = "SecureString"
  value_wo         = "unset"
  value_wo_version = 1
  tags             = local.tags
}

resource "aws_lb" "chat" {
  count = local.cluster ? 1 : 0

  name                             = var.name
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = [for z in distinct(local.node_zones) : data.aws_subnet.default[z].id]
  enable_cross_zone_load_balancing = true
  tags                             = local.tags
}

# TCP straight through: SSH and TLS end on the nodes, which see the client's own address.
resource "aws_lb_target_group" "chat" {
  for_each = local.lb_ports

  name                 = "${substr(var.name, 0, 26)}-${each.key}"
  port                 = each.key
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = data.aws_vpc.default[0].id
  deregistration_delay = 30

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    healthy_threshold   = 2
    unhealthy_threshold = 2
    interval            = 10
  }

  tags = local.tags
}

resource "aws_lb_listener" "chat" {
  for_each = local.lb_ports

  load_balancer_arn = aws_lb.chat[0].arn
  port              = each.key
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.chat[each.key].arn
  }

  tags = local.tags
}

locals {
  # Chat on every node; the web ports only on node 0, the one that runs Caddy.
  lb_targets = merge(
    local.cluster ? { for i in range(var.node_count) : "${local.chat_port} ${i}" => { port = local.chat_port, node = i } } : {},
    local.cluster ? { for p in local.web_ports : "${p} 0" => { port = p, node = 0 } } : {},
  )
}

resource "aws_lb_target_group_attachment" "chat" {
  for_each = local.lb_targets

  target_group_arn = aws_lb_target_group.chat[tostring(each.value.port)].arn
  target_id        = aws_instance.chat[each.value.node].id
  port             = each.value.port
}

# The load balancer's health checks come from its own addresses inside the VPC; chat_cidrs
# still decides who may connect (the nodes see the clients' own addresses).
resource "aws_vpc_security_group_ingress_rule" "health_checks" {
  for_each = local.lb_ports

  security_group_id = aws_security_group.chat.id
  description       = "load balancer health checks"
  ip_protocol       = "tcp"
  from_port         = each.key
  to_port           = each.key
  cidr_ipv4         = data.aws_vpc.default[0].cidr_block
  tags              = local.tags
}
