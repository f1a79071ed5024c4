# Variable validation: each run feeds one bad value and expects Terraform to reject it.

mock_provider "aws" {
  source = "./tests"
}

variables {
  owner           = "ops@example.com"
  repo_url        = "https://github.com/example/ssh-chat-rs.git"
  public_key_path = "tests/fixtures/test_ed25519.pub"
}

run "good_values_pass" {
  command = plan

  variables {
    chat_cidrs  = ["10.0.0.0/8", "2001:db8::/32"]
    admin_cidrs = ["192.0.2.1/32"]
  }
}

run "rejects_bad_chat_cidr" {
  command = plan
  variables {
    chat_cidrs = ["0.0.0.0/0", "not-a-cidr"]
  }
  expect_failures = [var.chat_cidrs]
}

run "rejects_address_without_prefix" {
  command = plan
  variables {
    chat_cidrs = ["198.51.100.7"]
  }
  expect_failures = [var.chat_cidrs]
}

run "rejects_cidr_with_host_bits" {
  command = plan
  variables {
    chat_cidrs = ["10.1.2.3/8"]
  }
  expect_failures = [var.chat_cidrs]
}

run "rejects_empty_chat_cidrs" {
  command = plan
  variables {
    chat_cidrs = []
  }
  expect_failures = [var.chat_cidrs]
}

run "rejects_bad_admin_cidr" {
  command = plan
  variables {
    admin_cidrs = ["192.0.2.300/32"]
  }
  expect_failures = [var.admin_cidrs]
}

run "rejects_tiny_instance" {
  command = plan
  variables {
    instance_type = "t3.micro"
  }
  expect_failures = [var.instance_type]
}

run "rejects_arm_instance" {
  command = plan
  variables {
    instance_type = "t4g.medium"
  }
  expect_failures = [var.instance_type]
}

run "accepts_other_x86_instances" {
  command = plan
  variables {
    instance_type = "m7i-flex.large"
  }
}

run "rejects_empty_owner" {
  command = plan
  variables {
    owner = "  "
  }
  expect_failures = [var.owner]
}

run "rejects_shell_metacharacters_in_repo_url" {
  command = plan
  variables {
    repo_url = "https://example.com/x.git';reboot;'"
  }
  expect_failures = [var.repo_url]
}

run "rejects_non_https_repo_url" {
  command = plan
  variables {
    repo_url = "git@github.com:example/ssh-chat-rs.git"
  }
  expect_failures = [var.repo_url]
}

run "rejects_bad_git_ref" {
  command = plan
  variables {
    git_ref = "main; rm -rf /"
  }
  expect_failures = [var.git_ref]
}

run "rejects_missing_public_key" {
  command = plan
  variables {
    public_key_path = "tests/fixtures/does-not-exist.pub"
  }
  expect_failures = [var.public_key_path]
}

run "rejects_private_key_as_public_key" {
  command = plan
  variables {
    public_key_path = "tests/fixtures/not_a_public_key.txt"
  }
  expect_failures = [var.public_key_path]
}

run "rejects_bad_region" {
  command = plan
  variables {
    region = "US East"
  }
  expect_failures = [var.region]
}

run "rejects_tiny_root_volume" {
  command = plan
  variables {
    root_volume_size = 8
  }
  expect_failures = [var.root_volume_size]
}
