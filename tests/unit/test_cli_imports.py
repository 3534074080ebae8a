"""Commands import only what they use: `runner --help` and the analysts' verbs never load Packer, Nextflow,
HCL or terraform code (issue 14.4). A behaviour test on ``sys.modules`` in a fresh interpreter, not a timing test
(start-up times are measured by `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("hcl2", "runner.ami.packer", "runner.nextflow.pipeline", "runner.infra.terraform", "runner.infra.plans")

PROBE = """
import json, sys
from runner.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    last = proc.stderr.strip().splitlines()[-1]
    return set(json.loads(last))


def test_help_loads_no_heavy_module() -> None:
    modules = loaded("--help")
    assert "runner.cli.status" in modules  # the probe really ran the CLI
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "boto3" not in modules and "s3transfer" not in modules  # no env is opened: no AWS clients


@pytest.mark.parametrize("verb", ["status", "submit", "list", "logs", "cancel", "retry"])
def test_analyst_verbs_load_no_platform_code(verb: str) -> None:
    modules = loaded(verb, "--help")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_group_loads_its_own_code_only_when_a_command_runs() -> None:
    """`runner nextflow --help` lists its commands without loading the pipeline module."""
    assert "runner.nextflow.pipeline" not in loaded("nextflow", "--help")
    assert "runner.ami.packer" not in loaded("ami", "--help")
    assert "runner.infra.terraform" not in loaded("infra", "--help")


def test_flat_tfvars_read_without_the_hcl_parser_as_hcl_reads_them() -> None:
    """`runner status` needs the env's region from terraform.tfvars: the usual flat file is read without hcl2,
    with the values hcl2 gives; anything else falls back to hcl2."""
    import io
    from pathlib import Path

    import hcl2

    from runner.core.project import _unquote, flat_tfvars

    files = sorted(Path(__file__).resolve().parents[2].glob("envs/*/terraform.tfvars"))
    assert files
    for path in files:
        text = path.read_text()
        assert flat_tfvars(text) == _unquote(hcl2.load(io.StringIO(text))), path
    assert flat_tfvars('a = "x"\nb = [1, "y", true] # note\n// c\n') == {"a": "x", "b": [1, "y", True]}
    for hcl in ('a = "${var.x}"', "m = {\n  a = 1\n}", 'a = "q\\"uote"', "/* c */ a = 1", 'a = "%{ if x }"'):
        assert flat_tfvars(hcl) is None, hcl
