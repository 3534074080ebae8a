"""`make bench`, terraform section: `runner infra plan` / a no-op `runner infra apply` against the raw terraform
commands, on a copy of envs/local deployed once on the bench's emulator, at every latency the bench models.

Each pair runs side by side (A B, then B A in the next round, ...); the median of the rounds is reported. The raw
commands get exactly what the runner gives terraform (the provider mirror's CLI config, the emulator's endpoint
and credentials), so the difference is the wrapper: its start-up, its extra terraform processes, its reads.
Before each `runner infra apply` the saved plan of the `runner infra plan` just measured is discarded, so the
runner plans and applies as `terraform apply -auto-approve` does.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.latency import Pair, emulator_home, pair_table

REPO = Path(__file__).resolve().parents[2]
GOAL = 1.1  # the wrapper's budget: at most 1.1x the raw terraform command


@dataclass
class TerraformBench:
    deploy_seconds: float = 0.0
    pairs: dict[int, list[Pair]] = field(default_factory=dict)  # latency (ms) -> [plan, apply]
    rounds: int = 0


def copy_project(dest: Path) -> Path:
    for folder in ("envs/local", "modules"):
        shutil.copytree(
            REPO / folder,
            dest / folder,
            ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan", "ami.auto.tfvars.json", ".runner"),
        )
    return dest


def home_for(work: Path, latency: int, endpoint: str, emulator_pid: int) -> Path:
    return emulator_home(work / f"tf-home-{latency}ms", endpoint, emulator_pid)


def runner_env(base: dict[str, str], root: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != "AWS_ENDPOINT_URL"}
    env.update(RUNNER_ROOT=str(root), RUNNER_HOME=str(home), PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    return env


def terraform_env(base: dict[str, str], home: Path, endpoint: str) -> dict[str, str]:
    """What the runner gives terraform (runner.infra.terraform.Terraform.environment), for the raw commands."""
    from runner.infra.terraform import write_cli_config

    env = dict(base, AWS_ENDPOINT_URL=endpoint, TF_IN_AUTOMATION="1", TF_INPUT="0")
    config = write_cli_config(home, env)
    if config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(config)
    return env


def bench_terraform(
    args: Any,
    endpoints: dict[int, str],
    emulator_pid: int,
    port: int,
    work: Path,
    measure: Callable[..., Any],
    base_env: dict[str, str],
    counter_for: Callable[[int], None],
) -> TerraformBench:
    """``endpoints``: latency (ms) -> AWS endpoint (0: the emulator); ``counter_for(latency)`` points the bench's
    request counter at that latency's proxy before its runs."""
    from runner.infra.terraform import find_binary

    root = copy_project(work / "tf-project")
    env_dir = root / "envs" / "local"
    terraform = find_binary()
    runner = str(Path(sys.executable).parent / "runner")
    result = TerraformBench(rounds=args.tf_rounds)

    deploy_home = home_for(work, 0, endpoints[0], emulator_pid)
    print("bench: terraform: deploying envs/local once (runner infra apply) ...", file=sys.stderr)
    counter_for(0)
    deployed = measure(
        [runner, "infra", "apply", "--env", "local", "--auto-approve"], runner_env(base_env, root, deploy_home)
    )
    result.deploy_seconds = deployed.seconds

    for latency, endpoint in endpoints.items():
        home = home_for(work, latency, endpoint, emulator_pid)
        renv, tenv = runner_env(base_env, root, home), terraform_env(base_env, home, endpoint)
        plan = Pair(
            "plan",
            "terraform plan -input=false",
            "runner infra plan --env local",
        )
        apply = Pair(
            "no-op apply",
            "terraform apply -input=false -auto-approve",
            "runner infra apply --env local --auto-approve",
        )
        commands = {
            id(plan): (
                [*terraform, f"-chdir={env_dir}", "plan", "-input=false"],
                [runner, "infra", "plan", "--env", "local"],
            ),
            id(apply): (
                [*terraform, f"-chdir={env_dir}", "apply", "-input=false", "-auto-approve"],
                [runner, "infra", "apply", "--env", "local", "--auto-approve"],
            ),
        }
        counter_for(latency)
        for rnd in range(args.tf_rounds):
            for pair in (plan, apply):
                raw_cmd, runner_cmd = commands[id(pair)]
                order = [("base", raw_cmd, tenv), ("runner", runner_cmd, renv)]
                if rnd % 2:
                    order.reverse()
                for which, cmd, env in order:
                    if pair is apply and which == "runner":
                        for stale in (home / "plans").glob("local.*"):
                            stale.unlink()  # plan + apply, as `terraform apply -auto-approve` does
                    print(f"bench: terraform {latency} ms, round {rnd + 1}: {which} {pair.what} ...", file=sys.stderr)
                    getattr(pair, which).append(measure(cmd, env))
        result.pairs[latency] = [plan, apply]
    return result


