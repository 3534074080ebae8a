"""Errors the CLI turns into exit codes.

``UsageError`` (exit 2) is bad input: it is raised before any AWS call, so nothing is half-done.
``RunFailed`` (exit 1) is a command that ran and failed: a job, a terraform run, an emulator start.
"""

from __future__ import annotations


class RunnerError(Exception):
    exit_code = 1


class UsageError(RunnerError):
    """Bad input: a one-line message naming the field; exit code 2."""

    exit_code = 2


class RunFailed(RunnerError):
    """The work ran and failed; exit code 1."""

    exit_code = 1
