"""What a saved plan's drift check compares: the state a plan was computed on vs the state as read today."""

from __future__ import annotations

from typing import Any

from runner.infra.plans import Drifted, changed_attributes, describe_drift, drift_between

VERSIONING = 'module.storage.aws_s3_bucket_versioning.this["data"]'


def state(**resources: dict[str, Any]) -> dict[str, Any]:
    """A `show -json` state: the first resource in the root module, the rest in a child module."""
    items = [{"address": a, "mode": "managed", "values": v} for a, v in resources.items()]
    data = {"address": "data.aws_region.current", "mode": "data", "values": {"name": "x"}}
    return {"root_module": {"resources": [*items[:1], data], "child_modules": [{"resources": items[1:]}]}}


def test_changed_attributes_name_nested_blocks_without_single_element_indexes() -> None:
    before = {"bucket": "b", "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}], "tags": {"A": "1"}}
    after = {"bucket": "b", "versioning_configuration": [{"status": "Suspended", "mfa_delete": ""}], "tags": {"A": "2"}}
    assert changed_attributes(before, after) == ["tags.A", "versioning_configuration.status"]
    assert changed_attributes({"ids": ["a", "b"]}, {"ids": ["a", "c"]}) == ["ids[1]"]
    assert changed_attributes({"ids": ["a"]}, {"ids": ["a", "b"]}) == ["ids"]
    assert changed_attributes({"x": 1}, {"x": 1}) == []


def test_drift_between_names_changed_deleted_and_new_resources_and_ignores_data_sources() -> None:
    then = state(
        keep={"id": "k"},
        **{VERSIONING: {"versioning_configuration": [{"status": "Enabled"}]}},
        gone={"id": "g"},
    )
    now = state(
        keep={"id": "k"},
        **{VERSIONING: {"versioning_configuration": [{"status": "Suspended"}]}},
        new={"id": "n"},
    )
    assert drift_between(then, now) == [
        Drifted("gone", ("deleted outside terraform",)),
        Drifted(VERSIONING, ("versioning_configuration.status",)),
        Drifted("new", ("appeared in the state",)),
    ]
    assert drift_between(then, then) == []
    assert drift_between(None, None) == []


def test_describe_drift_is_one_line_and_capped() -> None:
    drifted = [Drifted(f"r{i}", ("a",)) for i in range(7)]
    text = describe_drift(drifted, limit=5)
    assert "\n" not in text and text.startswith("r0 (a); r1 (a)") and text.endswith("; and 2 more")


CE = 'module.platform.module.batch.aws_batch_compute_environment.this["spot"]'
CONFIGURATION = {
    "root_module": {
        "module_calls": {
            "platform": {
                "module": {
                    "module_calls": {
                        "batch": {
                            "module": {
                                "resources": [
                                    {
                                        "address": "aws_batch_compute_environment.this",
                                        "mode": "managed",
                                        "expressions": {
                                            "state": {"references": ["each.value.state"]},
                                            "tags": {"references": ["var.tags"]},
                                            "compute_resources": [
                                                {
                                                    "max_vcpus": {"references": ["each.value"]},
                                                    "launch_template": [{"version": {"references": ["var.v"]}}],
                                                }
                                            ],
                                        },
                                    }
                                ]
                            }
                        }
                    }
                }
            }
        }
    }
}


def _ce(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": "ENABLED",
        "status": "VALID",
        "tags": {"Name": "x"},
        "tags_all": {"Name": "x"},
        "compute_resources": [{"max_vcpus": 16, "desired_vcpus": 0, "launch_template": [{"version": "1"}]}],
        "order": [],
    }
    values.update(changes)
    return values


def test_only_what_the_configuration_manages_is_drift() -> None:
    then = state(**{CE: _ce()})
    # Batch scaling (desired vCPUs), a status, tags_all: AWS changes them by itself; the plan does not manage them.
    busy = _ce(
        status="UPDATING",
        tags_all={"Name": "x", "Extra": "1"},
        compute_resources=[{"max_vcpus": 16, "desired_vcpus": 12, "launch_template": [{"version": "1"}]}],
    )
    assert drift_between(then, state(**{CE: busy}), CONFIGURATION) == []
    assert drift_between(then, state(**{CE: busy})) != []  # without the configuration everything counts
    # What the configuration sets, and blocks (a dynamic block is not in the expressions), do count.
    changed = _ce(
        state="DISABLED",
        tags={"Name": "y"},
        compute_resources=[{"max_vcpus": 32, "desired_vcpus": 0, "launch_template": [{"version": "7"}]}],
        order=[{"compute_environment": "arn:other"}],
    )
    assert drift_between(then, state(**{CE: changed}), CONFIGURATION) == [
        Drifted(
            CE,
            (
                "compute_resources.launch_template.version",
                "compute_resources.max_vcpus",
                "order",
                "state",
                "tags.Name",
            ),
        )
    ]
