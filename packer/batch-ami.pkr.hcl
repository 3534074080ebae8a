# The compute AMI every Batch instance boots: the current ECS-optimised Amazon Linux 2023 image plus what
# pipelines need on the host, baked in at build time so nothing is downloaded at boot:
#   - AWS CLI v2, self-contained under /opt/aws-cli (Nextflow's aws.batch.cliPath = /opt/aws-cli/bin/aws)
#   - ECS agent settings: spot instance draining, image and task cleanup
#   - docker's data root on the scratch EBS volume(s), set up at first boot by a systemd unit (LVM, grows)
#   - the SSM agent, enabled
#
# `runner ami build --env NAME` runs this file with the env's [ami] settings from envs/NAME/runner.toml and
# writes the resulting id to envs/NAME/ami.auto.tfvars.json. By hand (Packer 1.6.x, amazon-ebs built in):
#   packer build -var env_name=dev -var git_sha=$(git rev-parse --short HEAD) packer/batch-ami.pkr.hcl
# Packer >= 1.10: `packer init packer/` once (plugins.pkr.hcl), then `packer build ... packer/`.
#
# Against the embedded AWS (communicator = "none": no SSH there) the provisioners are skipped with a visible
# notice; everything else (source image lookup, name, tags, encryption, manifest) is identical.

# --------------------------------------------------------------------------------------------------------------
# Where and how to build
# --------------------------------------------------------------------------------------------------------------

variable "region" {
  description = "Region to build the AMI in (it is registered there only)."
  type        = string
  default     = "us-east-1"
}

variable "instance_type" {
  description = "Instance type of the temporary build instance (its architecture must match var.architecture)."
  type        = string
  default     = "m6i.large"
}

variable "subnet_id" {
  description = "Subnet of the build instance; empty = the default VPC. Packer must reach it over SSH."
  type        = string
  default     = ""
}

variable "ssh_interface" {
  description = "How Packer reaches the build instance: empty (public IP when there is one), public_ip, private_ip."
  type        = string
  default     = ""
}

variable "ssh_username" {
  description = "Login user of the source image."
  type        = string
  default     = "ec2-user"
}

variable "communicator" {
  description = "ssh for real builds; none against the emulator (the provisioners are then skipped)."
  type        = string
  default     = "ssh"
}

variable "endpoint" {
  description = "Custom EC2 endpoint (the embedded AWS); empty for real AWS."
  type        = string
  default     = ""
}

variable "skip_region_validation" {
  description = "Skip the region check (the emulator only)."
  type        = bool
  default     = false
}

variable "skip_credential_validation" {
  description = "Skip the credential check (the emulator only)."
  type        = bool
  default     = false
}

# --------------------------------------------------------------------------------------------------------------
# Source image
# --------------------------------------------------------------------------------------------------------------

variable "source_ami_name" {
  description = "Name filter of the source image: the ECS-optimised AL2023 image (the emulator ships the same names)."
  type        = string
  default     = "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"
}

variable "source_ami_owners" {
  description = "Owners of the source image."
  type        = list(string)
  default     = ["amazon"]
}

variable "architecture" {
  description = "CPU architecture of the source image: x86_64 or arm64 (match source_ami_name and instance_type)."
  type        = string
  default     = "x86_64"
}

# --------------------------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------------------------

variable "root_volume_size" {
  description = "Root volume size in GiB (OS, agents, logs; docker lives on the scratch volume)."
  type        = number
  default     = 30
}

variable "scratch_volume_size" {
  description = "Default size in GiB of the scratch volume the AMI maps (the launch template may override it)."
  type        = number
  default     = 100
}

variable "scratch_device_name" {
  description = "Device name of the scratch volume in the AMI's block device mapping."
  type        = string
  default     = "/dev/xvdb"
}

variable "encrypt_boot" {
  description = "Encrypt the AMI's snapshots (default EBS key unless kms_key_id is set)."
  type        = bool
  default     = true
}

variable "kms_key_id" {
  description = "KMS key for the AMI's snapshots; empty = the account's default EBS key."
  type        = string
  default     = ""
}

# --------------------------------------------------------------------------------------------------------------
# Naming, tags and output
# --------------------------------------------------------------------------------------------------------------

variable "ami_name_prefix" {
  description = "AMI names are <prefix>-<UTC yyyymmdd-hhmmss>-<short git sha>."
  type        = string
  default     = "batch-platform"
}

variable "project" {
  description = "Value of the Project tag: `runner ami list|prune` find this project's images by it."
  type        = string
  default     = "batch-platform"
}

variable "env_name" {
  description = "Env the image is built for (Env tag)."
  type        = string
  default     = ""
}

variable "git_sha" {
  description = "Short git sha of the checkout the image is built from (name and GitSha tag)."
  type        = string
  default     = "nogit"
}

variable "extra_tags" {
  description = "More tags for the AMI and its snapshots (the project's own tags win on a clash)."
  type        = map(string)
  default     = {}
}

variable "manifest_path" {
  description = "Where the manifest post-processor writes the build result (the runner reads the AMI id there); empty = packer/manifest.json."
  type        = string
  default     = ""
}

