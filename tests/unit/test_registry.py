"""runner.registry: target resolution (validated before anything is touched) and the manifest of a local image."""

from __future__ import annotations

import json

import pytest

from runner.core.errors import UsageError
from runner.registry.push import image_tag, manifest_for, resolve_target

URLS = {"pipelines": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-dev/pipelines"}


@pytest.mark.parametrize(
    ("image", "tag"),
    [("rnaseq:1.2", "1.2"), ("rnaseq", None), ("localhost:5000/rnaseq", None), ("localhost:5000/x/rnaseq:v1", "v1")],
)
def test_image_tag_ignores_a_registry_port(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def test_target_defaults_to_the_only_repository_and_the_image_tag() -> None:
    target = resolve_target("rnaseq:1.2", URLS, None, None)
    assert target.reference == f"{URLS['pipelines']}:1.2"
    assert target.repository_name == "acme-dev/pipelines"
    assert resolve_target("rnaseq:1.2", URLS, "dev-abc", "pipelines").tag == "dev-abc"


@pytest.mark.parametrize(
    ("image", "urls", "tag", "repository", "message"),
    [
        ("rnaseq", URLS, None, None, "--tag: 'rnaseq' has no tag of its own"),
        ("rnaseq:1", URLS, "-x", None, "--tag: '-x' is not a valid tag"),
        ("rnaseq:1", URLS, "a" * 129, None, "--tag: 'aaaa"),
        ("rnaseq:1", URLS, None, "tools", "--repository: 'tools' is not a repository of the env (known: pipelines)"),
        ("rnaseq:1", {**URLS, "tools": "x/y"}, None, None, "--repository: the env has several repositories"),
        ("rnaseq:1", {}, None, None, "--env: the env has no ECR repositories"),
        (" ", URLS, None, None, "LOCAL_IMAGE: name a local Docker image"),
    ],
)
def test_bad_targets_name_the_field(
    image: str, urls: dict[str, str], tag: str | None, repository: str | None, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_target(image, urls, tag, repository)
    assert str(caught.value).startswith(message)


def test_manifest_describes_the_local_image() -> None:
    inspected = {"Id": "sha256:" + "a" * 64, "Size": 1234, "RootFS": {"Layers": ["sha256:" + "b" * 64]}}
    manifest = json.loads(manifest_for(inspected))
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["digest"] == inspected["Id"] and manifest["config"]["size"] == 1234
    assert [layer["digest"] for layer in manifest["layers"]] == inspected["RootFS"]["Layers"]
