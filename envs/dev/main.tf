locals {
  tags = merge(var.tags, {
    Project     = "batch-platform"
    Environment = var.environment
    ManagedBy   = "terraform"
    # Also on everything default_tags reach (the launch template): the CI apply role may change only EC2
    # resources carrying Platform = <name> (modules/github-oidc).
    Platform = var.name
  })
}

module "platform" {
  source = "../../modules/platform"

  name   = var.name
  ami_id = var.ami_id
  tags   = local.tags

  kms_key_arn        = var.kms_key_arn
  enable_nat_gateway = var.enable_nat_gateway
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids

  # IAM: the boundary the CI apply role requires on every role; buckets jobs may read outside the env.
  permissions_boundary_arn = var.permissions_boundary_arn
  external_read_buckets    = var.external_read_buckets

  # Fair-share scheduling of the default queue (fair-share.auto.tfvars); analysts submit only under these shares.
  fair_share = var.fair_share

  compute_environments = {
    spot = {
      type                = "SPOT"
      allocation_strategy = "SPOT_CAPACITY_OPTIMIZED"
      max_vcpus           = var.spot_max_vcpus
      instance_types      = var.instance_types
    }
    ondemand = {
      type                = "EC2"
      allocation_strategy = "BEST_FIT_PROGRESSIVE"
      max_vcpus           = var.ondemand_max_vcpus
      instance_types      = var.instance_types
    }
  }

  root_volume_size          = var.root_volume_size
  scratch_volume_size       = var.scratch_volume_size
  scratch_volume_iops       = var.scratch_volume_iops
  scratch_volume_throughput = var.scratch_volume_throughput
  log_retention_days        = var.log_retention_days
  ecr_repositories          = var.ecr_repositories
}
