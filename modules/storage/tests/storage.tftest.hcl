# modules/storage offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

override_resource {
  target = aws_s3_bucket.this["data"]
  values = { arn = "arn:aws:s3:::acme-dev-data", id = "acme-dev-data" }
}
override_resource {
  target = aws_s3_bucket.this["work"]
  values = { arn = "arn:aws:s3:::acme-dev-work", id = "acme-dev-work" }
}
override_resource {
  target = aws_s3_bucket.this["results"]
  values = { arn = "arn:aws:s3:::acme-dev-results", id = "acme-dev-results" }
}

variables {
  name = "acme-dev"
}

run "three_private_versioned_encrypted_buckets" {
  assert {
    condition     = jsonencode(output.bucket_names) == jsonencode({ data = "acme-dev-data", work = "acme-dev-work", results = "acme-dev-results" })
    error_message = "data, work and results named after the env"
  }
  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"])
    error_message = "every bucket is versioned"
  }
  assert {
    condition = alltrue([
      for b in aws_s3_bucket_public_access_block.this : b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ])
    error_message = "public access blocked four ways"
  }
  assert {
    condition     = alltrue([for o in aws_s3_bucket_ownership_controls.this : o.rule[0].object_ownership == "BucketOwnerEnforced"])
    error_message = "ACLs disabled"
  }
  assert {
    condition = alltrue([
      for e in aws_s3_bucket_server_side_encryption_configuration.this : one(e.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    ])
    error_message = "SSE-S3 without a KMS key"
  }
  assert {
    condition     = alltrue([for b in aws_s3_bucket.this : b.force_destroy == false])
    error_message = "buckets holding data are never deleted by default"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Lifecycle: expiry only under scratch prefixes; old versions and stale uploads everywhere
# --------------------------------------------------------------------------------------------------------------

run "only_scratch_prefixes_expire" {
  assert {
    condition = {
      for r in aws_s3_bucket_lifecycle_configuration.this["work"].rule : r.id => one(r.filter).prefix if length(r.expiration) > 0
    } == { "expire-nextflow" = "nextflow/", "expire-scratch" = "scratch/" }
    error_message = "work: current objects expire only under nextflow/ and scratch/"
  }
  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.this["work"].rule : one(r.expiration).days == 30 if length(r.expiration) > 0
    ])
    error_message = "after 30 days"
  }
  assert {
    condition = alltrue(flatten([
      for k in ["data", "results"] : [for r in aws_s3_bucket_lifecycle_configuration.this[k].rule : length(r.expiration) == 0]
    ]))
    error_message = "data and results: no current object ever expires"
  }
  assert {
    condition = alltrue(flatten([
      for c in aws_s3_bucket_lifecycle_configuration.this : [
        for r in c.rule : length(r.expiration) == 0 || (one(r.filter).prefix != "" && !startswith(one(r.filter).prefix, "runs"))
      ]
    ]))
    error_message = "no expiry rule covers a whole bucket or the run records under runs/"
  }
  assert {
    condition = alltrue([
      for c in aws_s3_bucket_lifecycle_configuration.this : one([for r in c.rule : r.abort_incomplete_multipart_upload[0].days_after_initiation if r.id == "abort-incomplete-multipart"]) == 7
    ])
    error_message = "stale multipart uploads aborted after 7 days in every bucket"
  }
  assert {
    condition = {
      for k, c in aws_s3_bucket_lifecycle_configuration.this : k => one([for r in c.rule : r.noncurrent_version_expiration[0].noncurrent_days if r.id == "noncurrent-versions"])
    } == { data = 90, work = 7, results = 90 }
    error_message = "old versions kept 90 days (data, results) and 7 days (work)"
  }
}

# --------------------------------------------------------------------------------------------------------------
# TLS only
# --------------------------------------------------------------------------------------------------------------

run "every_bucket_refuses_requests_without_tls" {
  assert {
    condition = alltrue([
      for k, d in data.aws_iam_policy_document.tls_only : one(d.statement).effect == "Deny" && one(d.statement).actions == toset(["s3:*"])
    ])
    error_message = "a Deny of every action"
  }
  assert {
    condition = one(data.aws_iam_policy_document.tls_only["work"].statement).resources == toset([
      "arn:aws:s3:::acme-dev-work", "arn:aws:s3:::acme-dev-work/*",
    ])
    error_message = "on the bucket and its objects"
  }
  assert {
    condition = alltrue([
      for d in data.aws_iam_policy_document.tls_only : one(one(d.statement).condition).test == "Bool" && one(one(d.statement).condition).variable == "aws:SecureTransport" && one(one(d.statement).condition).values == tolist(["false"])
    ])
    error_message = "when aws:SecureTransport is false"
  }
  assert {
    condition = alltrue([
      for d in data.aws_iam_policy_document.tls_only : one(one(d.statement).principals).type == "*" && one(one(d.statement).principals).identifiers == toset(["*"])
    ])
    error_message = "for everyone"
  }
  assert {
    condition     = alltrue([for k, p in aws_s3_bucket_policy.this : p.policy == data.aws_iam_policy_document.tls_only[k].json])
    error_message = "each bucket carries its policy"
  }
}

run "a_kms_key_encrypts_with_bucket_keys" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d"
  }

  assert {
    condition = alltrue([
      for e in aws_s3_bucket_server_side_encryption_configuration.this : one(e.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" && one(e.rule).bucket_key_enabled
    ])
    error_message = "aws:kms with bucket keys"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------------------------

run "expiry_needs_prefixes" {
  command = plan
  variables {
    buckets = { data = {}, work = { expire_days = 30 }, results = {} }
  }
  expect_failures = [var.buckets]
}

run "run_records_never_expire" {
  command = plan
  variables {
    buckets = { data = {}, work = { expire_days = 30, expire_prefixes = ["runs/"] }, results = {} }
  }
  expect_failures = [var.buckets]
}

run "prefixes_are_top_level_folders" {
  command = plan
  variables {
    buckets = { data = {}, work = { expire_days = 30, expire_prefixes = ["scratch"] }, results = {} }
  }
  expect_failures = [var.buckets]
}

run "name_makes_valid_bucket_names" {
  command = plan
  variables {
    name = "Acme_Dev"
  }
  expect_failures = [var.name]
}

run "abort_after_a_day_or_more" {
  command = plan
  variables {
    abort_incomplete_multipart_days = 0
  }
  expect_failures = [var.abort_incomplete_multipart_days]
}
