locals {
  # Where users connect: the Elastic IP of the one server, or the cluster's load balancer.
  address = local.cluster ? aws_lb.chat[0].dns_name : aws_eip.chat[0].public_ip
}

output "address" {
  description = "Where users connect on port 2222: the Elastic IP of the single server, or the DNS name of the cluster's network load balancer."
  value       = local.address
}

output "public_ip" {
  description = "Public (Elastic) IP address of the single chat server; it stays the same across redeploys. Null for a cluster (node_count > 1), which is reached through its load balancer (address)."
  value       = local.cluster ? null : aws_eip.chat[0].public_ip
}

output "instance_id" {
  description = "EC2 instance ID of the (first) chat server."
  value       = aws_instance.chat[0].id
}

output "instance_ids" {
  description = "EC2 instance IDs of every node, in node order."
  value       = aws_instance.chat[*].id
}

output "ssh_command" {
  description = "How users join the chat."
  value       = "ssh -p ${local.chat_port} ${local.address}"
}

output "web_url" {
  description = "The web front-end (key registration, sign-in), once the DNS record exists; null without domain_name."
  value       = local.web ? local.public_url : null
}

output "dns_records" {
  description = "The DNS record to create for domain_name, in zone-file form; null without a domain. One server: an A record to its Elastic IP. A cluster: a CNAME to the load balancer (for a zone apex, which cannot hold a CNAME, use a Route 53 alias A record to the load balancer: dns_alias_target)."
  value = !local.web ? null : (local.cluster
    ? ["${var.domain_name}. 300 IN CNAME ${aws_lb.chat[0].dns_name}."]
    : ["${var.domain_name}. 300 IN A ${aws_eip.chat[0].public_ip}"]
  )
}

output "dns_alias_target" {
  description = "For a Route 53 alias record to a cluster's load balancer: its DNS name and hosted zone ID. Null for one server or without a domain."
  value       = local.web && local.cluster ? { name = aws_lb.chat[0].dns_name, zone_id = aws_lb.chat[0].zone_id } : null
}

output "directory" {
  description = "The key directory the servers use: the DynamoDB URL they are started with (--directory), or \"sqlite\" for the embedded store."
  value       = local.dynamodb ? local.directory_url : "sqlite"
}

output "cluster_bus" {
  description = "The Redis URL the nodes are started with (--cluster); null for one server. Reachable only from the nodes."
  value       = local.cluster ? "redis://${aws_elasticache_replication_group.bus[0].primary_endpoint_address}:${aws_elasticache_replication_group.bus[0].port}" : null
}

output "host_key_parameter" {
  description = "SSM parameter (SecureString) holding the SSH host key every node of a cluster presents; null for one server, whose key lives on its data volume."
  value       = local.cluster ? aws_ssm_parameter.host_key[0].name : null
}

output "host_key_fingerprint_command" {
  description = "Prints the chat server's host key fingerprint, for users to compare with what ssh shows on first connect. One server: through admin SSH when admin_cidrs is set, otherwise from the EC2 console output (needs the AWS CLI; available once the bootstrap has finished). A cluster: from the shared key in SSM (needs the AWS CLI and ssm:GetParameter on it)."
  value = (local.cluster
    ? "(umask 077; f=$(mktemp) && aws ssm get-parameter --region ${var.region} --name ${aws_ssm_parameter.host_key[0].name} --with-decryption --query Parameter.Value --output text >\"$f\" && ssh-keygen -lf \"$f\"; rm -f \"$f\")"
    : (length(var.admin_cidrs) > 0
      ? "ssh ubuntu@${aws_eip.chat[0].public_ip} sudo ssh-keygen -lf /var/lib/chat/host_ed25519_key"
      : "aws ec2 get-console-output --region ${var.region} --instance-id ${aws_instance.chat[0].id} --latest --output text | grep 'chat host key'"
    )
  )
}

output "host_key_fingerprint_console_command" {
  description = "Prints the host key fingerprint line that the bootstrap wrote to the (first) instance's console (works without port 22)."
  value       = "aws ec2 get-console-output --region ${var.region} --instance-id ${aws_instance.chat[0].id} --latest --output text | grep 'chat host key'"
}

output "admin_ssh_command" {
  description = "Admin login to the (first) instance's OpenSSH on port 22; null when admin_cidrs is empty (port 22 closed)."
  value       = length(var.admin_cidrs) > 0 ? "ssh ubuntu@${local.cluster ? aws_instance.chat[0].public_ip : aws_eip.chat[0].public_ip}" : null
}
