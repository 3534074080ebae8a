################################################################################
# Locals
################################################################################

locals {
  create = var.vpc_id == null

  azs = local.create ? slice(data.aws_availability_zones.available[0].names, 0, var.az_count) : []

  # /20 subnets: public ones first, private ones after them (only with a NAT gateway).
  public_subnets  = { for i, az in local.azs : az => cidrsubnet(var.cidr_block, 20 - tonumber(split("/", var.cidr_block)[1]), i) }
  private_subnets = var.enable_nat_gateway ? { for i, az in local.azs : az => cidrsubnet(var.cidr_block, 20 - tonumber(split("/", var.cidr_block)[1]), i + 8) } : {}

  vpc_id = local.create ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids = local.create ? (
    var.enable_nat_gateway ? [for az in local.azs : aws_subnet.private[az].id] : [for az in local.azs : aws_subnet.public[az].id]
  ) : var.subnet_ids
  security_group_ids = length(var.security_group_ids) > 0 ? var.security_group_ids : [aws_security_group.instances[0].id]
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:only the first az_count zones (alphabetical) are used; a new zone changes nothing already placed
  count = local.create ? 1 : 0

  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

################################################################################
# VPC
################################################################################

resource "aws_vpc" "this" {
  count = local.create ? 1 : 0

  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Lock down the default security group: nothing uses it, nothing may pass it.
resource "aws_default_security_group" "this" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = var.name })
}

################################################################################
# Subnets and routes
################################################################################

resource "aws_subnet" "public" {
  for_each = local.public_subnets

  vpc_id            = aws_vpc.this[0].id
  cidr_block        = each.value
  availability_zone = each.key
  # Without a NAT gateway the instances reach ECS, ECR and Docker Hub through their public IP; the security
  # group admits no inbound traffic.
  map_public_ip_on_launch = !var.enable_nat_gateway #checkov:skip=CKV_AWS_130:public IPs replace a NAT gateway (idle cost 0); the security group admits no inbound traffic
  tags                    = merge(var.tags, { Name = "${var.name}-public-${each.key}", Tier = "public" })
}

resource "aws_subnet" "private" {
  for_each = local.private_subnets

  vpc_id            = aws_vpc.this[0].id
  cidr_block        = each.value
  availability_zone = each.key
  tags              = merge(var.tags, { Name = "${var.name}-private-${each.key}", Tier = "private" })
}

resource "aws_route_table" "public" {
  count = local.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count = local.create ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  for_each = local.public_subnets

  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count = local.create && var.enable_nat_gateway ? 1 : 0

  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat" })
}

resource "aws_nat_gateway" "this" {
  count = local.create && var.enable_nat_gateway ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[local.azs[0]].id
  tags          = merge(var.tags, { Name = var.name })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  count = local.create && var.enable_nat_gateway ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route" "private_nat" {
  count = local.create && var.enable_nat_gateway ? 1 : 0

  route_table_id         = aws_route_table.private[0].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

resource "aws_route_table_association" "private" {
  for_each = local.private_subnets

  subnet_id      = aws_subnet.private[each.key].id
  route_table_id = aws_route_table.private[0].id
}

################################################################################
# S3 gateway endpoint: bucket traffic stays in the VPC and costs nothing
################################################################################

data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  region   = data.aws_region.current.id
  s3_arn   = "arn:${data.aws_partition.current.partition}:s3:::"
  s3_write = [for b in var.s3_endpoint_buckets.read_write : "${local.s3_arn}${b}"]
  s3_read  = [for b in var.s3_endpoint_buckets.read_only : "${local.s3_arn}${b}"]

  # AWS-owned buckets the instances read through the endpoint (README: S3 gateway endpoint policy). The endpoint
  # carries every request to S3 in this region, so anything missing here fails from the instances.
  aws_owned_objects = [for b in [
    "prod-${local.region}-starport-layer-bucket",   # ECR image layers (docker pull from ECR)
    "al2023-repos-${local.region}-*",               # Amazon Linux 2023 packages (dnf)
    "amazonlinux-2-repos-${local.region}",          # Amazon Linux 2 packages (an AL2 image via image_ssm_parameter)
    "amazonlinux.${local.region}.amazonaws.com",    # Amazon Linux 2 package mirror list
    "amazon-ecs-agent-${local.region}",             # ECS agent and ecs-init releases
    "amazon-ssm-${local.region}",                   # SSM agent updates (AmazonSSMManagedInstanceCore)
    "aws-ssm-${local.region}",                      # SSM documents and plugins
    "amazon-ssm-packages-${local.region}",          # SSM Distributor packages
    "${local.region}-birdwatcher-prod",             # SSM Distributor packages
    "aws-ssm-distributor-file-${local.region}",     # SSM Distributor packages
    "aws-ssm-document-attachments-${local.region}", # SSM document attachments
    "patch-baseline-snapshot-${local.region}",      # SSM Patch Manager baselines
  ] : "${local.s3_arn}${b}/*"]

  s3_object_read_actions  = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
  s3_object_write_actions = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
  s3_bucket_read_actions  = ["s3:ListBucket", "s3:GetBucketLocation"]
}

