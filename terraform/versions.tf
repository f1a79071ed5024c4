terraform {
  # The configuration itself needs 1.5+; `terraform test` with mock_provider (tests/) needs 1.7+.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}
