# modules/platform offline: a mocked aws provider (no credentials, no API), real terraform logic across the
# child modules: the output contract, the analyst policy (fair-share shares included), the endpoint wiring and
# the pass-through of the child modules' variables.

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
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
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
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0a1b2c3d", latest_version = 1 }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/acme-dev-role-0001" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/acme-dev-instance-0001" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/batch-platform/acme-dev-analyst" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/batch/acme-dev" }
  }
}

override_resource {
  target = module.storage.aws_s3_bucket.this["data"]
  values = { arn = "arn:aws:s3:::acme-dev-data" }
}
override_resource {
  target = module.storage.aws_s3_bucket.this["work"]
  values = { arn = "arn:aws:s3:::acme-dev-work" }
}
override_resource {
  target = module.storage.aws_s3_bucket.this["results"]
  values = { arn = "arn:aws:s3:::acme-dev-results" }
}
override_resource {
  target = module.batch.aws_batch_job_queue.this["default"]
  values = { arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default" }
}
override_resource {
  target = module.batch.aws_batch_job_queue.this["priority"]
  values = { arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-priority" }
}
override_resource {
  target = module.batch.aws_batch_job_queue.this["head"]
  values = { arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-head" }
}

variables {
  name                  = "acme-dev"
  ami_id                = "ami-0123456789abcdef0"
  external_read_buckets = ["ngi-igenomes"]
}

# --------------------------------------------------------------------------------------------------------------
# The output contract
# --------------------------------------------------------------------------------------------------------------

run "fifo_contract" {
  assert {
    condition     = length(output.share_identifiers) == 0 && output.scheduling_policy_arn == null
    error_message = "FIFO: no share identifiers, no policy"
  }
  assert {
    condition = toset(keys(jsondecode(aws_ssm_parameter.outputs.value))) == toset([
      "region", "name", "bucket_names", "bucket_arns", "launch_template_id", "launch_template_version", "ami_id",
      "compute_environment_arns", "job_queue_arns", "job_queue_names", "job_definition_arns", "job_role_arn",
      "head_job_role_arn", "instance_role_arn", "log_group_name", "ecr_repository_urls", "aws_cli_path",
      "analyst_policy_arn", "share_identifiers", "scheduling_policy_arn",
    ])
    error_message = "the published contract holds every contract output, the fair-share ones included"
  }
  assert {
    condition     = jsondecode(aws_ssm_parameter.outputs.value).scheduling_policy_arn == null && jsondecode(aws_ssm_parameter.outputs.value).share_identifiers == []
    error_message = "FIFO is published as null and []"
  }
  assert {
    condition     = aws_ssm_parameter.outputs.name == "/acme-dev/runner/outputs" && aws_ssm_parameter.outputs.type == "String"
    error_message = "analysts read /<name>/runner/outputs without kms:Decrypt"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.analyst.statement : s.resources if s.sid == "SubmitToEnvQueues"
      ]) == toset([
      "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default",
      "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-priority",
      "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-head",
      "arn:aws:batch:eu-west-1:123456789012:job-definition/acme-dev-*",
      "arn:aws:batch:eu-west-1:123456789012:job-definition/runner-*",
      "arn:aws:batch:eu-west-1:123456789012:job/*",
    ])
    error_message = "FIFO: every queue of the env, its definitions and the runner's"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.analyst.statement : s if strcontains(s.sid, "Share")]) == 0
    error_message = "FIFO: no share statements"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Fair share: the analyst policy allows only the env's share identifiers
# --------------------------------------------------------------------------------------------------------------

run "fair_share_contract_and_analyst_policy" {
  variables {
    fair_share = {
      shares              = { genomics = 1, proteomics = 1, "lab*" = 2 }
      compute_reservation = 10
    }
  }

  assert {
    condition     = output.share_identifiers == tolist(["genomics", "lab*", "proteomics"])
    error_message = "the allowed share identifiers are a contract output"
  }
  assert {
    condition     = output.scheduling_policy_arn == "arn:aws:batch:eu-west-1:123456789012:scheduling-policy/acme-dev-fair-share"
    error_message = "the policy ARN is a contract output"
  }
  assert {
    condition     = jsondecode(aws_ssm_parameter.outputs.value).share_identifiers == ["genomics", "lab*", "proteomics"]
    error_message = "and published for analysts"
  }
  assert {
    condition = !contains(one([
      for s in data.aws_iam_policy_document.analyst.statement : s.resources if s.sid == "SubmitToEnvQueues"
    ]), "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default")
    error_message = "the fair-share queue is not in the unconditional statement"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.analyst.statement : s.resources if s.sid == "SubmitToFairShareQueuesUnderEnvShares"
    ]) == toset(["arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default"])
    error_message = "the fair-share queue has its own statement"
  }
  assert {
    condition = jsonencode(one([
      for s in data.aws_iam_policy_document.analyst.statement : [
        for c in s.condition : { test = c.test, variable = c.variable, values = c.values }
      ] if s.sid == "SubmitToFairShareQueuesUnderEnvShares"
    ])) == jsonencode([{ test = "StringLike", variable = "batch:ShareIdentifier", values = ["genomics", "lab*", "proteomics"] }])
    error_message = "submitting there needs one of the env's share identifiers (StringLike: lab* matches lab01)"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.analyst.statement : s.effect if s.sid == "NeverSubmitUnderOtherShares"
    ]) == "Deny"
    error_message = "an explicit deny of any other share identifier"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------------------------------

