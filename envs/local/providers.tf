# The embedded AWS (moto). The runner sets AWS_ENDPOINT_URL and the emulator's dummy credentials for this env
# only; every setting that exists for the emulator's sake stays in this file and in main.tf.
provider "aws" {
  region = var.region

  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = false

  # No default_tags here: moto copies a launch template's own tags into its launch data, so tagged templates
  # show a diff on every plan. main.tf passes the same tags through the platform's `tags` instead.
}
