"""The terraform wrapper at terraform's cost, with real terraform on a config of builtin `terraform_data` resources
(no provider to download, seconds to run): the summary from `plan -json`'s stream is the one `show -json` gives,
the state identity comes from the plan file and the local state file, outputs from the state file."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from runner.core.errors import RunFailed
from runner.infra.plan_summary import summarize
from runner.infra.terraform import Terraform, plan_identity
from tests.helpers import require_tool

BEFORE = """
terraform {
  backend "local" {}
}
variable "v" { default = "1" }
resource "terraform_data" "kept" { input = var.v }
resource "terraform_data" "replaced" { triggers_replace = ["a"] }
resource "terraform_data" "removed" { input = "bye" }
output "value" { value = terraform_data.kept.output }
output "fixed" { value = "same" }
"""

AFTER = """
terraform {
  backend "local" {}
}
variable "v" { default = "2" }
resource "terraform_data" "kept" { input = var.v }
resource "terraform_data" "replaced" { triggers_replace = ["b"] }
resource "terraform_data" "added" {
  count = 2
  input = count.index
}
output "value" { value = terraform_data.kept.output }
output "fixed" { value = "same" }
"""


@pytest.fixture
def engine(tmp_path: Path) -> Terraform:
    require_tool("terraform")
    env_dir, modules = tmp_path / "envs" / "t", tmp_path / "modules"
    env_dir.mkdir(parents=True)
    modules.mkdir()
    (env_dir / "main.tf").write_text(BEFORE)
    home = tmp_path / "home"
    home.mkdir()
    tf = Terraform(env_dir, modules, home, stream=io.StringIO())
    first = tf.plan(home / "first.tfplan")
    assert first.identity is None and first.has_changes  # no state yet
    tf.apply_plan(home / "first.tfplan")
    (env_dir / "main.tf").write_text(AFTER)
    return tf


def _state(tf: Terraform) -> dict:
    return json.loads((tf.env_dir / "terraform.tfstate").read_text())


def test_the_streamed_summary_is_the_one_show_json_gives(engine: Terraform) -> None:
    result = engine.plan(engine.home / "p.tfplan")
    assert result.has_changes and result.code == 2
    streamed = result.summary.to_dict()
    assert streamed == summarize(result.plan).to_dict()  # `.plan` runs `show -json`, only when asked
    assert (streamed["add"], streamed["change"], streamed["destroy"]) == (3, 1, 2)
    assert streamed["by_type"] == {"terraform_data": {"create": 2, "delete": 1, "replace": 1, "update": 1}}
    assert streamed["outputs_changed"] == ["value"]
    echoed = engine.stream.getvalue()  # type: ignore[attr-defined]
    assert "terraform_data.removed: Plan to delete" in echoed
    assert "Plan: 3 to add, 1 to change, 2 to destroy." in echoed


def test_identity_from_the_plan_file_and_the_state_file_without_terraform(engine: Terraform) -> None:
    state = _state(engine)
    expected = (state["lineage"], state["serial"])
    result = engine.plan(engine.home / "p.tfplan")
    assert result.identity == plan_identity(result.plan_file) == expected
    assert engine.local_state_file() == engine.env_dir / "terraform.tfstate"
    assert engine.state_identity() == expected
    pulled = json.loads(engine.run("state", "pull", capture=True).stdout)
    assert (pulled["lineage"], pulled["serial"]) == expected
    engine.apply_plan(result.plan_file)
    assert engine.state_identity() == (state["lineage"], _state(engine)["serial"]) != expected


def test_outputs_from_the_state_file_are_terraforms(engine: Terraform) -> None:
    raw = json.loads(engine.run("output", "-json", capture=True).stdout)
    assert (
        engine.output_values()
        == {name: item["value"] for name, item in raw.items()}
        == {
            "value": "1",
            "fixed": "same",
        }
    )


def test_a_remote_backend_asks_terraform(engine: Terraform) -> None:
    backend = engine.env_dir / ".terraform" / "terraform.tfstate"
    saved = backend.read_text()
    backend.write_text(json.dumps({"version": 3, "backend": {"type": "s3", "config": {"bucket": "b"}}}))
    try:
        assert engine.local_state_file() is None
    finally:
        backend.write_text(saved)
    (engine.env_dir / ".terraform" / "environment").write_text("staging")
    assert engine.local_state_file() is None


def test_a_failing_plan_names_terraforms_error(engine: Terraform) -> None:
    (engine.env_dir / "main.tf").write_text(AFTER + '\noutput "bad" { value = terraform_data.nosuch.output }\n')
    with pytest.raises(RunFailed, match="Reference to undeclared resource"):
        engine.plan(engine.home / "bad.tfplan")
    assert "Reference to undeclared resource" in engine.stream.getvalue()  # type: ignore[attr-defined]


def test_plan_file_without_state_entry_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tfplan"
    with zipfile.ZipFile(bogus, "w") as archive:
        archive.writestr("tfplan", b"")
    with pytest.raises(RunFailed, match="not a terraform plan file"):
        plan_identity(bogus)
