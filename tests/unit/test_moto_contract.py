"""The emulator's contract with moto (runner/local/moto_contract.py), checked against fake moto layouts: the old
and the new handler spellings, a moved name, a version outside the tested range. Plus: no module of `runner`
imports moto except through the contract, and `runner local up` with an unsupported moto is one line, exit 1."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from runner.local import moto_contract
from runner.local.moto_contract import HANDLERS, NAMES, MotoUnsupported, resolve

ROOT = Path(__file__).resolve().parents[2]


def _handler(self: Any) -> str:
    return "{}"


def _fake_moto(spelling: int, drop: str | None = None, drop_handler: str | None = None) -> dict[str, ModuleType]:
    """A fake moto layout: every module of NAMES with every name and method; handlers in spelling 0 (5.2.6+)
    or 1 (<= 5.2.5)."""
    methods: dict[str, list[str]] = {}
    for owner, method in moto_contract.METHODS:
        methods.setdefault(owner, []).append(method)
    modules: dict[str, ModuleType] = {}
    for attr, (module_name, name) in NAMES.items():
        module = modules.setdefault(module_name, ModuleType(module_name))
        if name == drop:
            continue
        body = {m: _handler for m in methods.get(attr, [])}
        if attr == "BatchResponse":
            body.update({spellings[spelling]: _handler for op, spellings in HANDLERS.items() if op != drop_handler})
        setattr(module, name, type(name, (), body) if attr[0].isupper() else SimpleNamespace())
    return modules


def _importer(modules: dict[str, ModuleType]) -> Any:
    def import_module(name: str) -> ModuleType:
        if name not in modules:
            raise ImportError(f"No module named '{name}'")
        return modules[name]

    return import_module


@pytest.mark.parametrize(("spelling", "version"), [(0, "5.2.6"), (1, "5.2.5")])
def test_handlers_are_found_under_the_installed_spelling(spelling: int, version: str) -> None:
    moto = resolve(version, _importer(_fake_moto(spelling)))
    assert moto.version == version
    assert moto.handlers == {op: spellings[spelling] for op, spellings in HANDLERS.items()}
    assert moto.handler("SubmitJob") is _handler
    replacement = lambda self: "[]"  # noqa: E731
    moto.replace_handler("SubmitJob", replacement)
    assert getattr(moto.BatchResponse, HANDLERS["SubmitJob"][spelling]) is replacement


def test_a_version_outside_the_tested_range_names_both_versions() -> None:
    with pytest.raises(MotoUnsupported) as caught:
        resolve("5.3.0", _importer(_fake_moto(0)))
    message = str(caught.value)
    assert "moto 5.3.0 is installed" in message
    assert moto_contract.SUPPORTED in message
    assert "\n" not in message
    with pytest.raises(MotoUnsupported, match="moto 5.1.9 is installed"):
        resolve("5.1.9", _importer(_fake_moto(0)))


def test_a_moved_name_or_handler_is_refused_with_what_is_missing() -> None:
    with pytest.raises(MotoUnsupported, match=r"moto\.batch\.models\.JobQueue is missing"):
        resolve("5.2.6", _importer(_fake_moto(0, drop="JobQueue")))
    with pytest.raises(MotoUnsupported, match="no handler for SubmitJob"):
        resolve("5.2.6", _importer(_fake_moto(0, drop_handler="SubmitJob")))
    modules = _fake_moto(0)
    del modules["moto.logs.models"]
    with pytest.raises(MotoUnsupported, match=r"moto\.logs\.models does not import"):
        resolve("5.2.6", _importer(modules))


def test_no_moto_installed_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_contract, "installed_version", lambda: None)
    with pytest.raises(MotoUnsupported, match=r"\[local\]"):
        resolve()


def test_the_installed_moto_satisfies_the_contract() -> None:
    """The locked moto is one the contract supports, and every name resolves in it."""
    moto = resolve()
    assert moto_contract.in_range(moto.version)
    assert set(moto.handlers) == set(HANDLERS)


def test_pyproject_bounds_match_the_contract() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert f'"moto[server]{moto_contract.SUPPORTED}"' in text


def test_only_the_contract_imports_moto() -> None:
    offenders = []
    for path in (ROOT / "runner").rglob("*.py"):
        if path.name == "moto_contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "moto" or n.startswith("moto.")]
    assert not offenders, offenders


def test_local_up_with_an_unsupported_moto_is_one_line(tmp_path: Path) -> None:
    """A real `runner local up` in a process whose moto reports 9.9.9: exit 1, one line, no traceback."""
    script = textwrap.dedent(
        """
        import sys
        from importlib import metadata
        real = metadata.version
        metadata.version = lambda name: "9.9.9" if name == "moto" else real(name)
        from runner.cli import main
        main(["local", "up"])
        """
    )
    env = {"RUNNER_HOME": str(tmp_path), "RUNNER_LOCAL_BATCH": "instant", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "moto 9.9.9 is installed" in lines[0]
    assert moto_contract.SUPPORTED in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "local" / "server.json").exists()


def test_the_emulator_refuses_a_moto_whose_names_moved_in_one_line(tmp_path: Path) -> None:
    """The emulator process resolves every name at start; a moved one: exit UNSUPPORTED_EXIT and one marked line,
    which `runner local up` turns into its own one-line error."""
    script = textwrap.dedent(
        """
        from runner.local import emulator, moto_contract
        moto_contract.NAMES["JobQueue"] = ("moto.batch.models", "NoSuchQueueClass")
        emulator.main(["-H", "127.0.0.1", "-p", "1"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert result.returncode == moto_contract.UNSUPPORTED_EXIT, result
    refusal = moto_contract.from_emulator_log("startup noise\n" + result.stderr)
    assert refusal is not None
    assert "moto.batch.models.NoSuchQueueClass is missing" in str(refusal)
    assert moto_contract.SUPPORTED in str(refusal)
    assert "Traceback" not in result.stderr
