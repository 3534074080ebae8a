"""Checks AWS Batch and Docker would make, made before the first write so that nothing is half-done.

* Image references follow Docker's reference grammar (distribution/reference): ``[host[:port]/]path[:tag][@digest]``
  with a lower-case path of ``[a-z0-9]`` components joined by ``.``, ``_``, ``__`` or dashes, a tag of at most
  128 ``[A-Za-z0-9_.-]`` characters not starting with ``.`` or ``-``, a digest ``algorithm:hex`` (sha256: 64 hex
  digits) and at most 255 characters for the name.
* Tags (Batch/IAM tagging rules): at most 50, keys 1-128 and values 0-256 characters of letters, digits, spaces
  and ``+ - = . _ : / @``; keys never start with ``aws:``.
* The whole SubmitJob request against Batch's 30 KiB limit, with the largest values the runner adds itself
  (job definition ARN, manifest URI, one dependency) accounted for.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runner.core.errors import UsageError
from runner.session.runs import ROWS_TOKEN_BYTES, RunLayout

REQUEST_LIMIT = 30 * 1024
NAME_LIMIT = 255
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*))"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_TAG_TEXT = re.compile(r"^[\w\s+=.:/@-]*$", re.UNICODE)
# Placeholders as long as the values the runner fills in after validation.
_ARN = "arn:aws-us-gov:batch:us-gov-west-1:123456789012:job-definition/runner-" + "0" * 16 + ":1000000"
_DEPENDENCY = {"jobId": "0" * 36, "type": "N_TO_N"}


def image_reference(image: str, field: str = "--image") -> str:
    """Refuse what ``docker pull`` would refuse, with the reason."""
    if not image or image != image.strip() or any(c.isspace() for c in image):
        raise UsageError(f"{field}: '{image}' is not an image reference (no spaces; e.g. ubuntu:24.04)")
    match = REFERENCE.match(image)
    if match is None:
        first = image.split("/", 1)[0]
        remote = image.split("/", 1)[1] if "/" in image and ("." in first or ":" in first) else image
        if remote.split("@")[0].split(":")[0] != remote.split("@")[0].split(":")[0].lower():
            reason = "the repository name must be lower-case"
        elif "@" in image:
            reason = "a digest is ALGORITHM:HEX, e.g. @sha256: and 64 hex digits"
        else:
            reason = "expected [registry[:port]/]name[:tag][@digest], e.g. public.ecr.aws/docker/library/bash:5"
        raise UsageError(f"{field}: '{image}' is not a valid image reference: {reason}")
    if len(match.group("name")) > NAME_LIMIT:
        raise UsageError(f"{field}: the repository name is longer than {NAME_LIMIT} characters")
    digest = match.group("digest")
    if digest and digest.lower().startswith("sha256:") and len(digest) != len("sha256:") + 64:
        raise UsageError(f"{field}: '{image}': a sha256 digest has exactly 64 hex digits")
    return image


def tags(values: dict[str, str], field: str = "--name") -> None:
    if len(values) > 50:
        raise UsageError(f"{field}: {len(values)} tags exceed the 50 AWS Batch allows")
    for key, value in values.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or not _TAG_TEXT.match(key):
            raise UsageError(f"{field}: tag key '{key}' is not a valid AWS tag key (1-128 letters, digits, +-=._:/@)")
        if len(value) > 256 or not _TAG_TEXT.match(value):
            raise UsageError(
                f"{field}: tag value '{value}' is not a valid AWS tag value (up to 256 letters, digits, +-=._:/@)"
            )


def request_size(request: dict[str, Any]) -> int:
    return len(json.dumps(request, separators=(",", ":")).encode())


def worst_case_request(job_spec: Any, name: str) -> dict[str, Any]:
    """``job_spec``'s request as large as the runner can make it: rows through a manifest, one dependency."""
    layout = RunLayout("b" * 63, name)
    manifest = {"RUNNER_MANIFEST_URI": layout.uri(layout.rows_key(name, "0" * 2 * ROWS_TOKEN_BYTES))}
    request: dict[str, Any] = job_spec.request(name, manifest, 10_000, [_DEPENDENCY])
    request["jobDefinition"] = max(str(request["jobDefinition"]), _ARN, key=len)
    return request


def request_fits(job_spec: Any, name: str, command: str | None, env_vars: dict[str, str]) -> None:
    """Refuse a submission whose SubmitJob request would pass Batch's 30 KiB limit, naming the biggest input."""
    size = request_size(worst_case_request(job_spec, name))
    if size <= REQUEST_LIMIT:
        return
    env_bytes = len(json.dumps(env_vars).encode())
    command_bytes = len(json.dumps(command or "").encode())
    if command_bytes >= env_bytes:
        raise UsageError(
            f"--command: the SubmitJob request would be {size:,} bytes, above AWS Batch's {REQUEST_LIMIT:,} "
            f"(30 KiB) limit ({command_bytes:,} from the command); move it into a script (in the image, or a file "
            "the sheet names, which is staged) and pass a short --command that runs it"
        )
    biggest = max(env_vars, key=lambda k: len(env_vars[k]))
    raise UsageError(
        f"--env-var: the SubmitJob request would be {size:,} bytes, above AWS Batch's {REQUEST_LIMIT:,} (30 KiB) "
        f"limit ({env_bytes:,} from --env-var, most from {biggest}); move big values into a file and pass its path"
    )
