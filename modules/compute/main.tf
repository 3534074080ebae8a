################################################################################
# Image
################################################################################

data "aws_ssm_parameter" "image" {
  count = var.image_id == null ? 1 : 0

  name = var.image_ssm_parameter
}

data "aws_partition" "current" {}

locals {
  image_id = var.image_id != null ? var.image_id : nonsensitive(data.aws_ssm_parameter.image[0].value)

  # The AMI (packer/scripts/20-ecs-agent.sh) owns the agent's stop timeout (ECS_CONTAINER_STOP_TIMEOUT, 90 s):
  # the user data does not set it, so one value holds; `ecs_config` can still override it per env.
  ecs_config = merge(
    {
      # awsvpc-mode tasks cannot reach the instance metadata service either (bridge mode: see the user data).
      ECS_AWSVPC_BLOCK_IMDS = "true"
      # Spot: stop placing tasks on an instance as soon as its reclamation notice arrives.
      ECS_ENABLE_SPOT_INSTANCE_DRAINING = "true"
      # Pull an image once per instance; pipelines pin tags, and a pull per task is slow and throttled.
      ECS_IMAGE_PULL_BEHAVIOR               = "prefer-cached"
      ECS_ENABLE_CONTAINER_METADATA         = "true"
      ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION = "10m"
      ECS_LOGLEVEL                          = "info"
    },
    var.ecs_config,
  )

  ecs_config_lines = join("\n", [for key, value in local.ecs_config : "${key}=${value}"])

  # Batch requires MIME multi-part user data and appends its own part (ECS_CLUSTER). Docker's storage lives on
  # the scratch volume: the AMI bakes a systemd unit that formats the scratch device and mounts it at
  # /var/lib/docker before docker starts, so this part only blocks IMDS for containers and writes ECS agent settings.
  user_data = <<-MIME
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="==BATCH-PLATFORM=="

    --==BATCH-PLATFORM==
    Content-Type: text/x-shellscript; charset="us-ascii"

    #!/bin/bash
    set -euo pipefail
    # Containers never reach the instance metadata service (the host's role); the ECS agent runs on the host
    # network and still does. DOCKER-USER survives docker restarts (the AMI's batch-imds-block unit does the same).
    iptables -w -N DOCKER-USER 2>/dev/null || true
    iptables -w -C DOCKER-USER -i docker+ -d 169.254.169.254/32 -j DROP 2>/dev/null ||
      iptables -w -I DOCKER-USER 1 -i docker+ -d 169.254.169.254/32 -j DROP
    mkdir -p /etc/ecs
    cat >> /etc/ecs/ecs.config <<'ECS'
    ${local.ecs_config_lines}
    ECS

    --==BATCH-PLATFORM==--
  MIME

  instance_tags = merge(var.tags, { Name = "${var.name}-batch" })
}

################################################################################
# Launch template
################################################################################

resource "aws_launch_template" "this" {
  name_prefix = "${var.name}-batch-"
  description = "Batch instances of ${var.name}: root + encrypted gp3 scratch volume, IMDSv2"
  image_id    = local.image_id
  user_data   = base64encode(local.user_data)

  # Every change is a new version; the Batch compute environments name its number (modules/batch), so a new
  # version (a new AMI) is rolled out by an in-place infrastructure update of the environments.
  update_default_version = true

  block_device_mappings {
    device_name = var.root_device_name
    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  block_device_mappings {
    device_name = var.scratch_device_name
    ebs {
      volume_type           = "gp3"
      volume_size           = var.scratch_volume_size
      iops                  = var.scratch_volume_iops
      throughput            = var.scratch_volume_throughput
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  # IMDSv2 for the host (ECS agent, SSM agent) only: hop limit 1 drops token responses before they reach a
  # container, and the user data/AMI drop container traffic to 169.254.169.254 (jobs get their job role's
  # credentials from the ECS agent at 169.254.170.2, which stays reachable).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  monitoring {
    enabled = var.enable_detailed_monitoring
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.instance_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.instance_tags
  }

  # The template itself carries only the provider's default tags: what is billed (instances, volumes) is
  # tagged above.
}

################################################################################
# Instance role and profile
################################################################################

data "aws_iam_policy_document" "instance_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name_prefix          = "${substr(var.name, 0, 28)}-instance-"
  description          = "EC2 instances of the Batch compute environments of ${var.name}"
  assume_role_policy   = data.aws_iam_policy_document.instance_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  for_each = toset([
    "service-role/AmazonEC2ContainerServiceforEC2Role",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${substr(var.name, 0, 28)}-instance-"
  role        = aws_iam_role.instance.name
  tags        = var.tags
}
