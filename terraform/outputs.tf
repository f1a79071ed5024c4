output "public_ip" {
  description = "Public (Elastic) IP address of the chat server; it stays the same across redeploys."
  value       = aws_eip.chat.public_ip
}

output "instance_id" {
  description = "EC2 instance ID."
  value       = aws_instance.chat.id
}

output "ssh_command" {
  description = "How users join the chat."
  value       = "ssh -p ${local.chat_port} ${aws_eip.chat.public_ip}"
}

output "host_key_fingerprint_command" {
  description = "Prints the chat server's host key fingerprint from the instance, for users to compare with what ssh shows on first connect. Through admin SSH when admin_cidrs is set, otherwise from the EC2 console output (needs the AWS CLI; available once the bootstrap has finished)."
  value = (length(var.admin_cidrs) > 0
    ? "ssh ubuntu@${aws_eip.chat.public_ip} sudo ssh-keygen -lf /var/lib/chat/host_ed25519_key"
    : "aws ec2 get-console-output --region ${var.region} --instance-id ${aws_instance.chat.id} --latest --output text | grep 'chat host key'"
  )
}

output "host_key_fingerprint_console_command" {
  description = "Prints the host key fingerprint line that the bootstrap wrote to the instance console (works without port 22)."
  value       = "aws ec2 get-console-output --region ${var.region} --instance-id ${aws_instance.chat.id} --latest --output text | grep 'chat host key'"
}

output "admin_ssh_command" {
  description = "Admin login to the instance's OpenSSH on port 22; null when admin_cidrs is empty (port 22 closed)."
  value       = length(var.admin_cidrs) > 0 ? "ssh ubuntu@${aws_eip.chat.public_ip}" : null
}
