################################################################################
# The env output contract (`runner infra output --env E --json`): names and types are fixed
################################################################################

output "region" {
  description = "The env's region."
  value       = local.contract.region
}

output "name" {
  description = "The env's name prefix."
  value       = local.contract.name
}

output "bucket_names" {
  description = "Bucket names keyed `data`, `work`, `results`."
  value       = local.contract.bucket_names
}

output "bucket_arns" {
  description = "Bucket ARNs, same keys."
  value       = local.contract.bucket_arns
}

output "launch_template_id" {
  description = "The Batch launch template."
  value       = local.contract.launch_template_id
}

output "launch_template_version" {
  description = "Its latest version number."
  value       = local.contract.launch_template_version
}

output "ami_id" {
  description = "The image the launch template uses."
  value       = local.contract.ami_id
}

output "compute_environment_arns" {
  description = "Compute environment ARNs keyed like `compute_environments` (default `spot`, `ondemand`)."
  value       = local.contract.compute_environment_arns
}

output "job_queue_arns" {
  description = "Job queue ARNs keyed `default`, `priority`, `head` (and any others)."
  value       = local.contract.job_queue_arns
}

output "job_queue_names" {
  description = "Job queue names, same keys."
  value       = local.contract.job_queue_names
}

output "job_definition_arns" {
  description = "Job definition ARNs keyed like `job_definitions` plus `nextflow-head`."
  value       = local.contract.job_definition_arns
}

output "job_role_arn" {
  description = "Role of the job containers (S3 on this env's buckets only)."
  value       = local.contract.job_role_arn
}

output "head_job_role_arn" {
  description = "Role of workflow head jobs (submit/manage jobs on this env's queues, S3 on its buckets)."
  value       = local.contract.head_job_role_arn
}

output "instance_role_arn" {
  description = "The EC2 instance role."
  value       = local.contract.instance_role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of job logs."
  value       = local.contract.log_group_name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs keyed by repository name."
  value       = local.contract.ecr_repository_urls
}

output "aws_cli_path" {
  description = "Where the AMI installs the AWS CLI (Nextflow's `aws.batch.cliPath`)."
  value       = local.contract.aws_cli_path
}

output "analyst_policy_arn" {
  description = "Managed policy with exactly what analysts' runner commands need on this env (attach it to their role or group)."
  value       = local.contract.analyst_policy_arn
}

output "share_identifiers" {
  description = "Share identifiers jobs may carry on the fair-share queue (`shareIdentifier`; a trailing `*` is a prefix); empty when the queues are FIFO."
  value       = local.contract.share_identifiers
}

output "scheduling_policy_arn" {
  description = "The fair-share scheduling policy of the queues in `fair_share.queues` (default: `default`); null when the queues are FIFO."
  value       = local.contract.scheduling_policy_arn
}

################################################################################
# Extra outputs (not part of the contract)
################################################################################

output "outputs_parameter_name" {
  description = "SSM parameter holding the output contract as JSON (`/<name>/runner/outputs`)."
  value       = aws_ssm_parameter.outputs.name
}

output "vpc_id" {
  description = "The VPC of the compute environments."
  value       = module.network.vpc_id
}

output "subnet_ids" {
  description = "Subnets of the compute environments."
  value       = module.network.subnet_ids
}

output "s3_endpoint_policy" {
  description = "The S3 gateway endpoint's policy (JSON; null with an existing VPC)."
  value       = module.network.s3_endpoint_policy
}

output "security_group_ids" {
  description = "Security groups of the instances."
  value       = module.network.security_group_ids
}
