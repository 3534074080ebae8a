"""Environment resolution and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.core.errors import UsageError
from runner.core.project import available_envs, resolve_env


def _project(tmp_path: Path) -> Path:
    for name in ("local", "dev", "prod"):
        (tmp_path / "envs" / name).mkdir(parents=True)
        (tmp_path / "envs" / name / "main.tf").write_text("")
    (tmp_path / "envs" / "notes").mkdir()  # no .tf: not an env
    (tmp_path / "modules").mkdir()
    (tmp_path / "envs" / "prod" / "runner.toml").write_text("protected = true\n")
    (tmp_path / "envs" / "dev" / "terraform.tfvars").write_text('region = "eu-west-2"\nname = "x"\n')
    return tmp_path


def test_available_envs_are_folders_with_tf_files(tmp_path: Path) -> None:
    assert available_envs(_project(tmp_path)) == ["dev", "local", "prod"]


def test_env_from_flag_then_env_variable(tmp_path: Path, monkeypatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setenv("ENV", "dev")
    assert resolve_env(None, root).name == "dev"
    assert resolve_env("prod", root).name == "prod"


def test_unknown_env_names_the_known_ones(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ENV", raising=False)
    with pytest.raises(UsageError, match=r"--env: unknown environment 'nosuch' \(known: dev, local, prod\)"):
        resolve_env("nosuch", _project(tmp_path))


def test_missing_env_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ENV", raising=False)
    with pytest.raises(UsageError, match="--env: no environment given"):
        resolve_env(None, _project(tmp_path))


def test_settings_and_region(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert resolve_env("prod", root).protected is True
    assert resolve_env("dev", root).protected is False
    assert resolve_env("dev", root).region == "eu-west-2"
    assert resolve_env("local", root).region == "us-east-1"


def test_broken_settings_file_is_a_usage_error(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "envs" / "dev" / "runner.toml").write_text("protected = = true")
    with pytest.raises(UsageError, match="envs/dev/runner.toml"):
        resolve_env("dev", root)
