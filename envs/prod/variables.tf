variable "region" {
  description = "AWS region of the env."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name prefix of every resource (bucket names derive from it: make it globally unique, e.g. `acme-genomics-dev`)."
  type        = string
}

variable "environment" {
  description = "Environment tag value (dev, prod)."
  type        = string
}

variable "tags" {
  description = "Extra tags on every resource (cost centre, owner)."
  type        = map(string)
  default     = {}
}

variable "ami_id" {
  description = "AMI of the Batch instances; `runner ami build --env NAME` writes it to ami.auto.tfvars.json. null uses the current ECS-optimised Amazon Linux 2023 image."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Customer KMS key for buckets, volumes, logs and repositories; null uses AWS-managed encryption."
  type        = string
  default     = null
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the env's roles: the bootstrap root's `role_boundary_arns` output of modules/github-oidc (the CI apply role can create only roles carrying it)."
  type        = string
  default     = null
}

variable "external_read_buckets" {
  description = "Buckets outside the env that jobs may read (names), e.g. a public reference bucket or a sequencing core's bucket."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "Private subnets behind a NAT gateway (costs money even when idle)."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "Existing VPC to use; null creates one."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets of `vpc_id`."
  type        = list(string)
  default     = []
}

variable "spot_max_vcpus" {
  description = "Upper bound of the spot compute environment, in vCPUs."
  type        = number
}

variable "ondemand_max_vcpus" {
  description = "Upper bound of the on-demand compute environment, in vCPUs."
  type        = number
}

variable "instance_types" {
  description = "Instance types or families Batch may launch."
  type        = list(string)
}

variable "root_volume_size" {
  description = "Root volume size in GiB. null: the module's default."
  type        = number
  default     = null
}

variable "scratch_volume_size" {
  description = "gp3 scratch volume size in GiB."
  type        = number
}

variable "scratch_volume_iops" {
  description = "gp3 scratch volume IOPS. null: the module's default."
  type        = number
  default     = null
}

variable "scratch_volume_throughput" {
  description = "gp3 scratch volume throughput in MiB/s. null: the module's default."
  type        = number
  default     = null
}

variable "log_retention_days" {
  description = "Retention of job logs, in days. null: the module's default."
  type        = number
  default     = null
}

variable "ecr_repositories" {
  description = "ECR repositories for pipeline images: `modules/registry` variable `repositories`. null: its default."
  type        = any
  default     = null
}

variable "fair_share" {
  description = "Fair-share scheduling of the `default` queue: `modules/batch` variable `fair_share` (`shares` = share identifier -> weight factor, `compute_reservation`, `share_decay_seconds`); analysts may submit only under these identifiers. null: FIFO."
  type        = any
  default     = null
}
