# Mocked aws provider of modules/platform's tests: computed values the provider would check as ARNs, the
# data sources' answers, and the queues' and buckets' ARNs the policies name.

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
