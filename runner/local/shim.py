"""What a job container needs to reach the emulator without changing its script.

Every container gets the standard ``AWS_ENDPOINT_URL``. Newer AWS CLIs and SDKs honour it; Debian bookworm's
awscli 2.9 and boto3 1.26 do not. So the executor mounts this folder read-only at ``/opt/runner-local`` and
puts it first on the job's PATH and PYTHONPATH:

- ``bin/aws``: finds the next ``aws`` on PATH and runs it as ``aws --endpoint-url "$AWS_ENDPOINT_URL" ...``;
- ``python/sitecustomize.py``: once ``botocore.session`` is imported, ``Session.create_client`` defaults
  ``endpoint_url`` to ``AWS_ENDPOINT_URL`` (an explicit endpoint still wins, except the emulator's own address
  as the host sees it: a loopback address with the emulator's port, which in a container is the container
  itself, becomes ``AWS_ENDPOINT_URL``; so a client told ``http://127.0.0.1:PORT`` on the host, e.g.
  ``METAFLOW_S3_ENDPOINT_URL`` that Metaflow hands its jobs, reaches the emulator from its jobs too). Python
  imports it at start-up.

Nothing here is used outside the local env's containers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

MOUNT = "/opt/runner-local"

AWS_WRAPPER = r"""#!/bin/sh
# runner local: give the AWS CLI the emulator's endpoint (older CLIs ignore AWS_ENDPOINT_URL).
self_dir=/opt/runner-local/bin
old_ifs=$IFS; IFS=:
for dir in $PATH; do
  [ "$dir" = "$self_dir" ] && continue
  if [ -x "$dir/aws" ]; then
    IFS=$old_ifs
    if [ -n "$AWS_ENDPOINT_URL" ]; then exec "$dir/aws" --endpoint-url "$AWS_ENDPOINT_URL" "$@"; fi
    exec "$dir/aws" "$@"
  fi
done
echo "aws: command not found" >&2
exit 127
"""

SITECUSTOMIZE = '''"""runner local: boto3/botocore clients default to AWS_ENDPOINT_URL (older botocore ignores it)."""
import os
import sys


def _hosts_view_of(endpoint, given):
    """True when ``given`` is the emulator as the host names it: a loopback address with the emulator's port."""
    from urllib.parse import urlsplit

    try:
        ours, theirs = urlsplit(endpoint), urlsplit(str(given))
        host = (theirs.hostname or "").lower()
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        return loopback and theirs.port is not None and theirs.port == ours.port
    except ValueError:
        return False


def _patch(module):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    session_cls = getattr(module, "Session", None)
    if not endpoint or session_cls is None or getattr(session_cls, "_runner_local", False):
        return
    original = session_cls.create_client

    def create_client(self, *args, **kwargs):
        given = kwargs.get("endpoint_url")
        if len(args) < 6 and (given is None or _hosts_view_of(endpoint, given)):
            kwargs["endpoint_url"] = endpoint
        return original(self, *args, **kwargs)

    session_cls.create_client = create_client
    session_cls._runner_local = True


class _Finder:
    """Patch botocore.session right after it is imported (importing botocore here would slow every python)."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.session":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                loader = spec.loader
                run = loader.exec_module

                def exec_module(module, _run=run):
                    _run(module)
                    _patch(module)

                loader.exec_module = exec_module
                return spec
        return None


if os.environ.get("AWS_ENDPOINT_URL"):
    sys.meta_path.insert(0, _Finder())
'''


def write(folder: Path | None = None) -> Path:
    """Write the shim into ``folder`` (default: a new temporary folder) and return it."""
    root = folder or Path(tempfile.mkdtemp(prefix="runner-local-shim-"))
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "python").mkdir(parents=True, exist_ok=True)
    aws = root / "bin" / "aws"
    aws.write_text(AWS_WRAPPER)
    aws.chmod(0o755)
    (root / "python" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root.chmod(0o755)
    return root
