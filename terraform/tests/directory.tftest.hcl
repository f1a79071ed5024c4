# key_store = "dynamodb": the table the server's directory expects, and an instance role that
# may do exactly what the server does with it.

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

run "the_table_has_the_team_design" {
  assert {
    condition     = aws_dynamodb_table.directory[0].name == "ssh-chat-directory" && aws_dynamodb_table.directory[0].hash_key == "pk" && aws_dynamodb_table.directory[0].range_key == null
    error_message = "One table, hash key pk, no range key."
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].attribute == toset([{ name = "pk", type = "S" }, { name = "account_id", type = "S" }])
    error_message = "The table declares exactly pk and account_id, both strings."
  }
  assert {
    condition = length(aws_dynamodb_table.directory[0].global_secondary_index) == 1 && alltrue([
      for g in aws_dynamodb_table.directory[0].global_secondary_index :
      g.name == "by_account" && g.hash_key == "account_id" && g.range_key == null && g.projection_type == "ALL"
    ])
    error_message = "One global secondary index, by_account on account_id, projecting ALL."
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].billing_mode == "PAY_PER_REQUEST"
    error_message = "The table must be on-demand."
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].point_in_time_recovery[0].enabled && aws_dynamodb_table.directory[0].server_side_encryption[0].enabled
    error_message = "Point-in-time recovery and server-side encryption must be on."
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].deletion_protection_enabled == true
    error_message = "Deletion protection must be on by default."
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].tags["Owner"] == "ops@example.com" && aws_iam_role.chat[0].tags["Owner"] == "ops@example.com"
    error_message = "The table and role carry the Owner tag."
  }
}

run "deletion_protection_can_be_turned_off" {
  command = plan
  variables {
    dynamodb_deletion_protection = false
  }
  assert {
    condition     = aws_dynamodb_table.directory[0].deletion_protection_enabled == false
    error_message = "dynamodb_deletion_protection = false must reach the table."
  }
}

run "the_role_may_use_only_the_table" {
  assert {
    condition     = aws_instance.chat[0].iam_instance_profile == aws_iam_instance_profile.chat[0].name && aws_iam_instance_profile.chat[0].role == aws_iam_role.chat[0].name
    error_message = "The instance must run with the chat role."
  }
  assert {
    condition = jsondecode(aws_iam_role.chat[0].assume_role_policy).Statement == [{
      Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole"
    }]
    error_message = "Only EC2 may assume the role."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.chat[0].policy).Statement == [{
      Sid    = "KeyDirectory"
      Effect = "Allow"
      Action = [
        "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
        "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
        "dynamodb:Scan", "dynamodb:UpdateItem",
      ]
      Resource = [
        "arn:aws:dynamodb:us-east-1:123456789012:table/ssh-chat-directory",
        "arn:aws:dynamodb:us-east-1:123456789012:table/ssh-chat-directory/index/by_account",
      ]
    }]
    error_message = "The policy must allow exactly the server's item actions on the table and its index, nothing else (one server: no SSM)."
  }
  assert {
    condition = alltrue(flatten([
      for st in jsondecode(aws_iam_role_policy.chat[0].policy).Statement : [
        for v in concat(flatten([st.Action]), flatten([st.Resource])) : !strcontains(v, "*")
      ]
    ]))
    error_message = "No action or resource of the policy may contain a wildcard."
  }
  assert {
    condition     = alltrue([for st in jsondecode(aws_iam_role_policy.chat[0].policy).Statement : st.Effect == "Allow" && !contains(keys(st), "NotAction") && !contains(keys(st), "NotResource")])
    error_message = "Only plain Allow statements (no NotAction/NotResource, which grant by exclusion)."
  }
}

run "the_server_starts_with_the_dynamodb_directory" {
  variables {
    region = "eu-central-1"
  }
  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "DIRECTORY='dynamodb://ssh-chat-directory?region=eu-central-1'")
    error_message = "The user-data must start the server with --directory dynamodb://TABLE?region=REGION."
  }
  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "add_env CHAT_DIRECTORY \"$DIRECTORY\"") && strcontains(aws_instance.chat[0].user_data, "EnvironmentFile=%s")
    error_message = "The directory must reach the unit as CHAT_DIRECTORY through its environment file."
  }
  assert {
    condition     = output.directory == "dynamodb://ssh-chat-directory?region=eu-central-1"
    error_message = "The directory output must name the table and region."
  }
}

run "the_embedded_store_is_the_default" {
  variables {
    key_store = "embedded"
  }
  assert {
    condition     = length(aws_dynamodb_table.directory) == 0 && length(aws_iam_role.chat) == 0 && length(aws_iam_role_policy.chat) == 0 && length(aws_iam_instance_profile.chat) == 0
    error_message = "The embedded store creates no table and no role."
  }
  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "DIRECTORY=''") && output.directory == "sqlite"
    error_message = "The embedded store leaves CHAT_DIRECTORY unset (SQLite)."
  }
}

run "rejects_unknown_key_store" {
  command = plan
  variables {
    key_store = "postgres"
  }
  expect_failures = [var.key_store]
}
