"""Image recipes: names, hashes that change with the recipe, errors that name what to install."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from runner.core.errors import UsageError
from runner.local import images

REPO = Path(__file__).resolve().parents[2]


def test_recipes_name_their_images() -> None:
    assert images.RECIPES["base"].image == "batch-platform/base:latest"
    assert images.RECIPES["tools"].image == "batch-platform/tools:latest"
    assert {"seqkit", "fastp", "samtools", "awscli", "python3-boto3"} <= set(images.RECIPES["tools"].packages)


def test_the_python_image_has_python_pip_and_keeps_its_locked_wheels_for_offline_installs() -> None:
    python = images.RECIPES["python"]
    assert python.image == "batch-platform/python:latest"
    assert {"python3", "python-is-python3", "python3-pip"} <= set(python.packages)
    assert images.requirements_file(python) == REPO / "requirements" / "python-image.txt"
    env = {c.removeprefix("ENV ") for c in python.changes if c.startswith("ENV ")}
    assert {"PIP_NO_INDEX=1", "PIP_FIND_LINKS=/opt/wheels", "PIP_BREAK_SYSTEM_PACKAGES=1"} <= env


def test_the_python_image_runs_the_hosts_snakemake_and_plugins() -> None:
    """A Snakemake job runs `python -m snakemake` with the arguments the host's Snakemake wrote: same versions."""
    pinned = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", (REPO / "requirements" / "python-image.txt").read_text(), re.M))
    locked = {p["name"]: p["version"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    family = {name for name in pinned if name.startswith("snakemake")}
    assert {"snakemake", "snakemake-storage-plugin-s3", "boto3", "requests"} <= set(pinned)
    assert {name: pinned[name] for name in family} == {name: locked[name] for name in family}


def test_hash_follows_the_recipe_and_its_requirements(tmp_path: Path, monkeypatch) -> None:
    python = images.RECIPES["python"]
    before = images.recipe_hash(python)
    changed = tmp_path / "python-image.txt"
    changed.write_text(images.requirements_file(python).read_text() + "# changed\n")
    monkeypatch.setattr(images, "requirements_file", lambda r: changed)
    assert images.recipe_hash(python) != before


def test_no_host_pip_for_the_image_python_names_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(images, "IMAGE_PYTHON", (2, 7))
    with pytest.raises(UsageError, match=r"image python: needs pip for Python 2\.7 on this host .*python3-pip"):
        images.host_pip(images.RECIPES["python"])


def test_hash_follows_the_recipe() -> None:
    tools = images.RECIPES["tools"]
    assert images.recipe_hash(tools) == images.recipe_hash(dataclasses.replace(tools))
    assert images.recipe_hash(tools) != images.recipe_hash(dataclasses.replace(tools, packages=("seqkit",)))


def test_unknown_recipe_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown recipe 'nope'"):
        images.recipe("nope")


def test_missing_docker_names_what_to_install(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UsageError, match=r"docker: not installed; install docker\.io"):
        images.build("base")


def test_missing_mmdebstrap_names_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(images, "_require_daemon", lambda: None)
    real_which = images.shutil.which
    monkeypatch.setattr(images.shutil, "which", lambda name: None if name == "mmdebstrap" else real_which(name))
    with pytest.raises(UsageError, match=r"mmdebstrap is not installed; install it"):
        images.build("tools")
