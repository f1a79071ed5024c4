# domain_name: Caddy with automatic HTTPS in front of the web front-end, ports 80 and 443 open;
# without it, no web port at all.

mock_provider "aws" {
  source = "./tests"
}

variables {
  owner           = "ops@example.com"
  repo_url        = "https://github.com/example/ssh-chat-rs.git"
  git_ref         = "v0.1.0"
  public_key_path = "tests/fixtures/test_ed25519.pub"
}

run "no_domain_no_web_port" {
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.web_v4) == 0 && length(aws_vpc_security_group_ingress_rule.web_v6) == 0
    error_message = "Without domain_name, ports 80 and 443 must stay closed."
  }
  assert {
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.chat_v4), values(aws_vpc_security_group_ingress_rule.chat_v6)) : r.from_port == 2222
    ])
    error_message = "The only open port is the chat's."
  }
  assert {
    condition     = strcontains(aws_instance.chat[0].user_data, "WEB_DOMAIN=''") && strcontains(aws_instance.chat[0].user_data, "PUBLIC_URL=''")
    error_message = "Without a domain there is no Caddy and no public URL."
  }
  assert {
    condition     = output.dns_records == null && output.web_url == null
    error_message = "Without a domain there is no DNS record to create."
  }
}

run "a_domain_gets_caddy_and_ports_80_443" {
  variables {
    domain_name = "chat.example.org"
  }
  assert {
    condition = toset([for r in aws_vpc_security_group_ingress_rule.web_v4 : "${r.from_port}-${r.to_port} ${r.ip_protocol} ${r.cidr_ipv4}"]) == toset([
      "80-80 tcp 0.0.0.0/0", "443-443 tcp 0.0.0.0/0",
    ])
    error_message = "With a domain, TCP 80 and 443 must be open to web_cidrs (everyone by default)."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.web_v6) == 0 && length(aws_vpc_security_group_ingress_rule.admin_v4) == 0
    error_message = "No IPv6 web rule by default, and the domain does not open port 22."
  }
  assert {
    condition = alltrue([for s in [
      "WEB_DOMAIN='chat.example.org'",
      "PUBLIC_URL='https://chat.example.org'",
      "set -- \"$@\" caddy",
      "reverse_proxy 127.0.0.1:8080",
      "add_env CHAT_PUBLIC_URL \"$PUBLIC_URL\"",
      "add_env CHAT_WEB_BIND 127.0.0.1:8080",
      "systemctl enable caddy",
    ] : strcontains(aws_instance.chat[0].user_data, s)])
    error_message = "The instance must install Caddy from the distribution, proxy to the loopback web bind, and start the server with CHAT_PUBLIC_URL."
  }
  assert {
    condition     = output.dns_records == ["chat.example.org. 300 IN A 203.0.113.10"] && output.web_url == "https://chat.example.org"
    error_message = "One server: the DNS record is an A record to its Elastic IP."
  }
  assert {
    condition     = output.ssh_command == "ssh -p 2222 203.0.113.10"
    error_message = "A domain does not change how users reach the chat."
  }
}

run "web_cidrs_narrow_the_web_ports" {
  variables {
    domain_name = "chat.example.org"
    web_cidrs   = ["198.51.100.0/24", "2001:db8::/32"]
  }
  assert {
    condition = (toset([for r in aws_vpc_security_group_ingress_rule.web_v4 : "${r.from_port} ${r.cidr_ipv4}"]) == toset(["80 198.51.100.0/24", "443 198.51.100.0/24"])
    && toset([for r in aws_vpc_security_group_ingress_rule.web_v6 : "${r.from_port} ${r.cidr_ipv6}"]) == toset(["80 2001:db8::/32", "443 2001:db8::/32"]))
    error_message = "web_cidrs must decide who reaches 80 and 443, per address family."
  }
}

run "rejects_a_url_as_domain" {
  command = plan
  variables {
    domain_name = "https://chat.example.org/"
  }
  expect_failures = [var.domain_name]
}

run "rejects_quotes_in_domain" {
  command = plan
  variables {
    domain_name = "chat.example.org';reboot;'"
  }
  expect_failures = [var.domain_name]
}

run "rejects_bad_web_cidr" {
  command = plan
  variables {
    domain_name = "chat.example.org"
    web_cidrs   = ["0.0.0.0"]
  }
  expect_failures = [var.web_cidrs]
}
