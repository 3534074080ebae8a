# modules/compute offline: a mocked aws provider (no credentials, no API), real terraform logic.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { value = "ami-0ecs0al20230000" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name = "acme-dev"
}

run "imdsv2_for_the_host_only" {
  command = plan

  assert {
    condition = (
      aws_launch_template.this.metadata_options[0].http_tokens == "required" &&
      aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1 &&
      aws_launch_template.this.metadata_options[0].http_endpoint == "enabled"
    )
    error_message = "IMDSv2 with hop limit 1 (token responses never reach a container)"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "-I DOCKER-USER 1 -i docker+ -d 169.254.169.254/32 -j DROP")
    error_message = "the user data drops container traffic to the metadata service"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "ECS_AWSVPC_BLOCK_IMDS=true")
    error_message = "awsvpc tasks are cut off too"
  }
}

run "encrypted_gp3_root_and_scratch_volumes" {
  command = plan
  variables {
    scratch_volume_size       = 500
    scratch_volume_iops       = 6000
    scratch_volume_throughput = 500
  }

  assert {
    condition = {
      for m in aws_launch_template.this.block_device_mappings : m.device_name => [one(m.ebs).volume_type, one(m.ebs).encrypted, one(m.ebs).volume_size, one(m.ebs).delete_on_termination]
    } == { "/dev/xvda" = ["gp3", "true", 30, "true"], "/dev/xvdb" = ["gp3", "true", 500, "true"] }
    error_message = "root 30 GiB and scratch gp3 volumes, encrypted, deleted with the instance"
  }
  assert {
    condition = one([
      for m in aws_launch_template.this.block_device_mappings : [one(m.ebs).iops, one(m.ebs).throughput] if m.device_name == "/dev/xvdb"
    ]) == [6000, 500]
    error_message = "scratch IOPS and throughput"
  }
}

run "the_image_is_the_given_ami_or_the_current_ecs_optimised_one" {
  command = plan

  assert {
    condition     = output.ami_id == "ami-0ecs0al20230000" && aws_launch_template.this.image_id == "ami-0ecs0al20230000"
    error_message = "without image_id: the SSM parameter's image"
  }
}

run "a_built_ami_replaces_the_default_image" {
  command = plan
  variables {
    image_id = "ami-0123456789abcdef0"
  }

  assert {
    condition     = length(data.aws_ssm_parameter.image) == 0 && aws_launch_template.this.image_id == "ami-0123456789abcdef0"
    error_message = "image_id is used as given and the parameter is not read"
  }
}

run "ecs_settings_merge_over_the_defaults" {
  command = plan
  variables {
    ecs_config = { ECS_IMAGE_PULL_BEHAVIOR = "always", ECS_RESERVED_MEMORY = "256" }
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "ECS_IMAGE_PULL_BEHAVIOR=always") && !strcontains(base64decode(aws_launch_template.this.user_data), "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached")
    error_message = "an env's setting wins over the default"
  }
  assert {
    condition     = !strcontains(base64decode(aws_launch_template.this.user_data), "ECS_CONTAINER_STOP_TIMEOUT")
    error_message = "the stop timeout has one owner: the AMI"
  }
}

run "instance_role_has_the_ecs_and_ssm_policies_and_the_boundary" {
  command = plan
  variables {
    permissions_boundary_arn = "arn:aws:iam::123456789012:policy/batch-platform/boundaries/acme-dev"
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.instance)) == toset(["service-role/AmazonEC2ContainerServiceforEC2Role", "AmazonSSMManagedInstanceCore"])
    error_message = "exactly the ECS and SSM managed policies"
  }
  assert {
    condition     = aws_iam_role.instance.permissions_boundary == "arn:aws:iam::123456789012:policy/batch-platform/boundaries/acme-dev"
    error_message = "the role carries the boundary"
  }
  assert {
    condition     = one(one(data.aws_iam_policy_document.instance_assume.statement).principals).identifiers == toset(["ec2.amazonaws.com"])
    error_message = "only EC2 assumes the instance role"
  }
}

# --------------------------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------------------------

run "root_volume_of_30_gib_or_more" {
  command = plan
  variables {
    root_volume_size = 8
  }
  expect_failures = [var.root_volume_size]
}

run "gp3_iops_limits" {
  command = plan
  variables {
    scratch_volume_iops = 20000
  }
  expect_failures = [var.scratch_volume_iops]
}

run "scratch_device_is_not_the_root_device" {
  command = plan
  variables {
    scratch_device_name = "/dev/xvda"
  }
  expect_failures = [var.scratch_device_name]
}

run "ecs_config_keys_are_agent_variables" {
  command = plan
  variables {
    ecs_config = { CLUSTER = "x" }
  }
  expect_failures = [var.ecs_config]
}

run "image_id_looks_like_an_ami" {
  command = plan
  variables {
    image_id = "al2023"
  }
  expect_failures = [var.image_id]
}
