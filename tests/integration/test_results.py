"""`runner.files.results` against the embedded AWS over HTTP: a run's objects listed across pages and grouped per
sample, downloaded to DIR/<sample>/<name>, and every sample's summary merged into one table."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from runner.files import results
from runner.local import server as local
from tests.helpers import env_client_credentials, free_port

pytestmark = pytest.mark.integration

BUCKET = "results-test"
SAMPLES = ["liver_1", "brain 2", "empty"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("results-home")
    info = local.up(home, port=free_port())
    client = boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name="us-east-1",
        **env_client_credentials(home),
        config=Config(max_pool_connections=16),
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    local.down(home)


def _put(s3: Any, uri: str, name: str, body: bytes) -> None:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def test_listing_pages_groups_downloads_and_merges(s3: Any, tmp_path: Path) -> None:
    run = "qc-run"
    uri = {s: results.results_uri(BUCKET, run, s) for s in SAMPLES}
    _put(s3, uri["liver_1"], "qc.tsv", b"sample\treads\tgc_percent\nliver_1\t24\t42.08\n")
    _put(s3, uri["brain 2"], "qc.tsv", b"sample\treads\tgc_percent\nbrain 2\t18\t59.38\n")
    _put(s3, uri["brain 2"], "plots/gc.txt", b"plot")
    _put(s3, results.results_uri(BUCKET, run), "multiqc.html", b"<html/>")
    _put(s3, results.results_uri(BUCKET, "qc-run-2"), "not-mine.txt", b"other run")
    # More than one page of ListObjectsV2 (1,000 keys) for one sample.
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: _put(s3, uri["liver_1"], f"chunks/{i:04d}.txt", b"c"), range(1005)))

    found = results.list_results(s3, BUCKET, run, SAMPLES)
    assert len(found.objects) == 1005 + 4
    by_sample: dict[str | None, list[str]] = {}
    for obj in found.objects:
        by_sample.setdefault(obj.sample, []).append(obj.name)
    assert by_sample[None] == ["multiqc.html"]
    assert by_sample["brain 2"] == ["plots/gc.txt", "qc.tsv"]
    assert len(by_sample["liver_1"]) == 1006 and by_sample["liver_1"][-1] == "qc.tsv"
    assert found.without_results() == ["empty"]
    assert [o.sample for o in found.objects][:2] == [None, "liver_1"]  # run level, then sheet order

    merged = results.merge_table(s3, found, "qc.tsv")
    assert merged.columns == ["sample", "reads", "gc_percent"]
    assert merged.rows == [
        {"sample": "liver_1", "reads": "24", "gc_percent": "42.08"},
        {"sample": "brain 2", "reads": "18", "gc_percent": "59.38"},
    ]
    assert merged.missing == ["empty"]

    small = results.Results(
        run=run, bucket=BUCKET, samples=SAMPLES, objects=[o for o in found.objects if "chunks/" not in o.name]
    )
    dest = tmp_path / "out"
    paths = results.download(s3, small, dest)
    assert sorted(str(p.relative_to(dest)) for p in paths) == [
        "brain%202/plots/gc.txt",
        "brain%202/qc.tsv",
        "liver_1/qc.tsv",
        "multiqc.html",
    ]
    assert (dest / "liver_1" / "qc.tsv").read_text().splitlines()[1] == "liver_1\t24\t42.08"


def test_a_run_that_wrote_nothing(s3: Any) -> None:
    found = results.list_results(s3, BUCKET, "nothing-here", ["a", "b"])
    assert found.objects == [] and found.without_results() == ["a", "b"]
    assert results.merge_table(s3, found, "qc.tsv").missing == ["a", "b"]
