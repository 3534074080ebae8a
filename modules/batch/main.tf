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

    # BatchServiceRole marks environments created for infrastructure updates (on the service-linked role). An
    # environment created before them (on the platform's own service role) cannot be updated: the provider
    # forces a replacement for any change to its compute resources, so this tag makes the first plan after the
    # upgrade replace such an environment (create before destroy, queues switched in place), while one already
    # on the service-linked role only gets the tag, in place. README: Upgrading an env.
    tags = merge(var.tags, { Name = "${var.name}-${each.key}", ComputeEnvironment = each.key, BatchServiceRole = "AWSServiceRoleForBatch" })
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
    # in place, nor switched to the service-linked role: it must be replaced. The BatchServiceRole tag above
    # makes the plan replace it; should a plan still update one in place, it stops here instead of failing
    # halfway through the apply.
    postcondition {
      condition     = self.service_role == null || strcontains(coalesce(self.service_role, "-"), ":role/aws-service-role/batch.amazonaws.com/")
      error_message = "compute environment ${each.key} uses its own service role (created before infrastructure updates): replace it once, e.g. runner infra plan --replace 'module.platform.module.batch.aws_batch_compute_environment.this[\"${each.key}\"]' (README: Upgrading an env)."
    }
  }
}

################################################################################
# Fair-share scheduling (null fair_share: FIFO queues)
################################################################################

locals {
  fair_share_queues = var.fair_share == null ? [] : distinct(var.fair_share.queues)
  share_identifiers = var.fair_share == null ? [] : sort(keys(var.fair_share.shares))
}

