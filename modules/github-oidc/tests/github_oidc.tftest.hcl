# modules/github-oidc offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  repository  = "acme/batch-platform"
  name_prefix = "batch-platform-gha"
  envs = {
    dev = {
      region          = "eu-west-1"
      resource_prefix = "batch-platform-dev"
      state_bucket    = "acme-tfstate"
      state_key       = "batch-platform/dev/terraform.tfstate"
    }
    prod = {
      region             = "eu-west-1"
      resource_prefix    = "batch-platform-prod"
      state_bucket       = "acme-tfstate"
      state_key          = "batch-platform/prod/terraform.tfstate"
      github_environment = "prod"
    }
  }
}

run "roles_trust_this_repository_with_exact_subjects" {
  command = plan
  variables {
    create_oidc_provider = false
  }

  assert {
    condition = output.trusted_subjects == {
      dev  = { plan = ["repo:acme/batch-platform:pull_request", "repo:acme/batch-platform:ref:refs/heads/main"], apply = ["repo:acme/batch-platform:ref:refs/heads/main"] }
      prod = { plan = ["repo:acme/batch-platform:pull_request", "repo:acme/batch-platform:ref:refs/heads/main"], apply = ["repo:acme/batch-platform:environment:prod"] }
    }
    error_message = "plan: pull requests and main; apply: main, or the GitHub environment when set"
  }
  assert {
    condition = alltrue([
      for k, d in data.aws_iam_policy_document.trust : alltrue([
        for c in one(d.statement).condition : c.test == "StringEquals" && !anytrue([for v in c.values : strcontains(v, "*")])
      ])
    ])
    error_message = "exact subjects and audience: StringEquals, no wildcard"
  }
  assert {
    condition = alltrue([
      for d in data.aws_iam_policy_document.trust : contains([for c in one(d.statement).condition : c.variable], "token.actions.githubusercontent.com:aud")
    ])
    error_message = "every trust checks the audience"
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && output.oidc_provider_arn == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    error_message = "create_oidc_provider = false looks the account's provider up"
  }
}

run "the_boundary_allows_no_iam_write" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for d in data.aws_iam_policy_document.boundary : [
        for s in d.statement : [for a in s.actions : !startswith(a, "iam:") || contains(["iam:PassRole", "iam:GetRole", "iam:GetInstanceProfile", "iam:ListInstanceProfiles", "iam:CreateServiceLinkedRole"], a)]
      ]
    ]))
    error_message = "a role the apply workflow creates can never create or widen another role"
  }
}

run "apply_role_manages_the_envs_batch_resources_scheduling_policies_included" {
  command = plan

  assert {
    condition = alltrue([
      for a in ["batch:CreateSchedulingPolicy", "batch:UpdateSchedulingPolicy", "batch:DeleteSchedulingPolicy", "batch:CreateJobQueue", "batch:DeleteJobQueue"] :
      contains(one([for s in data.aws_iam_policy_document.apply["dev"].statement : s.actions if s.sid == "ManageEnvBatch"]), a)
    ])
    error_message = "fair-share envs need the scheduling policy actions"
  }
  assert {
    condition = one([for s in data.aws_iam_policy_document.apply["dev"].statement : s.resources if s.sid == "ManageEnvBatch"]) == toset([
      for kind in ["compute-environment", "job-queue", "job-definition", "scheduling-policy"] : "arn:aws:batch:eu-west-1:123456789012:${kind}/batch-platform-dev*"
    ])
    error_message = "only the env's Batch resources, in its region"
  }
  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.apply["dev"].statement : s.effect == "Deny" || !contains(coalesce(s.actions, []), "*")
    ])
    error_message = "no statement allows every action"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------------------------

run "repository_is_owner_slash_name" {
  command = plan
  variables {
    repository = "batch-platform"
  }
  expect_failures = [var.repository]
}

run "state_key_without_wildcards" {
  command = plan
  variables {
    envs = { dev = { region = "eu-west-1", resource_prefix = "batch-platform-dev", state_bucket = "acme-tfstate", state_key = "batch-platform/*" } }
  }
  expect_failures = [var.envs]
}

run "branches_without_wildcards" {
  command = plan
  variables {
    envs = { dev = { region = "eu-west-1", resource_prefix = "batch-platform-dev", state_bucket = "acme-tfstate", state_key = "k", apply_branch = "release/*" } }
  }
  expect_failures = [var.envs]
}

run "sessions_of_one_to_twelve_hours" {
  command = plan
  variables {
    max_session_duration = 60
  }
  expect_failures = [var.max_session_duration]
}
