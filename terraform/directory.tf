# key_store = "dynamodb": the key directory (accounts and their public keys) in one DynamoDB
# table, and the instance role that lets the servers use it and nothing else.
#
# The table design is the server's (chat-dynamo): one table, string hash key `pk`, no range key,
# and one global secondary index `by_account` on `account_id` with every attribute projected.

locals {
  table_name = "${var.name}-directory"

  # The only item actions the server calls. TransactWriteItems needs no action of its own: it is
  # authorised by the Put/Update/Delete/ConditionCheck actions it contains.
  directory_actions = [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
  ]
}

resource "aws_dynamodb_table" "directory" {
  count = local.dynamodb ? 1 : 0

  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "account_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_account"
    hash_key        = "account_id"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  # With the AWS managed key (aws/dynamodb): no key to administer, and the role needs no KMS
  # permission of its own.
  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.dynamodb_deletion_protection

  tags = merge(local.tags, { Name = local.table_name })
}

# The role exists whenever there is something for it to do: the table, and with several nodes
# the shared host key (cluster.tf).
resource "aws_iam_role" "chat" {
  count = local.dynamodb ? 1 : 0

  name_prefix = "${var.name}-"
  description = "SSH chat servers: their key directory in DynamoDB, and a cluster's shared host key"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_instance_profile" "chat" {
  count = local.dynamodb ? 1 : 0

  name_prefix = "${var.name}-"
  role        = aws_iam_role.chat[0].name
  tags        = local.tags
}

# Exact actions on exact resources: the table, its index by ARN (no wildcard), and the cluster's
# host key parameter. tests/directory.tftest.hcl asserts that no "*" appears anywhere in it.
resource "aws_iam_role_policy" "chat" {
  count = local.dynamodb ? 1 : 0

  name = "chat-server"
  role = aws_iam_role.chat[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid    = "KeyDirectory"
        Effect = "Allow"
        Action = local.directory_actions
        Resource = concat(
          [aws_dynamodb_table.directory[0].arn],
          [for g in aws_dynamodb_table.directory[0].global_secondary_index : "${aws_dynamodb_table.directory[0].arn}/index/${g.name}"],
        )
      }],
      # Every node reads the shared host key; node 0 writes it on first boot (cluster.tf).
      local.cluster ? [{
        Sid      = "SharedHostKey"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:PutParameter"]
        Resource = [aws_ssm_parameter.host_key[0].arn]
      }] : [],
    )
  })
}
