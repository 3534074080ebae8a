"""The bench's latency proxy (tests/bench/proxy.py) in front of a real emulator: requests arrive intact (bodies of
any size, streamed), each one waits at least the delay, and its counter sees every request a client sends."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from runner.files.staging import counting_calls
from runner.local import server as local
from tests.bench import proxy
from tests.helpers import emulator_s3, free_port

MiB = 1024 * 1024
DELAY_MS = 50


HOME: list[Path] = []


@pytest.fixture(scope="module")
def through(tmp_path_factory: pytest.TempPathFactory) -> Iterator[proxy.Running]:
    home = tmp_path_factory.mktemp("proxy-home")
    info = local.up(home, port=free_port())
    HOME[:] = [home]
    running = proxy.start(info.endpoint, DELAY_MS, max_connections=8)
    try:
        yield running
    finally:
        running.stop()
        local.down(home)


def _s3(endpoint: str) -> Any:
    return emulator_s3(endpoint, HOME[0], 16, {"mode": "standard", "max_attempts": 1})


def test_bodies_arrive_intact_and_every_request_is_counted(through: proxy.Running, tmp_path: Path) -> None:
    s3 = _s3(through.endpoint)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * MiB + 123))
    before = through.stats()
    with counting_calls(s3) as calls:
        s3.create_bucket(Bucket="proxied")
        s3.put_object(Bucket="proxied", Key="small", Body=b"hello")
        # 5 MiB parts, 4 at a time: more connections than requests at once, bodies larger than the proxy's chunks
        s3.upload_file(str(big), "proxied", "big", Config=TransferConfig(multipart_chunksize=5 * MiB))
        assert s3.get_object(Bucket="proxied", Key="small")["Body"].read() == b"hello"
        got = s3.get_object(Bucket="proxied", Key="big")["Body"].read()
        assert s3.head_object(Bucket="proxied", Key="big")["ContentLength"] == big.stat().st_size
    assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    after = through.stats()
    assert after["requests"] - before["requests"] == sum(calls.values())
    assert calls["UploadPart"] == 3
    assert after["bytes_up"] - before["bytes_up"] >= big.stat().st_size
    assert after["bytes_down"] - before["bytes_down"] >= big.stat().st_size
    assert after["peak_connections"] <= 8  # --max-connections


def test_each_request_waits_at_least_the_delay(through: proxy.Running) -> None:
    s3 = _s3(through.endpoint)
    s3.list_buckets()  # connection made
    start = time.perf_counter()
    for _ in range(3):
        s3.list_buckets()
    assert time.perf_counter() - start >= 3 * DELAY_MS / 1000
