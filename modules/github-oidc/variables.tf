################################################################################
# Repository and provider
################################################################################

variable "repository" {
  description = "The GitHub repository allowed to assume the roles, as `owner/name` (the `repo:` part of the token's `sub`)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.repository))
    error_message = "repository must be `owner/name`, e.g. `acme/batch-platform`."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (token.actions.githubusercontent.com); false looks up the existing one (an account has at most one per URL)."
  type        = bool
  default     = true
}

variable "name_prefix" {
  description = "Prefix of the IAM role names: `<prefix>-<env>-plan` and `<prefix>-<env>-apply`."
  type        = string
  default     = "github"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 characters of letters, digits and +=,.@_- (IAM role name rules)."
  }
}

################################################################################
# Environments
################################################################################

variable "envs" {
  description = "One entry per env (key = its folder under envs/): `region`, `resource_prefix` (the env's `name`: every resource the platform creates starts with it), the S3 backend's `state_bucket` and `state_key`, optional `state_kms_key_arn`; `github_environment` makes the apply role trust only jobs in that GitHub environment (else only `refs/heads/<apply_branch>`); the plan role trusts pull requests and `refs/heads/<plan_branch>` (drift checks)."
  type = map(object({
    region             = string
    resource_prefix    = string
    state_bucket       = string
    state_key          = string
    state_kms_key_arn  = optional(string)
    github_environment = optional(string)
    apply_branch       = optional(string, "main")
    plan_branch        = optional(string, "main")
  }))

  validation {
    condition     = length(var.envs) > 0 && alltrue([for k in keys(var.envs) : can(regex("^[a-z0-9][a-z0-9_-]{0,30}$", k))])
    error_message = "envs must have at least one entry; keys are env folder names: lowercase letters, digits, _ and -."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", e.region))])
    error_message = "envs[*].region must be an AWS region such as eu-west-1."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : can(regex("^[a-z0-9][a-z0-9-]{2,40}$", e.resource_prefix))])
    error_message = "envs[*].resource_prefix must be the env's name: 3-41 lowercase letters, digits and hyphens."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", e.state_bucket))])
    error_message = "envs[*].state_bucket must be an S3 bucket name."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : length(e.state_key) > 0 && !startswith(e.state_key, "/") && !strcontains(e.state_key, "*")])
    error_message = "envs[*].state_key must be the backend's `key`: a relative object key without wildcards."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : e.state_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", e.state_kms_key_arn))])
    error_message = "envs[*].state_kms_key_arn must be a KMS key ARN or null."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : e.github_environment == null || can(regex("^[A-Za-z0-9._-]{1,255}$", e.github_environment))])
    error_message = "envs[*].github_environment must be a GitHub environment name (letters, digits, . _ -) or null."
  }

  validation {
    condition     = alltrue([for e in values(var.envs) : can(regex("^[A-Za-z0-9._/-]{1,200}$", e.apply_branch)) && can(regex("^[A-Za-z0-9._/-]{1,200}$", e.plan_branch)) && !strcontains("${e.apply_branch}${e.plan_branch}", "*")])
    error_message = "envs[*].apply_branch and plan_branch must be plain branch names (no wildcards)."
  }
}

################################################################################
# Roles
################################################################################

variable "max_session_duration" {
  description = "Longest session, in seconds, a workflow can hold a role (3600-43200); applies of a Batch env take minutes."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary attached to every role this module creates; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN or null."
  }
}

variable "iam_path" {
  description = "IAM path of the platform's managed policies (modules/platform `iam_path`): the apply role attaches only policies under it (plus `attachable_aws_managed_policies`) and creates policies only there; the role boundaries live under `<iam_path>boundaries/`, out of its reach."
  type        = string
  default     = "/batch-platform/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)+$", var.iam_path))
    error_message = "iam_path must look like /batch-platform/ (leading and trailing slash)."
  }
}

variable "attachable_aws_managed_policies" {
  description = "AWS managed policies (names after `arn:aws:iam::aws:policy/`) the apply role may attach to env roles besides the platform's own: the ones modules/compute and modules/batch use."
  type        = list(string)
  default     = ["service-role/AmazonEC2ContainerServiceforEC2Role", "AmazonSSMManagedInstanceCore", "service-role/AWSBatchServiceRole"]
}

variable "env_tag_key" {
  description = "Tag the platform puts on every resource with the env's name as value (modules/platform: `Platform`); the apply role changes only EC2 resources carrying it."
  type        = string
  default     = "Platform"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
