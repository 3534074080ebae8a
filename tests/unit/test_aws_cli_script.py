"""packer/scripts/10-aws-cli.sh installs only an installer whose signature verifies against the pinned key.

Run for real against a local stand-in for awscli.amazonaws.com (file:// URLs), a throwaway signing key and a fake
installer: the good case installs under the prefix; a tampered zip, another key, or a wrong sha256 install nothing.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, require_tool

SCRIPT = REPO / "packer" / "scripts" / "10-aws-cli.sh"
VERSION = "2.17.0"
FAKE_INSTALLER = f"""#!/usr/bin/env bash
set -euo pipefail
while [ $# -gt 0 ]; do
  case "$1" in
    --install-dir) dir="$2"; shift 2 ;;
    --bin-dir) bin="$2"; shift 2 ;;
    *) shift ;;
  esac
done
mkdir -p "$dir/{VERSION}/bin" "$bin"
printf '#!/bin/sh\\necho "aws-cli/{VERSION} Python/3.12.6 Linux/6.1 exe/x86_64"\\n' >"$dir/{VERSION}/bin/aws"
chmod +x "$dir/{VERSION}/bin/aws"
ln -sfn "$dir/{VERSION}" "$dir/current"
ln -sf "$dir/current/bin/aws" "$bin/aws"
"""


def _gpg(home: Path, *args: str) -> str:
    proc = subprocess.run(
        ["gpg", "--batch", "--quiet", "--homedir", str(home), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout


_HOMES: list[Path] = []


def _key(home: Path, uid: str) -> str:
    home.mkdir(mode=0o700)
    _HOMES.append(home)
    _gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d")
    for line in _gpg(home, "--with-colons", "--fingerprint").splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise AssertionError("no fingerprint")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A signing key, its public half in files/aws-cli-team.asc, and a signed fake installer to 'download'."""
    for tool in ("gpg", "curl", "unzip"):
        require_tool(tool)
    signer = tmp_path / "signer"
    fingerprint = _key(signer, "AWS CLI stand-in <cli@example.com>")
    files = tmp_path / "files"
    files.mkdir()
    (files / "aws-cli-team.asc").write_text(_gpg(signer, "--armor", "--export", fingerprint))
    serve = tmp_path / "serve"
    serve.mkdir()
    arch = os.uname().machine
    archive = serve / f"awscli-exe-linux-{arch}-{VERSION}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("aws/install")
        info.external_attr = 0o100755 << 16
        zf.writestr(info, FAKE_INSTALLER)
    _gpg(signer, "--detach-sign", "--output", f"{archive}.sig", str(archive))
    yield {"fingerprint": fingerprint, "files": files, "serve": serve, "archive": archive, "tmp": tmp_path}
    # gpg started an agent per key home: stop exactly those.
    while _HOMES:
        home = _HOMES.pop()
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, timeout=30)


def _run(site: dict[str, object], **overrides: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    prefix = Path(str(site["tmp"])) / "opt" / "aws-cli"
    environ = {
        **os.environ,
        "AWS_CLI_VERSION": VERSION,
        "AWS_CLI_PGP_FINGERPRINT": str(site["fingerprint"]),
        "AWS_CLI_PREFIX": str(prefix),
        "AWS_CLI_BASE_URL": f"file://{site['serve']}",
        "BATCH_AMI_FILES": str(site["files"]),
        **overrides,
    }
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=120, check=False)
    return proc, prefix


def test_installs_a_verified_cli_under_the_prefix(site: dict[str, object]) -> None:
    proc, prefix = _run(site)
    assert proc.returncode == 0, proc.stderr
    assert f"aws-cli/{VERSION} " in proc.stdout
    version = subprocess.run([str(prefix / "bin" / "aws"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith(f"aws-cli/{VERSION} ")
    assert (prefix / "v2" / "current" / "bin" / "aws").resolve().is_relative_to(prefix)


def test_tampered_installer_installs_nothing(site: dict[str, object]) -> None:
    archive = Path(str(site["archive"]))
    archive.write_bytes(archive.read_bytes() + b"\0")
    proc, prefix = _run(site)
    assert proc.returncode != 0
    assert "does not verify" in proc.stderr
    assert not prefix.exists()


def test_a_key_without_the_pinned_fingerprint_installs_nothing(site: dict[str, object]) -> None:
    other = _key(Path(str(site["tmp"])) / "other", "Someone else <x@example.com>")
    proc, prefix = _run(site, AWS_CLI_PGP_FINGERPRINT=other)
    assert proc.returncode != 0
    assert f"no key with the pinned fingerprint {other}" in proc.stderr
    assert not prefix.exists()


def test_a_wrong_sha256_installs_nothing(site: dict[str, object]) -> None:
    proc, prefix = _run(site, AWS_CLI_SHA256="0" * 64)
    assert proc.returncode != 0
    assert not prefix.exists()
