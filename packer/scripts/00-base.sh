#!/usr/bin/env bash
# Build-time base: the packages the later steps and the boot-time units need, from the AL2023 repository of
# the source image's release (AL2023 repositories are versioned: the same AMI release gives the same packages).
# Nothing here runs at boot.
set -euo pipefail

echo "==> base packages"
dnf install -y -q unzip lvm2 xfsprogs nvme-cli jq gnupg2 amazon-ec2-utils

# AL2023 does not upgrade packages at boot; make that explicit so a mirror outage or a removed package can
# never break an instance's boot (anchors: fragile boot-time provisioning).
install -d -m 0755 /etc/cloud/cloud.cfg.d
cat >/etc/cloud/cloud.cfg.d/90-batch-no-boot-upgrade.cfg <<'CFG'
# batch-platform AMI: never install or upgrade packages at boot.
repo_upgrade: none
package_upgrade: false
CFG

# Build metadata, for whoever debugs an instance.
install -d -m 0755 /etc/batch-platform
cat >/etc/batch-platform/ami-release <<META
AMI_NAME=${AMI_NAME:-unknown}
GIT_SHA=${GIT_SHA:-unknown}
BUILD_TIME=${BUILD_TIME:-unknown}
AWS_CLI_VERSION=${AWS_CLI_VERSION:-unknown}
META
echo "==> base done"