# --------------------------------------------------------------------------------------------------------------
# Baked software (pinned; downloaded and verified at build time only)
# --------------------------------------------------------------------------------------------------------------

variable "aws_cli_version" {
  description = "AWS CLI v2 version installed under /opt/aws-cli."
  type        = string
  default     = "2.17.0"
}

variable "aws_cli_pgp_fingerprint" {
  description = "Fingerprint of the AWS CLI team's signing key; the installer's signature must verify against it."
  type        = string
  default     = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"
}

variable "aws_cli_sha256" {
  description = "Optional sha256 of the installer zip for this architecture and version (checked when set)."
  type        = string
  default     = ""
}

locals {
  build_time = timestamp()
  ami_name   = "${var.ami_name_prefix}-${formatdate("YYYYMMDD-hhmmss", local.build_time)}-${var.git_sha}"
  provision  = var.communicator != "none"
  manifest   = var.manifest_path != "" ? var.manifest_path : "${path.root}/manifest.json"

  # extra_tags first: the project's own tags win.
  tags = merge(var.extra_tags, {
    Name          = local.ami_name
    Project       = var.project
    Env           = var.env_name
    Component     = "batch-ami"
    GitSha        = var.git_sha
    BuildTime     = local.build_time
    Provisioned   = local.provision ? "true" : "false"
    AwsCliVersion = var.aws_cli_version
    ManagedBy     = "packer"
    # Packer fills these in from the image source_ami_filter found.
    SourceAMI     = "{{ .SourceAMI }}"
    SourceAMIName = "{{ .SourceAMIName }}"
  })
}

# --------------------------------------------------------------------------------------------------------------
# The one source
# --------------------------------------------------------------------------------------------------------------

source "amazon-ebs" "batch" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ami_name      = local.ami_name
  ami_description = "Batch compute AMI (${var.project}, env ${var.env_name}, git ${var.git_sha}): ECS-optimised AL2023 + AWS CLI at /opt/aws-cli"

  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      architecture        = var.architecture
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = var.source_ami_owners
    most_recent = true
  }

  communicator  = var.communicator
  ssh_username  = var.ssh_username
  ssh_interface = var.ssh_interface

  custom_endpoint_ec2        = var.endpoint
  skip_region_validation     = var.skip_region_validation
  skip_credential_validation = var.skip_credential_validation

  encrypt_boot = var.encrypt_boot
  kms_key_id   = var.kms_key_id

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  # The scratch volume every instance gets unless its launch template maps the same device differently.
  ami_block_device_mappings {
    device_name           = var.scratch_device_name
    volume_size           = var.scratch_volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
    encrypted             = true
  }

  tags          = local.tags
  snapshot_tags = local.tags
  run_tags = {
    Name    = "packer-build ${local.ami_name}"
    Project = var.project
    Env     = var.env_name
  }
}

# --------------------------------------------------------------------------------------------------------------
# Build: provisioning runs only with a communicator
# --------------------------------------------------------------------------------------------------------------

build {
  sources = ["source.amazon-ebs.batch"]

  dynamic "provisioner" {
    for_each = local.provision ? [] : ["notice"]
    labels   = ["shell-local"]
    content {
      inline = [
        "echo 'NOTICE: communicator = none (emulator build): provisioning skipped; this AMI is the source image, renamed and tagged.'",
      ]
    }
  }

  # Boot-time helpers and units, installed by the scripts below.
  dynamic "provisioner" {
    for_each = local.provision ? ["files"] : []
    labels   = ["file"]
    content {
      source      = "${path.root}/files"
      destination = "/tmp"
    }
  }

  dynamic "provisioner" {
    for_each = local.provision ? ["scripts"] : []
    labels   = ["shell"]
    content {
      execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} bash {{ .Path }}"
      environment_vars = [
        "BATCH_AMI_FILES=/tmp/files",
        "AWS_CLI_VERSION=${var.aws_cli_version}",
        "AWS_CLI_PGP_FINGERPRINT=${var.aws_cli_pgp_fingerprint}",
        "AWS_CLI_SHA256=${var.aws_cli_sha256}",
        "AMI_NAME=${local.ami_name}",
        "GIT_SHA=${var.git_sha}",
        "BUILD_TIME=${local.build_time}",
      ]
      scripts = [
        "${path.root}/scripts/00-base.sh",
        "${path.root}/scripts/10-aws-cli.sh",
        "${path.root}/scripts/20-ecs-agent.sh",
        "${path.root}/scripts/25-imds-block.sh",
        "${path.root}/scripts/30-scratch-volume.sh",
        "${path.root}/scripts/40-ssm-agent.sh",
        "${path.root}/scripts/90-cleanup.sh",
      ]
    }
  }

  post-processor "manifest" {
    output     = local.manifest
    strip_path = true
    custom_data = {
      ami_name    = local.ami_name
      git_sha     = var.git_sha
      build_time  = local.build_time
      provisioned = local.provision ? "true" : "false"
    }
  }
}
