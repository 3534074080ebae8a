"""The Nextflow config writer and reader: round trips, the syntax subset, and errors with line numbers."""

from __future__ import annotations

import pytest

from runner.nextflow.config import Closure, ConfigSyntaxError, Scope, flatten, parse, quote, render

TREE = Scope(
    workDir="s3://bucket/nextflow/run-1",
    process=Scope(
        executor="awsbatch",
        queue="q",
        maxRetries=3,
        errorStrategy=Closure("{ task.exitStatus in [137, 143] ? 'retry' : 'finish' }"),
        resourceLabels={"env": "local", "run": "run-1", "odd key": "it's"},
        ext=[1, 2.5, "x", True, None, []],
        empty={},
    ),
    aws=Scope(region="us-east-1", batch=Scope(cliPath="/opt/aws-cli/bin/aws", maxSpotAttempts=3, flag=False)),
)


def test_round_trip_gives_the_same_values() -> None:
    text = render(TREE, header="generated\nsecond line")
    assert text.startswith("// generated\n// second line\n")
    assert parse(text) == flatten(TREE)


def test_flatten_keeps_maps_lists_and_closures_as_leaves() -> None:
    flat = flatten(TREE)
    assert flat["aws.batch.cliPath"] == "/opt/aws-cli/bin/aws"
    assert flat["process.resourceLabels"] == {"env": "local", "run": "run-1", "odd key": "it's"}
    assert isinstance(flat["process.errorStrategy"], Closure)
    assert "aws.batch" not in flat


def test_reader_accepts_dotted_names_comments_and_double_quotes() -> None:
    text = """
    /* block
       comment */
    process.executor = "awsbatch"   // trailing comment
    aws {
        region = 'eu-west-1'; batch.cliPath = '/opt/aws-cli/bin/aws'
        batch
        {
            maxSpotAttempts = 5
        }
    }
    process.resourceLabels = ['team': "genomics", cost_centre: 42,]
    process.errorStrategy = { task.attempt < 3 ? 'retry' /* } */ : "fin}sh" }
    """
    flat = parse(text)
    assert flat == {
        "process.executor": "awsbatch",
        "aws.region": "eu-west-1",
        "aws.batch.cliPath": "/opt/aws-cli/bin/aws",
        "aws.batch.maxSpotAttempts": 5,
        "process.resourceLabels": {"team": "genomics", "cost_centre": 42},
        "process.errorStrategy": Closure("""{ task.attempt < 3 ? 'retry' /* } */ : "fin}sh" }"""),
    }


def test_later_assignments_win() -> None:
    assert parse("a = 1\na = 2\n") == {"a": 2}


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote("it's a\\b") == "'it\\'s a\\\\b'"
    assert parse(f"x = {quote(chr(92) + 'q' + chr(39))}") == {"x": "\\q'"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("process {\n  executor = 'x'\n", "missing '}'"),
        ("a = 'open\n", ":1: unterminated string"),
        ('a = "${b}"\n', "interpolation"),
        ("a = b.c\n", "unsupported value"),
        ("\n\nwithLabel:big { cpus = 4 }\n", ":3: 'withLabel': expected '=' or '{'"),
        ("a = [1, k: 2]\n", "cannot mix"),
        ("a = 1 2\n", "unexpected '2'"),
        ("}\n", "unexpected '}'"),
        ("a = { never closed\n", "unterminated closure"),
    ],
)
def test_text_outside_the_subset_is_rejected_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigSyntaxError, match=message):
        parse(text, source="x.config")


def test_writer_refuses_what_it_cannot_express() -> None:
    with pytest.raises(TypeError):
        render(Scope(a=object()))
    with pytest.raises(ValueError):
        render(Scope(**{"bad-name": 1}))
    with pytest.raises(ValueError):
        Closure("no braces")
