################################################################################
# Naming and tags
################################################################################

variable "name" {
  description = "Name prefix of every resource of the env (e.g. `acme-genomics-dev`); bucket names derive from it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 characters of lowercase letters, digits and hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource, propagated to instances, volumes and jobs for cost attribution."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Let terraform delete buckets and repositories that still hold data (only for throw-away envs)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "One KMS key for buckets, EBS volumes, logs and repositories; null uses AWS-managed encryption everywhere."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

################################################################################
# IAM
################################################################################

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every role the platform creates: `modules/github-oidc` output `role_boundary_arns[<env>]` (its CI apply role may only create roles carrying it); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN or null."
  }
}

variable "iam_path" {
  description = "IAM path of the managed policies the platform creates (the analyst policy); `modules/github-oidc` lets the CI role attach only policies under it."
  type        = string
  default     = "/batch-platform/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.iam_path))
    error_message = "iam_path must look like /batch-platform/ (leading and trailing slash)."
  }
}

variable "external_read_buckets" {
  description = "Names of buckets outside the env that jobs, head jobs and analysts may read (a public reference bucket, a sequencing core's bucket); the S3 gateway endpoint lets traffic reach them too. Checked by `modules/batch`."
  type        = list(string)
  default     = []
}

variable "analyst_job_definition_prefix" {
  description = "Prefix of the job definitions `runner submit` registers (`runner-<hash>`): the analyst policy may register those besides the env's own `<name>-*`."
  type        = string
  default     = "runner-"
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "Existing VPC; null creates one (see `modules/network`)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing subnets of `vpc_id` for the compute environments."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Existing security groups for the instances; empty creates an egress-only group."
  type        = list(string)
  default     = []
}

variable "cidr_block" {
  description = "CIDR of the created VPC: `modules/network` variable `cidr_block`. null: its default."
  type        = string
  default     = null
}

variable "az_count" {
  description = "Availability zones of the created VPC: `modules/network` variable `az_count` (at least 2). null: its default."
  type        = number
  default     = null
}

variable "enable_nat_gateway" {
  description = "Private subnets behind a NAT gateway (costs money even when idle); off puts instances in public subnets with no inbound access: `modules/network` variable `enable_nat_gateway`. null: its default (off)."
  type        = bool
  default     = null
}

variable "enable_flow_logs" {
  description = "Log rejected VPC traffic to CloudWatch: `modules/network` variable `enable_flow_logs`. null: its default (on)."
  type        = bool
  default     = null
}

################################################################################
# Storage
################################################################################

# Pass-through objects (here and below) are typed `any` and pass-through scalars default to null: their type,
# defaults and validation live once, in the module that owns them (which reads null as its default), so the two
# cannot drift apart.

variable "buckets" {
  description = "Buckets keyed by role: `modules/storage` variable `buckets` (type, defaults and checks there); `data`, `work` and `results` must exist. Expiry applies only to `expire_prefixes` (scratch), never to the run records under `runs/`. null: the storage module's default."
  type        = any
  default     = null

  validation {
    condition     = var.buckets == null || try(alltrue([for k in ["data", "work", "results"] : contains(keys(var.buckets), k)]), false)
    error_message = "buckets must contain data, work and results."
  }
}

################################################################################
# Instances: image, volumes
################################################################################

variable "ami_id" {
  description = "AMI of the Batch instances (`runner ami build` writes it to ami.auto.tfvars.json); null uses the current ECS-optimised Amazon Linux 2023 image."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123abcd or be null."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB: `modules/compute` variable `root_volume_size`. null: its default."
  type        = number
  default     = null
}

variable "scratch_volume_size" {
  description = "gp3 scratch volume (docker storage and task work directories) size in GiB: `modules/compute` variable `scratch_volume_size`. null: its default."
  type        = number
  default     = null
}

variable "scratch_volume_iops" {
  description = "gp3 scratch volume IOPS: `modules/compute` variable `scratch_volume_iops`. null: its default."
  type        = number
  default     = null
}

variable "scratch_volume_throughput" {
  description = "gp3 scratch volume throughput in MiB/s: `modules/compute` variable `scratch_volume_throughput`. null: its default."
  type        = number
  default     = null
}

variable "ecs_config" {
  description = "Extra ECS agent settings for /etc/ecs/ecs.config: `modules/compute` variable `ecs_config`. null: none."
  type        = map(string)
  default     = null
}

################################################################################
# Batch: modules/batch owns these types, defaults and checks
################################################################################

variable "compute_environments" {
  description = "Compute environments keyed by short name: `modules/batch` variable `compute_environments`. null: its default `spot` + `ondemand` pair."
  type        = any
  default     = null
}

variable "job_queues" {
  description = "Job queues keyed by short name: `modules/batch` variable `job_queues`; must contain `default`, `priority` and `head` (other parts of the platform submit to them). null: its default three queues."
  type        = any
  default     = null

  validation {
    condition     = var.job_queues == null || try(alltrue([for k in ["default", "priority", "head"] : contains(keys(var.job_queues), k)]), false)
    error_message = "job_queues must contain default, priority and head (other parts of the platform submit to them)."
  }
}

variable "job_definitions" {
  description = "Job definitions keyed by short name: `modules/batch` variable `job_definitions`. null: its single `default` one."
  type        = any
  default     = null
}

variable "head_job_definition" {
  description = "The Nextflow head job definition (`nextflow-head`): `modules/batch` variable `head_job_definition`. Must be set (the `head` queue and Nextflow rely on it); `{}` takes its defaults."
  type        = any
  default     = {}

  validation {
    condition     = var.head_job_definition != null
    error_message = "head_job_definition must be set (the `head` queue and Nextflow rely on it); use {} for the defaults."
  }
}

variable "fair_share" {
  description = "Fair-share scheduling of the `default` queue: `modules/batch` variable `fair_share` (shares = share identifier -> weight factor, compute_reservation, share_decay_seconds). The analyst policy then allows only these share identifiers. null: FIFO queues."
  type        = any
  default     = null
}

variable "update_job_timeout_minutes" {
  description = "When a new launch template version (a new AMI) rolls out: minutes jobs on the old instances get to finish before Batch replaces them: `modules/batch` variable `update_job_timeout_minutes`. null: its default."
  type        = number
  default     = null
}

variable "log_retention_days" {
  description = "Retention of job logs, in days: `modules/batch` variable `log_retention_days`. null: its default."
  type        = number
  default     = null
}

################################################################################
# Registry
################################################################################

variable "ecr_repositories" {
  description = "ECR repositories for pipeline images keyed by name: `modules/registry` variable `repositories`. null: its default (`pipelines`)."
  type        = any
  default     = null
}

################################################################################
# Contract for other tools
################################################################################

variable "aws_cli_path" {
  description = "Where the AMI installs the AWS CLI (Nextflow's `aws.batch.cliPath`)."
  type        = string
  default     = "/opt/aws-cli/bin/aws"

  validation {
    condition     = startswith(var.aws_cli_path, "/")
    error_message = "aws_cli_path must be an absolute path."
  }
}
