# The whole platform on the embedded AWS. Only throw-away settings differ from dev/prod.
module "platform" {
  source = "../../modules/platform"

  name   = var.name
  ami_id = var.ami_id
  tags   = { Environment = "local" }

  # Throw-away env: terraform may delete buckets and repositories that hold data.
  force_destroy = true

  compute_environments = {
    spot     = { type = "SPOT", allocation_strategy = "SPOT_CAPACITY_OPTIMIZED", max_vcpus = 16, instance_types = ["optimal"] }
    ondemand = { type = "EC2", allocation_strategy = "BEST_FIT_PROGRESSIVE", max_vcpus = 8, instance_types = ["optimal"] }
  }
  scratch_volume_size = 50
  log_retention_days  = 7
}
