"""Plan summaries from plan JSON: counts, grouping, and the markdown a pull request shows."""

from __future__ import annotations

from runner.infra.plan_summary import classify, render_markdown, render_text, summarize

PLAN = {
    "resource_changes": [
        {
            "address": "aws_s3_bucket.a",
            "type": "aws_s3_bucket",
            "mode": "managed",
            "change": {"actions": ["create"]},
        },
        {
            "address": "aws_s3_bucket.b",
            "type": "aws_s3_bucket",
            "mode": "managed",
            "change": {"actions": ["update"]},
        },
        {
            "address": "aws_batch_job_queue.q",
            "type": "aws_batch_job_queue",
            "mode": "managed",
            "change": {"actions": ["delete", "create"]},
        },
        {
            "address": "aws_iam_role.r",
            "type": "aws_iam_role",
            "mode": "managed",
            "change": {"actions": ["delete"]},
        },
        {
            "address": "aws_iam_role.s",
            "type": "aws_iam_role",
            "mode": "managed",
            "change": {"actions": ["no-op"]},
        },
        {
            "address": "data.aws_iam_policy_document.d",
            "type": "aws_iam_policy_document",
            "mode": "data",
            "change": {"actions": ["read"]},
        },
    ],
    "output_changes": {"x": {"actions": ["update"]}, "y": {"actions": ["no-op"]}},
}


def test_classify() -> None:
    assert classify(["create", "delete"]) == classify(["delete", "create"]) == "replace"
    assert classify(["no-op"]) is None


def test_counts_follow_terraform() -> None:
    s = summarize(PLAN)
    assert (s.add, s.change, s.destroy) == (2, 1, 2)
    assert s.by_type() == {
        "aws_batch_job_queue": {"replace": 1},
        "aws_iam_role": {"delete": 1},
        "aws_s3_bucket": {"create": 1, "update": 1},
    }
    assert s.outputs_changed == ["x"]
    assert [c.action for c in s.changes] == ["replace", "delete", "create", "update"]


def test_markdown_calls_out_replacements_and_deletions_first() -> None:
    md = render_markdown(summarize(PLAN), "dev")
    assert md.startswith("### Terraform plan: `dev`")
    assert "**2 to add, 1 to change, 2 to destroy**" in md
    warn = md.index("[!WARNING]")
    assert warn < md.index("| resource type")
    assert md.index("**replace** `aws_batch_job_queue.q`") < md.index("**destroy** `aws_iam_role.r`")


def test_no_changes() -> None:
    s = summarize({"resource_changes": []})
    assert not s.has_changes
    assert "No changes" in render_text(s, "dev")
    assert "No changes" in render_markdown(s, "dev")


def _planned(addr: str, rtype: str, action: str, kind: str = "planned_change") -> dict:
    resource = addr.split("module.")[-1].split(".", 1)[-1] if addr.startswith("module.") else addr
    return {
        "type": kind,
        "change": {"resource": {"addr": addr, "resource": resource, "resource_type": rtype}, "action": action},
    }


# What `terraform plan -json` streams for PLAN (plus a drifted resource and messages a summary ignores).
STREAM = [
    {"type": "version", "terraform": "1.11.4"},
    {"type": "refresh_complete", "hook": {"resource": {"addr": "aws_s3_bucket.b"}}},
    _planned("aws_s3_bucket.a", "aws_s3_bucket", "create"),
    _planned("aws_s3_bucket.b", "aws_s3_bucket", "update"),
    _planned("aws_batch_job_queue.q", "aws_batch_job_queue", "replace"),
    _planned("aws_iam_role.r", "aws_iam_role", "delete"),
    _planned("aws_iam_role.s", "aws_iam_role", "noop"),
    _planned("data.aws_iam_policy_document.d", "aws_iam_policy_document", "read"),
    _planned("aws_s3_bucket.b", "aws_s3_bucket", "update", kind="resource_drift"),
    {"type": "change_summary", "changes": {"add": 2, "change": 1, "remove": 2, "operation": "plan"}},
    {"type": "outputs", "outputs": {"x": {"action": "update"}, "y": {"action": "noop"}}},
]


def test_the_stream_gives_the_summary_show_json_gives() -> None:
    from runner.infra.plan_summary import summarize_stream

    streamed, shown = summarize_stream(STREAM), summarize(PLAN)
    assert (streamed.add, streamed.change, streamed.destroy) == (shown.add, shown.change, shown.destroy) == (2, 1, 2)
    assert streamed.changes == shown.changes
    assert streamed.outputs_changed == shown.outputs_changed == ["x"]
    assert [d.address for d in streamed.drift] == ["aws_s3_bucket.b"]


def test_a_module_named_data_is_not_a_data_source() -> None:
    from runner.infra.plan_summary import summarize_stream

    item = _planned("module.data.aws_s3_bucket.x", "aws_s3_bucket", "create")
    item["change"]["resource"]["resource"] = "aws_s3_bucket.x"
    assert [c.address for c in summarize_stream([item]).changes] == ["module.data.aws_s3_bucket.x"]


def test_a_summary_survives_its_record() -> None:
    from runner.infra.plan_summary import Summary, summarize_stream

    s = summarize_stream(STREAM)
    again = Summary.from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict()
    assert render_markdown(again, "dev") == render_markdown(s, "dev")
