################################################################################
# The env output contract (`runner infra output --env E --json`): names and types are fixed
################################################################################

output "region" {
  description = "The env's region."
  value       = data.aws_region.current.id
}

output "name" {
  description = "The env's name prefix."
  value       = var.name
}

output "bucket_names" {
  description = "Bucket names keyed `data`, `work`, `results`."
  value       = module.storage.bucket_names
}

output "bucket_arns" {
  description = "Bucket ARNs, same keys."
  value       = module.storage.bucket_arns
}

output "launch_template_id" {
  description = "The Batch launch template."
  value       = module.compute.launch_template_id
}

output "launch_template_version" {
  description = "Its latest version number."
  value       = module.compute.launch_template_version
}

output "ami_id" {
  description = "The image the launch template uses."
  value       = module.compute.ami_id
}

output "compute_environment_arns" {
  description = "Compute environment ARNs keyed like `compute_environments` (default `spot`, `ondemand`)."
  value       = module.batch.compute_environment_arns
}

output "job_queue_arns" {
  description = "Job queue ARNs keyed `default`, `priority`, `head` (and any others)."
  value       = module.batch.job_queue_arns
}

output "job_queue_names" {
  description = "Job queue names, same keys."
  value       = module.batch.job_queue_names
}

output "job_definition_arns" {
  description = "Job definition ARNs keyed like `job_definitions` plus `nextflow-head`."
  value       = module.batch.job_definition_arns
}

output "job_role_arn" {
  description = "Role of the job containers (S3 on this env's buckets only)."
  value       = module.batch.job_role_arn
}

output "head_job_role_arn" {
  description = "Role of workflow head jobs (submit/manage jobs on this env's queues, S3 on its buckets)."
  value       = module.batch.head_job_role_arn
}

output "instance_role_arn" {
  description = "The EC2 instance role."
  value       = module.compute.instance_role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of job logs."
  value       = module.batch.log_group_name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs keyed by repository name."
  value       = module.registry.repository_urls
}

output "aws_cli_path" {
  description = "Where the AMI installs the AWS CLI (Nextflow's `aws.batch.cliPath`)."
  value       = var.aws_cli_path
}

################################################################################
# Extra outputs (not part of the contract)
################################################################################

output "vpc_id" {
  description = "The VPC of the compute environments."
  value       = module.network.vpc_id
}

output "subnet_ids" {
  description = "Subnets of the compute environments."
  value       = module.network.subnet_ids
}

output "security_group_ids" {
  description = "Security groups of the instances."
  value       = module.network.security_group_ids
}
