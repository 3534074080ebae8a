"""Sheet parsing and resource parsing / fit checks: pure functions, no AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.compute import resources
from runner.compute.resources import Capacity, InstanceSpec, Request
from runner.core.errors import UsageError
from runner.files import sheets


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        *[("512", 512), ("4GiB", 4096), ("16G", 16384), ("1.5g", 1536), ("2048MiB", 2048), ("1T", 1048576)],
        *[("4GB", 3815), ("8 GB", 7630), ("512MB", 489), ("1TB", 953675)],  # decimal units as written: 10^9 bytes
    ],
)
def test_parse_memory(text: str, mib: int) -> None:
    assert resources.parse_memory(text) == mib


@pytest.mark.parametrize("text", ["16GG", "lots", "-1G", "4X", "", "2"])
def test_parse_memory_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--memory"):
        resources.parse_memory(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("1d", 86400), ("600", 600)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert resources.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "h", "30s", "1x"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        resources.parse_duration(text)


def test_usable_memory_keeps_a_reserve() -> None:
    assert resources.usable_memory_mib(8192) == 8192 - 512
    assert resources.usable_memory_mib(786432) == 786432 - 47186


M5_LARGE = InstanceSpec("m5.large", 2, 8192)
R5_4XL = InstanceSpec("r5.4xlarge", 16, 131072)
G5 = InstanceSpec("g5.xlarge", 4, 16384, gpus=1)


def test_fit_check_names_field_and_largest_that_fits() -> None:
    caps = [Capacity("spot", (M5_LARGE, R5_4XL), max_vcpus=16)]
    resources.check_fits(Request(16, 120_000), caps, "default")
    with pytest.raises(UsageError, match=r"--vcpus: 32 .* largest that fits is 16"):
        resources.check_fits(Request(32, 1024), caps, "default")
    with pytest.raises(UsageError, match=r"--memory: 128 GiB .* fits is 120\.3 GiB \(--memory 123207\) on r5\.4xlarge"):
        resources.check_fits(Request(2, 131072), caps, "default")
    with pytest.raises(UsageError, match=r"--gpus: .* no GPU instance types"):
        resources.check_fits(Request(1, 1024, gpus=1), caps, "default")
    # maxvCpus of the compute environment caps what it can place, whatever its instance sizes.
    with pytest.raises(UsageError, match=r"--vcpus: 16 .* largest that fits is 8"):
        resources.check_fits(Request(16, 1024), [Capacity("od", (R5_4XL,), max_vcpus=8)], "default")
    # A request fits if any compute environment can run it.
    resources.check_fits(Request(2, 4096, gpus=1), [*caps, Capacity("gpu", (G5,), 64)], "default")
    # Unmanaged environments cannot be checked: never refused.
    resources.check_fits(Request(512, 10**7), [Capacity("byo", (), None, checkable=False)], "default")


def test_optimal_table_is_c_m_r() -> None:
    table = resources.builtin_optimal()
    assert {s.name.split(".")[0] for s in table} == {"c5", "m5", "r5"}
    assert max(s.vcpus for s in table) == 96 and max(s.memory_mib for s in table) == 768 * 1024


def write(tmp_path: Path, text: str, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sheet_columns_become_variables(tmp_path: Path) -> None:
    sheet = sheets.read_sheet(write(tmp_path, "Sample_ID\tfastq 1\t2nd\nA\tx\ty\n", "s.tsv"))
    assert sheet.id_column == "Sample_ID" and sheet.ids() == ["A"]
    assert sheet.environment(0) == {
        "SAMPLE_ID": "A", "FASTQ_1": "x", "_2ND": "y", "RUNNER_ROW": "0", "RUNNER_LANES": "1",
        "FASTQ_1__1": "x", "_2ND__1": "y",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("sample,x\n", "no sample rows"),
        ("name,x\nA,1\n", "no sample column"),
        ("sample,x\n,1\n", "empty sample id"),
        ("sample,x\nA,1,2\n", "line 2 has 3 fields"),
        ("sample,a-b,a_b\nA,1,2\n", "both become the variable A_B"),
        ("sample,aws_batch_x\nA,1\n", "reserved"),
    ],
)
def test_bad_sheets(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match="--samples") as exc:
        sheets.read_sheet(write(tmp_path, text))
    assert fragment in str(exc.value)


def test_file_refs(tmp_path: Path) -> None:
    (tmp_path / "reads").mkdir()
    (tmp_path / "reads" / "a.fq").write_text("@r\n")
    sheet = sheets.read_sheet(write(tmp_path, "sample,r,u,t\nA,reads/a.fq,s3://bkt/k.fq,treated/control\n"))
    refs = sheets.file_refs(sheet)  # relative to the sheet's folder, whatever the current one
    assert refs.local == {"reads/a.fq": (tmp_path / "reads" / "a.fq").resolve()} and refs.s3 == ["s3://bkt/k.fq"]
    missing = sheets.read_sheet(write(tmp_path, "sample,r\nA,reads/ghost.fq.gz\n", "m.csv"))
    with pytest.raises(
        UsageError, match=r"--samples: column 'r', row 1: local file 'reads/ghost.fq.gz' does not exist"
    ):
        sheets.file_refs(missing)


def test_prologue_is_posix_sh_and_picks_rows(tmp_path: Path) -> None:
    import subprocess

    from runner.runs.payload import PROLOGUE, row_line, script
    from tests.helpers import require_tool

    path = tmp_path / "prologue.sh"
    path.write_text("#!/bin/sh\n" + PROLOGUE + 'echo "$SAMPLE_ID"\n')
    lint = subprocess.run([require_tool("shellcheck"), "-s", "sh", str(path)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    rows = "\n".join(row_line({"SAMPLE_ID": s, "NOTE": n}) for s, n in [("a", "it's"), ("b", "$(rm -rf /)")])
    for index, expected in ((0, "a|it's"), (1, "b|$(rm -rf /)")):
        out = subprocess.run(
            script('echo "$SAMPLE_ID|$NOTE"'),
            env={"PATH": "/usr/bin:/bin", "RUNNER_ROWS": rows, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected
    missing = subprocess.run(
        script("true"), env={"RUNNER_ROWS": rows, "AWS_BATCH_JOB_ARRAY_INDEX": "5"}, capture_output=True, text=True
    )
    assert missing.returncode == 97 and "no row 5" in missing.stderr
