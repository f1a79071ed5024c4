variable "region" {
  description = "AWS region to deploy to, e.g. us-east-1 or eu-central-1."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as \"us-east-1\" or \"eu-central-1\"."
  }
}

variable "availability_zone" {
  description = "Availability zone for the instance and its data volume (both must share one). Leave null to pick the alphabetically first zone of the region that offers instance_type; the default VPC must have a default subnet there."
  type        = string
  default     = null

  validation {
    condition     = var.availability_zone == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", var.availability_zone))
    error_message = "availability_zone must be null or a zone name such as \"us-east-1a\"."
  }
}

variable "name" {
  description = "Name prefix for the AWS resources (Name tag, key pair, security group)."
  type        = string
  default     = "ssh-chat"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1-31 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "instance_type" {
  description = "EC2 instance type (x86_64). The instance compiles chat-cli (russh) in release mode on first boot: t3.medium (2 vCPU, 4 GiB) is the smallest comfortable size. Smaller types with under 3 GiB of RAM get a 2 GiB swap file and build slowly; nano and micro are refused."
  type        = string
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like an EC2 instance type, e.g. \"t3.medium\"."
  }

  validation {
    condition     = !can(regex("\\.(nano|micro)$", var.instance_type))
    error_message = "nano and micro instances have too little memory to compile chat-cli; use t3.medium (or at least t3.small, which builds slowly with swap)."
  }

  validation {
    # Graviton families carry a "g" after the generation digit: t4g, m7g, c6gn, r7gd, is4gen, ...
    condition     = !can(regex("^[a-z]+[0-9]+[a-z-]*g[a-z-]*\\.", var.instance_type))
    error_message = "arm64 (Graviton) instance types are not supported: the image is Ubuntu amd64. Use an x86_64 type such as t3.medium or t3a.medium."
  }
}

variable "chat_cidrs" {
  description = "CIDR blocks (IPv4 or IPv6) allowed to reach the chat on TCP port 2222. The default lets anyone in."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.chat_cidrs) > 0
    error_message = "chat_cidrs must list at least one CIDR block, or nobody can chat."
  }

  validation {
    condition     = alltrue([for c in var.chat_cidrs : can(cidrhost(c, 0)) && can(cidrsubnet(c, 0, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Every entry of chat_cidrs must be a CIDR block in canonical form, e.g. \"203.0.113.0/24\" or \"198.51.100.7/32\" (a single address needs /32, host bits must be zero)."
  }
}

variable "admin_cidrs" {
  description = "CIDR blocks (IPv4 or IPv6) allowed to reach the instance's OpenSSH on port 22 (login as ubuntu with your key). Empty (the default) keeps port 22 closed. Use your own address as /32, never 0.0.0.0/0."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && can(cidrsubnet(c, 0, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Every entry of admin_cidrs must be a CIDR block in canonical form, e.g. \"198.51.100.7/32\" (a single address needs /32, host bits must be zero)."
  }
}

variable "public_key_path" {
  description = "Path to the OpenSSH public key (ssh-ed25519 or ssh-rsa) installed for the ubuntu user; used for admin logins on port 22 when admin_cidrs is set."
  type        = string
  default     = "~/.ssh/id_ed25519.pub"

  validation {
    condition     = fileexists(pathexpand(var.public_key_path))
    error_message = "public_key_path must name an existing file, e.g. ~/.ssh/id_ed25519.pub (create one with ssh-keygen -t ed25519)."
  }

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$", trimspace(try(file(pathexpand(var.public_key_path)), ""))))
    error_message = "public_key_path must be an OpenSSH public key file (a .pub line starting with ssh-ed25519 or ssh-rsa; EC2 accepts no other types). Never point it at a private key."
  }
}

variable "owner" {
  description = "Who is responsible for these resources: goes into the Owner tag of everything created (e.g. an email address or team name)."
  type        = string

  validation {
    condition     = length(trimspace(var.owner)) > 0 && length(var.owner) <= 256
    error_message = "owner must be a non-empty string of at most 256 characters."
  }
}

variable "repo_url" {
  description = "HTTPS URL of the git repository to build, cloneable without credentials (a public repository)."
  type        = string

  validation {
    # The value is pasted into the user-data script inside single quotes: no quotes, spaces or $.
    condition     = can(regex("^https://[A-Za-z0-9._~:/?#@%+=,-]+$", var.repo_url))
    error_message = "repo_url must be an https:// git URL without spaces, quotes or '$', e.g. \"https://github.com/example/ssh-chat-rs.git\"."
  }
}

variable "git_ref" {
  description = "Branch, tag or commit to deploy. Changing it replaces the instance (a fresh build); the chat data volume and host key are kept. Prefer a tag or commit for repeatable deploys."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]*$", var.git_ref)) && !strcontains(var.git_ref, "..") && length(var.git_ref) <= 200
    error_message = "git_ref must be a branch, tag or commit: letters, digits, '.', '_', '/', '-' (no '..', at most 200 characters)."
  }
}

variable "root_volume_size" {
  description = "Size of the encrypted root volume in GiB (OS, Rust toolchain and build cache: 20 is plenty)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 12 && var.root_volume_size <= 1024 && floor(var.root_volume_size) == var.root_volume_size
    error_message = "root_volume_size must be a whole number of GiB between 12 and 1024."
  }
}

