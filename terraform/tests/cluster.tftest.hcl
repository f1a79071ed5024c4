# node_count: one server with an Elastic IP, or several behind a network load balancer sharing
# Redis (ElastiCache, private subnets) and one host key (SSM).

mock_provider "aws" {
  source = "./tests"
}

variables {
  owner           = "ops@example.com"
  repo_url        = "https://github.com/example/ssh-chat-rs.git"
  git_ref         = "v0.1.0"
  public_key_path = "tests/fixtures/test_ed25519.pub"
  key_store       = "dynamodb"
}

run "one_node_is_one_server_with_an_elastic_ip" {
  assert {
    condition     = length(aws_instance.chat) == 1 && length(aws_eip.chat) == 1 && length(aws_lb.chat) == 0
    error_message = "node_count = 1: one instance with an Elastic IP, no load balancer."
  }
  assert {
    condition     = length(aws_elasticache_replication_group.bus) == 0 && length(aws_subnet.redis) == 0 && length(aws_ssm_parameter.host_key) == 0 && length(aws_security_group.redis) == 0
    error_message = "node_count = 1: no Redis, no subnets, no shared host key."
  }
  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "CLUSTER_URL=''") && strcontains(aws_instance.chat[0].user_data, "HOST_KEY_PARAMETER=''") && strcontains(aws_instance.chat[0].user_data, "NODE_NAME=''")
    error_message = "node_count = 1: the server runs without --cluster, with its own host key."
  }
  assert {
    condition     = output.ssh_command == "ssh -p 2222 203.0.113.10" && output.address == "203.0.113.10" && output.cluster_bus == null
    error_message = "node_count = 1: users connect to the Elastic IP."
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.chat[0].policy).Statement) == 1
    error_message = "node_count = 1: the role has no SSM permission."
  }
}

run "three_nodes_behind_a_load_balancer" {
  variables {
    node_count = 3
  }
  assert {
    condition     = length(aws_instance.chat) == 3 && length(aws_ebs_volume.data) == 3 && length(aws_volume_attachment.data) == 3 && length(aws_eip.chat) == 0
    error_message = "node_count = 3: three instances, each with its data volume, and no Elastic IP."
  }
  assert {
    condition     = [for i in aws_instance.chat : i.availability_zone] == ["us-east-1a", "us-east-1b", "us-east-1a"] && [for v in aws_ebs_volume.data : v.availability_zone] == ["us-east-1a", "us-east-1b", "us-east-1a"]
    error_message = "Nodes spread over the zones that offer the type, each volume with its node."
  }
  assert {
    condition     = aws_lb.chat[0].load_balancer_type == "network" && aws_lb.chat[0].internal == false && length(aws_lb.chat[0].subnets) == 2
    error_message = "An internet-facing network load balancer in the nodes' zones."
  }
  assert {
    condition     = keys(aws_lb_listener.chat) == ["2222"] && aws_lb_listener.chat["2222"].protocol == "TCP" && aws_lb_target_group.chat["2222"].port == 2222 && aws_lb_target_group.chat["2222"].protocol == "TCP"
    error_message = "Without a domain the load balancer forwards TCP 2222 only."
  }
  assert {
    condition     = length(aws_lb_target_group_attachment.chat) == 3 && alltrue([for a in aws_lb_target_group_attachment.chat : a.port == 2222])
    error_message = "Every node is a target of the chat port."
  }
  assert {
    condition     = output.ssh_command == "ssh -p 2222 ssh-chat-0123456789abcdef.elb.us-east-1.amazonaws.com" && output.address == aws_lb.chat[0].dns_name && output.public_ip == null
    error_message = "node_count > 1: ssh_command points at the load balancer."
  }
}

run "redis_is_private_and_reached_only_by_the_nodes" {
  variables {
    node_count = 3
  }
  assert {
    condition     = [for s in aws_subnet.redis : s.cidr_block] == ["172.31.240.0/24", "172.31.241.0/24"] && [for s in aws_subnet.redis : s.availability_zone] == ["us-east-1a", "us-east-1b"] && alltrue([for s in aws_subnet.redis : s.map_public_ip_on_launch == false])
    error_message = "Redis lives in two private subnets of two regular zones, at the top of the VPC's range."
  }
  assert {
    condition     = length(aws_route_table.redis[0].route) == 0 && length(aws_route_table_association.redis) == 2
    error_message = "The Redis subnets' route table has no route out (only the implicit local one)."
  }
  assert {
    condition     = aws_elasticache_replication_group.bus[0].subnet_group_name == aws_elasticache_subnet_group.bus[0].name && aws_elasticache_replication_group.bus[0].security_group_ids == toset([aws_security_group.redis[0].id])
    error_message = "Redis uses the private subnet group and its own security group."
  }
  assert {
    condition = (length(aws_vpc_security_group_ingress_rule.redis_from_nodes) == 1
      && aws_vpc_security_group_ingress_rule.redis_from_nodes[0].referenced_security_group_id == aws_security_group.chat.id
      && aws_vpc_security_group_ingress_rule.redis_from_nodes[0].cidr_ipv4 == null
      && aws_vpc_security_group_ingress_rule.redis_from_nodes[0].from_port == 6379
    && aws_vpc_security_group_ingress_rule.redis_from_nodes[0].to_port == 6379)
    error_message = "Only the nodes' security group reaches Redis, on 6379 only."
  }
  assert {
    condition = (aws_elasticache_replication_group.bus[0].engine == "redis" && aws_elasticache_replication_group.bus[0].num_cache_clusters == 2
      && aws_elasticache_replication_group.bus[0].automatic_failover_enabled && aws_elasticache_replication_group.bus[0].multi_az_enabled
    && tostring(aws_elasticache_replication_group.bus[0].at_rest_encryption_enabled) == "true")
    error_message = "Redis: a primary and a replica with automatic failover, encrypted at rest."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.health_checks["2222"].cidr_ipv4 == "172.31.0.0/16" && length(aws_vpc_security_group_ingress_rule.health_checks) == 1
    error_message = "The load balancer's health checks reach the chat port from inside the VPC."
  }
}

