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
