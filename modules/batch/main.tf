################################################################################
# Locals
################################################################################

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  bucket_arns         = values(var.bucket_arns)
  bucket_object_arns  = [for arn in local.bucket_arns : "${arn}/*"]
  log_group_name      = "/aws/batch/${var.name}"
  batch_arn_prefix    = "arn:${local.partition}:batch:${local.region}:${local.account_id}"
  job_definition_name = { for k, _ in local.job_definitions : k => "${var.name}-${k}" }

  # The head job definition joins the map so that both share one resource (and one retry/timeout policy).
  job_definitions = merge(
    {
      for k, d in var.job_definitions : k => {
        image           = d.image
        vcpus           = d.vcpus
        memory          = d.memory
        command         = d.command
        environment     = d.environment
        attempts        = d.attempts
        timeout_seconds = d.timeout_seconds
        head            = false
      }
    },
    {
      for d in(var.head_job_definition == null ? [] : [var.head_job_definition]) : "nextflow-head" => {
        image           = d.image
        vcpus           = d.vcpus
        memory          = d.memory
        command         = null
        environment     = d.environment
        attempts        = d.attempts
        timeout_seconds = d.timeout_seconds
        head            = true
      }
    },
  )
}

################################################################################
# Service role: Batch's service-linked role (AWSServiceRoleForBatch)
################################################################################

# Compute environments name no service role, so Batch uses its service-linked role (creating it on first use).
# Infrastructure updates (a new launch template version, instance types, subnets... rolled out in place) are
# only available to compute environments that use it: with a role of our own every such change would replace
# the environment.
locals {
  service_linked_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
}

################################################################################
# Compute environments
################################################################################

resource "aws_batch_compute_environment" "this" {
  for_each = var.compute_environments

  # No name argument: the provider spells it compute_environment_name(_prefix) in 5.x and name(_prefix) in 6.x,
  # and the modules support both. Batch's generated name (terraform-<timestamp>) stays unique, so a replacement
  # is created before the old environment is destroyed; the env's name is in the Name tag (here and on every
  # instance), which is what the console, Cost Explorer and `describe-compute-environments` filters show.
  type  = "MANAGED"
  state = each.value.state

  compute_resources {
    type                = each.value.type
    allocation_strategy = coalesce(each.value.allocation_strategy, each.value.type == "SPOT" ? "SPOT_CAPACITY_OPTIMIZED" : "BEST_FIT_PROGRESSIVE")
    min_vcpus           = each.value.min_vcpus
    max_vcpus           = each.value.max_vcpus
    instance_type       = each.value.instance_types
    bid_percentage      = each.value.type == "SPOT" ? each.value.bid_percentage : null
    instance_role       = var.instance_profile_arn
    subnets             = var.subnet_ids
    security_group_ids  = var.security_group_ids

    # A concrete version, never $Latest/$Default: Batch resolves those once, when the environment is created or
    # updated, so a new template version (a new AMI) would never reach it. A version number changes the
    # environment, which the update policy rolls out to new instances in place.
    launch_template {
      launch_template_id = var.launch_template_id
      version            = var.launch_template_version
    }

    tags = merge(var.tags, { Name = "${var.name}-${each.key}", ComputeEnvironment = each.key })
  }

  # Infrastructure updates: Batch replaces the instances of the environment with ones from the new settings;
  # running jobs are not terminated, they get job_execution_timeout_minutes to finish.
  update_policy {
    terminate_jobs_on_update      = false
    job_execution_timeout_minutes = var.update_job_timeout_minutes
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    create_before_destroy = true
    # Batch scales desired vCPUs itself.
    ignore_changes = [compute_resources[0].desired_vcpus]

    # An environment created with a service role of our own (before infrastructure updates) cannot be updated
    # in place, nor switched to the service-linked role: it must be replaced once. Checked at plan time.
    postcondition {
      condition     = self.service_role == null || strcontains(coalesce(self.service_role, "-"), ":role/aws-service-role/batch.amazonaws.com/")
      error_message = "compute environment ${each.key} uses its own service role (created before infrastructure updates): replace it once, e.g. runner infra plan --replace 'module.platform.module.batch.aws_batch_compute_environment.this[\"${each.key}\"]' (README: Upgrading an env)."
    }
  }
}

################################################################################
# Job queues
################################################################################

