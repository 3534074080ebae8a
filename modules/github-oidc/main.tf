################################################################################
# GitHub's OIDC provider: one per account and URL
################################################################################

locals {
  issuer   = "token.actions.githubusercontent.com"
  audience = "sts.amazonaws.com"
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = [local.audience]
  # IAM no longer checks these for GitHub (it trusts its root CAs), but provider releases before 5.81 require them.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.issuer}"
}

locals {
  provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  partition    = data.aws_partition.current.partition
  account      = data.aws_caller_identity.current.account_id

  # The token's `sub` for each kind of job (GitHub's default claim format):
  #   pull_request event         repo:OWNER/NAME:pull_request
  #   push / schedule on branch  repo:OWNER/NAME:ref:refs/heads/BRANCH
  #   job with `environment: X`  repo:OWNER/NAME:environment:X
  plan_subjects = {
    for k, e in var.envs : k => [
      "repo:${var.repository}:pull_request",
      "repo:${var.repository}:ref:refs/heads/${e.plan_branch}",
    ]
  }
  apply_subjects = {
    for k, e in var.envs : k => [
      e.github_environment != null
      ? "repo:${var.repository}:environment:${e.github_environment}"
      : "repo:${var.repository}:ref:refs/heads/${e.apply_branch}"
    ]
  }

  state = {
    for k, e in var.envs : k => {
      bucket_arn = "arn:${local.partition}:s3:::${e.state_bucket}"
      object_arn = "arn:${local.partition}:s3:::${e.state_bucket}/${e.state_key}"
      lock_arn   = "arn:${local.partition}:s3:::${e.state_bucket}/${e.state_key}.tflock"
    }
  }

  # What an env's resources are called: buckets `<prefix>-*`, roles `<prefix>-*`, ECR `<prefix>/*`, logs `/aws/batch/<prefix>`.
  scope = {
    for k, e in var.envs : k => {
      buckets       = ["arn:${local.partition}:s3:::${e.resource_prefix}-*"]
      objects       = ["arn:${local.partition}:s3:::${e.resource_prefix}-*/*"]
      iam           = [for kind in ["role", "instance-profile", "policy"] : "arn:${local.partition}:iam::${local.account}:${kind}/${e.resource_prefix}-*"]
      roles         = ["arn:${local.partition}:iam::${local.account}:role/${e.resource_prefix}-*"]
      batch         = [for kind in ["compute-environment", "job-queue", "job-definition", "scheduling-policy"] : "arn:${local.partition}:batch:${e.region}:${local.account}:${kind}/${e.resource_prefix}*"]
      ecr           = ["arn:${local.partition}:ecr:${e.region}:${local.account}:repository/${e.resource_prefix}/*"]
      logs          = ["arn:${local.partition}:logs:${e.region}:${local.account}:log-group:*${e.resource_prefix}*"]
      ssm_parameter = ["arn:${local.partition}:ssm:${e.region}::parameter/aws/service/*"]
    }
  }
}

################################################################################
# Trust: this repository only, GitHub's audience only
################################################################################

data "aws_iam_policy_document" "trust" {
  for_each = { for pair in setproduct(keys(var.envs), ["plan", "apply"]) : "${pair[0]}-${pair[1]}" => { env = pair[0], kind = pair[1] } }

  statement {
    sid     = "GitHubActions${title(each.value.kind)}"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = [local.audience]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = each.value.kind == "plan" ? local.plan_subjects[each.value.env] : local.apply_subjects[each.value.env]
    }
  }
}

################################################################################
# Plan role: read the env's resources and its state; write nothing but the state lock
################################################################################

