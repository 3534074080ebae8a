"""Image recipes: names, hashes that change with the recipe, errors that name what to install."""

from __future__ import annotations

import dataclasses

import pytest

from runner.core.errors import UsageError
from runner.local import images


def test_recipes_name_their_images() -> None:
    assert images.RECIPES["base"].image == "batch-platform/base:latest"
    assert images.RECIPES["tools"].image == "batch-platform/tools:latest"
    assert {"seqkit", "fastp", "samtools", "awscli", "python3-boto3"} <= set(images.RECIPES["tools"].packages)


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
