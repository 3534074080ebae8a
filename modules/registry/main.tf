################################################################################
# Repositories: scanned on push, immutable tags, encrypted
################################################################################

resource "aws_ecr_repository" "this" {
  for_each = var.repositories

  #checkov:skip=CKV_AWS_136:AES256 by default; a customer KMS key is one variable away (kms_key_arn)
  name                 = "${var.name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = var.kms_key_arn == null ? "AES256" : "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}/${each.key}" })
}

################################################################################
# Lifecycle: untagged images expire; development tags (a prefix such as dev-) keep the newest N; every other
# tagged image stays, since a pipeline may still name it
################################################################################

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = var.repositories

  repository = aws_ecr_repository.this[each.key].name
  policy = jsonencode({
    rules = concat(
      [{
        rulePriority = 1
        description  = "Expire untagged images after ${each.value.untagged_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = each.value.untagged_days
        }
        action = { type = "expire" }
      }],
      # One rule per prefix: a rule with several prefixes selects only images that carry all of them. An image
      # that has a development tag expires with it, whatever other tags it has: give releases their own push.
      [for i, prefix in each.value.expiring_tag_prefixes : {
        rulePriority = i + 2
        description  = "Keep the newest ${each.value.keep_images} images tagged ${prefix}*"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [prefix]
          countType     = "imageCountMoreThan"
          countNumber   = each.value.keep_images
        }
        action = { type = "expire" }
      }],
    )
  })
}
