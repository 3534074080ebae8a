# The whole platform on the embedded AWS. Only throw-away settings and emulator quirks differ from dev/prod.
module "platform" {
  source = "../../modules/platform"

  name   = var.name
  ami_id = var.ami_id
  tags = {
    Project     = "batch-platform"
    Environment = "local"
    ManagedBy   = "terraform"
  }

  # Throw-away env: terraform may delete buckets and repositories that hold data.
  force_destroy = true

  compute_environments = {
    spot     = { type = "SPOT", allocation_strategy = "SPOT_CAPACITY_OPTIMIZED", max_vcpus = 16, instance_types = ["optimal"] }
    ondemand = { type = "EC2", allocation_strategy = "BEST_FIT_PROGRESSIVE", max_vcpus = 8, instance_types = ["optimal"] }
  }

  # moto does not keep a queue's job_state_time_limit_action, so every plan would show it again: local queues
  # have no RUNNABLE timeout (dev and prod do).
  job_queues = {
    default  = { priority = 1, compute_environments = ["spot", "ondemand"] }
    priority = { priority = 10, compute_environments = ["ondemand"] }
    head     = { priority = 20, compute_environments = ["ondemand"] }
  }

  # A reference bucket outside the env that jobs may read (nothing else outside the env is reachable).
  external_read_buckets = ["batch-local-reference-genomes"]

  # FIFO until the runner sends a shareIdentifier (dev and prod set shares in fair-share.auto.tfvars).
  fair_share = var.fair_share

  scratch_volume_size = 50
  log_retention_days  = 7
}
