# A compute environment created on the platform's own service role (before infrastructure updates) cannot be
# updated in place: the plan stops and names it (README: Upgrading an env).

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
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
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
}

run "an_environment_on_its_own_service_role_stops_the_plan" {
  command = plan

  override_resource {
    target          = aws_batch_compute_environment.this
    override_during = plan
    values = {
      arn          = "arn:aws:batch:eu-west-1:123456789012:compute-environment/terraform-0001"
      service_role = "arn:aws:iam::123456789012:role/acme-dev-batch-0001"
    }
  }

  expect_failures = [aws_batch_compute_environment.this]
}

run "on_the_service_linked_role_it_plans" {
  command = plan

  override_resource {
    target          = aws_batch_compute_environment.this
    override_during = plan
    values = {
      arn          = "arn:aws:batch:eu-west-1:123456789012:compute-environment/terraform-0001"
      service_role = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    }
  }

  assert {
    condition     = output.service_role_arn == "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    error_message = "the service-linked role is the module's service role"
  }
}
