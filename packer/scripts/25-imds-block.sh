#!/usr/bin/env bash
# Containers cannot reach the instance metadata service (the ECS agent can): install the iptables helper and its
# unit, and make the ECS agent start after it. ECS_AWSVPC_BLOCK_IMDS (20-ecs-agent.sh) covers awsvpc-mode tasks.
set -euo pipefail

: "${BATCH_AMI_FILES:?BATCH_AMI_FILES is required}"
echo "==> instance metadata blocked for containers"
install -m 0755 "$BATCH_AMI_FILES/batch-imds-block.sh" /usr/local/sbin/batch-imds-block
install -m 0644 "$BATCH_AMI_FILES/batch-imds-block.service" /etc/systemd/system/batch-imds-block.service

install -d -m 0755 /etc/systemd/system/ecs.service.d
cat >/etc/systemd/system/ecs.service.d/20-batch-imds-block.conf <<'UNIT'
# batch-platform AMI: no task starts before containers are cut off from the instance metadata service.
[Unit]
Wants=batch-imds-block.service
After=batch-imds-block.service
UNIT

systemctl daemon-reload
systemctl enable batch-imds-block.service
