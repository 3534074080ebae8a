variable "region" {
  description = "Region the emulator pretends to be."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix for every resource of this env."
  type        = string
  default     = "batch-local"
}

variable "ami_id" {
  description = "AMI of the Batch instances (`runner ami build --env local` writes ami.auto.tfvars.json); null uses the emulator's copy of the ECS-optimised AL2023 image."
  type        = string
  default     = null
}

variable "fair_share" {
  description = "Fair-share scheduling of the `default` queue: `modules/batch` variable `fair_share`. null (for now): FIFO, since the runner does not send a shareIdentifier yet."
  type        = any
  default     = null
}
