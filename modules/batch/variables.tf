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
  description = "Tags added to every resource; compute environments stamp them on instances, job definitions propagate them to jobs."
  type        = map(string)
  default     = {}
}

################################################################################
# Wiring: network, instances, buckets
################################################################################

variable "subnet_ids" {
  description = "Subnets the compute environments launch instances in."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "security_group_ids must name at least one security group."
  }
}

variable "instance_profile_arn" {
  description = "Instance profile the compute environments launch instances with."
  type        = string
}

variable "launch_template_id" {
  description = "Launch template of the instances (scratch volume, IMDSv2, user data)."
  type        = string
}

variable "launch_template_version" {
  description = "Launch template version number for the compute environments (modules/compute's `launch_template_version`). Never `$Latest`/`$Default`: Batch resolves those only when an environment is created or updated, so a new version would not reach existing environments. A new number is an in-place update of the environments (see `update_job_timeout_minutes`)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.launch_template_version))
    error_message = "launch_template_version must be a version number (not $Latest or $Default: Batch would not roll new versions out)."
  }
}

variable "update_job_timeout_minutes" {
  description = "Infrastructure updates (a new launch template version, e.g. a new AMI): minutes jobs running on the old instances get to finish before Batch replaces those instances (1-360; jobs are never terminated at once). null: the default."
  type        = number
  default     = 360
  nullable    = false

  validation {
    condition     = var.update_job_timeout_minutes >= 1 && var.update_job_timeout_minutes <= 360
    error_message = "update_job_timeout_minutes must be 1-360 (a Batch limit)."
  }
}

