"""Module READMEs: input and output tables generated from each module's variables.tf and outputs.tf.

Each ``modules/NAME/README.md`` keeps its hand-written text; the tables live between the markers below and
are rewritten by ``python -m runner.infra.tfdocs`` (``make docs``). ``--check`` exits 1 naming every stale README, so a
test and CI catch a variable added without regenerating the docs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_MISSING = object()


@dataclass(frozen=True)
class Input:
    name: str
    description: str
    type: str
    default: Any  # _MISSING when required

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class Output:
    name: str
    description: str


# --------------------------------------------------------------------------------------------------------------
# Reading a module
# --------------------------------------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _expression(value: str) -> str:
    """A type expression as python-hcl2 gives it (`${map(string)}`), without the interpolation wrapper."""
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open() as fh:
        data: dict[str, Any] = hcl2.load(fh)
    return data


def read_inputs(module: Path) -> list[Input]:
    inputs = []
    for block in _load(module / "variables.tf").get("variable", []):
        for raw_name, body in block.items():
            inputs.append(
                Input(
                    name=_unquote(raw_name),
                    description=str(_unquote(body.get("description", ""))),
                    type=_expression(str(body.get("type", "any"))),
                    default=body.get("default", _MISSING),
                )
            )
    return sorted(inputs, key=lambda i: (not i.required, i.name))


def read_outputs(module: Path) -> list[Output]:
    outputs = []
    for block in _load(module / "outputs.tf").get("output", []):
        for raw_name, body in block.items():
            outputs.append(Output(name=_unquote(raw_name), description=str(_unquote(body.get("description", "")))))
    return sorted(outputs, key=lambda o: o.name)


# --------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------


def hcl_value(value: Any) -> str:
    """A default value in HCL syntax, on one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value if value.startswith('"') else f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_unquote(k)} = {hcl_value(v)}" for k, v in value.items() if not str(k).startswith("__")]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    text = _cell(text)
    return f"`{text}`" if "`" not in text else f"<code>{text}</code>"


def render_tables(module: Path) -> str:
    lines = [BEGIN, "## Inputs", ""]
    inputs = read_inputs(module)
    if inputs:
        lines += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        for item in inputs:
            default = "n/a" if item.required else _code(hcl_value(item.default))
            lines.append(
                f"| `{item.name}` | {_cell(item.description)} | {_code(item.type)} | {default} | "
                f"{'yes' if item.required else 'no'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    outputs = read_outputs(module)
    if outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        lines += [f"| `{o.name}` | {_cell(o.description)} |" for o in outputs]
    else:
        lines.append("No outputs.")
    lines.append(END)
    return "\n".join(lines) + "\n"


def updated_readme(module: Path) -> str:
    """The module's README with fresh tables (appended when the markers are missing)."""
    readme = module / "README.md"
    text = readme.read_text() if readme.exists() else f"# Module `{module.name}`\n"
    tables = render_tables(module)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + tables + (("\n" + tail) if tail else "")
    return text.rstrip("\n") + "\n\n" + tables


def modules(root: Path) -> list[Path]:
    return sorted(p for p in (root / "modules").iterdir() if p.is_dir() and (p / "variables.tf").exists())


def stale(root: Path) -> list[Path]:
    """READMEs whose tables differ from what variables.tf and outputs.tf say."""
    result = []
    for module in modules(root):
        readme = module / "README.md"
        if not readme.exists() or readme.read_text() != updated_readme(module):
            result.append(readme)
    return result


def write(root: Path) -> list[Path]:
    changed = []
    for readme in stale(root):
        readme.write_text(updated_readme(readme.parent))
        changed.append(readme)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.infra.tfdocs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 when a README is stale; change nothing.")
    parser.add_argument("--root", type=Path, default=None, help="Project root (default: the current project).")
    args = parser.parse_args(argv)
    from runner.core.project import project_root

    root = args.root or project_root()
    if args.check:
        outdated = stale(root)
        for readme in outdated:
            print(f"stale: {readme.relative_to(root)} (run `make docs`)", file=sys.stderr)
        return 1 if outdated else 0
    for readme in write(root):
        print(f"wrote {readme.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
