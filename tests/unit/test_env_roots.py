"""Env roots stay thin copies of each other: they differ only in tfvars, backend and emulator settings.

Terraform roots cannot share files, so the same outputs (the contract the runner reads) and, for dev and prod,
the same wiring live in each folder. These tests keep the copies from drifting apart: change all of them.
"""

from __future__ import annotations

import pytest

from tests.helpers import REPO

ENVS = REPO / "envs"


def test_every_env_exposes_the_same_outputs() -> None:
    reference = (ENVS / "dev" / "outputs.tf").read_text()
    for env in ("local", "prod"):
        assert (ENVS / env / "outputs.tf").read_text() == reference, f"envs/{env}/outputs.tf differs from envs/dev"


@pytest.mark.parametrize("name", ["main.tf", "variables.tf"])
def test_dev_and_prod_share_their_wiring(name: str) -> None:
    assert (ENVS / "dev" / name).read_text() == (ENVS / "prod" / name).read_text(), f"envs/dev/{name} != envs/prod"


def test_dev_and_prod_differ_in_their_settings() -> None:
    assert (ENVS / "dev" / "terraform.tfvars").read_text() != (ENVS / "prod" / "terraform.tfvars").read_text()
