# modules/registry offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {}

variables {
  name = "acme-dev"
  repositories = {
    pipelines = {}
    tools     = { keep_images = 5, expiring_tag_prefixes = ["dev-", "pr-"], untagged_days = 3 }
  }
}

run "repositories_scan_on_push_with_immutable_tags" {
  command = plan

  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["acme-dev/pipelines", "acme-dev/tools"])
    error_message = "repositories under the env's prefix"
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE" && r.image_scanning_configuration[0].scan_on_push])
    error_message = "immutable tags, scanned on push"
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.encryption_configuration[0].encryption_type == "AES256" && !r.force_delete])
    error_message = "AES256 without a key; images never deleted with the repository by default"
  }
}

run "lifecycle_expires_untagged_and_old_development_images_only" {
  command = plan

  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.this["pipelines"].policy).rules : r.selection.tagStatus] == ["untagged", "tagged"]
    error_message = "default: one untagged rule and one dev- rule"
  }
  assert {
    condition = [for r in jsondecode(aws_ecr_lifecycle_policy.this["tools"].policy).rules : [r.rulePriority, r.selection]] == [
      [1, { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 3 }],
      [2, { tagStatus = "tagged", tagPrefixList = ["dev-"], countType = "imageCountMoreThan", countNumber = 5 }],
      [3, { tagStatus = "tagged", tagPrefixList = ["pr-"], countType = "imageCountMoreThan", countNumber = 5 }],
    ]
    error_message = "one rule per development prefix (a rule with several prefixes needs all of them)"
  }
  assert {
    condition = alltrue(flatten([
      for p in aws_ecr_lifecycle_policy.this : [for r in jsondecode(p.policy).rules : r.selection.tagStatus != "any" && r.action.type == "expire"]
    ]))
    error_message = "no rule selects every image: a released tag never expires"
  }
}

run "keys_are_ecr_names" {
  command = plan
  variables {
    repositories = { "Pipelines" = {} }
  }
  expect_failures = [var.repositories]
}

run "keep_at_least_one_image" {
  command = plan
  variables {
    repositories = { pipelines = { keep_images = 0 } }
  }
  expect_failures = [var.repositories]
}
