"""What a run's jobs carry: the container command (a ``/bin/sh`` prologue, then the analyst's command), the rows of
the sample sheet, the tags, and the SubmitJob request every job of a run shares (`JobSpec`, kept in the record so a
resubmission rebuilds it).

Rows reach the container through the prologue, so any image with ``/bin/sh`` works. Each sample is one line of
``NAME=VALUE`` pairs with every unsafe byte octal-escaped (`runner.runs.rows`); the prologue picks line
``AWS_BATCH_JOB_ARRAY_INDEX``, decodes it without ``eval`` and exports it, then runs the analyst's command. The
lines travel

* inline, in the ``RUNNER_ROWS`` variable, when the whole SubmitJob request stays under the 30 KiB limit
  (no extra moving parts, nothing to fetch; every child carries the full table, which is harmless at that size);
* otherwise as a manifest object in the work bucket (``runs/<run>/rows/<job>-<token>.sh``, the token random and
  kept in the run record: the key cannot be guessed). A container reads it with the AWS CLI and the job role
  (``aws s3 cp``), never through a URL carrying the submitter's credentials; an image without the AWS CLI and
  more rows than fit inline fails with exit code 97 and a message saying so. The host's ``/opt/aws-cli`` is not
  mounted into the container: mounting it over the image hides files (nextflow #2322), and the AL2023 CLI
  needs glibc, which minimal images (alpine) lack.

`RunWriter` is what writes a run's jobs for one env (`runner.runs.submission.Submitter` and
`runner.runs.resubmit.Resubmitter`): the env's outputs, the Batch gateway, S3 and the run store, and the rows
payload of a job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runner.aws.batch import Batch
from runner.files import results, sheets
from runner.runs import jobdefs, validate
from runner.runs.rows import encode_line
from runner.session.outputs import Outputs
from runner.session.runs import SAMPLE_TAG, RunStore, tag_value

if TYPE_CHECKING:  # the AWS SDK loads when a session opens
    from runner.session import Session

REQUEST_LIMIT = validate.REQUEST_LIMIT  # SubmitJob payload limit
INLINE_LIMIT = REQUEST_LIMIT - 2048  # headroom for the SDK's own encoding

# The prologue every job runs under /bin/sh: pick this child's line, export its variables (runner.runs.rows: split
# with parameter expansions, decoded with printf %b, set with export; never eval), then run the command.
PROLOGUE = r"""# shellcheck disable=SC2153
runner_pick() {
  runner_i=0
  while IFS= read -r runner_line; do
    if [ "$runner_i" -eq "$runner_want" ]; then return 0; fi
    runner_i=$((runner_i + 1))
  done
  return 1
}
runner_load() {
  runner_rest=$1
  while [ -n "$runner_rest" ]; do
    runner_pair=${runner_rest%% *}
    case $runner_rest in *" "*) runner_rest=${runner_rest#* } ;; *) runner_rest= ;; esac
    runner_name=${runner_pair%%=*}
    runner_value=${runner_pair#*=}
    case $runner_name in
      "" | [0-9]* | *[!A-Za-z0-9_]*) echo "runner: malformed row (variable name '$runner_name')" >&2; exit 97 ;;
    esac
    case $runner_value in
      *\\*) runner_value=$(printf '%bx' "$runner_value"); runner_value=${runner_value%x} ;;
    esac
    export "$runner_name=$runner_value"
  done
}
runner_want=${AWS_BATCH_JOB_ARRAY_INDEX:-0}
if [ -n "${RUNNER_MANIFEST_URI:-}" ]; then
  runner_rows=${TMPDIR:-/tmp}/runner-rows.$$
  if ! command -v aws >/dev/null 2>&1; then
    echo "runner: the image has no AWS CLI to read its rows from $RUNNER_MANIFEST_URI" >&2; exit 97
  fi
  aws s3 cp --quiet "$RUNNER_MANIFEST_URI" "$runner_rows" || {
    echo "runner: cannot read $RUNNER_MANIFEST_URI with the job role" >&2; exit 97; }
  runner_pick < "$runner_rows" || { echo "runner: no row $runner_want in $RUNNER_MANIFEST_URI" >&2; exit 97; }
  rm -f "$runner_rows"
  runner_load "$runner_line"
elif [ -n "${RUNNER_ROWS:-}" ]; then
  runner_pick <<RUNNER_ROWS_END || { echo "runner: no row $runner_want in RUNNER_ROWS" >&2; exit 97; }
$RUNNER_ROWS
RUNNER_ROWS_END
  runner_load "$runner_line"