variable "bucket_arns" {
  description = "ARNs of this env's buckets keyed `data`, `work`, `results`: jobs read data, write results and work scratch; head jobs also save their run's state under `runs/`."
  type        = map(string)

  validation {
    condition     = alltrue([for arn in values(var.bucket_arns) : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "bucket_arns must be S3 bucket ARNs (arn:aws:s3:::name)."
  }

  validation {
    condition     = alltrue([for k in ["data", "work", "results"] : contains(keys(var.bucket_arns), k)])
    error_message = "bucket_arns must contain data, work and results."
  }
}

variable "work_scratch_prefixes" {
  description = "Prefixes of the work bucket that jobs may write and delete (Nextflow's work dir `nextflow/`, plain jobs' `scratch/`); everything else there, `runs/` above all, is read-only or out of reach for jobs."
  type        = list(string)
  default     = ["nextflow/", "scratch/"]

  validation {
    condition     = length(var.work_scratch_prefixes) > 0 && alltrue([for p in var.work_scratch_prefixes : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/$", p)) && !startswith(p, "runs")])
    error_message = "work_scratch_prefixes are top-level folders ending in / (e.g. nextflow/), never runs/."
  }
}

variable "external_read_buckets" {
  description = "Names of buckets outside the env that jobs and head jobs may read (a public reference bucket, a sequencing core's bucket); nothing else outside the env is reachable."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for b in var.external_read_buckets : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", b))])
    error_message = "external_read_buckets must be bucket names (not ARNs or s3:// URIs)."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of every role this module creates (the CI apply role may only create bounded roles: `modules/github-oidc` output `role_boundary_arns`); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN or null."
  }
}

variable "env_tag_key" {
  description = "Tag whose value is `name` on every job of the env (Nextflow's resourceLabels carry it): the head role may submit only jobs carrying it and cancel/terminate only those."
  type        = string
  default     = "Platform"
}

variable "kms_key_arn" {
  description = "KMS key of the buckets and the log group (the job roles get decrypt/encrypt on it); null when they use AWS-owned keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

################################################################################
# Compute environments
################################################################################

variable "compute_environments" {
  description = "Managed EC2 compute environments keyed by a short name. `type` SPOT or EC2 (on-demand); `allocation_strategy` one that allows infrastructure updates (default SPOT_CAPACITY_OPTIMIZED for SPOT, BEST_FIT_PROGRESSIVE for EC2; BEST_FIT is refused: every template change would replace the environment); `min_vcpus` 0 lets an idle env cost nothing; `instance_types` as Batch accepts them (`optimal`, families like `m6i`, or sizes)."
  type = map(object({
    type                = string
    allocation_strategy = optional(string)
    min_vcpus           = optional(number, 0)
    max_vcpus           = number
    instance_types      = optional(list(string), ["optimal"])
    bid_percentage      = optional(number, 100)
    state               = optional(string, "ENABLED")
  }))
  nullable = false
  default = {
    spot = {
      type                = "SPOT"
      allocation_strategy = "SPOT_CAPACITY_OPTIMIZED"
      max_vcpus           = 256
      instance_types      = ["m6i", "c6i", "r6i", "m5", "c5", "r5"]
    }
    ondemand = {
      type                = "EC2"
      allocation_strategy = "BEST_FIT_PROGRESSIVE"
      max_vcpus           = 64
      instance_types      = ["m6i", "c6i", "r6i"]
    }
  }

  validation {
    condition     = length(var.compute_environments) > 0 && alltrue([for k in keys(var.compute_environments) : can(regex("^[a-z0-9-]{1,16}$", k))])
    error_message = "compute_environments needs at least one entry; keys are 1-16 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = alltrue([for ce in values(var.compute_environments) : contains(["SPOT", "EC2"], ce.type)])
    error_message = "compute_environments[*].type must be SPOT or EC2."
  }

  validation {
    # A conditional, not ||: HCL evaluates both sides of ||, and contains() refuses a null (no strategy given).
    condition = alltrue([for ce in values(var.compute_environments) : ce.allocation_strategy == null ? true : contains(
      ce.type == "SPOT" ? ["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED", "BEST_FIT_PROGRESSIVE"] : ["BEST_FIT_PROGRESSIVE"],
      ce.allocation_strategy
    )])
    error_message = "compute_environments[*].allocation_strategy must allow infrastructure updates and suit the type (SPOT_CAPACITY_OPTIMIZED, SPOT_PRICE_CAPACITY_OPTIMIZED: SPOT only; BEST_FIT_PROGRESSIVE: both; not BEST_FIT)."
  }

  validation {
    condition     = alltrue([for ce in values(var.compute_environments) : ce.min_vcpus >= 0 && ce.max_vcpus >= 1 && ce.min_vcpus <= ce.max_vcpus])
    error_message = "compute_environments[*]: need 0 <= min_vcpus <= max_vcpus and max_vcpus >= 1."
  }

  validation {
    condition     = alltrue([for ce in values(var.compute_environments) : ce.bid_percentage >= 1 && ce.bid_percentage <= 100 && length(ce.instance_types) > 0])
    error_message = "compute_environments[*]: bid_percentage must be 1-100 and instance_types non-empty."
  }

  validation {
    condition     = alltrue([for ce in values(var.compute_environments) : contains(["ENABLED", "DISABLED"], ce.state)])
    error_message = "compute_environments[*].state must be ENABLED or DISABLED."
  }
}

################################################################################
# Job queues
################################################################################

variable "job_queues" {
  description = "Job queues keyed by a short name. `compute_environments` lists keys of `compute_environments` in the order Batch tries them (at most 3). `runnable_timeout_minutes` cancels jobs stuck in RUNNABLE because no compute environment can ever run them (null: wait forever)."
  type = map(object({
    priority                 = number
    compute_environments     = list(string)
    state                    = optional(string, "ENABLED")
    runnable_timeout_minutes = optional(number)
  }))
  nullable = false
  default = {
    default  = { priority = 1, compute_environments = ["spot", "ondemand"], runnable_timeout_minutes = 240 }
    priority = { priority = 10, compute_environments = ["ondemand"], runnable_timeout_minutes = 240 }
    head     = { priority = 20, compute_environments = ["ondemand"], runnable_timeout_minutes = 240 }
  }

  validation {
    condition     = alltrue([for k in keys(var.job_queues) : can(regex("^[a-z0-9-]{1,16}$", k))])
    error_message = "job_queues keys are 1-16 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = alltrue([for q in values(var.job_queues) : length(q.compute_environments) >= 1 && length(q.compute_environments) <= 3])
    error_message = "job_queues[*].compute_environments must list 1-3 compute environments (a Batch limit)."
  }

  validation {
    condition     = alltrue([for q in values(var.job_queues) : q.priority >= 0 && q.priority <= 1000 && contains(["ENABLED", "DISABLED"], q.state)])
    error_message = "job_queues[*]: priority must be 0-1000 and state ENABLED or DISABLED."
  }

  validation {
    condition     = alltrue([for q in values(var.job_queues) : q.runnable_timeout_minutes == null || (try(q.runnable_timeout_minutes >= 10 && q.runnable_timeout_minutes <= 86400, false))])
    error_message = "job_queues[*].runnable_timeout_minutes must be 10-86400 or null."
  }
}

################################################################################
# Fair-share scheduling
################################################################################

variable "fair_share" {
  description = "Fair-share scheduling of a shared env: one scheduling policy on the queues in `queues` (default: `default`). `shares` maps each share identifier jobs may carry (`shareIdentifier` at submission; 1-255 letters or digits, or such a prefix followed by `*`, which weights every identifier starting with it) to its weight factor (0.0001-999.9999; lower gets more: 0.5 gets twice the vCPUs of 1). `compute_reservation` (0-99) holds back vCPUs for identifiers not yet active; `share_decay_seconds` (0-604800) is how far back usage counts. Only these identifiers may be used: the analyst and head policies refuse others (`batch:ShareIdentifier`). null keeps FIFO queues (no scheduling policy). A queue turns FIFO <-> fair-share only by replacement (Batch cannot add or remove a queue's policy): the plan replaces it (README: Fair-share scheduling)."
  type = object({
    shares              = map(number)
    compute_reservation = optional(number, 0)
    share_decay_seconds = optional(number, 3600)
    queues              = optional(list(string), ["default"])
  })
  default = null

  validation {
    condition     = var.fair_share == null || try(length(var.fair_share.shares) >= 1 && length(var.fair_share.shares) <= 500 && alltrue([for id in keys(var.fair_share.shares) : can(regex("^[A-Za-z0-9]{1,255}[*]?$", id))]), false)
    error_message = "fair_share.shares must name 1-500 share identifiers: 1-255 letters or digits, optionally followed by * (a prefix)."
  }

  validation {
    condition     = var.fair_share == null || try(alltrue([for w in values(var.fair_share.shares) : w >= 0.0001 && w <= 999.9999]), false)
    error_message = "fair_share.shares weight factors must be 0.0001-999.9999."
  }

  validation {
    condition = var.fair_share == null || try(alltrue(flatten([
      for a in keys(var.fair_share.shares) : [
        for b in keys(var.fair_share.shares) : a == b || !endswith(a, "*") || !startswith(trimsuffix(b, "*"), trimsuffix(a, "*"))
      ]
    ])), false)
    error_message = "fair_share.shares must not overlap: a prefix (lab*) cannot sit beside an identifier it covers (lab1, lab1*)."
  }

  validation {
    condition     = var.fair_share == null || try(var.fair_share.compute_reservation >= 0 && var.fair_share.compute_reservation <= 99 && var.fair_share.share_decay_seconds >= 0 && var.fair_share.share_decay_seconds <= 604800, false)
    error_message = "fair_share: compute_reservation must be 0-99 and share_decay_seconds 0-604800."
  }

  validation {
    condition     = var.fair_share == null || try(length(var.fair_share.queues) >= 1, false)
    error_message = "fair_share.queues must name at least one key of job_queues."
  }
}

################################################################################
# Job definitions
################################################################################

variable "job_definitions" {
  description = "Container job definitions keyed by a short name. Jobs retry on spot reclamation (`Host EC2*`) up to `attempts` times and exit at once on application errors; `timeout_seconds` caps one attempt."
  type = map(object({
    image           = string
    vcpus           = optional(number, 1)
    memory          = optional(number, 4096)
    command         = optional(list(string))
    environment     = optional(map(string), {})
    attempts        = optional(number, 3)
    timeout_seconds = optional(number, 86400)
  }))
  nullable = false
  default = {
    default = {
      image   = "public.ecr.aws/amazonlinux/amazonlinux:2023"
      command = ["echo", "hello from the batch platform"]
    }
  }

  validation {
    condition     = alltrue([for k in keys(var.job_definitions) : can(regex("^[a-z0-9-]{1,40}$", k))])
    error_message = "job_definitions keys are 1-40 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = alltrue([for d in values(var.job_definitions) : d.vcpus > 0 && d.memory >= 4 && d.attempts >= 1 && d.attempts <= 10 && d.timeout_seconds >= 60])
    error_message = "job_definitions[*]: vcpus > 0, memory >= 4 MiB, attempts 1-10 and timeout_seconds >= 60."
  }
}

################################################################################
# Workflow head jobs (Nextflow)
################################################################################

variable "head_job_definition" {
  description = "The workflow head job definition (`nextflow-head`), run on the `head` queue with the head job role. null creates neither."
  type = object({
    image           = optional(string, "nextflow/nextflow:25.04.0")
    vcpus           = optional(number, 1)
    memory          = optional(number, 4096)
    attempts        = optional(number, 1)
    timeout_seconds = optional(number, 604800)
    environment     = optional(map(string), {})
  })
  default = {}

  validation {
    condition     = var.head_job_definition == null || try(var.head_job_definition.vcpus > 0 && var.head_job_definition.memory >= 512 && var.head_job_definition.attempts >= 1 && var.head_job_definition.timeout_seconds >= 60, false)
    error_message = "head_job_definition: vcpus > 0, memory >= 512 MiB, attempts >= 1, timeout_seconds >= 60."
  }
}

variable "head_aws_cli_dir" {
  description = "Host folder of the AMI's AWS CLI (e.g. /opt/aws-cli), mounted read-only at the same path into head jobs so they can fetch their config; null mounts nothing."
  type        = string
  default     = null

  validation {
    condition     = var.head_aws_cli_dir == null || try(startswith(var.head_aws_cli_dir, "/") && !contains(["/", "/usr", "/usr/local", "/opt", "/bin", "/etc", "/var"], trimsuffix(var.head_aws_cli_dir, "/")), false)
    error_message = "head_aws_cli_dir must be the CLI's own absolute folder (e.g. /opt/aws-cli), not a system folder it would hide in the container, or null."
  }
}

variable "head_job_definition_patterns" {
  description = "Job definition names the head role may register (never deregister) besides this env's own (`<name>-*`), and only when they log to this env's log group: Nextflow registers `nf-<image>` definitions and its `nf-` prefix cannot be configured."
  type        = list(string)
  default     = ["nf-*"]
}

################################################################################
# Logs
################################################################################

variable "log_retention_days" {
  description = "Retention of the job log group, in days. null: the default."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}
