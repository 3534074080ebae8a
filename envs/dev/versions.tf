terraform {
  required_version = ">= 1.10" # S3-native state locking (use_lockfile)

  # Partial configuration: `runner infra bootstrap --env dev` creates the state bucket and writes backend.hcl
  # (bucket, region), which the runner passes to `terraform init -backend-config`.
  backend "s3" {
    key          = "batch-platform/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