run "each_node_joins_the_cluster_with_its_name_and_the_shared_key" {
  variables {
    node_count = 3
  }
  assert {
    condition = alltrue([for i, n in aws_instance.chat : alltrue([
      strcontains(n.user_data, "CLUSTER_URL='redis://ssh-chat-bus.abc123.ng.0001.use1.cache.amazonaws.com:6379'"),
      strcontains(n.user_data, "NODE_NAME='ssh-chat-${i}'"),
      strcontains(n.user_data, "HOST_KEY_PARAMETER='/ssh-chat/host_ed25519_key'"),
      strcontains(n.user_data, "HOST_KEY_WRITER='${i == 0 ? "yes" : ""}'"),
      strcontains(n.user_data, "DIRECTORY='dynamodb://ssh-chat-directory?region=us-east-1'"),
      length(n.user_data) < 16384,
    ])])
    error_message = "Each node starts with --cluster redis://ENDPOINT:6379, its own --node-name and the shared host key; only node 0 writes the key."
  }
  assert {
    condition     = aws_ssm_parameter.host_key[0].type == "SecureString" && aws_ssm_parameter.host_key[0].name == "/ssh-chat/host_ed25519_key" && aws_ssm_parameter.host_key[0].value_wo_version == 1
    error_message = "The shared host key is a SecureString created with a write-only placeholder (apply-check.sh proves the state never holds the key)."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.chat[0].policy).Statement[1] == {
      Sid      = "SharedHostKey"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter", "ssm:PutParameter"]
      Resource = ["arn:aws:ssm:us-east-1:123456789012:parameter/ssh-chat/host_ed25519_key"]
    }
    error_message = "The role may read and write the host key parameter, and nothing else in SSM."
  }
  assert {
    condition = alltrue(flatten([
      for st in jsondecode(aws_iam_role_policy.chat[0].policy).Statement : [
        for v in concat(flatten([st.Action]), flatten([st.Resource])) : !strcontains(v, "*")
      ]
    ]))
    error_message = "No wildcard in the cluster's policy either."
  }
  assert {
    condition     = output.cluster_bus == "redis://ssh-chat-bus.abc123.ng.0001.use1.cache.amazonaws.com:6379" && output.host_key_parameter == "/ssh-chat/host_ed25519_key"
    error_message = "The outputs name the bus and the host key parameter."
  }
}

run "a_cluster_with_a_domain_sends_the_web_to_node_0" {
  variables {
    node_count  = 3
    domain_name = "chat.example.org"
  }
  assert {
    condition     = keys(aws_lb_listener.chat) == ["2222", "443", "80"]
    error_message = "With a domain the load balancer also forwards 80 and 443."
  }
  assert {
    condition = (toset([for k, a in aws_lb_target_group_attachment.chat : k if a.port != 2222]) == toset(["80 0", "443 0"])
    && alltrue([for k, a in aws_lb_target_group_attachment.chat : a.target_id == aws_instance.chat[0].id if a.port != 2222]))
    error_message = "Ports 80 and 443 lead to node 0 only, the node that runs Caddy."
  }
  assert {
    condition = (strcontains(aws_instance.chat[0].user_data, "WEB_DOMAIN='chat.example.org'")
      && strcontains(aws_instance.chat[1].user_data, "WEB_DOMAIN=''")
    && alltrue([for n in aws_instance.chat : strcontains(n.user_data, "PUBLIC_URL='https://chat.example.org'")]))
    error_message = "Caddy on node 0; every node knows the public URL."
  }
  assert {
    condition     = output.dns_records == ["chat.example.org. 300 IN CNAME ssh-chat-0123456789abcdef.elb.us-east-1.amazonaws.com."] && output.dns_alias_target.zone_id == "Z26RNL4JYFTOTI"
    error_message = "A cluster's DNS record is a CNAME (or a Route 53 alias) to the load balancer."
  }
  assert {
    condition     = toset(keys(aws_vpc_security_group_ingress_rule.health_checks)) == toset(["2222", "80", "443"])
    error_message = "Health checks reach every forwarded port."
  }
}

run "one_zone_given_puts_every_node_there" {
  command = plan
  variables {
    node_count        = 2
    availability_zone = "us-east-1c"
  }
  assert {
    condition     = [for i in aws_instance.chat : i.availability_zone] == ["us-east-1c", "us-east-1c"]
    error_message = "An explicit availability_zone holds every node."
  }
}

run "a_cluster_needs_the_dynamodb_directory" {
  command = plan
  variables {
    node_count = 3
    key_store  = "embedded"
  }
  expect_failures = [var.node_count]
}

run "rejects_zero_nodes" {
  command = plan
  variables {
    node_count = 0
  }
  expect_failures = [var.node_count]
}

run "rejects_fractional_nodes" {
  command = plan
  variables {
    node_count = 1.5
  }
  expect_failures = [var.node_count]
}

run "the_fingerprint_command_reads_the_shared_key" {
  variables {
    node_count = 2
  }
  assert {
    condition     = output.host_key_fingerprint_command == "(umask 077; f=$(mktemp) && aws ssm get-parameter --region us-east-1 --name /ssh-chat/host_ed25519_key --with-decryption --query Parameter.Value --output text >\"$f\" && ssh-keygen -lf \"$f\"; rm -f \"$f\")"
    error_message = "A cluster's fingerprint comes from the shared key in SSM."
  }
}