# Principal "*" is the form gateway endpoint policies take; what a principal may do is still up to its own
# policies. The endpoint only caps where requests from the VPC may go: no bucket outside this list is reachable
# from the instances (no copying data out to a bucket of another account through the endpoint).
data "aws_iam_policy_document" "s3_endpoint" {
  count = local.create ? 1 : 0

  dynamic "statement" {
    for_each = length(local.s3_write) == 0 ? [] : ["env"]
    content {
      sid       = "EnvBuckets"
      actions   = concat(local.s3_bucket_read_actions, ["s3:ListBucketMultipartUploads"], local.s3_object_read_actions, local.s3_object_write_actions)
      resources = concat(local.s3_write, [for arn in local.s3_write : "${arn}/*"])
      principals {
        type        = "*"
        identifiers = ["*"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.s3_read) == 0 ? [] : ["external"]
    content {
      sid       = "ReadExternalBuckets"
      actions   = concat(local.s3_bucket_read_actions, local.s3_object_read_actions)
      resources = concat(local.s3_read, [for arn in local.s3_read : "${arn}/*"])
      principals {
        type        = "*"
        identifiers = ["*"]
      }
    }
  }

  statement {
    sid       = "ReadAwsOwnedBuckets"
    actions   = ["s3:GetObject"]
    resources = local.aws_owned_objects
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_vpc_endpoint" "s3" {
  count = local.create ? 1 : 0

  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = concat(aws_route_table.public[*].id, aws_route_table.private[*].id)
  policy            = data.aws_iam_policy_document.s3_endpoint[0].json
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

################################################################################
# Security group: egress only
################################################################################

resource "aws_security_group" "instances" {
  #checkov:skip=CKV2_AWS_5:attached to the Batch compute environments in modules/batch, which checkov cannot follow
  count = length(var.security_group_ids) > 0 ? 0 : 1

  name_prefix = "${var.name}-batch-"
  description = "Batch instances of ${var.name}: no inbound traffic, outbound to anywhere"
  vpc_id      = local.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-batch" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "all" {
  count = length(var.security_group_ids) > 0 ? 0 : 1

  #checkov:skip=CKV_AWS_382:pipelines fetch inputs from arbitrary public sources (HTTPS, FTP, Aspera); no inbound rule exists
  security_group_id = aws_security_group.instances[0].id
  description       = "Outbound to anywhere (containers pull images and fetch public data)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

################################################################################
# Flow logs (rejected traffic)
################################################################################

resource "aws_cloudwatch_log_group" "flow" {
  count = local.create && var.enable_flow_logs ? 1 : 0

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  count = local.create && var.enable_flow_logs ? 1 : 0

  name_prefix          = "${substr(var.name, 0, 28)}-flow-"
  assume_role_policy   = data.aws_iam_policy_document.flow_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "flow" {
  count = local.create && var.enable_flow_logs ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  count = local.create && var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow[0].id
  policy = data.aws_iam_policy_document.flow[0].json
}

resource "aws_flow_log" "this" {
  count = local.create && var.enable_flow_logs ? 1 : 0

  vpc_id          = aws_vpc.this[0].id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
  tags            = var.tags
}