def render(bench: TerraformBench) -> list[str]:
    lines = [
        "## Terraform wrapper: `runner infra plan` and a no-op `runner infra apply` vs the raw commands",
        "",
        f"envs/local (the whole platform) deployed once on the emulator ({bench.deploy_seconds:.0f} s); then, at each "
        f"latency, each pair side by side (order alternating per round), median of {bench.rounds} rounds. The raw "
        "commands get the same CLI config, endpoint and credentials the runner gives terraform. Requests: what went "
        "through the proxy (median per run). Ratio: the runner's median over terraform's; paired: the median of "
        "the per-round ratios (the two runs of a round were adjacent in time), which the verdicts read.",
        "",
        *pair_table("command", "raw terraform", "raw"),
    ]
    lines += [p.row(_latency(lat), lat > 0, with_runs=True) for lat, pairs in bench.pairs.items() for p in pairs]
    lines += [
        "",
        "Commands: " + "; ".join(f"`{p.base_cmd}` vs `{p.runner_cmd}`" for p in next(iter(bench.pairs.values()))),
    ]
    return lines


def verdicts(bench: TerraformBench) -> list[str]:
    out = []
    for what in ("plan", "no-op apply"):
        pairs = {lat: next(p for p in ps if p.what == what) for lat, ps in bench.pairs.items()}
        ratios = {lat: p.paired for lat, p in pairs.items()}
        ok = all(r <= GOAL for r in ratios.values())
        figures = ", ".join(
            f"{r:.2f}x {_latency(lat)} (ratio of medians {pairs[lat].ratio:.2f}x)" for lat, r in ratios.items()
        )
        extra_cpu = statistics.median(Pair.median(p.runner, "cpu") - Pair.median(p.base, "cpu") for p in pairs.values())
        requests = [
            (Pair.median(p.base, "requests"), Pair.median(p.runner, "requests")) for lat, p in pairs.items() if lat
        ]
        same = all(a == b for a, b in requests)
        spread = max(
            (max(m.seconds for m in p.base) - min(m.seconds for m in p.base)) / Pair.median(p.base)
            for p in pairs.values()
        )
        out.append(
            f"- `runner infra {what.split()[-1]}`{' (no-op)' if 'apply' in what else ''} at most {GOAL}x the raw "
            f"terraform command, paired: {figures}: {'**met**' if ok else '**not met**'}. The runner runs one "
            "terraform process (`plan -json`, its stream summarised: no `state pull`, `show -json` or `output -json`)"
            + (", and sends the same AWS requests" if requests and same else "")
            + f"; it costs {extra_cpu:+.1f} s of CPU over terraform (median), its own start-up. Runs of the raw "
            f"command alone spread over {spread:.0%} of their median here"
            + (f", more than the goal's {GOAL - 1:.0%} margin." if spread > GOAL - 1 else ".")
        )
    return out


def _spread(runs: list[Any]) -> float:
    """How far runs of one command spread, as a share of their median."""
    seconds = [m.seconds for m in runs]
    return (max(seconds) - min(seconds)) / Pair.median(runs)


def _latency(ms: int) -> str:
    return "bare emulator" if ms == 0 else f"+{ms} ms"
