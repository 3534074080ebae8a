"""A run's results: what its jobs wrote under the run's prefix in the env's results bucket.

Where jobs write. `runner submit` gives every job the variable ``RUNNER_RESULTS_URI``, always ending in ``/``:

* a sample-sheet row (one array child): ``s3://<results bucket>/<run>/<sample id>/``;
* a job without a sheet: ``s3://<results bucket>/<run>/``.

The sample id is percent-encoded in the key when it holds anything but letters, digits, ``-``, ``_`` and ``.``
(``a/b`` becomes ``a%2Fb``), so one sample's folder never nests in another's. A job script writes with the
tools it has, e.g. ``aws s3 cp qc.tsv "${RUNNER_RESULTS_URI}qc.tsv"``; the job role may write to the results
bucket. An env without a results bucket gets no variable.

`runner results RUN` lists the objects under ``<run>/`` grouped by the run's sample ids (objects outside every
sample's folder belong to the run as a whole), ``--download DIR`` fetches them to ``DIR/<sample>/<name>``, and
``--table NAME`` merges every sample's ``NAME`` (a CSV or TSV with a header row) into one table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from runner.core.errors import RunFailed, UsageError
from runner.session.runs import validate_run_name

if TYPE_CHECKING:
    from runner.session import Session

RESULTS_VAR = "RUNNER_RESULTS_URI"
DOWNLOAD_WORKERS = 8
TABLE_LIMIT = 1024 * 1024  # a per-sample table bigger than this is not a summary: refuse to merge it


def sample_folder(sample: str) -> str:
    """A sample id as one key component."""
    return quote(sample, safe="-_.")


def run_prefix(run: str) -> str:
    return f"{run}/"


def results_uri(bucket: str, run: str, sample: str | None = None) -> str:
    folder = f"{sample_folder(sample)}/" if sample is not None else ""
    return f"s3://{bucket}/{run_prefix(run)}{folder}"


def job_env(bucket: str | None, run: str, sample: str | None = None) -> dict[str, str]:
    """``RUNNER_RESULTS_URI`` for a job of ``run`` (a row's when ``sample`` is given); empty without a bucket."""
    return {RESULTS_VAR: results_uri(bucket, run, sample)} if bucket else {}


# ---------------------------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultObject:
    sample: str | None  # None: written under the run's prefix, outside every sample's folder
    key: str
    name: str  # the key below the sample's folder (or below the run's prefix)
    size: int
    last_modified: str

    def to_dict(self, bucket: str) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "key": self.key,
            "name": self.name,
            "size": self.size,
            "last_modified": self.last_modified,
            "uri": f"s3://{bucket}/{self.key}",
        }


@dataclass
class Results:
    run: str
    bucket: str
    samples: list[str] | None  # the run's sample ids in sheet order; None: the run had no sheet
    objects: list[ResultObject] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return run_prefix(self.run)

    @property
    def uri(self) -> str:
        return results_uri(self.bucket, self.run)

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def without_results(self) -> list[str]:
        wrote = {o.sample for o in self.objects}
        return [s for s in self.samples or [] if s not in wrote]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "uri": self.uri,
            "objects": [o.to_dict(self.bucket) for o in self.objects],
            "total_bytes": self.total_bytes,
            "samples_without_results": self.without_results(),
        }


def group(run: str, samples: list[str] | None, listed: Iterable[dict[str, Any]]) -> list[ResultObject]:
    """Objects listed under the run's prefix, each given its sample; sorted by sheet order, then name."""
    prefix = run_prefix(run)
    folders = {sample_folder(s): s for s in samples or []}
    order = {s: i for i, s in enumerate(samples or [])}
    found: list[ResultObject] = []
    for item in listed:
        key = str(item["Key"])
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        head, sep, tail = rest.partition("/")
        sample = folders.get(head) if sep and tail else None
        modified = item.get("LastModified")
        found.append(
            ResultObject(
                sample=sample,
                key=key,
                name=tail if sample is not None else rest,
                size=int(item.get("Size", 0)),
                last_modified=modified.isoformat() if isinstance(modified, datetime) else str(modified or ""),
            )
        )
    # Run-level objects first, then samples in sheet order.
    found.sort(key=lambda o: (-1 if o.sample is None else order[o.sample], o.name))
    return found


def list_results(s3: Any, bucket: str, run: str, samples: list[str] | None) -> Results:
    """Every object under the run's prefix (paginated: any number of objects)."""
    listed: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=run_prefix(run)):
        listed.extend(page.get("Contents", []))
    return Results(run=run, bucket=bucket, samples=samples, objects=group(run, samples, listed))


# ---------------------------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------------------------


def local_path(dest: Path, obj: ResultObject) -> Path:
    """Where an object lands: DEST/<sample folder>/<name>, or DEST/<name> for run-level objects."""
    parts = PurePosixPath(obj.name).parts
    if not parts or any(p in ("..", ".") for p in parts) or obj.name.startswith("/") or obj.name.endswith("/"):
        raise RunFailed(f"results: object '{obj.key}' has no safe local name; fetch it with aws s3 cp")
    base = dest / sample_folder(obj.sample) if obj.sample is not None else dest
    return base.joinpath(*parts)


