"""Where jobs write (RUNNER_RESULTS_URI, per row through the real /bin/sh prologue) and how a run's objects are
grouped per sample, laid out locally and merged into one table; no AWS."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.core.errors import RunFailed, UsageError
from runner.files import results, sheets
from runner.runs.payload import JobSpec, script
from runner.runs.submission import Submitter, parse_env_vars
from runner.session.outputs import Outputs

OUTPUTS = Outputs({"bucket_names": {"work": "w", "data": "d", "results": "res"}})


def test_uris_per_run_and_per_sample() -> None:
    assert results.job_env("res", "run-1") == {"RUNNER_RESULTS_URI": "s3://res/run-1/"}
    assert results.job_env("res", "run-1", "NA12878") == {"RUNNER_RESULTS_URI": "s3://res/run-1/NA12878/"}
    # A sample id that is not one clean key component is encoded: one folder per sample, never nested.
    assert results.results_uri("res", "r", "a/b c") == "s3://res/r/a%2Fb%20c/"
    assert results.job_env(None, "r") == {}


def test_the_variable_is_reserved() -> None:
    with pytest.raises(UsageError, match="--env-var: 'RUNNER_RESULTS_URI' is reserved"):
        parse_env_vars(["RUNNER_RESULTS_URI=s3://elsewhere/"])


def test_each_row_gets_its_own_uri_through_the_prologue(tmp_path: Path) -> None:
    sheet_path = tmp_path / "s.csv"
    sheet_path.write_text("sample,x\nA,1\nB/2,2\n")
    sheet = sheets.read_sheet(sheet_path)
    submitter = Submitter("local", OUTPUTS, batch=None, s3=None)  # type: ignore[arg-type]
    spec = JobSpec(
        queue="q",
        job_definition="d",
        command=[],
        environment={"RUNNER_RUN": "r", **results.job_env("res", "r")},
        vcpus=None,
        memory_mib=None,
        gpus=None,
        retries=None,
        timeout_s=None,
        tags={},
    )
    extra, kind = submitter._rows_env("r", "r", sheet, [0, 1], spec)
    assert kind == "inline"
    command = script('printf "%s|%s" "$SAMPLE_ID" "$RUNNER_RESULTS_URI"')
    seen = []
    for index in (0, 1):
        env = {"PATH": "/usr/bin:/bin", **spec.environment, **extra, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)}
        seen.append(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)
    assert seen == ["A|s3://res/r/A/", "B/2|s3://res/r/B%2F2/"]


def _listed(*keys: str, size: int = 3) -> list[dict[str, Any]]:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    return [{"Key": k, "Size": size, "LastModified": when} for k in keys]


def test_grouping_follows_the_sheet_and_keeps_run_level_objects() -> None:
    listed = _listed(
        "run-1/B/qc.tsv",
        "run-1/A/sub/deep.txt",
        "run-1/A/qc.tsv",
        "run-1/summary.html",
        "run-1/C%2FD/x",
        "run-1/unknown/y",
        "run-10/A/other-run.txt",  # another run's prefix that merely starts alike
    )
    objs = results.group("run-1", ["B", "A", "C/D"], listed)
    assert [(o.sample, o.name) for o in objs] == [
        (None, "summary.html"),
        (None, "unknown/y"),
        ("B", "qc.tsv"),
        ("A", "qc.tsv"),
        ("A", "sub/deep.txt"),
        ("C/D", "x"),
    ]
    res = results.Results(run="run-1", bucket="res", samples=["B", "A", "C/D", "E"], objects=objs)
    assert res.without_results() == ["E"]
    assert res.to_dict()["objects"][2]["uri"] == "s3://res/run-1/B/qc.tsv"
    assert res.to_dict()["objects"][0]["last_modified"] == "2026-01-02T00:00:00+00:00"
    # Without a sheet every object belongs to the run.
    assert {o.sample for o in results.group("run-1", None, listed)} == {None}


def test_local_layout_and_unsafe_names(tmp_path: Path) -> None:
    obj = results.ResultObject(sample="C/D", key="r/C%2FD/a/b.txt", name="a/b.txt", size=1, last_modified="")
    assert results.local_path(tmp_path, obj) == tmp_path / "C%2FD" / "a" / "b.txt"
    for name in ("../escape", "a/../../b", "/abs", "dir/"):
        bad = results.ResultObject(sample=None, key=f"r/{name}", name=name, size=1, last_modified="")
        with pytest.raises(RunFailed, match="no safe local name"):
            results.local_path(tmp_path, bad)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="--download: .* is not a folder"):
        results.check_destination(a_file)


def test_table_names_and_parsing() -> None:
    for bad in ("", "../qc.tsv", "/qc.tsv"):
        with pytest.raises(UsageError, match="--table"):
            results.check_table_name(bad)
    assert results.check_table_name("qc/summary.csv") == "qc/summary.csv"
    assert results.parse_table("a\tb\n1\t2\n\n", "qc.tsv") == (["a", "b"], [{"a": "1", "b": "2"}])
    assert results.parse_table("a,b\n1,2\n", "qc.csv") == (["a", "b"], [{"a": "1", "b": "2"}])
    assert results.parse_table("", "qc.tsv") == ([], [])
