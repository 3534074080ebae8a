"""`runner image push` in the local env, on the shared deployment: an image built here (busybox-static imported
into Docker, no registry needed) is tagged under the env's repository URL in the local daemon and recorded in the
emulator's ECR, so describe-images lists it; an existing tag is refused (the repositories are immutable). Then a
Batch job naming that URL runs it, on an emulator of its own in docker mode (the shared deployment's emulator
runs jobs instantly, without containers)."""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Deployment
from tests.helpers import Project, batch_queue, copy_project, error_line, free_port, require_tool

pytestmark = pytest.mark.integration

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: one static binary


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`docker import` of a tar holding /bin/busybox and its sh link; removed (with every tag we add) at the end."""
    require_tool("docker")
    assert BUSYBOX.is_file(), "busybox-static is not installed (apt-get install busybox-static)"
    tar_path = tmp_path_factory.mktemp("busybox") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
    name = f"runner-test-busybox-{uuid.uuid4().hex[:8]}:v1"
    docker("import", str(tar_path), name)
    image_id = docker("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
    yield name
    docker("rmi", "--force", image_id, check=False)


def test_push_tags_the_image_under_the_repository_url_and_records_it_in_ecr(
    deployed: Deployment, busybox_image: str
) -> None:
    url = deployed.output("ecr_repository_urls")["pipelines"]
    tag = f"dev-{uuid.uuid4().hex[:6]}"
    pushed = deployed.project.run_json("image", "push", busybox_image, "--env", "local", "--tag", tag, "--json")
    reference = f"{url}:{tag}"
    assert pushed["reference"] == reference and pushed["emulator"] is True and pushed["repository"] == "pipelines"

    # The local daemon knows the image under the repository URL: a local job naming that URL runs it.
    local_id = docker("image", "inspect", "--format", "{{.Id}}", busybox_image).stdout.strip()
    assert docker("image", "inspect", "--format", "{{.Id}}", reference).stdout.strip() == local_id
    out = docker("run", "--rm", reference, "busybox", "echo", "hello from the pushed image").stdout
    assert out.strip() == "hello from the pushed image"

    # ... and the emulator's ECR lists it, with the digest the push reported.
    ecr = deployed.client("ecr")
    repo_name = url.split("/", 1)[1]
    details = ecr.describe_images(repositoryName=repo_name, imageIds=[{"imageTag": tag}])["imageDetails"]
    assert len(details) == 1 and tag in details[0]["imageTags"]
    assert details[0]["imageDigest"] == pushed["digest"]
    manifest = json.loads(
        ecr.batch_get_image(repositoryName=repo_name, imageIds=[{"imageTag": tag}])["images"][0]["imageManifest"]
    )
    assert manifest["config"]["digest"] == local_id

    # Immutable tags: pushing the same tag again is refused in one line, and nothing changes.
    proc = deployed.project.run("image", "push", busybox_image, "--env", "local", "--tag", tag, check=False)
    assert proc.returncode == 2
    line = error_line(proc)
    assert f"--tag: '{tag}' already exists in {repo_name}" in line and "immutable" in line
    assert len(ecr.describe_images(repositoryName=repo_name)["imageDetails"]) >= 1
    docker("rmi", reference, check=False)


def test_push_bad_input_is_one_line_and_touches_nothing(deployed: Deployment, busybox_image: str) -> None:
    project = deployed.project
    cases = [
        (["image", "push", "no-such-image:v9", "--env", "local"], "LOCAL_IMAGE: no image 'no-such-image:v9'"),
        (["image", "push", busybox_image, "--env", "local", "--tag", "bad:tag"], "--tag: 'bad:tag' is not a valid tag"),
        (["image", "push", busybox_image, "--env", "local", "--repository", "nope"], "--repository: 'nope'"),
    ]
    for args, expected in cases:
        proc = project.run(*args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert expected in error_line(proc)


def test_a_local_batch_job_naming_the_repository_url_runs_the_pushed_image(
    busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A scratch project in docker mode: the repository (made with boto3, named in RUNNER_OUTPUTS_FILE as the
    env's output would), `runner image push`, then a job whose definition names only the ECR URL."""
    root = copy_project(tmp_path_factory.mktemp("push-job") / "p")
    outputs_file = root / "outputs.json"
    project = Project(
        root=root,
        port=free_port(),
        extra_env={"RUNNER_LOCAL_BATCH": "docker", "RUNNER_OUTPUTS_FILE": str(outputs_file)},
    )
    project.run("local", "up")
    tag = f"dev-{uuid.uuid4().hex[:6]}"
    reference = ""
    try:
        repo = project.client("ecr").create_repository(
            repositoryName="batch-local/pipelines", imageTagMutability="IMMUTABLE"
        )["repository"]
        outputs_file.write_text(json.dumps({"ecr_repository_urls": {"pipelines": repo["repositoryUri"]}}))
        reference = project.run_json("image", "push", busybox_image, "--env", "local", "--tag", tag, "--json")[
            "reference"
        ]
        assert reference == f"{repo['repositoryUri']}:{tag}"

        batch = project.client("batch")
        _, queue = batch_queue(project, f"push-{tag}")
        definition = batch.register_job_definition(
            jobDefinitionName=f"jd-{tag}",
            type="container",
            containerProperties={
                "image": reference,
                "command": ["busybox", "echo", "ran from the pushed image"],
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}],
            },
        )["jobDefinitionArn"]
        job_id = batch.submit_job(jobName="pushed", jobQueue=queue, jobDefinition=definition)["jobId"]
        job: dict[str, object] = {}
        for _ in range(240):
            job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                break
            time.sleep(0.5)
        assert job["status"] == "SUCCEEDED", job
        container = job["container"]
        assert isinstance(container, dict) and container["exitCode"] == 0
        events = project.client("logs").get_log_events(
            logGroupName="/aws/batch/job", logStreamName=container["logStreamName"]
        )["events"]
        assert [e["message"] for e in events] == ["ran from the pushed image"]
    finally:
        project.run("local", "down", check=False)
        if reference:
            docker("rmi", reference, check=False)
