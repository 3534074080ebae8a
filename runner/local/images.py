"""Container images for the local Batch, built offline from Debian's packages.

Each recipe names an image (``batch-platform/<name>:latest``) and how to make its root filesystem:

- ``base``: busybox-static unpacked with one link per applet (sh, wget, sleep, dd, ...), a second to build;
- ``tools``: ``mmdebstrap --variant=essential`` of bookworm with seqkit, fastp, samtools, awscli and
  python3-boto3 (bash, coreutils and python3 come along), about two minutes;
- ``python``: the same with python3, ``python`` (python-is-python3) and pip, plus the locked Python packages of
  ``requirements/python-image.txt`` (boto3, requests, snakemake and its S3 storage plugin): pip on the host fetches
  their wheels with the lock's hashes (building the few published only as sources), the build copies them into
  the image and installs them there offline, and the image keeps them at ``/opt/wheels`` with ``PIP_NO_INDEX=1``
  and ``PIP_FIND_LINKS=/opt/wheels``: what real Batch clients' job commands pip-install (Metaflow: boto3 and
  requests; Snakemake's AWS Batch executor: snakemake-storage-plugin-s3) installs from there, with no network.

The tarball is piped into ``docker import`` with the ``--change`` instructions a usable image needs (PATH,
working directory, default command) and a label ``runner.recipe=<hash>``: the hash of everything that shapes the
image (recipe fields, the busybox binary, the locked requirements). ``ensure`` builds only when the image is
missing or its label differs from the recipe's hash; ``build(force=True)`` always rebuilds. Where a registry is
reachable, ``RUNNER_IMAGE_MIRROR`` (a registry prefix, e.g. ``registry.example.com/batch-platform``) makes
``ensure`` pull ``<mirror>/<name>:<hash>`` before building; nothing depends on that.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.core.errors import RunFailed, UsageError
from runner.core.project import BUNDLE
from runner.local import docker

PREFIX = "batch-platform"
LABEL = "runner.recipe"
RECIPE_FORMAT = 1  # bump when the build steps below change what an image contains
MIRROR_VAR = "RUNNER_IMAGE_MIRROR"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WHEELHOUSE = "/opt/wheels"  # where an image with locked wheels keeps them (its pip's find-links)
IMAGE_PYTHON = (3, 11)  # bookworm's python3: the host's pip fetches wheels for this version


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    kind: str  # "busybox" or "debian"
    packages: tuple[str, ...] = ()
    suite: str = "bookworm"
    changes: tuple[str, ...] = field(default=(f"ENV PATH={BASE_PATH}", "WORKDIR /", 'CMD ["sh"]'))
    wheels: str = ""  # a hashed requirements file (path in the project): its wheels are installed and kept

    @property
    def image(self) -> str:
        return f"{PREFIX}/{self.name}:latest"

    @property
    def needs(self) -> str:
        return "busybox-static" if self.kind == "busybox" else "mmdebstrap"


RECIPES: dict[str, Recipe] = {
    "base": Recipe("base", "busybox: sh, wget, sleep, dd and the other busybox applets", "busybox"),
    "tools": Recipe(
        "tools",
        "Debian bookworm with seqkit, fastp, samtools, awscli, python3-boto3",
        "debian",
        packages=("seqkit", "fastp", "samtools", "awscli", "python3-boto3", "ca-certificates"),
        changes=(f"ENV PATH={BASE_PATH}", "ENV LANG=C.UTF-8", "WORKDIR /", 'CMD ["bash"]'),
    ),
    "python": Recipe(
        "python",
        "Debian bookworm with python, pip and the locked boto3, requests, snakemake (+ S3 plugin), wheels kept",
        "debian",
        packages=("python3", "python-is-python3", "python3-pip", "ca-certificates"),
        wheels="requirements/python-image.txt",
        changes=(
            f"ENV PATH={BASE_PATH}",
            "ENV LANG=C.UTF-8",
            # pip in a job installs from the image's wheelhouse only (no network), into the image's Python
            # (a container's own: Debian's "externally managed" guard is for a host's system Python)
            "ENV PIP_NO_INDEX=1",
            f"ENV PIP_FIND_LINKS={WHEELHOUSE}",
            "ENV PIP_BREAK_SYSTEM_PACKAGES=1",
            "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
            "ENV PIP_ROOT_USER_ACTION=ignore",
            "WORKDIR /",
            'CMD ["python"]',
        ),
    ),
}


@dataclass(frozen=True)
class ImageState:
    name: str
    image: str
    recipe_hash: str
    built_hash: str | None  # the label of the image the daemon has, None when it has none
    image_id: str | None
    built: bool = False  # this call built (or pulled) it
    seconds: float = 0.0

    @property
    def current(self) -> bool:
        return self.built_hash == self.recipe_hash

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "current": self.current}


def recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise UsageError(f"image: unknown recipe '{name}' (known: {', '.join(RECIPES)})") from None


def _busybox() -> Path:
    """The static busybox of Debian's busybox-static (a dynamic one would not run in an empty image)."""
    override = os.environ.get("RUNNER_BUSYBOX")
    if override:
        return Path(override)
    if shutil.which("dpkg-query"):
        proc = subprocess.run(["dpkg-query", "-L", "busybox-static"], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            if line.endswith("/bin/busybox") and Path(line).is_file():
                return Path(line)
    raise UsageError("image base: busybox-static is not installed; install it (apt-get install -y busybox-static)")


def requirements_file(r: Recipe) -> Path:
    """The recipe's locked requirements: the installed runner's bundle, else the source tree it runs from."""
    for root in (BUNDLE, Path(__file__).resolve().parents[2]):
        if (root / r.wheels).is_file():
            return root / r.wheels
    raise UsageError(f"image {r.name}: {r.wheels} is missing (a broken install): reinstall batch-platform-runner")


def host_pip(r: Recipe) -> list[str]:
    """A pip on this host running the image's Python version (it picks the wheels), as a command."""
    wanted = ".".join(map(str, IMAGE_PYTHON))
    check = f"import sys, pip; sys.exit(sys.version_info[:2] != {IMAGE_PYTHON!r})"
    folders = [Path(folder) for folder in os.environ.get("PATH", "").split(os.pathsep) if folder]
    # every candidate on PATH, not just the first: a virtualenv made by uv (the runner's own) has no pip
    pythons = [sys.executable, *(str(f / name) for f in folders for name in (f"python{wanted}", "python3"))]
    for python in dict.fromkeys(pythons):
        if not os.access(python, os.X_OK):
            continue
        if subprocess.run([python, "-c", check], capture_output=True, check=False).returncode == 0:
            return [python, "-m", "pip"]
    raise UsageError(
        f"image {r.name}: needs pip for Python {wanted} on this host to fetch its locked wheels "
        f"(python{wanted} -m pip; Debian: apt-get install -y python3-pip)"
    )


def recipe_hash(r: Recipe) -> str:
    facts: dict[str, object] = {"format": RECIPE_FORMAT, **asdict(r)}
    if not r.wheels:
        del facts["wheels"]  # recipes without wheels keep the hashes they had before there were any
    if r.kind == "busybox":
        facts["busybox"] = hashlib.sha256(_busybox().read_bytes()).hexdigest()
    if r.wheels:
        facts["requirements"] = hashlib.sha256(requirements_file(r).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _inspect(image: str) -> tuple[str | None, str | None]:
    """(recipe label, image id) of an image the daemon has, (None, None) when it has none."""
    proc = subprocess.run(
        [docker.docker_cli(), "image", "inspect", image, "--format", "{{json .Config.Labels}} {{.Id}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None, None
    labels_json, _, image_id = proc.stdout.strip().rpartition(" ")
    labels = json.loads(labels_json or "null") or {}
    return labels.get(LABEL), image_id


def _require_daemon() -> None:
    docker.docker_cli()
    proc = subprocess.run([docker.docker_cli(), "version", "--format", "{{.Server.Version}}"], capture_output=True)
    if proc.returncode != 0:
        raise UsageError(f"docker: no daemon answers; {docker.INSTALL_HINT}")


def state(name: str) -> ImageState:
    r = recipe(name)
    built_hash, image_id = _inspect(r.image)
    return ImageState(r.name, r.image, recipe_hash(r), built_hash, image_id)


def list_images() -> list[ImageState]:
    _require_daemon()
    return [state(name) for name in RECIPES]


def ensure(name: str) -> str:
    """The image reference for a recipe, built (or pulled from the mirror) only when missing or stale."""
    return build(name).image


def build(name: str, force: bool = False) -> ImageState:
    r = recipe(name)
    _require_daemon()
    if r.kind == "debian" and shutil.which("mmdebstrap") is None:
        raise UsageError(f"image {name}: mmdebstrap is not installed; install it (apt-get install -y mmdebstrap)")
    current = state(name)
    if current.current and not force:
        return current
    started = time.monotonic()
    if force or not _pull(r, current.recipe_hash):
        if r.kind == "busybox":
            _build_busybox(r, current.recipe_hash)
        else:
            _build_debian(r, current.recipe_hash)
    built_hash, image_id = _inspect(r.image)
    if current.image_id and current.image_id != image_id:  # the replaced image, unless a container still uses it
        subprocess.run([docker.docker_cli(), "rmi", current.image_id], capture_output=True, check=False)
    return ImageState(
        r.name, r.image, current.recipe_hash, built_hash, image_id, True, round(time.monotonic() - started, 1)
    )


def _pull(r: Recipe, digest: str) -> bool:
    """The registry seam: with RUNNER_IMAGE_MIRROR set, try ``<mirror>/<name>:<hash>`` before building."""
    mirror = os.environ.get(MIRROR_VAR, "").rstrip("/")
    if not mirror:
        return False
    remote = f"{mirror}/{r.name}:{digest}"
    proc = subprocess.run([docker.docker_cli(), "pull", remote], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return False
    docker.cli(["tag", remote, r.image])
    got, _ = _inspect(r.image)
    return got == digest


def _import_args(r: Recipe, digest: str) -> list[str]:
    """Import under a scratch tag: `latest` moves only once the whole tarball went in (see _publish)."""
    args = ["import"]
    for change in (*r.changes, f"LABEL {LABEL}={digest}"):
        args += ["--change", change]
    return [*args, "-", _scratch(r, digest)]


def _scratch(r: Recipe, digest: str) -> str:
    return f"{PREFIX}/{r.name}:building-{digest}"


def _publish(r: Recipe, digest: str, ok: bool) -> None:
    if ok:
        docker.cli(["tag", _scratch(r, digest), r.image])
    subprocess.run([docker.docker_cli(), "rmi", _scratch(r, digest)], capture_output=True, check=False)


def _import(r: Recipe, digest: str, producer: list[str], stderr: Any) -> int:
    """Pipe ``producer``'s tarball into `docker import`; `latest` moves only when the producer succeeded."""
    proc = subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=stderr)
    try:
        docker.cli(_import_args(r, digest), stdin=proc.stdout)
    finally:
        if proc.stdout:
            proc.stdout.close()
        code = proc.wait()
    _publish(r, digest, code == 0)
    return code


def _build_busybox(r: Recipe, digest: str) -> None:
    busybox = _busybox()
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="runner-image-") as tmp:
        root = Path(tmp)
        for folder in ("bin", "etc", "tmp", "root", "usr/bin", "usr/local/bin", "var/tmp"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "tmp").chmod(0o1777)
        (root / "var/tmp").chmod(0o1777)
        shutil.copy2(busybox, root / "bin/busybox")
        for applet in applets:
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
        code = _import(r, digest, ["tar", "-C", str(root), "-c", "."], None)
        if code != 0:
            raise RunFailed(f"image {r.name}: tar of the root filesystem failed (exit {code})")


def _build_debian(r: Recipe, digest: str) -> None:
    with tempfile.TemporaryDirectory(prefix="runner-image-") as tmp:
        command = [
            "mmdebstrap",
            "--quiet",
            "--variant=essential",
            f"--include={','.join(r.packages)}",
            "--aptopt=Acquire::Retries=3",
            *(_wheel_hooks(r, Path(tmp)) if r.wheels else []),
            r.suite,
            "-",
        ]
        with tempfile.TemporaryFile() as errors:
            code = _import(r, digest, command, errors)
            if code != 0:
                errors.seek(0)
                lines = errors.read().decode(errors="replace").strip().splitlines() or ["no output"]
                raise RunFailed(f"image {r.name}: mmdebstrap failed (exit {code}): {lines[-1]}")


def _wheel_hooks(r: Recipe, scratch: Path) -> list[str]:
    """Fetch the recipe's wheels on the host (pip checks the lock's hashes; sources become wheels), then the
    mmdebstrap hooks that copy them into the image and install them there with no index, exactly those files."""
    wheels = scratch / Path(WHEELHOUSE).name
    fetch = [*host_pip(r), "wheel", "--quiet", "--no-deps", "--require-hashes", "-r", str(requirements_file(r))]
    proc = subprocess.run([*fetch, "--wheel-dir", str(wheels)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        raise RunFailed(f"image {r.name}: pip could not fetch the wheels of {r.wheels}: {lines[-1]}")
    install = (
        "python3 -m pip install --quiet --no-index --no-deps --break-system-packages --root-user-action=ignore "
        f"--disable-pip-version-check {WHEELHOUSE}/*.whl && python3 -m pip check --disable-pip-version-check"
    )
    return [
        f"--customize-hook=copy-in {wheels} {Path(WHEELHOUSE).parent}",
        f"--customize-hook=chroot \"$1\" sh -c '{install}'",
    ]
