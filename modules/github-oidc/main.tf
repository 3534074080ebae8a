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
      iam           = concat([for kind in ["role", "instance-profile"] : "arn:${local.partition}:iam::${local.account}:${kind}/${e.resource_prefix}-*"], ["arn:${local.partition}:iam::${local.account}:policy${var.iam_path}${e.resource_prefix}-*"])
      roles         = ["arn:${local.partition}:iam::${local.account}:role/${e.resource_prefix}-*"]
      profiles      = ["arn:${local.partition}:iam::${local.account}:instance-profile/${e.resource_prefix}-*"]
      policies      = ["arn:${local.partition}:iam::${local.account}:policy${var.iam_path}${e.resource_prefix}-*"]
      parameters    = ["arn:${local.partition}:ssm:${e.region}:${local.account}:parameter/${e.resource_prefix}/*"]
      ec2           = "arn:${local.partition}:ec2:${e.region}:${local.account}"
      batch         = [for kind in ["compute-environment", "job-queue", "job-definition", "scheduling-policy"] : "arn:${local.partition}:batch:${e.region}:${local.account}:${kind}/${e.resource_prefix}*"]
      ecr           = ["arn:${local.partition}:ecr:${e.region}:${local.account}:repository/${e.resource_prefix}/*"]
      logs          = ["arn:${local.partition}:logs:${e.region}:${local.account}:log-group:*${e.resource_prefix}*"]
      ssm_parameter = ["arn:${local.partition}:ssm:${e.region}::parameter/aws/service/*"]
    }
  }
}

################################################################################
# Permissions boundary of every role an env creates (the apply role can create no other)
################################################################################

locals {
  # Policies the apply role may attach to env roles: the platform's own (under iam_path) and the AWS managed
  # ones the platform's modules name (instance and Batch service roles).
  attachable_policies = concat(
    ["arn:${local.partition}:iam::${local.account}:policy${var.iam_path}*"],
    [for p in var.attachable_aws_managed_policies : "arn:${local.partition}:iam::aws:policy/${p}"],
  )
  boundary_name = { for k, _ in var.envs : k => "${var.name_prefix}-${k}-role-boundary" }
  boundary_path = "${var.iam_path}boundaries/"
  boundary_arns = { for k, _ in var.envs : k => "arn:${local.partition}:iam::${local.account}:policy${local.boundary_path}${local.boundary_name[k]}" }
}

