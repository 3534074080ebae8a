"""Rows delivered as data in a real container: the job's own /bin/sh command under busybox sh in Docker.

The image is the local Batch's ``base`` image (``runner.local.images``) when that module is there, else the same
thing made here: busybox-static and its applet links, ``docker import``-ed (no registry needed).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from runner.files import sheets
from runner.runs.payload import row_line, script
from tests.helpers import require_tool
from tests.unit.test_sheets import DATA, HOSTILE

pytestmark = pytest.mark.integration

FALLBACK_IMAGE = "batch-platform-tests/busybox-sh:1"
APPLETS = ("sh", "printf", "cat", "echo", "ls", "test", "[", "touch", "env", "seq", "mkdir")


def base_image(tmp_path: Path) -> str:
    """A minimal image with /bin/sh, built offline."""
    require_tool("docker")
    try:
        from runner.local import images  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        images = None
    if images is not None:
        return str(images.ensure("base"))
    if subprocess.run(["docker", "image", "inspect", FALLBACK_IMAGE], capture_output=True).returncode == 0:
        return FALLBACK_IMAGE
    busybox = Path(shutil.which("busybox") or require_tool("busybox")).resolve()
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for folder in ("tmp", "work"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    subprocess.run(
        ["docker", "import", "-c", "ENV PATH=/bin", "-c", 'CMD ["sh"]', str(archive), FALLBACK_IMAGE],
        check=True,
        capture_output=True,
    )
    return FALLBACK_IMAGE


def run_in_container(
    image: str, command: list[str], env: dict[str, str], index: int | None, mount: Path
) -> subprocess.CompletedProcess[bytes]:
    """Run a job's command as Batch would: its environment, its array index, cwd on a bind-mounted folder."""
    argv = ["docker", "run", "--rm", "--network", "none", "-v", f"{mount}:/out", "-w", "/out"]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    if index is not None:
        argv += ["-e", f"AWS_BATCH_JOB_ARRAY_INDEX={index}"]
    return subprocess.run([*argv, image, *command], capture_output=True, timeout=120, check=False)


def test_hostile_values_stay_data_in_a_real_container(tmp_path: Path) -> None:
    image = base_image(tmp_path)
    mount = tmp_path / "out"
    mount.mkdir()
    table = "\n".join(row_line({"SAMPLE_ID": name, "NOTE": value}) for name, value in HOSTILE)
    command = script('printf "%s" "$NOTE" > "value.$AWS_BATCH_JOB_ARRAY_INDEX"')
    for index, (name, value) in enumerate(HOSTILE):
        proc = run_in_container(image, command, {"RUNNER_ROWS": table}, index, mount)
        assert proc.returncode == 0, proc.stderr
        assert (mount / f"value.{index}").read_bytes() == value.encode(), name
    assert not (mount / "FILE").exists(), "a value ran as code in the container"


def test_every_lane_reaches_its_child_in_a_real_container(tmp_path: Path) -> None:
    image = base_image(tmp_path)
    sheet = sheets.read_sheet(DATA / "samplesheet_test.csv")
    table = "\n".join(row_line(sheet.environment(i)) for i in range(len(sheet)))
    loop = (
        'i=1; while [ "$i" -le "$RUNNER_LANES" ]; do eval "r1=\\${FASTQ_1__$i} r2=\\${FASTQ_2__$i}"; '
        'echo "$SAMPLE_ID $i ${r1##*/} ${r2##*/}"; i=$((i + 1)); done'
    )
    outputs = []
    for index in range(len(sheet)):
        proc = run_in_container(image, script(loop), {"RUNNER_ROWS": table}, index, tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs.append("\n".join(line.rstrip() for line in proc.stdout.decode().strip().splitlines()))
    assert outputs == [
        "WT_REP1 1 SRR6357070_1.fastq.gz SRR6357070_2.fastq.gz\nWT_REP1 2 SRR6357071_1.fastq.gz SRR6357071_2.fastq.gz",
        "WT_REP2 1 SRR6357072_1.fastq.gz SRR6357072_2.fastq.gz",
        "RAP1_UNINDUCED_REP1 1 SRR6357073_1.fastq.gz",
        "RAP1_UNINDUCED_REP2 1 SRR6357074_1.fastq.gz\nRAP1_UNINDUCED_REP2 2 SRR6357075_1.fastq.gz",
        "RAP1_IAA_30M_REP1 1 SRR6357076_1.fastq.gz SRR6357076_2.fastq.gz",
    ]