variable "data_volume_size" {
  description = "Size in GiB of the separate encrypted volume mounted at /var/lib/chat (host key and chat data). It outlives instance replacement; only terraform destroy deletes it."
  type        = number
  default     = 1

  validation {
    condition     = var.data_volume_size >= 1 && var.data_volume_size <= 1024 && floor(var.data_volume_size) == var.data_volume_size
    error_message = "data_volume_size must be a whole number of GiB between 1 and 1024."
  }
}

variable "key_store" {
  description = "Where accounts and their keys live: \"embedded\" (the server's own SQLite database on the data volume, nothing else to create) or \"dynamodb\" (a DynamoDB table, on-demand, that this configuration creates, with an instance role allowed only the item actions the server uses on it)."
  type        = string
  default     = "embedded"

  validation {
    condition     = contains(["embedded", "dynamodb"], var.key_store)
    error_message = "key_store must be \"embedded\" or \"dynamodb\"."
  }
}

variable "dynamodb_deletion_protection" {
  description = "Deletion protection on the DynamoDB key directory (key_store = \"dynamodb\"). On by default: terraform destroy then fails on the table until you set this to false and apply, so accounts are never deleted by accident."
  type        = bool
  default     = true
}

variable "domain_name" {
  description = "DNS name of the web front-end, e.g. chat.example.org. Set: Caddy serves https://DOMAIN with a certificate it obtains by itself (Let's Encrypt), proxying to the chat server's web front-end on 127.0.0.1:8080, and ports 80 and 443 are opened to web_cidrs. Empty (the default): no web port is opened. Create the DNS record that the dns_records output names."
  type        = string
  default     = ""

  validation {
    # Pasted into the user-data inside single quotes, and into the Caddyfile: hostname characters only.
    condition     = var.domain_name == "" || (can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.domain_name)) && length(var.domain_name) <= 253)
    error_message = "domain_name must be empty or a lowercase DNS name such as \"chat.example.org\" (no scheme, port, path or trailing dot)."
  }
}

variable "web_cidrs" {
  description = "CIDR blocks (IPv4 or IPv6) allowed to reach ports 80 and 443 when domain_name is set. Let's Encrypt validates from the whole internet, so narrowing this breaks certificate issuance and renewal."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.web_cidrs) > 0
    error_message = "web_cidrs must list at least one CIDR block."
  }

  validation {
    condition     = alltrue([for c in var.web_cidrs : can(cidrhost(c, 0)) && can(cidrsubnet(c, 0, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Every entry of web_cidrs must be a CIDR block in canonical form, e.g. \"0.0.0.0/0\" or \"::/0\"."
  }
}

variable "node_count" {
  description = "How many chat servers. 1 (the default): one instance with an Elastic IP. More: that many instances behind a network load balancer, spread over the region's zones, sharing one chat through ElastiCache for Redis (--cluster) and one SSH host key (SSM Parameter Store); needs key_store = \"dynamodb\"."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 20 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 20."
  }

  validation {
    # Durable state must not live on one node: accounts and keys go to the shared DynamoDB table.
    condition     = var.node_count == 1 || var.key_store == "dynamodb"
    error_message = "node_count above 1 needs key_store = \"dynamodb\": with the embedded store every node would have its own accounts, and they would be lost with the node."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type of the cluster bus (node_count > 1)."
  type        = string
  default     = "cache.t4g.micro"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must be an ElastiCache node type such as \"cache.t4g.micro\"."
  }
}

variable "redis_replicas" {
  description = "Read replicas of the cluster bus (node_count > 1), each in another zone. 1 (the default) gives automatic failover if the primary fails; 0 halves the cost and makes Redis a single point of failure."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas >= 0 && var.redis_replicas <= 5 && floor(var.redis_replicas) == var.redis_replicas
    error_message = "redis_replicas must be a whole number from 0 to 5."
  }
}
