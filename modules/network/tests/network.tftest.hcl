# modules/network offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/acme-dev/flow-logs" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/acme-dev-flow-0001" }
  }
}

variables {
  name = "acme-dev"
  s3_endpoint_buckets = {
    read_write = ["acme-dev-data", "acme-dev-work", "acme-dev-results"]
    read_only  = ["ngi-igenomes"]
  }
}

run "two_zones_public_subnets_no_nat_by_default" {
  command = plan

  assert {
    condition     = keys(aws_subnet.public) == ["eu-west-1a", "eu-west-1b"] && length(aws_subnet.private) == 0
    error_message = "az_count 2: public subnets in the first two zones, no private ones without NAT"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_eip.nat) == 0
    error_message = "no NAT gateway (idle cost) unless enabled"
  }
  assert {
    condition     = aws_subnet.public["eu-west-1a"].cidr_block == "10.42.0.0/20" && aws_subnet.public["eu-west-1b"].cidr_block == "10.42.16.0/20"
    error_message = "/20 subnets carved in order"
  }
  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "the S3 endpoint is a gateway endpoint (free) of the env's region"
  }
  assert {
    condition     = length(aws_flow_log.this) == 1 && aws_flow_log.this[0].traffic_type == "REJECT"
    error_message = "flow logs of rejected traffic by default"
  }
}

run "nat_gateway_puts_instances_in_private_subnets" {
  command = plan
  variables {
    enable_nat_gateway = true
    az_count           = 3
  }

  assert {
    condition     = length(aws_subnet.private) == 3 && aws_subnet.private["eu-west-1a"].cidr_block == "10.42.128.0/20"
    error_message = "private subnets after the public ones"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 1
    error_message = "one NAT gateway and its route"
  }
}

# --------------------------------------------------------------------------------------------------------------
# The S3 gateway endpoint's policy (statements as configured; tests/endpoint_policy.tftest.hcl renders it)
# --------------------------------------------------------------------------------------------------------------

run "endpoint_reaches_only_the_env_external_and_aws_owned_buckets" {
  command = plan

  assert {
    condition = one([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.resources if s.sid == "EnvBuckets"]) == toset([
      "arn:aws:s3:::acme-dev-data", "arn:aws:s3:::acme-dev-data/*",
      "arn:aws:s3:::acme-dev-work", "arn:aws:s3:::acme-dev-work/*",
      "arn:aws:s3:::acme-dev-results", "arn:aws:s3:::acme-dev-results/*",
    ])
    error_message = "the env's buckets and their objects"
  }
  assert {
    condition = alltrue([
      for a in one([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.actions if s.sid == "ReadExternalBuckets"]) :
      contains(["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"], a)
    ])
    error_message = "external buckets: read only"
  }
  assert {
    condition = one([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.actions if s.sid == "ReadAwsOwnedBuckets"]) == toset(["s3:GetObject"]) && alltrue([
      for r in ["prod-eu-west-1-starport-layer-bucket/*", "al2023-repos-eu-west-1-*/*", "amazonlinux-2-repos-eu-west-1/*", "amazon-ecs-agent-eu-west-1/*", "amazon-ssm-eu-west-1/*", "aws-ssm-eu-west-1/*"] :
      contains(one([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.resources if s.sid == "ReadAwsOwnedBuckets"]), "arn:aws:s3:::${r}")
    ])
    error_message = "AWS-owned buckets of the region (ECR layers, Amazon Linux repositories, ECS and SSM agents): GetObject only"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : !contains(s.resources, "*") && !contains(s.actions, "s3:*")])
    error_message = "no statement on every bucket or with every action"
  }
  assert {
    condition     = aws_vpc_endpoint.s3[0].policy == data.aws_iam_policy_document.s3_endpoint[0].json
    error_message = "the endpoint carries the policy"
  }
}

run "without_buckets_only_aws_owned_ones_are_reachable" {
  command = plan
  variables {
    s3_endpoint_buckets = {}
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.sid] == ["ReadAwsOwnedBuckets"]
    error_message = "no env or external statement without buckets"
  }
}

run "an_existing_vpc_gets_no_endpoint_nor_flow_logs" {
  command = plan
  variables {
    vpc_id     = "vpc-0a1b2c3d"
    subnet_ids = ["subnet-0a1b2c3d"]
  }

  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_vpc_endpoint.s3) == 0 && length(aws_flow_log.this) == 0
    error_message = "bring-your-own network: nothing of the VPC is created"
  }
  assert {
    condition     = output.s3_endpoint_policy == null && output.s3_endpoint_id == null && output.subnet_ids == tolist(["subnet-0a1b2c3d"])
    error_message = "outputs of an existing VPC"
  }
  assert {
    condition     = length(aws_security_group.instances) == 1
    error_message = "the egress-only security group is still created"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------------------------

run "endpoint_buckets_are_names" {
  command = plan
  variables {
    s3_endpoint_buckets = { read_only = ["arn:aws:s3:::ngi-igenomes"] }
  }
  expect_failures = [var.s3_endpoint_buckets]
}

run "at_least_two_zones" {
  command = plan
  variables {
    az_count = 1
  }
  expect_failures = [var.az_count]
}

run "cidr_of_a_20_or_larger" {
  command = plan
  variables {
    cidr_block = "10.42.0.0/24"
  }
  expect_failures = [var.cidr_block]
}

run "an_existing_vpc_needs_its_subnets" {
  command = plan
  variables {
    vpc_id = "vpc-0a1b2c3d"
  }
  expect_failures = [output.subnet_ids]
}
