#!/usr/bin/env bash
# ECS agent settings baked into /etc/ecs/ecs.config. AWS Batch appends ECS_CLUSTER at boot; everything else
# comes from here, so every instance of the env behaves the same.
set -euo pipefail

echo "==> ECS agent settings"
install -d -m 0755 /etc/ecs
touch /etc/ecs/ecs.config
settings=(
  # awsvpc-mode tasks cannot reach the instance metadata service (bridge mode: batch-imds-block, 25-imds-block.sh).
  "ECS_AWSVPC_BLOCK_IMDS=true"
  # Spot: on a two-minute interruption notice the instance is set to DRAINING, so no new job lands there.
  "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true"
  # Image cleanup keeps the scratch volume from filling up with pipeline images.
  "ECS_DISABLE_IMAGE_CLEANUP=false"
  "ECS_IMAGE_CLEANUP_INTERVAL=10m"
  "ECS_IMAGE_MINIMUM_CLEANUP_AGE=30m"
  "ECS_NUM_IMAGES_DELETE_PER_CYCLE=10"
  # Stopped task containers (and their writable layers on scratch) go after 10 minutes, not 3 hours.
  "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10m"
  # Give a job's container time to flush outputs on stop (spot interruption, cancel).
  "ECS_CONTAINER_STOP_TIMEOUT=90s"
  "ECS_ENABLE_CONTAINER_METADATA=true"
  "ECS_LOGLEVEL=info"
)
for line in "${settings[@]}"; do
  key="${line%%=*}"
  sed -i "/^${key}=/d" /etc/ecs/ecs.config
  echo "$line" >>/etc/ecs/ecs.config
done
cat /etc/ecs/ecs.config
