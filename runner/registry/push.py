"""`runner image push`: put a local Docker image into the env's ECR repository under a tag.

Real envs: docker login with ECR's authorization token (``GetAuthorizationToken``, in a throw-away Docker config
so the credentials do not outlive the push), then ``docker tag`` and ``docker push``.

The emulator env: moto's ECR stores manifests but no layers, so there is nothing to push to. The image is tagged
in the local Docker daemon under the repository URL (a local job naming that URL runs it from the daemon) and
recorded in the emulator's ECR with ``PutImage`` (a manifest built from ``docker image inspect``), so
``describe-images`` lists it like a pushed image.

Every repository is immutable (modules/registry): a tag that already exists is refused before anything is
written, with one line saying so.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runner.aws.context import AwsContext
from runner.aws.retry import error_code
from runner.core.errors import RunFailed, UsageError

if TYPE_CHECKING:
    from runner.session import Session

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar"


@dataclass(frozen=True)
class Target:
    """Where LOCAL_IMAGE goes: a repository of the env (its key and URL) and a tag."""

    image: str
    repository: str
    url: str
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.url}:{self.tag}"

    @property
    def repository_name(self) -> str:
        return self.url.split("/", 1)[1]


@dataclass
class Pushed:
    env: str
    image: str
    repository: str
    reference: str
    tag: str
    digest: str | None
    emulator: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PushRequest:
    local_image: str  # a local Docker image (name:tag or id)
    tag: str | None = None  # the tag to push under (default: the image's own)
    repository: str | None = None  # a key of the env's repositories (default: its only one)


def push_image(session: Session, request: PushRequest) -> Pushed:
    """Tag the image and push it to the env's repository (an existing, immutable tag is refused first)."""
    urls = session.outputs.require("ecr_repository_urls")
    target = resolve_target(request.local_image, urls, request.tag, request.repository)
    return push(session.aws, target, Docker())


def image_tag(image: str) -> str | None:
    """The tag of a local image reference (`name:tag`), None without one (a registry port is not a tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def resolve_target(image: str, repository_urls: dict[str, str], tag: str | None, repository: str | None) -> Target:
    """Check the arguments against the env's repositories; nothing is touched yet."""
    if not image.strip():
        raise UsageError("LOCAL_IMAGE: name a local Docker image (name:tag or an image id)")
    if not repository_urls:
        raise UsageError("--env: the env has no ECR repositories (output ecr_repository_urls is empty)")
    known = ", ".join(sorted(repository_urls))
    if repository is None:
        if len(repository_urls) > 1:
            raise UsageError(f"--repository: the env has several repositories ({known}); name one")
        repository = next(iter(repository_urls))
    elif repository not in repository_urls:
        raise UsageError(f"--repository: '{repository}' is not a repository of the env (known: {known})")
    chosen = tag if tag is not None else image_tag(image)
    if chosen is None:
        raise UsageError(f"--tag: '{image}' has no tag of its own; name the tag to push it under")
    if not TAG.match(chosen):
        raise UsageError(
            f"--tag: '{chosen}' is not a valid tag (letters, digits, _ . -, at most 128, no leading . or -)"
        )
    return Target(image=image, repository=repository, url=repository_urls[repository], tag=chosen)


class Docker:
    """The docker CLI (the daemon does the work); errors become one line."""

    def __init__(self, binary: str | None = None, environ: dict[str, str] | None = None) -> None:
        found = binary or shutil.which("docker")
        if found is None:
            raise UsageError("docker: not found on PATH (runner image push needs the Docker CLI and a daemon)")
        self.binary = found
        self.environ = environ

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        try:
            proc = subprocess.run(
                [self.binary, *args],
                input=stdin,
                capture_output=True,
                text=True,
                env=env or self.environ,
                check=False,
            )
        except OSError as exc:
            raise UsageError(f"docker: cannot run '{self.binary}': {exc.strerror}") from None
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RunFailed(f"docker {args[0]} failed (exit {proc.returncode}): {detail}")
        return proc.stdout

    def inspect(self, image: str) -> dict[str, Any]:
        try:
            data = json.loads(self.run("image", "inspect", image))
        except RunFailed:
            raise UsageError(f"LOCAL_IMAGE: no image '{image}' in the local Docker daemon") from None
        first: dict[str, Any] = data[0]
        return first


def manifest_for(inspected: dict[str, Any]) -> str:
    """A Docker v2 manifest describing a local image (config digest = image id; layers = its diff ids)."""
    layers = inspected.get("RootFS", {}).get("Layers") or []
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "size": int(inspected.get("Size") or 0), "digest": inspected["Id"]},
        "layers": [{"mediaType": LAYER_TYPE, "size": 0, "digest": layer} for layer in layers],
    }
    return json.dumps(manifest, separators=(",", ":"))


def refuse_existing_tag(ecr: Any, target: Target) -> None:
    """One line when the tag exists in an immutable repository (describe_images before any write)."""
    try:
        repo = ecr.describe_repositories(repositoryNames=[target.repository_name])["repositories"][0]
    except ClientError as exc:
        if error_code(exc) == "RepositoryNotFoundException":
            raise UsageError(
                f"--repository: '{target.repository_name}' does not exist in AWS; is the env applied?"
            ) from None
        raise
    try:
        found = ecr.describe_images(repositoryName=target.repository_name, imageIds=[{"imageTag": target.tag}])
    except ClientError as exc:
        if error_code(exc) == "ImageNotFoundException":
            return
        raise
    if found.get("imageDetails") and repo.get("imageTagMutability") == "IMMUTABLE":
        raise UsageError(
            f"--tag: '{target.tag}' already exists in {target.repository_name} and its tags are immutable; "
            "push under a new tag (nothing pushed)"
        )


def push(aws: AwsContext, target: Target, docker: Docker | None = None) -> Pushed:
    docker = docker or Docker()
    docker.inspect(target.image)  # a missing local image is bad input: fail before any AWS call
    ecr = aws.client("ecr")
    refuse_existing_tag(ecr, target)
    record = _record_in_emulator if aws.uses_emulator else _push_to_ecr
    digest = record(ecr, docker, target)
    return Pushed(
        env=aws.env.name,
        image=target.image,
        repository=target.repository,
        reference=target.reference,
        tag=target.tag,
        digest=digest,
        emulator=aws.uses_emulator,
    )


def _record_in_emulator(ecr: Any, docker: Docker, target: Target) -> str | None:
    docker.run("tag", target.image, target.reference)
    inspected = docker.inspect(target.reference)
    image = ecr.put_image(
        repositoryName=target.repository_name,
        imageManifest=manifest_for(inspected),
        imageManifestMediaType=MANIFEST_TYPE,
        imageTag=target.tag,
    )["image"]
    digest: str | None = image.get("imageId", {}).get("imageDigest")
    return digest


def _push_to_ecr(ecr: Any, docker: Docker, target: Target) -> str | None:
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    with tempfile.TemporaryDirectory(prefix="runner-docker-") as config_dir:
        environ = {**os.environ, "DOCKER_CONFIG": config_dir}
        docker.run("login", "--username", user, "--password-stdin", auth["proxyEndpoint"], stdin=password, env=environ)
        docker.run("tag", target.image, target.reference)
        docker.run("push", target.reference, env=environ)
    found = ecr.describe_images(repositoryName=target.repository_name, imageIds=[{"imageTag": target.tag}])
    details = found.get("imageDetails") or [{}]
    digest: str | None = details[0].get("imageDigest")
    return digest
