"""A latency-injecting HTTP proxy for `make bench`: every request waits a fixed delay, then goes to the emulator.

    python -m tests.bench.proxy --upstream http://127.0.0.1:4566 --delay-ms 100 [--port 0] [--max-connections 512]

Real S3 and Batch answer in 20-100 ms where the emulator answers in ~3 ms; through this proxy a tool's
concurrency decides its throughput as it does against AWS. It speaks plain HTTP/1.1 (what the tools send to an
``http://`` endpoint): each client connection gets its own upstream connection, each request is held for the
delay before its head is forwarded, and bodies are streamed both ways in 256 KiB chunks (a 64 MiB upload never
sits in memory). Listens on 127.0.0.1 only; at most ``--max-connections`` client connections are served at once
(more wait in the accept queue), request heads are capped at 64 KiB.

It prints ``PORT`` on its first line once listening. ``GET /__proxy/stats`` (answered by the proxy itself, not
forwarded) returns ``{"requests": N, "by_method": {...}, "bytes_up": N, "bytes_down": N}``: the bench reads it
before and after a tool to count that tool's requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
CHUNK = 256 * 1024
HEAD_LIMIT = 64 * 1024
STATS_PATH = b"/__proxy/stats"


class BadRequest(Exception):
    pass


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.by_method: Counter[str] = Counter()
        self.bytes_up = 0
        self.bytes_down = 0
        self.open_connections = 0
        self.peak_connections = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "by_method": dict(self.by_method),
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
        }


def parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The first line and the header fields of a request or response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    first, fields = lines[0], []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"malformed header line {line!r}")
        fields.append((name.strip(), value.strip()))
    return first, fields


def header(fields: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for key, value in fields:
        if key.lower() == name:
            return value
    return None


def body_kind(fields: list[tuple[str, str]]) -> tuple[str, int]:
    """("chunked", 0), ("length", N) or ("none", 0) for a request; responses add ("close", 0)."""
    encoding = header(fields, "transfer-encoding")
    if encoding is not None and "chunked" in encoding.lower():
        return "chunked", 0
    length = header(fields, "content-length")
    if length is not None:
        try:
            return "length", int(length)
        except ValueError:
            raise BadRequest(f"bad Content-Length {length!r}") from None
    return "none", 0


async def pipe_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> int:
    left = length
    while left > 0:
        data = await reader.read(min(CHUNK, left))
        if not data:
            raise ConnectionError("peer closed mid-body")
        writer.write(data)
        await writer.drain()
        left -= len(data)
    return length


async def pipe_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Copy a chunked body verbatim (sizes, extensions, trailers), chunk data streamed."""
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        writer.write(line)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = await reader.readuntil(b"\r\n")
                writer.write(trailer)
                if trailer == b"\r\n":
                    await writer.drain()
                    return total
        total += await pipe_length(reader, writer, size + 2)  # data and its CRLF


async def pipe_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    total = 0
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
        total += len(data)
    return total


