#!/usr/bin/env bash
# The SSM agent, so operators reach instances through Session Manager (no SSH keys, no open ports).
set -euo pipefail

echo "==> SSM agent"
rpm -q amazon-ssm-agent >/dev/null 2>&1 || dnf install -y -q amazon-ssm-agent
systemctl enable amazon-ssm-agent
