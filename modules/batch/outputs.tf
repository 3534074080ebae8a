output "compute_environment_arns" {
  description = "Compute environment ARNs keyed like `compute_environments`."
  value       = { for k, ce in aws_batch_compute_environment.this : k => ce.arn }
}

output "job_queue_arns" {
  description = "Job queue ARNs keyed like `job_queues`."
  value       = { for k, q in aws_batch_job_queue.this : k => q.arn }
}

output "job_queue_names" {
  description = "Job queue names keyed like `job_queues`."
  value       = { for k, q in aws_batch_job_queue.this : k => q.name }
}

output "scheduling_policy_arn" {
  description = "The fair-share scheduling policy (null: FIFO queues)."
  value       = try(aws_batch_scheduling_policy.this[0].arn, null)
}

output "share_identifiers" {
  description = "Share identifiers jobs may carry (sorted; a trailing `*` is a prefix); empty with FIFO queues."
  value       = local.share_identifiers
}

output "fair_share_queues" {
  description = "Keys of the queues scheduled by the fair-share policy (they need a share identifier on every job); empty with FIFO queues."
  value       = local.fair_share_queues
}

output "job_definition_arns" {
  description = "Job definition ARNs (with revision) keyed like `job_definitions`, plus `nextflow-head`."
  value       = { for k, d in aws_batch_job_definition.this : k => d.arn }
}

output "job_role_arn" {
  description = "Role of the job containers (S3 on this env's buckets only)."
  value       = aws_iam_role.job.arn
}

output "head_job_role_arn" {
  description = "Role of workflow head jobs (submit/manage jobs on this env's queues, S3 on its buckets); null without a head job definition."
  value       = try(aws_iam_role.head[0].arn, null)
}

output "service_role_arn" {
  description = "The role Batch manages the compute environments with: its service-linked role AWSServiceRoleForBatch (infrastructure updates need it)."
  value       = local.service_linked_role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the job containers."
  value       = aws_cloudwatch_log_group.jobs.name
}
