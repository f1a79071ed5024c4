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
