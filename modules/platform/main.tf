################################################################################
# The platform: network, storage, compute (launch template + instance role), Batch, registry
################################################################################

data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

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

  # The S3 gateway endpoint reaches the env's buckets, the external ones jobs read and what AWS runs the
  # instances from; nothing else.
  s3_endpoint_buckets = {
    read_write = values(module.storage.bucket_names)
    read_only  = var.external_read_buckets
  }

  permissions_boundary_arn = var.permissions_boundary_arn
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
  permissions_boundary_arn  = var.permissions_boundary_arn
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

  external_read_buckets    = var.external_read_buckets
  permissions_boundary_arn = var.permissions_boundary_arn

  # Passed through as given: the batch module owns their types and checks, and reads null as its default.
  compute_environments = var.compute_environments
  job_queues           = var.job_queues
  job_definitions      = var.job_definitions
  fair_share           = var.fair_share
}

module "registry" {
  source = "../registry"

  name         = var.name
  tags         = local.tags
  repositories = var.ecr_repositories
  kms_key_arn  = var.kms_key_arn
  force_delete = var.force_destroy
}

################################################################################
# The output contract, published for analysts (no terraform or state needed to use the env)
################################################################################

locals {
  # Every output of the contract (envs/*/outputs.tf), as plain values: `runner` reads this when the state is not
  # readable. outputs.tf returns the same map entry by entry.
  contract = {
    region                   = data.aws_region.current.id
    name                     = var.name
    bucket_names             = module.storage.bucket_names
    bucket_arns              = module.storage.bucket_arns
    launch_template_id       = module.compute.launch_template_id
    launch_template_version  = module.compute.launch_template_version
    ami_id                   = module.compute.ami_id
    compute_environment_arns = module.batch.compute_environment_arns
    job_queue_arns           = module.batch.job_queue_arns
    job_queue_names          = module.batch.job_queue_names
    job_definition_arns      = module.batch.job_definition_arns
    job_role_arn             = module.batch.job_role_arn
    head_job_role_arn        = module.batch.head_job_role_arn
    instance_role_arn        = module.compute.instance_role_arn
    log_group_name           = module.batch.log_group_name
    ecr_repository_urls      = module.registry.repository_urls
    aws_cli_path             = var.aws_cli_path
    analyst_policy_arn       = aws_iam_policy.analyst.arn
    share_identifiers        = module.batch.share_identifiers
    scheduling_policy_arn    = module.batch.scheduling_policy_arn
  }
  contract_json = jsonencode(local.contract)

  outputs_parameter_name = "/${var.name}/runner/outputs"
  arn_account            = "${data.aws_partition.current.partition}:%s:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}"
  outputs_parameter_arn  = "arn:${format(local.arn_account, "ssm")}:parameter${local.outputs_parameter_name}"
}

resource "aws_ssm_parameter" "outputs" {
  #checkov:skip=CKV2_AWS_34:the contract holds names and ARNs, no secret; String lets analysts read it without kms:Decrypt
  name        = local.outputs_parameter_name
  description = "Output contract of ${var.name} (runner infra output --json, plain values) for analysts without state access"
  type        = "String"
  # Standard parameters hold 4 KB; a larger contract (many queues or repositories) needs the advanced tier.
  tier  = length(local.contract_json) > 4096 ? "Advanced" : "Standard"
  value = local.contract_json
  tags  = local.tags
}

################################################################################
# Analyst policy: exactly what the runner's analyst commands need on this env
################################################################################

locals {
  batch_arn  = "arn:${format(local.arn_account, "batch")}"
  bucket_arn = module.storage.bucket_arns
  job_definitions = [
    "${local.batch_arn}:job-definition/${var.name}-*",
    "${local.batch_arn}:job-definition/${var.analyst_job_definition_prefix}*",
  ]
  log_group_arn    = "arn:${format(local.arn_account, "logs")}:log-group:${module.batch.log_group_name}"
  external_buckets = [for b in var.external_read_buckets : "arn:${data.aws_partition.current.partition}:s3:::${b}"]

  fair_share_queue_arns = [for k, arn in module.batch.job_queue_arns : arn if contains(module.batch.fair_share_queues, k)]
  fifo_queue_arns       = [for k, arn in module.batch.job_queue_arns : arn if !contains(module.batch.fair_share_queues, k)]
}