# What the env's roles (job, head, instance, Batch service, flow logs) can ever do: the services Batch runs on, in
# the env's region; S3 writes on the env's buckets; IAM only to pass the env's own roles. No IAM writes, so a role
# the apply workflow creates can never create or widen another role.
data "aws_iam_policy_document" "boundary" {
  #checkov:skip=CKV_AWS_356:a permissions boundary caps the env's roles; their identity policies name the resources
  #checkov:skip=CKV_AWS_108:reading any bucket is the cap for jobs' external inputs; identity policies list the buckets
  for_each = var.envs

  statement {
    sid = "BatchComputeInRegion"
    actions = [
      "batch:*", "ecs:*", "autoscaling:*", "ec2:*", "logs:*", "cloudwatch:PutMetricData",
      "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
      "ssm:UpdateInstanceInformation", "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:DescribeAssociation",
      "ssm:GetDocument", "ssm:DescribeDocument", "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus",
      "ssm:PutInventory", "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult", "ssm:GetManifest",
      "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetParameter", "ssm:GetParameters",
      "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel", "ec2messages:*",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [each.value.region]
    }
  }

  statement {
    sid       = "WriteEnvBuckets"
    actions   = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads"]
    resources = concat(local.scope[each.key].buckets, local.scope[each.key].objects)
  }

  statement {
    sid       = "ReadBuckets"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = ["*"]
  }

  statement {
    sid       = "UseKeysThroughServices"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [each.value.region]
    }
  }

  statement {
    sid       = "PassAndReadEnvRoles"
    actions   = ["iam:PassRole", "iam:GetRole", "iam:GetInstanceProfile", "iam:ListInstanceProfiles"]
    resources = concat(local.scope[each.key].roles, local.scope[each.key].profiles)
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["batch.amazonaws.com", "spot.amazonaws.com", "spotfleet.amazonaws.com", "ecs.amazonaws.com", "autoscaling.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "boundary" {
  for_each = var.envs

  name        = local.boundary_name[each.key]
  path        = local.boundary_path
  description = "Permissions boundary of every role of env ${each.key} (${each.value.resource_prefix}-*): the apply role creates only roles carrying it"
  policy      = data.aws_iam_policy_document.boundary[each.key].json
  tags        = merge(var.tags, { Environment = each.key, Purpose = "role-boundary" })
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
    sid       = "ReadEnvParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource"]
    resources = local.scope[each.key].parameters
  }
  statement {
    sid = "DescribeInRegion"
    # Describe/List calls of these services support no resource-level scoping.
    actions   = ["batch:Describe*", "batch:ListTagsForResource", "ec2:Describe*", "ec2:GetLaunchTemplateData", "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "ssm:DescribeParameters"]
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
  # Roles: created and given permissions only with the env's boundary on them (iam:PermissionsBoundary is the
  # boundary the role carries, or is given on creation).
  statement {
    sid       = "CreateAndGrantOnlyBoundedEnvRoles"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    resources = local.scope[each.key].roles
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arns[each.key]]
    }
  }
  statement {
    sid       = "AttachOnlyPlatformPoliciesToBoundedEnvRoles"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = local.scope[each.key].roles
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arns[each.key]]
    }
    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values   = local.attachable_policies
    }
  }
  statement {
    sid       = "ManageEnvRolesAndProfiles"
    actions   = ["iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile"]
    resources = concat(local.scope[each.key].roles, local.scope[each.key].profiles)
  }
  statement {
    sid       = "ManageEnvPolicies"
    actions   = ["iam:CreatePolicy", "iam:DeletePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:TagPolicy", "iam:UntagPolicy"]
    resources = local.scope[each.key].policies
  }
  statement {
    sid       = "NeverLoosenABoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"]
    resources = ["*"]
  }
  statement {
    sid       = "NeverChangeTheBoundaries"
    effect    = "Deny"
    actions   = ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy"]
    resources = values(local.boundary_arns)
  }
  statement {
    sid       = "ManageEnvParameters"
    actions   = ["ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"]
    resources = local.scope[each.key].parameters
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
    actions   = ["batch:CreateComputeEnvironment", "batch:UpdateComputeEnvironment", "batch:DeleteComputeEnvironment", "batch:CreateJobQueue", "batch:UpdateJobQueue", "batch:DeleteJobQueue", "batch:CreateSchedulingPolicy", "batch:UpdateSchedulingPolicy", "batch:DeleteSchedulingPolicy", "batch:RegisterJobDefinition", "batch:DeregisterJobDefinition", "batch:TagResource", "batch:UntagResource"]
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
  # EC2 by tag (its ARNs carry ids, not names): a resource is created only tagged Platform = <resource_prefix>,
  # and only resources carrying that tag are changed or deleted.
  dynamic "statement" {
    for_each = local.ec2_creates
    content {
      sid       = "Create${statement.key}Tagged"
      actions   = ["ec2:${statement.key}"]
      resources = ["${local.scope[each.key].ec2}:${statement.value}/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/${var.env_tag_key}"
        values   = [each.value.resource_prefix]
      }
    }
  }
  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.scope[each.key].ec2}:*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = distinct(keys(local.ec2_creates))
    }
  }
  statement {
    sid       = "ChangeEnvEc2Resources"
    actions   = [for a in concat(keys(local.ec2_creates), local.ec2_changes) : "ec2:${a}"]
    resources = ["${local.scope[each.key].ec2}:*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.env_tag_key}"
      values   = [each.value.resource_prefix]
    }
  }
  # The VPC's default security group exists untagged; terraform adopts it (locks it down) by tagging it first.
  statement {
    sid       = "AdoptUntaggedSecurityGroups"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.scope[each.key].ec2}:security-group/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.env_tag_key}"
      values   = [each.value.resource_prefix]
    }
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/${var.env_tag_key}"
      values   = ["true"]
    }
  }
}

locals {
  # Create actions and the type of the resource each one creates (other resources of the request must be tagged).
  ec2_creates = {
    CreateVpc                    = "vpc"
    CreateSubnet                 = "subnet"
    CreateRouteTable             = "route-table"
    CreateInternetGateway        = "internet-gateway"
    AllocateAddress              = "elastic-ip"
    CreateNatGateway             = "natgateway"
    CreateVpcEndpoint            = "vpc-endpoint"
    CreateSecurityGroup          = "security-group"
    AuthorizeSecurityGroupEgress = "security-group-rule"
    CreateLaunchTemplate         = "launch-template"
    CreateFlowLogs               = "vpc-flow-log"
  }
  ec2_changes = [
    "DeleteVpc", "ModifyVpcAttribute", "DeleteSubnet", "ModifySubnetAttribute", "DeleteRouteTable", "CreateRoute",
    "DeleteRoute", "AssociateRouteTable", "DisassociateRouteTable", "DeleteInternetGateway", "AttachInternetGateway",
    "DetachInternetGateway", "ReleaseAddress", "DeleteNatGateway", "DeleteVpcEndpoints", "ModifyVpcEndpoint",
    "DeleteSecurityGroup", "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress",
    "CreateLaunchTemplateVersion", "DeleteLaunchTemplate", "ModifyLaunchTemplate", "DeleteFlowLogs", "CreateTags",
    "DeleteTags",
  ]
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
