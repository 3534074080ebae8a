################################################################################
# The platform: network, storage, compute (launch template + instance role), Batch, registry
################################################################################

data "aws_region" "current" {}

locals {
  tags = merge(var.tags, { Platform = var.name })
}

module "network" {
  source = "../network"

  name               = var.name
  tags               = local.tags
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  cidr_block         = var.cidr_block
  az_count           = var.az_count
  enable_nat_gateway = var.enable_nat_gateway
  enable_flow_logs   = var.enable_flow_logs
  kms_key_arn        = var.kms_key_arn
}

module "storage" {
  source = "../storage"

  name          = var.name
  tags          = local.tags
  buckets       = var.buckets
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
}

module "compute" {
  source = "../compute"

  name                      = var.name
  tags                      = local.tags
  image_id                  = var.ami_id
  root_volume_size          = var.root_volume_size
  scratch_volume_size       = var.scratch_volume_size
  scratch_volume_iops       = var.scratch_volume_iops
  scratch_volume_throughput = var.scratch_volume_throughput
  kms_key_arn               = var.kms_key_arn
  ecs_config                = var.ecs_config
}

module "batch" {
  source = "../batch"

  name                    = var.name
  tags                    = local.tags
  subnet_ids              = module.network.subnet_ids
  security_group_ids      = module.network.security_group_ids
  instance_profile_arn    = module.compute.instance_profile_arn
  launch_template_id      = module.compute.launch_template_id
  launch_template_version = module.compute.launch_template_version
  # A new template version (a new AMI) is an in-place infrastructure update of the compute environments.
  update_job_timeout_minutes = var.update_job_timeout_minutes
  bucket_arns                = module.storage.bucket_arns
  kms_key_arn                = var.kms_key_arn
  log_retention_days         = var.log_retention_days
  head_job_definition        = var.head_job_definition
  # /opt/aws-cli/bin/aws -> /opt/aws-cli, mounted into head jobs (the batch module refuses system folders)
  head_aws_cli_dir = dirname(dirname(var.aws_cli_path))

  # null: the batch module's defaults (its variables are not nullable).
  compute_environments = var.compute_environments
  job_queues           = var.job_queues
  job_definitions      = var.job_definitions
}

module "registry" {
  source = "../registry"

  name         = var.name
  tags         = local.tags
  repositories = var.ecr_repositories
  kms_key_arn  = var.kms_key_arn
  force_delete = var.force_destroy
}