data "aws_iam_policy_document" "analyst" {
  statement {
    sid       = "ReadOutputContract"
    actions   = ["ssm:GetParameter"]
    resources = [local.outputs_parameter_arn]
  }

  # submit, nextflow run, retry: this env's queues with this env's or the runner's job definitions.
  statement {
    sid       = "SubmitToEnvQueues"
    actions   = ["batch:SubmitJob"]
    resources = concat(local.fifo_queue_arns, local.job_definitions, ["${local.batch_arn}:job/*"])
  }

  # Fair-share queues take a job only under one of the env's share identifiers (a `prefix*` share allows every
  # identifier starting with prefix, as the scheduling policy weighs it).
  dynamic "statement" {
    for_each = length(local.fair_share_queue_arns) == 0 ? [] : ["fair-share"]
    content {
      sid       = "SubmitToFairShareQueuesUnderEnvShares"
      actions   = ["batch:SubmitJob"]
      resources = local.fair_share_queue_arns
      condition {
        test     = "StringLike"
        variable = "batch:ShareIdentifier"
        values   = module.batch.share_identifiers
      }
    }
  }

  dynamic "statement" {
    for_each = length(module.batch.share_identifiers) == 0 ? [] : ["fair-share"]
    content {
      sid       = "NeverSubmitUnderOtherShares"
      effect    = "Deny"
      actions   = ["batch:SubmitJob"]
      resources = ["${local.batch_arn}:job-queue/*"]
      condition {
        test     = "Null"
        variable = "batch:ShareIdentifier"
        values   = ["false"]
      }
      condition {
        test     = "StringNotLike"
        variable = "batch:ShareIdentifier"
        values   = module.batch.share_identifiers
      }
    }
  }

  statement {
    sid       = "RegisterRunnerJobDefinitions"
    actions   = ["batch:RegisterJobDefinition", "batch:TagResource"]
    resources = local.job_definitions
  }

  # Tags at submission (runner:run, Platform) are a TagResource on the new job.
  statement {
    sid       = "TagNewJobs"
    actions   = ["batch:TagResource"]
    resources = ["${local.batch_arn}:job/*"]
  }

  # cancel: jobs of this env only (they carry Platform = <name>).
  statement {
    sid       = "CancelEnvJobs"
    actions   = ["batch:CancelJob", "batch:TerminateJob"]
    resources = ["${local.batch_arn}:job/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Platform"
      values   = [var.name]
    }
  }

  statement {
    #checkov:skip=CKV_AWS_356:Describe/List calls of Batch and EC2 have no resource-level permissions
    sid = "DescribeAndList"
    actions = [
      "batch:DescribeJobs",
      "batch:ListJobs",
      "batch:DescribeJobQueues",
      "batch:DescribeJobDefinitions",
      "batch:DescribeComputeEnvironments",
      "ec2:DescribeInstanceTypes",
    ]
    resources = ["*"]
  }

  # Job definitions name the job role (runner-*) or, for `nextflow run --head-image`, the head role.
  statement {
    sid       = "PassJobRoles"
    actions   = ["iam:PassRole"]
    resources = compact([module.batch.job_role_arn, module.batch.head_job_role_arn])
  }

  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  statement {
    sid       = "ListEnvBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = values(local.bucket_arn)
  }

  # Staging (data), run records, row manifests and Nextflow configs (work): read and write, never delete.
  statement {
    sid       = "ReadWriteDataAndWork"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.bucket_arn["data"]}/*", "${local.bucket_arn["work"]}/*"]
  }

  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn["results"]}/*"]
  }

  # s3:// inputs are checked to exist before anything is submitted.
  dynamic "statement" {
    for_each = length(var.external_read_buckets) == 0 ? [] : ["external"]
    content {
      sid       = "CheckExternalInputs"
      actions   = ["s3:GetObject", "s3:ListBucket"]
      resources = concat(local.external_buckets, [for arn in local.external_buckets : "${arn}/*"])
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseBucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "analyst" {
  name        = "${var.name}-analyst"
  path        = var.iam_path
  description = "Analysts of ${var.name}: runner submit/status/logs/list/cancel/retry/results/nextflow on this env only"
  policy      = data.aws_iam_policy_document.analyst.json
  tags        = local.tags
}