data "aws_iam_policy_document" "plan" {
  for_each = var.envs

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [local.state[each.key].bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [each.value.state_key, "${each.value.state_key}.tflock"]
    }
  }
  statement {
    sid       = "StateRead"
    actions   = ["s3:GetObject"]
    resources = [local.state[each.key].object_arn, local.state[each.key].lock_arn]
  }
  statement {
    sid       = "StateLock"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [local.state[each.key].lock_arn]
  }
  dynamic "statement" {
    for_each = each.value.state_kms_key_arn == null ? [] : [each.value.state_kms_key_arn]
    content {
      sid       = "StateKey"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
  statement {
    sid = "ReadEnvBuckets"
    # Bucket configuration only: no s3:GetObject on the env's data.
    actions   = ["s3:GetBucket*", "s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration", "s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = local.scope[each.key].buckets
  }
  statement {
    sid       = "ReadEnvIam"
    actions   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:GetInstanceProfile", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListRoleTags"]
    resources = local.scope[each.key].iam
  }
  statement {
    sid       = "ReadEnvRepositories"
    actions   = ["ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource"]
    resources = local.scope[each.key].ecr
  }
  statement {
    sid       = "ReadPublicAmiParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = local.scope[each.key].ssm_parameter
  }
  statement {
    sid = "DescribeInRegion"
    # Describe/List calls of these services support no resource-level scoping.
    actions   = ["batch:Describe*", "batch:ListTagsForResource", "ec2:Describe*", "ec2:GetLaunchTemplateData", "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [each.value.region]
    }
  }
}

################################################################################
# Apply role: what the platform creates, only under the env's name and region
################################################################################

data "aws_iam_policy_document" "apply" {
  for_each = var.envs

  source_policy_documents = [data.aws_iam_policy_document.plan[each.key].json]

  statement {
    sid       = "StateWrite"
    actions   = ["s3:PutObject"]
    resources = [local.state[each.key].object_arn]
  }
  statement {
    sid       = "ManageEnvBuckets"
    actions   = ["s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucket*", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration", "s3:PutAccelerateConfiguration", "s3:ListBucketVersions"]
    resources = local.scope[each.key].buckets
  }
  statement {
    sid = "EmptyEnvBucketsOnDestroy"
    # Only used when force_destroy is set (throw-away envs) to delete what a bucket still holds.
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = local.scope[each.key].objects
  }
  statement {
    sid       = "ManageEnvIam"
    actions   = ["iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile"]
    resources = local.scope[each.key].iam
  }
  statement {
    sid       = "PassEnvRolesToBatch"
    actions   = ["iam:PassRole"]
    resources = local.scope[each.key].roles
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["batch.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"]
    }
  }
  statement {
    sid       = "BatchServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["batch.amazonaws.com", "spot.amazonaws.com", "spotfleet.amazonaws.com", "ecs.amazonaws.com"]
    }
  }
  statement {
    sid       = "ManageEnvBatch"
    actions   = ["batch:CreateComputeEnvironment", "batch:UpdateComputeEnvironment", "batch:DeleteComputeEnvironment", "batch:CreateJobQueue", "batch:UpdateJobQueue", "batch:DeleteJobQueue", "batch:RegisterJobDefinition", "batch:DeregisterJobDefinition", "batch:TagResource", "batch:UntagResource"]
    resources = local.scope[each.key].batch
  }
  statement {
    sid       = "ManageEnvRepositories"
    actions   = ["ecr:CreateRepository", "ecr:DeleteRepository", "ecr:PutLifecyclePolicy", "ecr:DeleteLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:TagResource", "ecr:UntagResource", "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"]
    resources = local.scope[each.key].ecr
  }
  statement {
    sid       = "ManageEnvLogs"
    actions   = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup", "logs:UntagLogGroup"]
    resources = local.scope[each.key].logs
  }
  statement {
    sid = "ManageNetworkAndLaunchTemplatesInRegion"
    # EC2 has no name-based ARNs: the region pins it; a permissions boundary can narrow it further.
    actions   = ["ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute", "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable", "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway", "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:ModifyVpcEndpoint", "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:DeleteLaunchTemplate", "ec2:ModifyLaunchTemplate", "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [each.value.region]
    }
  }
}

################################################################################
# Roles
################################################################################

resource "aws_iam_role" "plan" {
  for_each = var.envs

  name                 = "${var.name_prefix}-${each.key}-plan"
  description          = "GitHub Actions: plan ${each.key} (pull requests of ${var.repository}; drift checks on ${each.value.plan_branch})"
  assume_role_policy   = data.aws_iam_policy_document.trust["${each.key}-plan"].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = merge(var.tags, { Environment = each.key, Purpose = "terraform-plan" })
}

resource "aws_iam_role_policy" "plan" {
  for_each = var.envs

  name   = "terraform-plan"
  role   = aws_iam_role.plan[each.key].id
  policy = data.aws_iam_policy_document.plan[each.key].json
}

resource "aws_iam_role" "apply" {
  for_each = var.envs

  name                 = "${var.name_prefix}-${each.key}-apply"
  description          = "GitHub Actions: apply ${each.key} (${local.apply_subjects[each.key][0]})"
  assume_role_policy   = data.aws_iam_policy_document.trust["${each.key}-apply"].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = merge(var.tags, { Environment = each.key, Purpose = "terraform-apply" })
}

resource "aws_iam_role_policy" "apply" {
  for_each = var.envs

  name   = "terraform-apply"
  role   = aws_iam_role.apply[each.key].id
  policy = data.aws_iam_policy_document.apply[each.key].json
}
