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
  description = "Tags added to every resource; also stamped on instances and volumes for cost attribution."
  type        = map(string)
  default     = {}
}

################################################################################
# Image
################################################################################

variable "image_id" {
  description = "AMI for the Batch instances (the Packer-built one); null uses the current ECS-optimised Amazon Linux 2023 image from `image_ssm_parameter`."
  type        = string
  default     = null

  validation {
    condition     = var.image_id == null || can(regex("^ami-[0-9a-f]+$", var.image_id))
    error_message = "image_id must look like ami-0123abcd or be null."
  }
}

variable "image_ssm_parameter" {
  description = "Public SSM parameter naming the default image when `image_id` is null (arm64: `/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id`)."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"

  validation {
    condition     = startswith(var.image_ssm_parameter, "/aws/service/")
    error_message = "image_ssm_parameter must be an AWS public parameter (/aws/service/...)."
  }
}

################################################################################
# Volumes
################################################################################

variable "root_device_name" {
  description = "Device name of the image's root volume (`/dev/xvda` on Amazon Linux)."
  type        = string
  default     = "/dev/xvda"
}

variable "root_volume_size" {
  description = "Root volume size in GiB (OS and ECS agent only; containers use the scratch volume)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.root_volume_size >= 30 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be 30-16384 GiB (the ECS-optimised AL2023 image needs 30)."
  }
}

variable "scratch_device_name" {
  description = "Device name of the scratch volume; the AMI's systemd unit formats it and mounts it at /var/lib/docker."
  type        = string
  default     = "/dev/xvdb"

  validation {
    condition     = can(regex("^/dev/(xvd|sd)[b-z]$", var.scratch_device_name))
    error_message = "scratch_device_name must be /dev/xvdb../dev/xvdz or /dev/sdb../dev/sdz."
  }
}

variable "scratch_volume_size" {
  description = "Scratch volume size in GiB: docker images, container layers and task work directories."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.scratch_volume_size >= 1 && var.scratch_volume_size <= 16384
    error_message = "scratch_volume_size must be 1-16384 GiB (gp3 limits)."
  }
}

variable "scratch_volume_iops" {
  description = "Provisioned IOPS of the gp3 scratch volume (3000 is free; at most 500 per GiB)."
  type        = number
  default     = 3000
  nullable    = false

  validation {
    condition     = var.scratch_volume_iops >= 3000 && var.scratch_volume_iops <= 16000
    error_message = "scratch_volume_iops must be 3000-16000 (gp3 limits)."
  }
}

variable "scratch_volume_throughput" {
  description = "Provisioned throughput of the gp3 scratch volume in MiB/s (125 is free)."
  type        = number
  default     = 125
  nullable    = false

  validation {
    condition     = var.scratch_volume_throughput >= 125 && var.scratch_volume_throughput <= 1000
    error_message = "scratch_volume_throughput must be 125-1000 MiB/s (gp3 limits)."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the EBS volumes; null uses the account's default EBS key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

################################################################################
# Instances
################################################################################

variable "ecs_config" {
  description = "Extra ECS agent settings written to /etc/ecs/ecs.config (merged over the defaults: spot draining, cached image pulls, container metadata)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.ecs_config) : can(regex("^ECS_[A-Z0-9_]+$", k))])
    error_message = "ecs_config keys must be ECS agent variables (ECS_...)."
  }
}

variable "enable_detailed_monitoring" {
  description = "1-minute CloudWatch metrics for the instances (billed per instance)."
  type        = bool
  default     = false
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the instance role (see `modules/github-oidc`); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN or null."
  }
}
