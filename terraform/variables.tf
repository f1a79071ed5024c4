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
