#!/usr/bin/env bash
# batch-scratch-setup [setup|grow|status|candidates]: docker's data root (/var/lib/docker) on the scratch EBS volume(s).
#
# Installed by the batch-platform AMI as /usr/local/sbin/batch-scratch-setup and run by batch-scratch.service
# at every boot, before docker and the ECS agent. It downloads nothing and needs no AWS permissions.
#
# Design (sized per env, grown without run-time volume creation):
#   - every attached EBS data volume (not the root disk, not instance store, no partition table, no file
#     system of its own) joins one LVM volume group; one linear logical volume spans it, formatted XFS and
#     mounted at /var/lib/docker. Volumes are found by what they are (NVMe model "Amazon Elastic Block Store",
#     or Xen xvd*), not by a device name, so /dev/xvdb -> /dev/nvme1n1 renaming on Nitro does not matter.
#   - growth: the launch template sets the scratch size per env (and may attach more volumes). At every boot,
#     and on `batch-scratch-setup grow` after an online EBS resize or attach, new volumes are added, resized
#     volumes are picked up (pvresize) and the logical volume and XFS grow into the free space.
#   - no scratch volume after the wait: a loud warning, docker stays on the root volume (small jobs still run).
set -euo pipefail

VG="${BATCH_SCRATCH_VG:-batch-scratch}"
LV="${BATCH_SCRATCH_LV:-docker}"
MOUNTPOINT="${BATCH_SCRATCH_MOUNTPOINT:-/var/lib/docker}"
WAIT_SECONDS="${BATCH_SCRATCH_WAIT_SECONDS:-60}"
LV_PATH="/dev/${VG}/${LV}"
SYSFS="${BATCH_SCRATCH_SYSFS:-/sys}"

log() { echo "batch-scratch: $*"; }

root_disk() {
  local source
  source="$(findmnt -n -o SOURCE /)"
  lsblk -n -d -o PKNAME "$source" 2>/dev/null | head -n1 || true
}

is_ebs() {
  local name="$1" model=""
  case "$name" in
    xvd*) return 0 ;;
    nvme*)
      [ -r "${SYSFS}/block/${name}/device/model" ] && model="$(tr -s ' ' <"${SYSFS}/block/${name}/device/model")"
      case "$model" in
        *"Elastic Block Store"*) return 0 ;;
      esac
      ;;
  esac
  return 1
}

# Disks that may join the volume group: unused EBS data volumes.
free_disks() {
  local root name dev
  root="$(root_disk)"
  for path in "${SYSFS}"/block/*; do
    name="$(basename "$path")"
    dev="/dev/${name}"
    [ "$name" = "$root" ] && continue
    is_ebs "$name" || continue
    # partitions, a file system, an LVM label or a mount mean the disk is in use
    compgen -G "${path}/${name}*" >/dev/null && continue
    [ -n "$(blkid -p -o value -s TYPE "$dev" 2>/dev/null || true)" ] && continue
    findmnt -n -S "$dev" >/dev/null && continue
    echo "$dev"
  done
}

wait_for_disks() {
  local deadline=$((SECONDS + WAIT_SECONDS)) disks
  while :; do
    disks="$(free_disks)"
    if [ -n "$disks" ] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$disks"
      return 0
    fi
    sleep 2
  done
}

mount_scratch() {
  install -d -m 0710 "$MOUNTPOINT"
  if ! mountpoint -q "$MOUNTPOINT"; then
    mount -o defaults,noatime "$LV_PATH" "$MOUNTPOINT"
  fi
}

grow() {
  local disk
  for disk in $(free_disks); do
    log "adding $disk to $VG"
    pvcreate -q "$disk"
    vgextend -q "$VG" "$disk"
  done
  for disk in $(pvs --noheadings -o pv_name --select "vg_name=${VG}"); do
    pvresize -q "$disk"
  done
  if [ "$(vgs --noheadings --units b --nosuffix -o vg_free "$VG" | tr -d ' ')" != "0" ]; then
    lvextend -q -l +100%FREE "$LV_PATH"
  fi
  mount_scratch
  xfs_growfs -d "$MOUNTPOINT" >/dev/null
  log "$(df -h --output=size,avail "$MOUNTPOINT" | tail -n1 | tr -s ' ') (size, available) on $MOUNTPOINT"
}

create() {
  local disks
  disks="$(wait_for_disks)"
  if [ -z "$disks" ]; then
    log "WARNING: no scratch EBS volume found after ${WAIT_SECONDS}s; docker stays on the root volume"
    return 0
  fi
  log "creating $VG on: $(echo "$disks" | tr '\n' ' ')"
  # shellcheck disable=SC2086 # one argument per disk
  pvcreate -q $disks
  # shellcheck disable=SC2086
  vgcreate -q "$VG" $disks
  lvcreate -q -y -l 100%FREE -n "$LV" "$VG"
  mkfs.xfs -q -L batch-scratch "$LV_PATH"
  if mountpoint -q "$MOUNTPOINT"; then
    log "WARNING: $MOUNTPOINT is already a mount point; leaving it"
    return 0
  fi
  mount_scratch
  log "docker data root on $LV_PATH ($(df -h --output=size "$MOUNTPOINT" | tail -n1 | tr -d ' '))"
}

setup() {
  if vgs "$VG" >/dev/null 2>&1; then
    vgchange -q -ay "$VG" >/dev/null
    grow
  else
    create
  fi
}

case "${1:-setup}" in
  setup) setup ;;
  grow)
    vgs "$VG" >/dev/null 2>&1 || { log "no volume group $VG: run setup first"; exit 1; }
    grow
    ;;
  candidates) free_disks ;;
  status)
    findmnt "$MOUNTPOINT" || log "$MOUNTPOINT is not a separate mount"
    vgs "$VG" 2>/dev/null || true
    ;;
  *)
    echo "usage: $(basename "$0") [setup|grow|status|candidates]" >&2
    exit 2
    ;;
esac
