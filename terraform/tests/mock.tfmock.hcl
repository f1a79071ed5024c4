# Shared mock data for the AWS provider (see mock_provider "aws" { source = "./tests" }).
mock_data "aws_ami" {
  defaults = {
    id   = "ami-0123456789abcdef0"
    name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101"
  }
}

mock_data "aws_ec2_instance_type_offerings" {
  defaults = {
    # Unsorted and with a Local Zone, to exercise the zone choice.
    locations = ["us-east-1b", "us-west-2-lax-1a", "us-east-1a"]
  }
}

mock_resource "aws_ebs_volume" {
  defaults = {
    id = "vol-0123456789abcdef0"
  }
}

mock_resource "aws_instance" {
  defaults = {
    id = "i-0123456789abcdef0"
  }
}

mock_resource "aws_eip" {
  defaults = {
    public_ip = "203.0.113.10"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ssh-chat-directory"
  }
}

mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/ssh-chat/host_ed25519_key"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/ssh-chat-20250101000000000000000001"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/ssh-chat/0123456789abcdef"
    dns_name = "ssh-chat-0123456789abcdef.elb.us-east-1.amazonaws.com"
    zone_id  = "Z26RNL4JYFTOTI"
  }
}

mock_resource "aws_elasticache_replication_group" {
  defaults = {
    primary_endpoint_address = "ssh-chat-bus.abc123.ng.0001.use1.cache.amazonaws.com"
  }
}

mock_data "aws_vpc" {
  defaults = {
    id         = "vpc-0123456789abcdef0"
    cidr_block = "172.31.0.0/16"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names = ["us-east-1c", "us-east-1a", "us-west-2-lax-1a", "us-east-1b"]
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ssh-chat-2222/0123456789abcdef"
  }
}
