################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name prefix for every resource (e.g. `acme-genomics-dev`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 characters of lowercase letters, digits and hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Bring your own network
################################################################################

variable "vpc_id" {
  description = "Existing VPC to use; null creates one. When set, `subnet_ids` must name its subnets."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd or be null."
  }
}

variable "subnet_ids" {
  description = "Existing subnets for the compute environments (only with `vpc_id`); they need a route to the internet or to VPC endpoints for ECS, ECR and CloudWatch Logs."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must look like subnet-0123abcd."
  }
}

variable "security_group_ids" {
  description = "Existing security groups for the instances; empty creates an egress-only group."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "security_group_ids must look like sg-0123abcd."
  }
}

################################################################################
# Created network
################################################################################

variable "cidr_block" {
  description = "CIDR of the VPC created when `vpc_id` is null; split into /20 subnets (public first, then private)."
  type        = string
  default     = "10.42.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over (at least 2, so Batch can place instances when a zone runs out of capacity)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "enable_nat_gateway" {
  description = "Put instances in private subnets behind one NAT gateway (about 32 USD/month plus data, even when idle). Off: instances run in public subnets with public IPs and a security group that admits nothing."
  type        = bool
  default     = false
  nullable    = false
}

variable "enable_flow_logs" {
  description = "Record rejected VPC traffic to a CloudWatch log group (costs only per ingested byte)."
  type        = bool
  default     = true
  nullable    = false
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "s3_endpoint_buckets" {
  description = "Buckets the S3 gateway endpoint lets requests from the VPC reach, by name: `read_write` the env's own buckets (object reads and writes, listing), `read_only` buckets outside the env that jobs read (the platform's `external_read_buckets`). AWS-owned buckets the instances need (ECR layers, Amazon Linux repositories, ECS and SSM agents; see the README) are always readable; any other bucket is unreachable from the instances."
  type = object({
    read_write = optional(list(string), [])
    read_only  = optional(list(string), [])
  })
  nullable = false
  default  = {}

  validation {
    condition     = alltrue([for b in concat(var.s3_endpoint_buckets.read_write, var.s3_endpoint_buckets.read_only) : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", b))])
    error_message = "s3_endpoint_buckets must list bucket names (not ARNs or s3:// URIs)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the flow log group; null uses CloudWatch's own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the flow-log role (see `modules/github-oidc`); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN or null."
  }
}
