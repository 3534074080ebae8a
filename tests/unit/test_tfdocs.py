"""Module READMEs: tables generated from variables.tf/outputs.tf, and a failing check when they are stale."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from runner.infra import tfdocs
from tests.helpers import REPO


def test_every_module_readme_is_current() -> None:
    stale = [str(p.relative_to(REPO)) for p in tfdocs.stale(REPO)]
    assert stale == [], f"stale module READMEs (run `make docs`): {stale}"


def test_every_module_has_its_files_and_documents_every_variable_and_output() -> None:
    for module in tfdocs.modules(REPO):
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (module / name).is_file(), f"{module.name}/{name} missing"
        for item in tfdocs.read_inputs(module):
            assert item.description, f"{module.name}: variable {item.name} undescribed"
            if item.type == "any":
                _assert_pass_through(module, item)
        for output in tfdocs.read_outputs(module):
            assert output.description, f"{module.name}: output {output.name} undescribed"


def _assert_pass_through(module: Path, item: tfdocs.Input) -> None:
    """An untyped variable is only a pass-through of another module's typed variable, which its description
    names (`modules/batch` variable `job_queues`): the type lives once, with its owner."""
    owner = re.search(r"`modules/([a-z-]+)` variable `(\w+)`", item.description)
    assert owner, f"{module.name}: variable {item.name} is untyped and names no owning module variable"
    typed = {i.name: i.type for i in tfdocs.read_inputs(module.parent / owner.group(1))}
    assert typed.get(owner.group(2), "any") != "any", f"{module.name}: {item.name} names no typed {owner.group(0)}"


def _scratch_module(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "modules" / "registry", tmp_path / "modules" / "registry")
    return tmp_path / "modules" / "registry"


def test_a_new_variable_makes_the_readme_stale_until_regenerated(tmp_path: Path) -> None:
    module = _scratch_module(tmp_path)
    intro = (module / "README.md").read_text().split(tfdocs.BEGIN)[0]
    with (module / "variables.tf").open("a") as fh:
        fh.write('\nvariable "scan_filter" {\n  description = "Which | images to scan."\n  type = string\n}\n')
    assert tfdocs.stale(tmp_path) == [module / "README.md"]
    assert tfdocs.main(["--check", "--root", str(tmp_path)]) == 1
    assert tfdocs.main(["--root", str(tmp_path)]) == 0
    text = (module / "README.md").read_text()
    assert "| `scan_filter` | Which \\| images to scan. | `string` | n/a | yes |" in text
    assert text.startswith(intro)  # the hand-written part stays
    assert tfdocs.main(["--check", "--root", str(tmp_path)]) == 0


def test_a_readme_without_markers_gets_the_tables_appended(tmp_path: Path) -> None:
    module = _scratch_module(tmp_path)
    (module / "README.md").write_text("# Registry\n\nHand-written.\n")
    tfdocs.write(tmp_path)
    text = (module / "README.md").read_text()
    assert text.startswith("# Registry\n\nHand-written.\n\n" + tfdocs.BEGIN)
    assert "| `repository_urls` |" in text and text.rstrip().endswith(tfdocs.END)


def test_defaults_render_as_hcl() -> None:
    assert tfdocs.hcl_value(None) == "null"
    assert tfdocs.hcl_value(True) == "true"
    assert tfdocs.hcl_value('"$Latest"') == '"$Latest"'
    assert tfdocs.hcl_value({"a": [1, '"x"'], "b": {}}) == '{ a = [1, "x"], b = {} }'
