# The env output contract (see README): every env root passes modules/platform's outputs through unchanged.

output "region" {
  description = "The env's region."
  value       = module.platform.region
}

output "name" {
  description = "The env's name prefix."
  value       = module.platform.name
}

output "bucket_names" {
  description = "Bucket names keyed data, work, results."
  value       = module.platform.bucket_names
}

output "bucket_arns" {
  description = "Bucket ARNs, same keys."
  value       = module.platform.bucket_arns
}

output "launch_template_id" {
  description = "The Batch launch template."
  value       = module.platform.launch_template_id
}

output "launch_template_version" {
  description = "Its latest version number."
  value       = module.platform.launch_template_version
}

output "ami_id" {
  description = "The image the launch template uses."
  value       = module.platform.ami_id
}

output "compute_environment_arns" {
  description = "Compute environment ARNs keyed spot, ondemand."
  value       = module.platform.compute_environment_arns
}

output "job_queue_arns" {
  description = "Job queue ARNs keyed default, priority, head."
  value       = module.platform.job_queue_arns
}

output "job_queue_names" {
  description = "Job queue names, same keys."
  value       = module.platform.job_queue_names
}

output "job_definition_arns" {
  description = "Job definition ARNs keyed default, nextflow-head."
  value       = module.platform.job_definition_arns
}

output "job_role_arn" {
  description = "Role of the job containers."
  value       = module.platform.job_role_arn
}

output "head_job_role_arn" {
  description = "Role of workflow head jobs."
  value       = module.platform.head_job_role_arn
}

output "instance_role_arn" {
  description = "The EC2 instance role."
  value       = module.platform.instance_role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of job logs."
  value       = module.platform.log_group_name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs keyed by repository name."
  value       = module.platform.ecr_repository_urls
}

output "aws_cli_path" {
  description = "Where the AMI installs the AWS CLI."
  value       = module.platform.aws_cli_path
}

output "analyst_policy_arn" {
  description = "Managed policy for analysts of this env (attach it to their role or group)."
  value       = module.platform.analyst_policy_arn
}

output "share_identifiers" {
  description = "Share identifiers jobs may carry on the fair-share queue (empty: FIFO queues)."
  value       = module.platform.share_identifiers
}

output "scheduling_policy_arn" {
  description = "The fair-share scheduling policy (null: FIFO queues)."
  value       = module.platform.scheduling_policy_arn
}
