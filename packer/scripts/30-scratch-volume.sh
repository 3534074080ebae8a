#!/usr/bin/env bash
# docker's data root on the scratch EBS volume(s): install the boot-time helper and its systemd unit, and
# order docker and the ECS agent after it. The helper runs at every boot; it downloads nothing.
set -euo pipefail

: "${BATCH_AMI_FILES:?BATCH_AMI_FILES is required}"
echo "==> scratch volume unit"
install -m 0755 "$BATCH_AMI_FILES/batch-scratch-setup.sh" /usr/local/sbin/batch-scratch-setup
install -m 0644 "$BATCH_AMI_FILES/batch-scratch.service" /etc/systemd/system/batch-scratch.service

for unit in docker.service ecs.service; do
  install -d -m 0755 "/etc/systemd/system/${unit}.d"
  cat >"/etc/systemd/system/${unit}.d/10-batch-scratch.conf" <<'UNIT'
# batch-platform AMI: docker's data root must be on the scratch volume before docker or the ECS agent start.
[Unit]
Wants=batch-scratch.service
After=batch-scratch.service
UNIT
done

systemctl daemon-reload
systemctl enable batch-scratch.service
