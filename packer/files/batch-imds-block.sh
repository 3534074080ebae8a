#!/usr/bin/env bash
# batch-platform AMI: job containers never reach the instance metadata service (169.254.169.254), whose
# credentials are the instance role's. Traffic from docker bridges is dropped in DOCKER-USER, the chain docker
# evaluates first and never rewrites; processes on the host network (the ECS agent, the SSM agent) are not
# forwarded and keep their access. Containers get their job role's credentials from the ECS agent at
# 169.254.170.2, which this rule leaves alone. Idempotent: run at every boot and every docker (re)start.
set -euo pipefail

IPTABLES=${IPTABLES:-iptables}
IMDS=169.254.169.254/32

"$IPTABLES" -w -N DOCKER-USER 2>/dev/null || true
if ! "$IPTABLES" -w -C DOCKER-USER -i docker+ -d "$IMDS" -j DROP 2>/dev/null; then
  "$IPTABLES" -w -I DOCKER-USER 1 -i docker+ -d "$IMDS" -j DROP
fi
