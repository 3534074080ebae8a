# modules/batch offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  # The rendered JSON is mocked too (its statements are asserted as configured); the provider still checks that
  # policy arguments hold JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_batch_compute_environment" {
    defaults = {
      arn          = "arn:aws:batch:eu-west-1:123456789012:compute-environment/terraform-0001"
      service_role = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    }
  }
  mock_resource "aws_batch_scheduling_policy" {
    defaults = { arn = "arn:aws:batch:eu-west-1:123456789012:scheduling-policy/acme-dev-fair-share" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/batch/acme-dev" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/acme-dev-job-0001" }
  }
}

variables {
  name                    = "acme-dev"
  subnet_ids              = ["subnet-0a1b2c3d"]
  security_group_ids      = ["sg-0a1b2c3d"]
  instance_profile_arn    = "arn:aws:iam::123456789012:instance-profile/acme-dev-instance-0001"
  launch_template_id      = "lt-0a1b2c3d"
  launch_template_version = "3"
  bucket_arns = {
    data    = "arn:aws:s3:::acme-dev-data"
    work    = "arn:aws:s3:::acme-dev-work"
    results = "arn:aws:s3:::acme-dev-results"
  }
  external_read_buckets = ["ngi-igenomes"]
}

# --------------------------------------------------------------------------------------------------------------
# FIFO (no fair_share): no scheduling policy, no share condition
# --------------------------------------------------------------------------------------------------------------

run "fifo_by_default" {
  assert {
    condition     = length(aws_batch_scheduling_policy.this) == 0 && output.scheduling_policy_arn == null
    error_message = "no fair_share must mean no scheduling policy"
  }
  assert {
    condition     = alltrue([for q in aws_batch_job_queue.this : q.scheduling_policy_arn == null])
    error_message = "FIFO queues carry no scheduling_policy_arn"
  }
  assert {
    condition     = length(output.share_identifiers) == 0 && length(output.fair_share_queues) == 0
    error_message = "FIFO: no share identifiers"
  }
  assert {
    condition     = alltrue([for k, t in terraform_data.queue_scheduling : t.output == "fifo"])
    error_message = "every queue is recorded FIFO"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.head.statement : s if s.sid == "NeverSubmitUnderOtherShares"]) == 0
    error_message = "no share condition on the head role without fair share"
  }
  assert {
    condition     = keys(output.job_queue_arns) == ["default", "head", "priority"]
    error_message = "the three default queues"
  }
  assert {
    condition = alltrue([
      for ce in aws_batch_compute_environment.this : ce.compute_resources[0].tags["BatchServiceRole"] == "AWSServiceRoleForBatch"
    ])
    error_message = "environments on the service-linked role, marked so that older ones are replaced (README: Upgrading an env)"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Fair share on the default queue: the queue is replaced (Batch cannot add a policy to a FIFO queue), the others
# stay; weights change in place
# --------------------------------------------------------------------------------------------------------------

run "fair_share_replaces_the_default_queue_only" {
  variables {
    fair_share = {
      shares              = { genomics = 1, proteomics = 0.5, "lab*" = 2 }
      compute_reservation = 10
      share_decay_seconds = 7200
    }
  }

  assert {
    condition     = output.scheduling_policy_arn == "arn:aws:batch:eu-west-1:123456789012:scheduling-policy/acme-dev-fair-share"
    error_message = "the policy's ARN is an output"
  }
  assert {
    condition     = aws_batch_scheduling_policy.this[0].name == "acme-dev-fair-share"
    error_message = "policy name under the env's prefix (the CI apply role manages scheduling-policy/<name>*)"
  }
  assert {
    condition = (
      aws_batch_scheduling_policy.this[0].fair_share_policy[0].compute_reservation == 10 &&
      aws_batch_scheduling_policy.this[0].fair_share_policy[0].share_decay_seconds == 7200
    )
    error_message = "reservation and decay from fair_share"
  }
  assert {
    condition = {
      for s in aws_batch_scheduling_policy.this[0].fair_share_policy[0].share_distribution : s.share_identifier => s.weight_factor
    } == { genomics = 1, proteomics = 0.5, "lab*" = 2 }
    error_message = "one share_distribution per share, with its weight"
  }
  assert {
    condition     = aws_batch_job_queue.this["default"].scheduling_policy_arn == output.scheduling_policy_arn
    error_message = "the default queue is scheduled by the policy"
  }
  assert {
    condition     = aws_batch_job_queue.this["priority"].scheduling_policy_arn == null && aws_batch_job_queue.this["head"].scheduling_policy_arn == null
    error_message = "priority and head stay FIFO"
  }
  assert {
    condition     = output.share_identifiers == tolist(["genomics", "lab*", "proteomics"]) && output.fair_share_queues == tolist(["default"])
    error_message = "sorted share identifiers and the fair-share queue are outputs"
  }
  # Mode change = replacement (the mocked ARN is new on every create), never an in-place update Batch would refuse.
  assert {
    condition     = aws_batch_job_queue.this["default"].arn != run.fifo_by_default.job_queue_arns["default"]
    error_message = "FIFO -> fair-share must replace the default queue"
  }
  assert {
    condition     = aws_batch_job_queue.this["priority"].arn == run.fifo_by_default.job_queue_arns["priority"]
    error_message = "queues that keep their mode are not replaced"
  }
  assert {
    condition     = aws_batch_job_queue.this["default"].name == "acme-dev-default"
    error_message = "the replacement keeps the queue's name (and so its ARN)"
  }
  # The head role (Nextflow) never submits under another share identifier.
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.head.statement : s if s.sid == "NeverSubmitUnderOtherShares"
      ]).effect == "Deny" && toset(flatten([
        for s in data.aws_iam_policy_document.head.statement : [
          for c in s.condition : c.values if c.test == "StringNotLike" && c.variable == "batch:ShareIdentifier"
        ] if s.sid == "NeverSubmitUnderOtherShares"
    ])) == toset(["genomics", "lab*", "proteomics"])
    error_message = "head role: deny SubmitJob under any share identifier but the env's"
  }
}

