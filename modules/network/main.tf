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

resource "aws_vpc_endpoint" "s3" {
  count = local.create ? 1 : 0

  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${data.aws_region.current.id}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = concat(aws_route_table.public[*].id, aws_route_table.private[*].id)
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
