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


def probe(*args: str) -> tuple[set[str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    last = proc.stderr.strip().splitlines()[-1]
    return set(json.loads(last)), proc.stdout


def loaded(*args: str) -> set[str]:
    return probe(*args)[0]


def test_help_lists_every_verb_without_loading_one() -> None:
    """`runner --help` comes from the verb table: no verb module, no AWS SDK, no Packer/HCL code is imported."""
    from runner.cli import VERBS

    modules, out = probe("--help")
    for name in VERBS:
        assert f" {name} " in out, name  # the probe really printed the listing
    assert not {m for m in modules if m.startswith("runner.cli.") and m != "runner.cli.__init__"}, sorted(modules)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "boto3" not in modules and "botocore" not in modules  # no env is opened: no AWS SDK


def test_the_verb_table_says_what_each_command_says() -> None:
    """Each verb's line in `runner --help` is the first paragraph of its command's own help (no drift), and
    loading a verb gives the command under that name."""
    from runner.cli import VERBS, load

    for name, verb in VERBS.items():
        command = load(name)
        assert command.name == name
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert verb.help == first, name


def test_a_verb_runs_through_the_lazy_root(capsys: pytest.CaptureFixture[str]) -> None:
    """A verb's own help and its usage errors go through the loaded command; a typo still gets a suggestion."""
    from runner.cli import main

    with pytest.raises(SystemExit) as done:
        main(["stage", "--help"])
    assert done.value.code == 0
    assert "--concurrency" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["statsu"])
    assert done.value.code == 2
    assert "Did you mean 'status'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["stage", "--concurrency", "0", "x"])
    assert done.value.code == 2
    assert "--concurrency: 0 is outside" in capsys.readouterr().err


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


def test_json_output_needs_no_rich() -> None:
    """`runner status RUN --json` prints through ``console.print_json``: loading the status command and printing
    JSON imports no rich (its consoles are made on first use), so scripts polling a run do not pay for it."""
    probe = (
        "import json, sys\n"
        "from runner.cli import load\n"
        "load('status')\n"
        "from runner.core import console\n"
        "console.print_json({'run': 'r'})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'rich')), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(proc.stdout) == {"run": "r"}
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
