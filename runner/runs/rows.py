"""How a sample's variables travel to its container: data that can never become code.

One sample is one line of ``NAME=VALUE`` pairs separated by single spaces. A name is ``[A-Za-z_][A-Za-z0-9_]*``;
a value keeps the bytes ``A-Z a-z 0-9 _ - . / : @ + , =`` as they are and writes every other byte (UTF-8) as
the octal escape ``\\0ooo``. A line therefore holds no space inside a value, no newline, no quote, no ``$``,
no backtick, no glob character and no backslash that is not an escape.

The ``/bin/sh`` prologue (``runner.runs.submission.PROLOGUE``) splits the line with parameter expansions, checks
each name, decodes a value that holds an escape with ``printf '%b'`` (which interprets escapes in its argument
and nothing else) and sets it with ``export "NAME=value"``: no ``eval``, no word splitting, no globbing. It works
in dash, busybox sh, bash and any POSIX shell; the only command it forks is ``printf``, a builtin in all three.
``decode_line`` is the same decoding in Python (the tests compare both).
"""

from __future__ import annotations

import re

SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:@+,=")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPE = re.compile(r"\\0([0-7]{3})")


_PLAIN = re.compile(r"^[A-Za-z0-9_\-./:@+,=]*$")
_BYTE = [chr(b) if b in SAFE else f"\\0{b:03o}" for b in range(256)]


def encode_value(value: str) -> str:
    if _PLAIN.match(value):  # most values (ids, paths, URIs) need no escape
        return value
    return "".join(map(_BYTE.__getitem__, value.encode()))


def encode_line(env: dict[str, str]) -> str:
    """One sample's variables as one line (see the module doc); names are checked, values may hold anything but
    NUL (which no environment variable can hold)."""
    pairs = []
    for name, value in env.items():
        if not NAME.match(name):
            raise ValueError(f"not a variable name: {name!r}")
        if "\0" in value:
            raise ValueError(f"{name}: a value cannot hold a NUL byte")
        pairs.append(f"{name}={encode_value(value)}")
    return " ".join(pairs)


def decode_line(line: str) -> dict[str, str]:
    """The inverse of ``encode_line`` (what the prologue does in /bin/sh)."""
    env: dict[str, str] = {}
    for pair in line.split(" ") if line else []:
        name, _, encoded = pair.partition("=")
        if not NAME.match(name):
            raise ValueError(f"not a variable name: {name!r}")
        raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), encoded)
        env[name] = raw.encode("latin-1").decode()
    return env
