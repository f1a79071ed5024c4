terraform {
  # 1.11+: write-only attributes (the cluster's host key parameter); 1.9+ for a validation that
  # refers to another variable (node_count needs key_store).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100" # 5.100: write-only value_wo on aws_ssm_parameter
    }
  }
}

provider "aws" {
  region = var.region
}
