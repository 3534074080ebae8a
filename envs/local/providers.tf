# The embedded AWS (moto). The runner sets AWS_ENDPOINT_URL and the emulator's dummy credentials for this env
# only; every setting that exists for the emulator's sake stays in this file.
provider "aws" {
  region = var.region

  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = false

  default_tags {
    tags = {
      Project     = "batch-platform"
      Environment = "local"
      ManagedBy   = "terraform"
    }
  }
}