resource "aws_batch_scheduling_policy" "this" {
  count = var.fair_share == null ? 0 : 1

  name = "${var.name}-fair-share"

  fair_share_policy {
    compute_reservation = var.fair_share.compute_reservation
    share_decay_seconds = var.fair_share.share_decay_seconds

    dynamic "share_distribution" {
      for_each = var.fair_share.shares
      content {
        share_identifier = share_distribution.key
        weight_factor    = share_distribution.value
      }
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-fair-share" })

  lifecycle {
    precondition {
      condition     = alltrue([for q in local.fair_share_queues : contains(keys(var.job_queues), q)])
      error_message = "fair_share.queues names a queue that is not in job_queues."
    }
  }
}

# How each queue schedules. Batch cannot add a scheduling policy to a FIFO queue nor remove one (the provider
# would try it in place and fail halfway through the apply), so a queue that changes mode is replaced: the
# queue's replace_triggered_by follows this value. Share weights, reservation and decay change in place.
resource "terraform_data" "queue_scheduling" {
  for_each = var.job_queues

  input = contains(local.fair_share_queues, each.key) ? "fair-share" : "fifo"
}

################################################################################
# Job queues
################################################################################

resource "aws_batch_job_queue" "this" {
  for_each = var.job_queues

  name     = "${var.name}-${each.key}"
  state    = each.value.state
  priority = each.value.priority

  scheduling_policy_arn = contains(local.fair_share_queues, each.key) ? aws_batch_scheduling_policy.this[0].arn : null

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
    # FIFO <-> fair-share: replaced (same name, so the same ARN), never updated in place.
    replace_triggered_by = [terraform_data.queue_scheduling[each.key]]

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
# S3: what job containers and head jobs may do in the env's buckets
################################################################################

locals {
  data_arn    = var.bucket_arns["data"]
  work_arn    = var.bucket_arns["work"]
  results_arn = var.bucket_arns["results"]

  # Scratch under the work bucket (Nextflow's work dir, plain jobs' scratch): jobs write and delete only there.
  scratch_objects = [for p in var.work_scratch_prefixes : "${local.work_arn}/${p}*"]
  # Row manifests of `runner submit` (runs/<run>/rows/<job>.sh): the only run-record objects a job may read.
  row_manifests = "${local.work_arn}/runs/*/rows/*"
  # What a head job saves of its run: Nextflow's cache, history and log (runs/<run>/{cache,launch,logs}/...).
  head_run_objects = [for d in ["cache", "launch", "logs"] : "${local.work_arn}/runs/*/${d}/*"]

  external_buckets = [for b in var.external_read_buckets : "arn:${local.partition}:s3:::${b}"]
  external_objects = [for arn in local.external_buckets : "${arn}/*"]

  object_write_actions = [
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
  ]
  object_read_actions = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Shared by the job and head roles: the listed external buckets (read only) and the buckets' KMS key.
data "aws_iam_policy_document" "shared_reads" {
  dynamic "statement" {
    for_each = length(var.external_read_buckets) == 0 ? [] : ["external"]
    content {
      sid       = "ReadExternalBuckets"
      actions   = concat(["s3:ListBucket", "s3:GetBucketLocation"], local.object_read_actions)
      resources = concat(local.external_buckets, local.external_objects)
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

# Job containers: read inputs (data bucket, listed external buckets, results), write only outputs (results, work
# scratch), never touch the run records under runs/ except reading row manifests.
data "aws_iam_policy_document" "job_buckets" {
  source_policy_documents = [data.aws_iam_policy_document.shared_reads.json]

  statement {
    sid       = "ListDataAndResults"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.data_arn, local.results_arn]
  }

  # Listing the work bucket only under scratch: without a list of runs/, a row manifest is read by its key alone.
  statement {
    sid       = "ListWorkScratch"
    actions   = ["s3:ListBucket"]
    resources = [local.work_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in var.work_scratch_prefixes : "${p}*"]
    }
  }

  statement {
    sid       = "WorkBucketLocation"
    actions   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [local.work_arn, local.results_arn]
  }

  statement {
    sid       = "ReadInputsAndOutputs"
    actions   = local.object_read_actions
    resources = concat(["${local.data_arn}/*", "${local.results_arn}/*", local.row_manifests], local.scratch_objects)
  }

  statement {
    sid       = "WriteOutputs"
    actions   = local.object_write_actions
    resources = concat(["${local.results_arn}/*"], local.scratch_objects)
  }

  statement {
    sid       = "DeleteScratch"
    actions   = ["s3:DeleteObject"]
    resources = local.scratch_objects
  }

  # Belt and braces: whatever is added above later, the inputs and the run records stay untouched.
  statement {
    sid       = "NeverWriteRunRecordsOrDeleteInputs"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:PutObjectAcl", "s3:RestoreObject"]
    resources = ["${local.work_arn}/runs/*", "${local.data_arn}/*"]
  }
}

# Head jobs (Nextflow): read everything of the env, write the work dir, their run's cache/history/log and results.
data "aws_iam_policy_document" "head_buckets" {
  source_policy_documents = [data.aws_iam_policy_document.shared_reads.json]

  statement {
    sid       = "ListEnvBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [local.data_arn, local.work_arn, local.results_arn]
  }

  statement {
    sid       = "ReadEnvObjects"
    actions   = local.object_read_actions
    resources = ["${local.data_arn}/*", "${local.work_arn}/*", "${local.results_arn}/*"]
  }

  statement {
    sid       = "WriteWorkDirRunStateAndResults"
    actions   = concat(local.object_write_actions, ["s3:DeleteObject"])
    resources = concat(["${local.results_arn}/*"], local.scratch_objects, local.head_run_objects)
  }
}

resource "aws_iam_role" "job" {
  name_prefix          = "${substr(var.name, 0, 28)}-job-"
  description          = "Job containers of ${var.name}: read inputs, write results and work scratch"
  assume_role_policy   = data.aws_iam_policy_document.tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "job_buckets" {
  name   = "env-buckets"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job_buckets.json
}

################################################################################
# Head job role: a workflow head (Nextflow) submits and manages jobs of this env only
################################################################################

locals {
  # Jobs of this env carry Platform = <name> (Nextflow's resourceLabels, see runner/nextflow): the head may create
  # only such jobs and cancel/terminate only those.
  env_tag = "aws:ResourceTag/${var.env_tag_key}"
  env_definitions = concat(
    ["${local.batch_arn_prefix}:job-definition/${var.name}-*"],
    [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"],
  )
}

data "aws_iam_policy_document" "head" {
  statement {
    sid       = "SubmitTaggedJobsToEnvQueues"
    actions   = ["batch:SubmitJob"]
    resources = concat([for q in aws_batch_job_queue.this : q.arn], local.env_definitions, ["${local.batch_arn_prefix}:job/*"])
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.env_tag_key}"
      values   = [var.name]
    }
  }

  # Tags given at submission (resourceLabels) are a TagResource on the new job; only with this env's tag.
  statement {
    sid       = "TagOnSubmit"
    actions   = ["batch:TagResource"]
    resources = ["${local.batch_arn_prefix}:job/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.env_tag_key}"
      values   = [var.name]
    }
  }

  # A job of another env (its tag present and different) or one the runner submitted is never re-tagged into this env.
  statement {
    sid       = "NeverRetagOtherJobs"
    effect    = "Deny"
    actions   = ["batch:TagResource", "batch:UntagResource"]
    resources = ["${local.batch_arn_prefix}:job/*"]
    condition {
      test     = "StringNotEquals"
      variable = local.env_tag
      values   = [var.name]
    }
    condition {
      test     = "Null"
      variable = local.env_tag
      values   = ["false"]
    }
  }

  statement {
    sid       = "NeverRetagRunnerJobs"
    effect    = "Deny"
    actions   = ["batch:TagResource", "batch:UntagResource"]
    resources = ["${local.batch_arn_prefix}:job/*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/runner:run"
      values   = ["false"]
    }
  }

  # Fair share: jobs go out only under the env's share identifiers (Nextflow: aws.batch.shareIdentifier).
  dynamic "statement" {
    for_each = var.fair_share == null ? [] : ["fair-share"]
    content {
      sid       = "NeverSubmitUnderOtherShares"
      effect    = "Deny"
      actions   = ["batch:SubmitJob"]
      resources = ["${local.batch_arn_prefix}:job-queue/*"]
      condition {
        test     = "Null"
        variable = "batch:ShareIdentifier"
        values   = ["false"]
      }
      condition {
        test     = "StringNotLike"
        variable = "batch:ShareIdentifier"
        values   = local.share_identifiers
      }
    }
  }

  statement {
    sid       = "ManageEnvJobs"
    actions   = ["batch:TerminateJob", "batch:CancelJob"]
    resources = ["${local.batch_arn_prefix}:job/*"]
    condition {
      test     = "StringEquals"
      variable = local.env_tag
      values   = [var.name]
    }
  }

  # The env's own definitions (`<name>-*`).
  statement {
    sid       = "RegisterEnvJobDefinitions"
    actions   = ["batch:RegisterJobDefinition", "batch:DeregisterJobDefinition", "batch:TagResource"]
    resources = ["${local.batch_arn_prefix}:job-definition/${var.name}-*"]
  }

  # Nextflow names its definitions `nf-<image>` whatever the config says (the prefix is hard-coded): they may be
  # registered (never deregistered) only when they log to this env's log group, with this env's job role.
  dynamic "statement" {
    for_each = length(var.head_job_definition_patterns) == 0 ? [] : ["nextflow"]
    content {
      sid       = "RegisterNextflowJobDefinitions"
      actions   = ["batch:RegisterJobDefinition"]
      resources = [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"]
      condition {
        test     = "StringEquals"
        variable = "batch:AWSLogsGroup"
        values   = [local.log_group_name]
      }
    }
  }

  # Nextflow tags the definitions it registers (nextflow.io/createdAt, /version): a TagResource, whose request
  # context has no batch:AWSLogsGroup to test.
  dynamic "statement" {
    for_each = length(var.head_job_definition_patterns) == 0 ? [] : ["nextflow"]
    content {
      sid       = "TagNextflowJobDefinitions"
      actions   = ["batch:TagResource"]
      resources = [for p in var.head_job_definition_patterns : "${local.batch_arn_prefix}:job-definition/${p}"]
    }
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

  name_prefix          = "${substr(var.name, 0, 28)}-head-"
  description          = "Workflow head jobs of ${var.name}: submit and manage this env's jobs, S3 on its buckets"
  assume_role_policy   = data.aws_iam_policy_document.tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
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
  policy = data.aws_iam_policy_document.head_buckets.json
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
