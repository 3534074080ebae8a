################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name prefix of the repositories (`<name>/<repository>`)."
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
# Repositories
################################################################################

variable "repositories" {
  description = "ECR repositories for pipeline images keyed by name. Untagged images expire after `untagged_days`; of the images with a tag starting with one of `expiring_tag_prefixes` (development builds, default `dev-`) the newest `keep_images` per prefix are kept. Every other tagged image (a release a pipeline pins) never expires."
  type = map(object({
    keep_images           = optional(number, 30)
    expiring_tag_prefixes = optional(list(string), ["dev-"])
    untagged_days         = optional(number, 7)
  }))
  nullable = false
  default = {
    pipelines = {}
  }

  validation {
    condition     = alltrue([for k in keys(var.repositories) : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", k))])
    error_message = "repositories keys must be lowercase ECR names (letters, digits, single . _ - between them)."
  }

  validation {
    condition     = alltrue([for r in values(var.repositories) : r.keep_images >= 1 && r.keep_images <= 10000 && r.untagged_days >= 1])
    error_message = "repositories[*]: keep_images must be 1-10000 and untagged_days at least 1."
  }

  validation {
    condition     = alltrue([for r in values(var.repositories) : alltrue([for p in r.expiring_tag_prefixes : can(regex("^[A-Za-z0-9_.-]{1,127}$", p))]) && length(r.expiring_tag_prefixes) <= 20])
    error_message = "repositories[*].expiring_tag_prefixes: at most 20 prefixes of a tag's characters (letters, digits, _ . -)."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the repositories; null uses AES256."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "force_delete" {
  description = "Let terraform delete repositories that still hold images (only for throw-away envs)."
  type        = bool
  default     = false
}
