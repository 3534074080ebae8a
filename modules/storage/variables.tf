################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name prefix for every bucket (e.g. `acme-genomics-dev`); lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 characters of lowercase letters, digits and hyphens (bucket names derive from it)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Buckets
################################################################################

variable "buckets" {
  description = "Buckets to create, keyed by role (`data`, `work`, `results`). `expire_days` deletes current objects under `expire_prefixes` (scratch only: never `runs/`, where the run records live) after that many days; `noncurrent_days` deletes old versions."
  type = map(object({
    expire_days     = optional(number)
    expire_prefixes = optional(list(string), [])
    noncurrent_days = optional(number, 30)
  }))
  nullable = false
  default = {
    data    = { noncurrent_days = 90 }
    work    = { expire_days = 30, expire_prefixes = ["nextflow/", "scratch/"], noncurrent_days = 7 }
    results = { noncurrent_days = 90 }
  }

  validation {
    condition     = alltrue([for k, v in var.buckets : can(regex("^[a-z0-9-]{1,12}$", k))])
    error_message = "bucket keys must be 1-12 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = alltrue([for v in values(var.buckets) : (v.expire_days == null ? true : v.expire_days >= 1) && v.noncurrent_days >= 1])
    error_message = "expire_days and noncurrent_days must be at least 1."
  }

  validation {
    condition     = alltrue([for v in values(var.buckets) : (v.expire_days == null) == (length(v.expire_prefixes) == 0)])
    error_message = "expire_days and expire_prefixes go together: expiry applies only to named scratch prefixes, never to a whole bucket."
  }

  validation {
    condition     = alltrue([for v in values(var.buckets) : alltrue([for p in v.expire_prefixes : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/$", p)) && !startswith(p, "runs")])])
    error_message = "expire_prefixes are top-level folders such as `nextflow/` (ending in /), and never `runs/` (the run records)."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which incomplete multipart uploads are aborted, in every bucket."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1
    error_message = "abort_incomplete_multipart_days must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption; null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
  }
}

variable "force_destroy" {
  description = "Allow terraform to delete buckets that still hold objects (only for throw-away envs)."
  type        = bool
  default     = false
}
