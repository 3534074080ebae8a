# modules/platform offline: a mocked aws provider (tests/aws.tfmock.hcl; no credentials, no API), real terraform
# logic across the child modules: the output contract, the analyst policy, the endpoint wiring and the
# pass-through of the child modules' variables (fair share: tests/fair_share.tftest.hcl).

mock_provider "aws" {
  source = "./tests"
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
