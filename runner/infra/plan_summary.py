"""Summaries of a terraform plan: counts, per resource type, text/json/markdown.

Built from `terraform plan -json`'s own message stream (``summarize_stream``: what the runner does, no second
terraform process) or from `terraform show -json` of a saved plan (``summarize``); both give the same summary.

Counts follow terraform's convention: a replacement is one add and one destroy. Markdown, what a pull-request
comment shows, calls out replacements and deletions before anything else.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

ACTION_ORDER = ("replace", "delete", "create", "update", "read")
SYMBOLS = {"replace": "-/+", "delete": "-", "create": "+", "update": "~", "read": "<="}


@dataclass(frozen=True)
class Change:
    address: str
    type: str
    action: str  # create | update | delete | replace | read


@dataclass
class Summary:
    add: int = 0
    change: int = 0
    destroy: int = 0
    changes: list[Change] = field(default_factory=list)
    outputs_changed: list[str] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)

    def count(self, item: Change) -> None:
        """Add a planned change; terraform's counts: a replacement is one add and one destroy."""
        self.changes.append(item)
        if item.action in ("create", "replace"):
            self.add += 1
        if item.action in ("delete", "replace"):
            self.destroy += 1
        if item.action == "update":
            self.change += 1

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy or self.outputs_changed)

    def by_type(self) -> dict[str, dict[str, int]]:
        grouped: dict[str, Counter[str]] = defaultdict(Counter)
        for item in self.changes:
            grouped[item.type][item.action] += 1
        return {rtype: dict(sorted(counts.items())) for rtype, counts in sorted(grouped.items())}

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        """The inverse of ``to_dict`` (``by_type`` is derived, so it is not read back)."""
        return cls(
            add=int(data.get("add", 0)),
            change=int(data.get("change", 0)),
            destroy=int(data.get("destroy", 0)),
            changes=[Change(**c) for c in data.get("changes", [])],
            outputs_changed=list(data.get("outputs_changed", [])),
            drift=[Change(**c) for c in data.get("drift", [])],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "add": self.add,
            "change": self.change,
            "destroy": self.destroy,
            "by_type": self.by_type(),
            "changes": [asdict(c) for c in self.changes],
            "outputs_changed": self.outputs_changed,
            "drift": [asdict(c) for c in self.drift],
        }


def classify(actions: list[str]) -> str | None:
    """One action name for terraform's action list; None for no-op."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions == ["create"]:
        return "create"
    if actions == ["delete"]:
        return "delete"
    if actions == ["update"]:
        return "update"
    if actions == ["read"]:
        return "read"
    return None


def summarize(plan: dict[str, Any]) -> Summary:
    summary = Summary()
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") == "data":
            continue
        action = classify(rc.get("change", {}).get("actions", []))
        if action is None or action == "read":
            continue
        summary.count(Change(address=rc["address"], type=rc["type"], action=action))
    for rc in plan.get("resource_drift", []):
        action = classify(rc.get("change", {}).get("actions", []))
        if action is not None:
            summary.drift.append(Change(address=rc["address"], type=rc["type"], action=action))
    for name, oc in sorted(plan.get("output_changes", {}).items()):
        if classify(oc.get("actions", [])) is not None:
            summary.outputs_changed.append(name)
    summary.changes.sort(key=lambda c: (ACTION_ORDER.index(c.action), c.address))
    return summary


# `terraform plan -json` names actions in its stream with one word; these are the ones a summary counts.
STREAM_ACTIONS = {"create": "create", "update": "update", "delete": "delete", "replace": "replace"}


def summarize_stream(messages: list[dict[str, Any]]) -> Summary:
    """The summary of a plan from the messages of `terraform plan -json` (planned_change, resource_drift, outputs)."""
    summary = Summary()
    for message in messages:
        kind = message.get("type")
        if kind in ("planned_change", "resource_drift"):
            change = message.get("change") or {}
            resource = change.get("resource") or {}
            action = STREAM_ACTIONS.get(str(change.get("action")))
            address = str(resource.get("addr", ""))
            if action is None or str(resource.get("resource", "")).startswith("data."):
                continue
            item = Change(address=address, type=str(resource.get("resource_type", "")), action=action)
            if kind == "resource_drift":
                summary.drift.append(item)
                continue
            summary.count(item)
        elif kind == "outputs":
            for name, oc in sorted((message.get("outputs") or {}).items()):
                if isinstance(oc, dict) and oc.get("action") in STREAM_ACTIONS and name not in summary.outputs_changed:
                    summary.outputs_changed.append(name)
    summary.changes.sort(key=lambda c: (ACTION_ORDER.index(c.action), c.address))
    return summary


def headline(summary: Summary) -> str:
    return f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"


def render_text(summary: Summary, env: str) -> str:
    lines = [f"Plan for {env}: {headline(summary)}."]
    if not summary.has_changes:
        lines.append("No changes: the infrastructure matches the configuration.")
    for rtype, counts in summary.by_type().items():
        parts = ", ".join(f"{n} {action}" for action, n in counts.items())
        lines.append(f"  {rtype:<45} {parts}")
    for item in summary.of("replace") + summary.of("delete"):
        lines.append(f"  ! {item.action}: {item.address}")
    return "\n".join(lines)


def render_json(summary: Summary, env: str) -> str:
    return json.dumps({"env": env, **summary.to_dict()}, indent=2)


def render_markdown(summary: Summary, env: str, details: str | None = None) -> str:
    """A pull-request comment: destructive changes first, then a per-type table, then every address."""
    lines = [f"### Terraform plan: `{env}`", "", f"**{headline(summary)}**", ""]
    if not summary.has_changes:
        lines += ["No changes. The infrastructure matches the configuration.", ""]
    replaced, deleted = summary.of("replace"), summary.of("delete")
    if replaced or deleted:
        lines.append("> [!WARNING]")
        lines.append("> This plan replaces or destroys resources:")
        for item in replaced:
            lines.append(f"> - **replace** `{item.address}`")
        for item in deleted:
            lines.append(f"> - **destroy** `{item.address}`")
        lines.append("")
    if summary.changes:
        lines += ["| resource type | replace | destroy | create | update |", "|---|---:|---:|---:|---:|"]
        for rtype, counts in summary.by_type().items():
            cells = " | ".join(str(counts.get(a, "")) for a in ("replace", "delete", "create", "update"))
            lines.append(f"| `{rtype}` | {cells} |")
        lines.append("")
        lines += ["<details><summary>All changes</summary>", "", "```diff"]
        for item in summary.changes:
            lines.append(f"{_diff_marker(item.action)} {SYMBOLS[item.action]} {item.address}")
        lines += ["```", "", "</details>", ""]
    if summary.outputs_changed:
        lines.append("Outputs changing: " + ", ".join(f"`{o}`" for o in summary.outputs_changed))
        lines.append("")
    if summary.drift:
        lines.append(
            "Changed outside terraform since the last apply: " + ", ".join(f"`{d.address}`" for d in summary.drift)
        )
        lines.append("")
    if details:
        lines += [
            "<details><summary>terraform plan output</summary>",
            "",
            "```",
            details.strip(),
            "```",
            "</details>",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _diff_marker(action: str) -> str:
    return {"create": "+", "delete": "-", "replace": "!", "update": "!"}.get(action, " ")


def render(summary: Summary, env: str, fmt: str) -> str:
    if fmt == "json":
        return render_json(summary, env)
    if fmt == "markdown":
        return render_markdown(summary, env)
    return render_text(summary, env)