def check_destination(dest: Path) -> Path:
    """``--download`` must be a folder or not exist yet (it is created); checked before anything is fetched."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--download: '{dest}' exists and is not a folder")
    return dest


def download(s3: Any, results: Results, dest: Path, workers: int = DOWNLOAD_WORKERS) -> list[Path]:
    """Fetch every object of ``results`` into ``dest``; the local paths, in the listing's order."""
    check_destination(dest)
    targets = [(obj, local_path(dest, obj)) for obj in results.objects]  # every name checked before any write

    def fetch(item: tuple[ResultObject, Path]) -> Path:
        obj, path = item
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(results.bucket, obj.key, str(path))
        return path

    dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets) or 1))) as pool:
        return list(pool.map(fetch, targets))


# ---------------------------------------------------------------------------------------------------------------
# One table from every sample's summary file
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class MergedTable:
    name: str
    columns: list[str]
    rows: list[dict[str, str]]
    missing: list[str]  # samples without the file

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "columns": self.columns, "rows": self.rows, "missing": self.missing}


def check_table_name(name: str) -> str:
    parts = PurePosixPath(name).parts
    if not name.strip() or name.startswith("/") or any(p in ("..", ".") for p in parts):
        raise UsageError(f"--table: '{name}' must be a file name below each sample's folder, e.g. qc.tsv")
    return name


def parse_table(text: str, name: str) -> tuple[list[str], list[dict[str, str]]]:
    delimiter = "," if name.lower().endswith(".csv") else "\t"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    table = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    if not table:
        return [], []
    header = [h.strip() for h in table[0]]
    return header, [dict(zip(header, (c.strip() for c in row), strict=False)) for row in table[1:]]


def merge_table(s3: Any, results: Results, name: str) -> MergedTable:
    """Every sample's ``name`` as rows of one table; its first column, ``sample``, holds the run's sample id."""
    check_table_name(name)
    if results.samples is None:
        raise UsageError(f"--table: run '{results.run}' had no sample sheet; list its objects without --table")
    by_sample = {o.sample: o for o in results.objects if o.sample is not None and o.name == name}
    columns: list[str] = ["sample"]
    rows: list[dict[str, str]] = []
    missing: list[str] = []
    for sample in results.samples:
        obj = by_sample.get(sample)
        if obj is None:
            missing.append(sample)
            continue
        if obj.size > TABLE_LIMIT:
            raise RunFailed(f"--table: {obj.key} is {obj.size} bytes, too big to merge; use --download")
        body = s3.get_object(Bucket=results.bucket, Key=obj.key)["Body"].read()
        header, sample_rows = parse_table(body.decode("utf-8", errors="replace"), name)
        columns += [c for c in header if c not in columns]
        rows += [{**row, "sample": sample} for row in sample_rows]
    return MergedTable(name=name, columns=columns, rows=rows, missing=missing)


# ---------------------------------------------------------------------------------------------------------------
# `runner results RUN`
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultsRequest:
    """Checked when made: a bad run name, ``--download`` or ``--table`` is one line, before the env is opened."""

    run: str
    download: Path | None = None  # fetch every object to DIR/<sample>/<name>
    table: str | None = None  # merge each sample's NAME (CSV/TSV with a header) into one table

    def __post_init__(self) -> None:
        validate_run_name(self.run, "RUN")
        if self.download is not None:
            check_destination(self.download)
        if self.table is not None:
            check_table_name(self.table)


@dataclass
class ResultsReport:
    found: Results
    merged: MergedTable | None = None  # --table
    downloaded: list[Path] | None = None  # --download: the local paths, in the listing's order
    download: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.found.to_dict()
        if self.downloaded is not None:
            data["downloaded"] = [str(p) for p in self.downloaded]
        if self.merged is not None:
            data["table"] = self.merged.to_dict()
        return data

    @property
    def missing(self) -> list[str]:
        """Samples without the merged table (--table), else without any result."""
        return self.merged.missing if self.merged is not None else self.found.without_results()


def results(session: Session, request: ResultsRequest) -> ResultsReport:
    bucket = session.outputs.results_bucket
    if bucket is None:
        raise UsageError(f"--env: '{session.env.name}' has no results bucket (bucket_names output); apply it first")
    record = session.store.load(request.run)
    if record is None:
        raise UsageError(f"RUN: no run '{request.run}' in this env (runner list --env {session.env.name})")
    found = list_results(session.s3, bucket, request.run, session.store.sample_ids(record))
    merged = merge_table(session.s3, found, request.table) if request.table is not None else None
    fetched = download(session.s3, found, request.download) if request.download is not None else None
    return ResultsReport(found, merged, fetched, request.download)
