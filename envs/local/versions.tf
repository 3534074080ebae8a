terraform {
  required_version = ">= 1.5"

  # State stays on this machine: the emulator forgets everything when it stops.
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
