"""The boot-time scratch helper picks volumes by what they are, not by device name: run it on a fake sysfs with
stub block-device tools and check which disks it would pool into docker's volume group."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import REPO

HELPER = REPO / "packer" / "files" / "batch-scratch-setup.sh"
EBS = "Amazon Elastic Block Store              \n"
INSTANCE_STORE = "Amazon EC2 NVMe Instance Storage        \n"


def _disk(sysfs: Path, name: str, model: str | None = None, partitions: tuple[str, ...] = ()) -> None:
    disk = sysfs / "block" / name
    (disk / "device").mkdir(parents=True)
    if model is not None:
        (disk / "device" / "model").write_text(model)
    for part in partitions:
        (disk / part).mkdir()


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


def test_candidates_are_unused_ebs_data_volumes_only(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    _disk(sysfs, "nvme0n1", EBS, partitions=("nvme0n1p1", "nvme0n1p128"))  # root disk
    _disk(sysfs, "nvme1n1", EBS)  # the scratch volume (/dev/xvdb in the mapping)
    _disk(sysfs, "nvme2n1", INSTANCE_STORE)  # instance store: not ours
    _disk(sysfs, "nvme3n1", EBS)  # carries a file system: in use
    _disk(sysfs, "nvme4n1", EBS)  # a second scratch volume: pooled too
    _disk(sysfs, "xvdc")  # Xen-era EBS
    _disk(sysfs, "loop0")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "findmnt", '[ "$3" = SOURCE ] && { echo /dev/nvme0n1p1; exit 0; }\nexit 1\n')
    _stub(bin_dir, "lsblk", 'case "$*" in *nvme0n1p1*) echo nvme0n1 ;; esac\n')
    _stub(bin_dir, "blkid", 'case "$*" in *nvme3n1*) echo xfs ;; *) exit 2 ;; esac\n')
    environ = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "BATCH_SCRATCH_SYSFS": str(sysfs),
    }
    proc = subprocess.run(
        ["bash", str(HELPER), "candidates"], capture_output=True, text=True, env=environ, check=False, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["/dev/nvme1n1", "/dev/nvme4n1", "/dev/xvdc"]


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(HELPER), "explode"], capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 2 and "usage:" in proc.stderr
