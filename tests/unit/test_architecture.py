"""The package arrows of docs/architecture.md, read from the code with `ast` (every import, also inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "runner"

# package -> the packages it may import (besides itself). docs/architecture.md shows the same table.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "local": {"core"},
    "aws": {"core", "local"},
    "infra": {"core", "aws", "local"},
    "ami": {"core", "aws"},
    "registry": {"core", "aws", "session"},
    "session": {"core", "aws", "infra"},
    "compute": {"core", "aws"},
    "files": {"core", "aws", "session"},
    "costs": {"core", "aws", "session", "compute"},
    "nextflow": {"core", "aws", "session", "compute", "files"},
    "runs": {"core", "aws", "local", "session", "compute", "files", "costs", "nextflow"},
    "cli": {
        "core",
        "local",
        "aws",
        "infra",
        "ami",
        "registry",
        "session",
        "compute",
        "files",
        "costs",
        "nextflow",
        "runs",
    },
}
ENTRY_POINTS = {"__init__", "__main__"}  # runner/__main__.py runs the cli


def imported_modules(path: Path, root: Path = RUNNER) -> set[str]:
    """Every runner module a file under ``root`` imports (absolute or relative, at any depth of the file)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "runner" or m.startswith("runner.")}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (RUNNER / parts[1]).is_dir() else None


def arrows() -> dict[tuple[str, str], list[str]]:
    """(from package, to package) -> the files that make that arrow."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(RUNNER.rglob("*.py")):
        rel = path.relative_to(RUNNER)
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module in imported_modules(path):
            target = package_of(module)
            if target is not None and target != source:
                found.setdefault((source, target), []).append(str(rel))
    return found


def test_every_package_is_in_the_table() -> None:
    packages = {p.name for p in RUNNER.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED), "a new package needs its arrows in ALLOWED and in docs/architecture.md"


def test_imports_follow_the_arrows() -> None:
    bad = [
        f"{src} -> {dst} ({', '.join(sorted(set(files)))})"
        for (src, dst), files in arrows().items()
        if src not in ENTRY_POINTS and dst not in ALLOWED.get(src, set())
    ]
    assert not bad, "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_nothing_imports_the_cli() -> None:
    users = [f"{src} ({files})" for (src, dst), files in arrows().items() if dst == "cli" and src not in ENTRY_POINTS]
    assert not users


# Inside cli/: a verb (or group) module imports only these from cli/, never another verb's module.
CLI_SHARED = ("runner.cli.common", "runner.cli.render")


def cli_imports_of_others(root: Path = RUNNER) -> list[str]:
    """``file -> module`` for every import of a cli/ module that is not shared (cli/common.py, cli/render/)."""
    bad = []
    for path in sorted((root / "cli").rglob("*.py")):
        rel = path.relative_to(root)
        if rel.as_posix() == "cli/__init__.py":  # the root names the verbs and loads them by name (VERBS)
            continue
        for module in imported_modules(path, root):
            inside = module.startswith("runner.cli.")
            shared = any(module == m or module.startswith(m + ".") for m in CLI_SHARED)
            if inside and not shared:
                bad.append(f"{rel} -> {module}")
    return bad


def test_cli_modules_import_only_common_and_render_from_cli() -> None:
    """Verbs do not lean on each other: what two verbs share is an option (cli/common.py), a view (cli/render/)
    or a use case in a domain package."""
    bad = cli_imports_of_others()
    assert not bad, "a cli/ module imports another verb's module:\n" + "\n".join(bad)


def test_the_cli_rule_sees_a_verb_importing_a_verb(tmp_path: Path) -> None:
    cli = tmp_path / "runner" / "cli"
    (cli / "render").mkdir(parents=True)
    (cli / "status.py").write_text("from runner.cli import common, render\nfrom runner.cli.render import runs\n")
    (cli / "retry.py").write_text("def f():\n    from runner.cli import nextflow\n    from . import spot\n")
    (cli / "render" / "runs.py").write_text("from runner.cli.render import show\n")
    assert sorted(cli_imports_of_others(tmp_path / "runner")) == [
        "cli/retry.py -> runner.cli.nextflow",
        "cli/retry.py -> runner.cli.spot",
    ]


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for src, dst in arrows():
        if src not in ENTRY_POINTS:
            graph.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cyclic = sorted(p for p in graph if reaches(p, p, {p}))
    assert not cyclic, f"packages on an import cycle: {cyclic}"


@pytest.mark.parametrize(
    ("source", "line", "target"),
    [
        ("runs/x.py", "from runner.cli import common", "cli"),
        ("infra/x.py", "from runner.runs.submission import Submitter", "runs"),
        ("costs/x.py", "from runner.runs import tracking", "runs"),
        ("core/x.py", "import runner.aws.batch", "aws"),
        ("files/x.py", "def f():\n    from ..cli import render\n", "cli"),
    ],
)
def test_the_check_sees_a_broken_arrow(tmp_path: Path, source: str, line: str, target: str) -> None:
    """The parser finds top-level, nested and relative imports (else the tests above would prove nothing)."""
    path = tmp_path / "runner" / source
    path.parent.mkdir(parents=True)
    path.write_text(line + "\n")
    modules = imported_modules(path, root=tmp_path / "runner")
    assert {m.split(".")[1] for m in modules if "." in m} >= {target}
    assert target not in ALLOWED[source.split("/")[0]]


def test_the_doc_shows_these_arrows() -> None:
    """docs/architecture.md's "Allowed imports" block says what `ALLOWED` says."""
    text = (RUNNER.parent / "docs" / "architecture.md").read_text()
    block = text.split("## Allowed imports", 1)[1].split("```", 2)[1]
    shown: dict[str, set[str]] = {}
    for line in block.strip().splitlines():
        name, _, targets = (part.strip() for part in line.partition("->"))
        shown[name] = set() if targets == "(nothing)" else {t.strip() for t in targets.split(",")}
    if shown.get("cli") == {"any of the above"}:
        shown["cli"] = set(shown) - {"cli"}
    assert shown == ALLOWED
