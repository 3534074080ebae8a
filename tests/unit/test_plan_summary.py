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