run "the_endpoint_reaches_the_envs_and_the_external_buckets" {
  command = plan

  assert {
    condition     = toset(module.network.s3_endpoint_buckets.read_write) == toset(["acme-dev-data", "acme-dev-work", "acme-dev-results"])
    error_message = "read/write: the env's three buckets"
  }
  assert {
    condition     = module.network.s3_endpoint_buckets.read_only == tolist(["ngi-igenomes"])
    error_message = "read only: external_read_buckets"
  }
}

run "child_module_defaults_apply_when_nothing_is_given" {
  command = plan

  assert {
    condition     = toset(keys(module.batch.compute_environment_arns)) == toset(["spot", "ondemand"])
    error_message = "modules/batch's default compute environments"
  }
  assert {
    condition     = toset(keys(module.batch.job_queue_names)) == toset(["default", "priority", "head"])
    error_message = "modules/batch's default queues"
  }
  assert {
    condition     = toset(keys(output.bucket_names)) == toset(["data", "work", "results"]) && toset(keys(output.ecr_repository_urls)) == toset(["pipelines"])
    error_message = "modules/storage's and modules/registry's defaults"
  }
}

run "given_objects_pass_through_to_the_owning_module" {
  command = plan
  variables {
    compute_environments = {
      spot     = { type = "SPOT", max_vcpus = 32, instance_types = ["m6i"] }
      gpu      = { type = "EC2", max_vcpus = 8 }
      ondemand = { type = "EC2", max_vcpus = 8 }
    }
    job_queues = {
      default  = { priority = 1, compute_environments = ["spot", "ondemand"] }
      priority = { priority = 10, compute_environments = ["ondemand"] }
      head     = { priority = 20, compute_environments = ["ondemand"] }
      gpu      = { priority = 5, compute_environments = ["gpu"] }
    }
    buckets            = { data = {}, work = { expire_days = 14, expire_prefixes = ["scratch/"] }, results = {}, archive = {} }
    ecr_repositories   = { pipelines = {}, tools = { keep_images = 5 } }
    log_retention_days = 30
  }

  assert {
    condition     = toset(keys(module.batch.compute_environment_arns)) == toset(["spot", "gpu", "ondemand"]) && toset(keys(module.batch.job_queue_names)) == toset(["default", "priority", "head", "gpu"])
    error_message = "compute environments and queues as given (optional attributes filled in by modules/batch)"
  }
  assert {
    condition     = toset(keys(output.bucket_names)) == toset(["data", "work", "results", "archive"]) && toset(keys(output.ecr_repository_urls)) == toset(["pipelines", "tools"])
    error_message = "buckets and repositories as given"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations: the platform's own rules; the child modules check their types and values
# --------------------------------------------------------------------------------------------------------------

run "queues_the_platform_submits_to_must_exist" {
  command = plan
  variables {
    job_queues = { default = { priority = 1, compute_environments = ["spot"] } }
  }
  expect_failures = [var.job_queues]
}

run "buckets_data_work_results_must_exist" {
  command = plan
  variables {
    buckets = { data = {} }
  }
  expect_failures = [var.buckets]
}

run "the_head_job_definition_is_required" {
  command = plan
  variables {
    head_job_definition = null
  }
  expect_failures = [var.head_job_definition]
}