run "new_weights_change_the_policy_in_place" {
  variables {
    fair_share = {
      shares              = { genomics = 2, proteomics = 0.5, "lab*" = 2 }
      compute_reservation = 20
    }
  }

  assert {
    condition     = aws_batch_job_queue.this["default"].arn == run.fair_share_replaces_the_default_queue_only.job_queue_arns["default"]
    error_message = "weights, reservation and decay are the policy's: the queue stays"
  }
  assert {
    condition     = aws_batch_scheduling_policy.this[0].fair_share_policy[0].share_decay_seconds == 3600
    error_message = "share_decay_seconds defaults to one hour"
  }
}

run "back_to_fifo_replaces_the_queue_again" {
  variables {
    fair_share = null
  }

  assert {
    condition     = aws_batch_job_queue.this["default"].arn != run.new_weights_change_the_policy_in_place.job_queue_arns["default"]
    error_message = "fair-share -> FIFO must replace the queue (Batch cannot remove a queue's policy)"
  }
  assert {
    condition     = aws_batch_job_queue.this["default"].scheduling_policy_arn == null && length(aws_batch_scheduling_policy.this) == 0
    error_message = "FIFO again: no policy"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------------------------

run "share_identifiers_are_alphanumeric_with_an_optional_trailing_star" {
  command = plan
  variables {
    fair_share = { shares = { "lab-1" = 1 } }
  }
  expect_failures = [var.fair_share]
}

run "shares_must_not_overlap" {
  command = plan
  variables {
    fair_share = { shares = { "lab*" = 1, lab01 = 1 } }
  }
  expect_failures = [var.fair_share]
}

run "weights_within_batch_limits" {
  command = plan
  variables {
    fair_share = { shares = { genomics = 0 } }
  }
  expect_failures = [var.fair_share]
}

run "reservation_within_0_99" {
  command = plan
  variables {
    fair_share = { shares = { genomics = 1 }, compute_reservation = 100 }
  }
  expect_failures = [var.fair_share]
}

run "fair_share_needs_a_share" {
  command = plan
  variables {
    fair_share = { shares = {} }
  }
  expect_failures = [var.fair_share]
}

run "fair_share_queues_must_exist" {
  command = plan
  variables {
    fair_share = { shares = { genomics = 1 }, queues = ["nosuch"] }
  }
  expect_failures = [aws_batch_scheduling_policy.this]
}

run "launch_template_version_is_a_number" {
  command = plan
  variables {
    launch_template_version = "$Latest"
  }
  expect_failures = [var.launch_template_version]
}

run "allocation_strategy_defaults_by_type" {
  command = plan
  variables {
    compute_environments = {
      spot     = { type = "SPOT", max_vcpus = 8 }
      ondemand = { type = "EC2", max_vcpus = 8 }
    }
  }

  assert {
    condition = (
      aws_batch_compute_environment.this["spot"].compute_resources[0].allocation_strategy == "SPOT_CAPACITY_OPTIMIZED" &&
      aws_batch_compute_environment.this["ondemand"].compute_resources[0].allocation_strategy == "BEST_FIT_PROGRESSIVE"
    )
    error_message = "no strategy given: the updatable default of each type"
  }
}

run "best_fit_is_refused" {
  command = plan
  variables {
    compute_environments = { ondemand = { type = "EC2", allocation_strategy = "BEST_FIT", max_vcpus = 8 } }
    job_queues           = { default = { priority = 1, compute_environments = ["ondemand"] } }
  }
  expect_failures = [var.compute_environments]
}

run "queues_name_existing_compute_environments" {
  command = plan
  variables {
    job_queues = { default = { priority = 1, compute_environments = ["nosuch"] } }
  }
  expect_failures = [aws_batch_job_queue.this]
}

run "work_scratch_never_under_runs" {
  command = plan
  variables {
    work_scratch_prefixes = ["runs/"]
  }
  expect_failures = [var.work_scratch_prefixes]
}

run "bucket_arns_need_data_work_results" {
  command = plan
  variables {
    bucket_arns = { data = "arn:aws:s3:::acme-dev-data" }
  }
  expect_failures = [var.bucket_arns]
}

# --------------------------------------------------------------------------------------------------------------
# Least privilege of the job and head roles (the statements as configured; the emulator tests evaluate the
# rendered policies request by request)
# --------------------------------------------------------------------------------------------------------------

run "job_role_never_writes_run_records_nor_deletes_inputs" {
  command = plan

  assert {
    condition = one([
      for s in data.aws_iam_policy_document.job_buckets.statement : s if s.sid == "NeverWriteRunRecordsOrDeleteInputs"
      ]).effect == "Deny" && one([
      for s in data.aws_iam_policy_document.job_buckets.statement : s.resources if s.sid == "NeverWriteRunRecordsOrDeleteInputs"
    ]) == toset(["arn:aws:s3:::acme-dev-work/runs/*", "arn:aws:s3:::acme-dev-data/*"])
    error_message = "explicit deny of writes under runs/ and of deletes in data"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.job_buckets.statement : s.resources if s.sid == "DeleteScratch"
    ]) == toset(["arn:aws:s3:::acme-dev-work/nextflow/*", "arn:aws:s3:::acme-dev-work/scratch/*"])
    error_message = "jobs delete only under the work bucket's scratch prefixes"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.job_buckets.statement : !contains(s.resources, "*")])
    error_message = "no job statement on every resource"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.shared_reads.statement : s.resources if s.sid == "ReadExternalBuckets"
    ]) == toset(["arn:aws:s3:::ngi-igenomes", "arn:aws:s3:::ngi-igenomes/*"])
    error_message = "external buckets: read only, and only the listed ones"
  }
}

