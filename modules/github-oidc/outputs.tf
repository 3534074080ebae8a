output "oidc_provider_arn" {
  description = "ARN of GitHub's OIDC provider in this account (created or found)."
  value       = local.provider_arn
}

output "plan_role_arns" {
  description = "Plan role ARN per env (pull-request plans and drift checks)."
  value       = { for k, r in aws_iam_role.plan : k => r.arn }
}

output "apply_role_arns" {
  description = "Apply role ARN per env (merges to the apply branch, or the env's GitHub environment)."
  value       = { for k, r in aws_iam_role.apply : k => r.arn }
}

output "role_boundary_arns" {
  description = "Permissions boundary per env: set it as the env's `permissions_boundary_arn` (the apply role can create only roles carrying it)."
  value       = { for k, p in aws_iam_policy.boundary : k => p.arn }
}

output "trusted_subjects" {
  description = "The token subjects each role trusts, per env: `{ plan = [...], apply = [...] }`."
  value       = { for k in keys(var.envs) : k => { plan = local.plan_subjects[k], apply = local.apply_subjects[k] } }
}

output "github_variables" {
  description = "Repository variables the infra workflows read (Settings → Secrets and variables → Actions → Variables)."
  value = {
    AWS_PLAN_ROLE_ARNS  = jsonencode({ for k, r in aws_iam_role.plan : k => r.arn })
    AWS_APPLY_ROLE_ARNS = jsonencode({ for k, r in aws_iam_role.apply : k => r.arn })
    AWS_REGIONS         = jsonencode({ for k, e in var.envs : k => e.region })
  }
}