class Proxy:
    def __init__(self, upstream: str, delay: float, max_connections: int) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise SystemExit(f"proxy: --upstream must be http://HOST:PORT, not {upstream!r}")
        self.up_host, self.up_port = parts.hostname, parts.port or 80
        self.delay = delay
        self.slots = asyncio.Semaphore(max_connections)
        self.stats = Stats()

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        async with self.slots:
            self.stats.open_connections += 1
            self.stats.peak_connections = max(self.stats.peak_connections, self.stats.open_connections)
            upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            try:
                while True:
                    try:
                        head = await client_r.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, ConnectionError):
                        return
                    except asyncio.LimitOverrunError:
                        client_w.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
                        return
                    keep, upstream = await self.exchange(head, client_r, client_w, upstream)
                    if not keep:
                        return
            except (ConnectionError, asyncio.IncompleteReadError, BadRequest):
                return
            finally:
                self.stats.open_connections -= 1
                for w in (client_w, upstream[1] if upstream else None):
                    if w is not None:
                        with contextlib.suppress(Exception):
                            w.close()

    async def exchange(
        self,
        head: bytes,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    ) -> tuple[bool, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
        """One request and its response; returns (keep the client connection, the upstream connection to reuse)."""
        first, fields = parse_head(head[:-4])
        method, _, rest = first.partition(" ")
        if method == "GET" and rest.split(" ", 1)[0].encode() == STATS_PATH:
            body = json.dumps(self.stats.to_dict()).encode()
            client_w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )
            await client_w.drain()
            return True, upstream
        self.stats.requests += 1
        self.stats.by_method[method] += 1
        await asyncio.sleep(self.delay)
        if upstream is None or upstream[1].is_closing():
            upstream = await asyncio.open_connection(self.up_host, self.up_port, limit=HEAD_LIMIT)
        up_r, up_w = upstream
        up_w.write(head)
        kind, length = body_kind(fields)
        # The request body goes up while the response comes down (100-continue, early error answers).
        sending = asyncio.ensure_future(self.send_body(kind, length, client_r, up_w))
        try:
            keep, up_keep = await self.relay_response(method, first, fields, up_r, client_w)
        finally:
            if not sending.done():  # the last write may still be draining: give it a moment, then give up
                await asyncio.wait({sending}, timeout=1.0)
            if not sending.done():
                sending.cancel()
                keep = up_keep = False
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sending
        if not up_keep:
            up_w.close()
            upstream = None
        return keep, upstream

    async def send_body(
        self, kind: str, length: int, client_r: asyncio.StreamReader, up_w: asyncio.StreamWriter
    ) -> None:
        n = 0
        if kind == "length":
            n = await pipe_length(client_r, up_w, length)
        elif kind == "chunked":
            n = await pipe_chunked(client_r, up_w)
        await up_w.drain()
        self.stats.bytes_up += n  # after the await: tasks interleave there

    async def relay_response(
        self,
        method: str,
        request_line: str,
        request_fields: list[tuple[str, str]],
        up_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
    ) -> tuple[bool, bool]:
        while True:
            head = await up_r.readuntil(b"\r\n\r\n")
            status_line, fields = parse_head(head[:-4])
            status = int(status_line.split(" ", 2)[1])
            if 100 <= status < 200 and status != 101:
                client_w.write(head)
                await client_w.drain()
                continue  # interim answer (100 Continue): the final one follows
            break
        version = status_line.split(" ", 1)[0]
        connection = (header(fields, "connection") or "").lower()
        up_keep = version == "HTTP/1.1" and "close" not in connection
        kind, length = body_kind(fields)
        no_body = method == "HEAD" or status in (204, 304)
        delimited = no_body or kind != "none"
        if delimited and version == "HTTP/1.1":
            # AWS keeps connections alive; the emulator closes each one. The client's connection stays open (the
            # proxy opens a new upstream one per request), so clients behave as they would against AWS.
            kept = [(k, v) for k, v in fields if k.lower() not in ("connection", "keep-alive")]
            head = ("\r\n".join([status_line, *(f"{k}: {v}" for k, v in kept)]) + "\r\n\r\n").encode("latin-1")
        client_w.write(head)
        n = 0
        if no_body:
            pass
        elif kind == "length":
            n = await pipe_length(up_r, client_w, length)
        elif kind == "chunked":
            n = await pipe_chunked(up_r, client_w)
        else:
            n = await pipe_until_close(up_r, client_w)
            up_keep = False
        await client_w.drain()
        self.stats.bytes_down += n
        request_version = request_line.rsplit(" ", 1)[-1]
        client_close = "close" in (header(request_fields, "connection") or "").lower()
        keep = delimited and version == "HTTP/1.1" and not client_close and request_version == "HTTP/1.1"
        return keep, up_keep


async def run(args: argparse.Namespace) -> None:
    proxy = Proxy(args.upstream, args.delay_ms / 1000, args.max_connections)
    server = await asyncio.start_server(proxy.serve, HOST, args.port, limit=HEAD_LIMIT, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.bench.proxy", description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:PORT")
    p.add_argument("--delay-ms", type=float, required=True, help="added to every request")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on the first line)")
    p.add_argument("--max-connections", type=int, default=512)
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    sys.exit(0)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------------------------
# For the bench: a proxy in a process of its own (its CPU is not the tool's), its request counter
# ---------------------------------------------------------------------------------------------------------------


class Running:
    """A proxy process started by ``start``; ``endpoint`` is what tools get as their AWS endpoint."""

    def __init__(self, proc: subprocess.Popen[str], port: int, delay_ms: float) -> None:
        self.proc, self.port, self.delay_ms = proc, port, delay_ms
        self.endpoint = f"http://{HOST}:{port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + STATS_PATH.decode(), timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data

    def requests(self) -> int:
        return int(self.stats()["requests"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(upstream: str, delay_ms: float, max_connections: int = 512) -> Running:
    cmd = [sys.executable, "-m", "tests.bench.proxy", "--upstream", upstream, "--delay-ms", str(delay_ms)]
    cmd += ["--max-connections", str(max_connections)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise SystemExit(f"bench: the latency proxy did not start (said {line!r})")
    return Running(proc, int(line), delay_ms)