fi
unset RUNNER_ROWS runner_i runner_line runner_want runner_rows runner_rest runner_pair runner_name runner_value
"""


def row_line(env: dict[str, str]) -> str:
    return encode_line(env)


def script(command: str | None) -> list[str]:
    """The container command: the prologue, then the analyst's shell command (or the definition's own)."""
    if command is None:
        return ["/bin/sh", "-c", PROLOGUE + 'exec "$@"\n', "runner"]
    return ["/bin/sh", "-c", PROLOGUE + command + "\n"]


def sheet_to_json(sheet: sheets.Sheet) -> dict[str, Any]:
    return {
        "columns": sheet.columns,
        "id_column": sheet.id_column,
        "env_names": sheet.env_names,
        "rows": sheet.rows,
        "source": str(sheet.path),
    }


def sheet_from_json(data: dict[str, Any]) -> sheets.Sheet:
    return sheets.Sheet(
        path=Path(data.get("source", "samples")),
        columns=list(data["columns"]),
        id_column=data["id_column"],
        rows=list(data["rows"]),
        env_names=dict(data["env_names"]),
    )


def pipeline_name(image: str | None, job_definition: str | None) -> str:
    """What `runner:pipeline` says for a plain job: the image's repository name, else the job definition's name."""
    if image:
        repository = image.split("@", 1)[0].rsplit("/", 1)[-1]
        return tag_value(repository.split(":", 1)[0])
    return tag_value((job_definition or "job").rsplit("/", 1)[-1].split(":", 1)[0])


def sample_tags(sheet: sheets.Sheet | None, rows: list[int] | None) -> dict[str, str]:
    """`runner:sample`: the sample id of a one-row job; an array job (tags are per job) says how many it holds."""
    if sheet is None or rows is None:
        return {}
    if len(rows) == 1:
        return {SAMPLE_TAG: tag_value(sheet.ids()[rows[0]])}
    return {SAMPLE_TAG: f"array of {len(rows)}"}


@dataclass
class JobSpec:
    """What every job of a run shares (stored in the record so `retry` can rebuild requests)."""

    queue: str
    job_definition: str
    command: list[str]
    environment: dict[str, str]
    vcpus: int | None
    memory_mib: int | None
    gpus: int | None
    retries: int | None
    timeout_s: int | None
    tags: dict[str, str]

    def request(
        self, name: str, extra_env: dict[str, str], array_size: int | None, depends_on: list[dict[str, str]]
    ) -> dict[str, Any]:
        overrides: dict[str, Any] = {
            "command": self.command,
            "environment": [{"name": k, "value": v} for k, v in {**self.environment, **extra_env}.items()],
        }
        reqs = jobdefs.resource_requirements(self.vcpus, self.memory_mib, self.gpus)
        if reqs:
            overrides["resourceRequirements"] = reqs
        req: dict[str, Any] = {
            "jobName": name,
            "jobQueue": self.queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": overrides,
            "tags": self.tags,
            "propagateTags": True,
        }
        strategy = jobdefs.retry_strategy(self.retries)
        if strategy:
            req["retryStrategy"] = strategy
        if self.timeout_s:
            req["timeout"] = {"attemptDurationSeconds": self.timeout_s}
        if array_size is not None:
            req["arrayProperties"] = {"size": array_size}
        if depends_on:
            req["dependsOn"] = depends_on
        return req

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def digest(*parts: Any) -> str:
    """A stable hash of JSON-able values (the run's identity and spec, a submission token)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def submission_token(*parts: Any) -> str:
    """The per-submission tag the gateway finds a job by: the same inputs, the same token."""
    return digest(*parts)[:32]


W = TypeVar("W", bound="RunWriter")


@dataclass
class RunWriter:
    """What writes a run's jobs in one env: its outputs, the Batch gateway, S3, the run store, the rows payload."""

    env_name: str
    outputs: Outputs
    batch: Batch
    s3: Any
    ec2: Any = None
    log: Callable[[str], None] = lambda _msg: None
    run_store: RunStore | None = None  # the session's (with its local sheet cache); default: one on the work bucket

    @property
    def store(self) -> RunStore:
        if self.run_store is None:
            self.run_store = RunStore(self.s3, self.outputs.work_bucket)
        return self.run_store

    @classmethod
    def for_session(cls: type[W], session: Session, log: Callable[[str], None] = lambda _msg: None) -> W:
        return cls(
            session.name, session.outputs, session.batch, session.s3, session.ec2, log=log, run_store=session.store
        )

    def _row_env(self, run: str, sheet: sheets.Sheet, index: int) -> dict[str, str]:
        env = sheet.environment(index)
        # RUNNER_RESULTS_URI per sample
        return {**env, **results.job_env(self.outputs.results_bucket, run, env["SAMPLE_ID"])}

    def _rows_env(
        self,
        run: str,
        name: str,
        sheet: sheets.Sheet | None,
        rows: list[int] | None,
        job_spec: JobSpec,
        rows_token: str = "",
    ) -> tuple[dict[str, str], str]:
        """The variables that carry the rows: inline (RUNNER_ROWS) when small enough, else a manifest."""
        if sheet is None or rows is None:
            return {}, "none"
        table = "\n".join(row_line(self._row_env(run, sheet, i)) for i in rows)
        inline = {"RUNNER_ROWS": table}
        probe = job_spec.request(name, inline, len(rows), [{"jobId": "0" * 36, "type": "N_TO_N"}])
        if validate.request_size(probe) <= INLINE_LIMIT:
            return inline, "inline"
        assert rows_token, "a rows manifest needs the run record's rows_token"
        key = self.store.layout(run).rows_key(name, rows_token)
        uri = self.store.put(key, (table + "\n").encode(), "text/plain")
        return {"RUNNER_MANIFEST_URI": uri}, "manifest"
