"""Session fixtures, terratest style: deploy envs/local once on the embedded AWS, assert, tear down last."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from runner.infra.terraform import Terraform
from tests.helpers import Project, copy_project, free_port, require_tool


@pytest.fixture(autouse=True, scope="session")
def _hash_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Staging's hash cache (RUNNER_CACHE_DIR) in a scratch folder: tests never write the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNNER_CACHE_DIR", str(tmp_path_factory.mktemp("runner-cache")))
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `teardown` (destroy the shared deployment) run after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("teardown") is not None)


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The shared scratch project with its own emulator; stopped at the end of the session."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    proj = Project(root=root, port=free_port())
    yield proj
    proj.run("local", "down", check=False)


@pytest.fixture(scope="session")
def emulator(project: Project) -> dict[str, Any]:
    info: dict[str, Any] = project.run_json("local", "up", "--json")
    return info


@dataclass
class Deployment:
    project: Project
    plan_summary: dict[str, Any]
    plan_json: dict[str, Any]
    outputs: dict[str, Any]
    # `runner ami build --env local --json` run before the plan: the AMI the launch template uses.
    ami_build: dict[str, Any] = field(default_factory=dict)

    def output(self, name: str) -> Any:
        return self.outputs[name]["value"]

    def client(self, service: str) -> Any:
        return self.project.client(service, region=self.output("region"))


@pytest.fixture(scope="session")
def deployed(project: Project, emulator: dict[str, Any]) -> Deployment:
    """`runner ami build`, then `runner infra plan` and `apply` of envs/local, once per session (the provider is slow
    on queues); the apply uses the built AMI through envs/local/ami.auto.tfvars.json."""
    require_tool("terraform")
    require_tool("packer")
    ami_build: dict[str, Any] = project.run_json("ami", "build", "--env", "local", "--json")
    plan = project.run_json("infra", "plan", "--env", "local", "--format", "json")
    plan_file = project.home / "plans" / "local.plan"
    tf = Terraform(
        project.root / "envs" / "local",
        project.root / "modules",
        project.home,
        environ=project.environ(AWS_ENDPOINT_URL=project.endpoint),
    )
    plan_json = tf.show_plan(plan_file)
    project.run("infra", "apply", "--env", "local", "--auto-approve")
    outputs = json.loads(project.run("infra", "output", "--env", "local", "--json").stdout)
    return Deployment(project=project, plan_summary=plan, plan_json=plan_json, outputs=outputs, ami_build=ami_build)
