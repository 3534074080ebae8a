# modules/platform with fair share on, offline (mocked aws provider, tests/aws.tfmock.hcl): the contract's
# share outputs and the analyst policy's share statements. tests/integration/test_terraform_tests.py also
# evaluates the analyst and head policies of this run request by request.

mock_provider "aws" {
  source = "./tests"
}

variables {
  name                  = "acme-dev"
  ami_id                = "ami-0123456789abcdef0"
  external_read_buckets = ["ngi-igenomes"]
}

# --------------------------------------------------------------------------------------------------------------
# Fair share: the analyst policy allows only the env's share identifiers
# --------------------------------------------------------------------------------------------------------------

run "fair_share_contract_and_analyst_policy" {
  variables {
    fair_share = {
      shares              = { genomics = 1, proteomics = 1, "lab*" = 2 }
      compute_reservation = 10
    }
  }

  assert {
    condition     = output.share_identifiers == tolist(["genomics", "lab*", "proteomics"])
    error_message = "the allowed share identifiers are a contract output"
  }
  assert {
    condition     = output.scheduling_policy_arn == "arn:aws:batch:eu-west-1:123456789012:scheduling-policy/acme-dev-fair-share"
    error_message = "the policy ARN is a contract output"
  }
  assert {
    condition     = jsondecode(aws_ssm_parameter.outputs.value).share_identifiers == ["genomics", "lab*", "proteomics"]
    error_message = "and published for analysts"
  }
  assert {
    condition = !contains(one([
      for s in data.aws_iam_policy_document.analyst.statement : s.resources if s.sid == "SubmitToEnvQueues"
    ]), "arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default")
    error_message = "the fair-share queue is not in the unconditional statement"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.analyst.statement : s.resources if s.sid == "SubmitToFairShareQueuesUnderEnvShares"
    ]) == toset(["arn:aws:batch:eu-west-1:123456789012:job-queue/acme-dev-default"])
    error_message = "the fair-share queue has its own statement"
  }
  assert {
    condition = jsonencode(one([
      for s in data.aws_iam_policy_document.analyst.statement : [
        for c in s.condition : { test = c.test, variable = c.variable, values = c.values }
      ] if s.sid == "SubmitToFairShareQueuesUnderEnvShares"
    ])) == jsonencode([{ test = "StringLike", variable = "batch:ShareIdentifier", values = ["genomics", "lab*", "proteomics"] }])
    error_message = "submitting there needs one of the env's share identifiers (StringLike: lab* matches lab01)"
  }
  assert {
    condition = one([
      for s in data.aws_iam_policy_document.analyst.statement : s.effect if s.sid == "NeverSubmitUnderOtherShares"
    ]) == "Deny"
    error_message = "an explicit deny of any other share identifier"
  }
}
