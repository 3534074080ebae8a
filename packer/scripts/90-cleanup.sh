#!/usr/bin/env bash
# Leave no build-instance state in the image: the ECS agent must register fresh, docker must start empty on
# the scratch volume, cloud-init must run again on first boot.
set -euo pipefail

echo "==> cleanup"
systemctl stop ecs.service docker.service docker.socket 2>/dev/null || true
rm -rf /var/lib/ecs/data/* /var/log/ecs/* /tmp/files
if ! mountpoint -q /var/lib/docker; then
  rm -rf /var/lib/docker
  install -d -m 0710 /var/lib/docker
fi
dnf clean all -q
rm -rf /var/cache/dnf/*
cloud-init clean --logs
rm -f /root/.bash_history /home/ec2-user/.bash_history
echo "==> image ready"