resource "aws_batch_job_queue" "this" {
  for_each = var.job_queues

  name     = "${var.name}-${each.key}"
  state    = each.value.state
  priority = each.value.priority

  dynamic "compute_environment_order" {
    for_each = each.value.compute_environments
    content {
      order               = compute_environment_order.key + 1
      compute_environment = aws_batch_compute_environment.this[compute_environment_order.value].arn
    }
  }

  dynamic "job_state_time_limit_action" {
    for_each = each.value.runnable_timeout_minutes == null ? [] : [each.value.runnable_timeout_minutes]
    content {
      action           = "CANCEL"
      max_time_seconds = job_state_time_limit_action.value * 60
      reason           = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
      state            = "RUNNABLE"
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    precondition {
      condition     = alltrue([for ce in each.value.compute_environments : contains(keys(var.compute_environments), ce)])
      error_message = "job_queues.${each.key}.compute_environments names a compute environment that is not in compute_environments."
    }
  }
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "jobs" {
  #checkov:skip=CKV_AWS_338:job logs are kept var.log_retention_days (default 90); a year of every task's log is cost without use
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Job role: what job containers may do (S3 on this env's buckets only)
################################################################################

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "buckets" {
  statement {
    sid       = "ListEnvBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = local.bucket_arns
  }

  statement {
    sid = "ReadWriteEnvObjects"
    actions = [
      "s3:GetObject",
      "s3:GetObjectTagging",
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = local.bucket_object_arns
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

resource "aws_iam_role" "job" {
  name_prefix        = "${substr(var.name, 0, 28)}-job-"
  description        = "Job containers of ${var.name}: S3 on the env's buckets only"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "job_buckets" {
  name   = "env-buckets"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.buckets.json
}

################################################################################
# Head job role: a workflow head (Nextflow) submits and manages jobs on this env's queues
################################################################################

data "aws_iam_policy_document" "head" {
  statement {
    sid     = "SubmitToEnvQueues"
    actions = ["batch:SubmitJob"]
    resources = concat(
      [for q in aws_batch_job_queue.this : q.arn],
      ["${local.batch_arn_prefix}:job-definition/${var.name}-*"],
      [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"],
    )
  }

  # Tags given at submission (Nextflow's resourceLabels) or registration are a TagResource on the new job or
  # definition; kept apart so that SubmitJob itself is allowed only on the env's queues and definitions.
  statement {
    sid     = "TagEnvJobsAndDefinitions"
    actions = ["batch:TagResource"]
    resources = concat(
      ["${local.batch_arn_prefix}:job/*"],
      ["${local.batch_arn_prefix}:job-definition/${var.name}-*"],
      [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"],
    )
  }

  statement {
    sid       = "ManageJobs"
    actions   = ["batch:TerminateJob", "batch:CancelJob"]
    resources = ["${local.batch_arn_prefix}:job/*"]
  }

  statement {
    sid     = "RegisterEnvJobDefinitions"
    actions = ["batch:RegisterJobDefinition", "batch:DeregisterJobDefinition"]
    resources = concat(
      ["${local.batch_arn_prefix}:job-definition/${var.name}-*"],
      [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"],
    )
  }

  statement {
    #checkov:skip=CKV_AWS_356:Describe/List calls of Batch, ECS and EC2 have no resource-level permissions
    sid = "DescribeAndList"
    actions = [
      "batch:DescribeJobs",
      "batch:DescribeJobQueues",
      "batch:DescribeJobDefinitions",
      "batch:DescribeComputeEnvironments",
      "batch:ListJobs",
      "ecs:DescribeContainerInstances",
      "ecs:DescribeTasks",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeSpotPriceHistory",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "PassJobRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.job.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.jobs.arn, "${aws_cloudwatch_log_group.jobs.arn}:*"]
  }
}

resource "aws_iam_role" "head" {
  count = var.head_job_definition == null ? 0 : 1

  name_prefix        = "${substr(var.name, 0, 28)}-head-"
  description        = "Workflow head jobs of ${var.name}: submit and manage jobs on the env's queues, S3 on its buckets"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "head_batch" {
  count = var.head_job_definition == null ? 0 : 1

  name   = "env-batch"
  role   = aws_iam_role.head[0].id
  policy = data.aws_iam_policy_document.head.json
}

resource "aws_iam_role_policy" "head_buckets" {
  count = var.head_job_definition == null ? 0 : 1

  name   = "env-buckets"
  role   = aws_iam_role.head[0].id
  policy = data.aws_iam_policy_document.buckets.json
}

################################################################################
# Job definitions
################################################################################

resource "aws_batch_job_definition" "this" {
  for_each = local.job_definitions

  name                  = local.job_definition_name[each.key]
  type                  = "container"
  platform_capabilities = ["EC2"]
  propagate_tags        = true

  container_properties = jsonencode(merge(
    { for k, v in { command = each.value.command } : k => v if v != null },
    # The head job fetches its config with the AMI's AWS CLI (the nextflow image has none): mount it read-only.
    jsondecode(each.value.head && var.head_aws_cli_dir != null ? jsonencode({
      volumes     = [{ name = "aws-cli", host = { sourcePath = var.head_aws_cli_dir } }]
      mountPoints = [{ sourceVolume = "aws-cli", containerPath = var.head_aws_cli_dir, readOnly = true }]
    }) : "{}"),
    {
      image      = each.value.image
      jobRoleArn = each.value.head ? aws_iam_role.head[0].arn : aws_iam_role.job.arn
      resourceRequirements = [
        { type = "VCPU", value = tostring(each.value.vcpus) },
        { type = "MEMORY", value = tostring(each.value.memory) },
      ]
      environment = [for k, v in each.value.environment : { name = k, value = v }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.jobs.name
          awslogs-region        = local.region
          awslogs-stream-prefix = each.key
        }
      }
  }))

  retry_strategy {
    attempts = each.value.attempts

    # Spot reclamation and lost hosts: try again.
    evaluate_on_exit {
      on_status_reason = "Host EC2*"
      action           = "RETRY"
    }

    # Anything else (the application's own exit codes): fail at once, retrying will not help.
    evaluate_on_exit {
      on_reason = "*"
      action    = "EXIT"
    }
  }

  timeout {
    attempt_duration_seconds = each.value.timeout_seconds
  }

  tags = merge(var.tags, { Name = local.job_definition_name[each.key] })
}