run "head_role_uses_every_resource_only_for_describe_and_list" {
  command = plan

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.head.statement : s.sid == "DescribeAndList" if s.effect != "Deny" && contains(coalesce(s.resources, []), "*")
    ])
    error_message = "only Describe/List calls (no resource-level permissions) may use *"
  }
  assert {
    condition = alltrue(flatten([
      for s in data.aws_iam_policy_document.head.statement : [
        for a in s.actions : can(regex("^(batch|ecs|ec2):(Describe|List)", a))
      ] if s.sid == "DescribeAndList"
    ]))
    error_message = "DescribeAndList holds only Describe*/List* actions"
  }
  assert {
    condition = one(flatten([
      for s in data.aws_iam_policy_document.head.statement : [
        for c in s.condition : c.values if c.variable == "iam:PassedToService"
      ] if s.sid == "PassJobRole"
    ])) == "ecs-tasks.amazonaws.com"
    error_message = "the head role passes the job role to ECS tasks only"
  }
  assert {
    condition = one(flatten([
      for s in data.aws_iam_policy_document.head.statement : [
        for c in s.condition : c.values if c.variable == "batch:AWSLogsGroup"
      ] if s.sid == "RegisterNextflowJobDefinitions"
    ])) == "/aws/batch/acme-dev"
    error_message = "nf-* definitions only when they log to the env's group"
  }
}
