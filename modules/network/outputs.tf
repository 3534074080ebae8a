output "vpc_id" {
  description = "The VPC the compute environments run in."
  value       = local.vpc_id
}

output "subnet_ids" {
  description = "Subnets for the compute environments (private ones behind the NAT gateway when enabled, else public)."
  value       = local.subnet_ids

  precondition {
    condition     = var.vpc_id == null || length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet of vpc_id when vpc_id is given."
  }
}

output "security_group_ids" {
  description = "Security groups for the Batch instances."
  value       = local.security_group_ids
}

output "s3_endpoint_id" {
  description = "The S3 gateway endpoint (null when the VPC is not created here)."
  value       = try(aws_vpc_endpoint.s3[0].id, null)
}

output "s3_endpoint_policy" {
  description = "The S3 gateway endpoint's policy (JSON; null when the VPC is not created here)."
  value       = try(data.aws_iam_policy_document.s3_endpoint[0].json, null)
}

output "s3_endpoint_buckets" {
  description = "Buckets the S3 gateway endpoint lets requests reach besides the AWS-owned ones (`read_write`, `read_only`; empty lists when the VPC is not created here)."
  value       = local.create ? var.s3_endpoint_buckets : { read_write = [], read_only = [] }
}

output "nat_gateway_ids" {
  description = "NAT gateways (empty unless `enable_nat_gateway`)."
  value       = aws_nat_gateway.this[*].id
}
