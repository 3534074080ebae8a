# Plugin requirements for Packer >= 1.10, where amazon-ebs is an external plugin: run `packer init packer/`
# once, then `packer build packer/` (every *.pkr.hcl of the folder).
#
# Debian's Packer 1.6.6 has amazon-ebs built in and rejects this block: the runner (and anyone on 1.6.x)
# builds packer/batch-ami.pkr.hcl alone, without this file. Keep everything else out of this file.
packer {
  required_version = ">= 1.10.0"

  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0, < 2.0.0"
    }
  }
}
