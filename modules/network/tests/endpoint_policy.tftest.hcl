# The S3 endpoint policy as the aws provider renders it, offline: the real provider with fake credentials and
# no account lookup (aws_region, aws_partition and aws_iam_policy_document call no API; the zones are given).
# Only plans run. tests/unit/test_terraform_tests.py evaluates the rendered policy request by request.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_availability_zones.available
  values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}

variables {
  name = "acme-dev"
  s3_endpoint_buckets = {
    read_write = ["acme-dev-data", "acme-dev-work", "acme-dev-results"]
    read_only  = ["ngi-igenomes"]
  }
}

run "rendered" {
  command = plan

  assert {
    condition     = jsondecode(output.s3_endpoint_policy).Version == "2012-10-17"
    error_message = "a policy document"
  }
  assert {
    condition = toset([for s in jsondecode(output.s3_endpoint_policy).Statement : s.Sid]) == toset([
      "EnvBuckets", "ReadExternalBuckets", "ReadAwsOwnedBuckets"
    ])
    error_message = "env, external and AWS-owned buckets"
  }
  assert {
    condition     = alltrue([for s in jsondecode(output.s3_endpoint_policy).Statement : s.Effect == "Allow" && s.Principal == "*"])
    error_message = "gateway endpoint policies name Principal *"
  }
}
