"""Nextflow configuration syntax: the writer and reader for the subset the runner generates.

A configuration is a tree of `Scope` objects (``aws { batch { ... } }``) whose leaves are strings, numbers,
booleans, ``None``, lists, maps (plain dicts: ``[env: 'local']``) and `Closure` objects (Groovy code kept as raw
text). `render` writes it as Nextflow config text; `parse` reads such text back into flat dotted names
(``aws.batch.cliPath`` -> value), also accepting dotted assignments (``process.executor = 'awsbatch'``), comments
and double-quoted strings. `flatten` gives the same flat view of a tree, so ``parse(render(t)) == flatten(t)``.

This is not a Groovy interpreter: anything outside the subset (selectors, includes, expressions, string
interpolation) is rejected with the line number rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runner.core.errors import UsageError

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
INDENT = "    "


class Scope(dict[str, Any]):
    """A config scope (``name { ... }``); a plain dict value is a Groovy map literal instead."""


@dataclass(frozen=True)
class Closure:
    """A Groovy closure kept as its source text, braces included: ``{ task.attempt < 3 ? 'retry' : 'finish' }``."""

    text: str

    def __post_init__(self) -> None:
        if not (self.text.startswith("{") and self.text.endswith("}")):
            raise ValueError(f"a closure is written with its braces: {self.text!r}")


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------


def quote(text: str) -> str:
    """A single-quoted Groovy string (no interpolation)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _key(name: str) -> str:
    return name if IDENT.fullmatch(name) else quote(name)


def render_value(value: Any) -> str:
    if isinstance(value, Closure):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Scope):
        raise TypeError("a scope cannot be a value")
    if isinstance(value, dict):
        if not value:
            return "[:]"
        return "[" + ", ".join(f"{_key(str(k))}: {render_value(v)}" for k, v in value.items()) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as Nextflow config")


def render(tree: Scope, header: str = "") -> str:
    """Config text for a tree of scopes; `header` lines become ``//`` comments at the top."""
    lines = [f"// {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    _render_scope(tree, 0, lines)
    return "\n".join(lines).rstrip() + "\n"


def _render_scope(scope: Scope, depth: int, lines: list[str]) -> None:
    pad = INDENT * depth
    leaves = [(k, v) for k, v in scope.items() if not isinstance(v, Scope)]
    scopes = [(k, v) for k, v in scope.items() if isinstance(v, Scope)]
    for name, value in leaves:
        if not IDENT.fullmatch(name):
            raise ValueError(f"config setting names are identifiers: {name!r}")
        lines.append(f"{pad}{name} = {render_value(value)}")
    for name, child in scopes:
        if not IDENT.fullmatch(name):
            raise ValueError(f"config scope names are identifiers: {name!r}")
        if depth == 0 and lines and lines[-1] != "":
            lines.append("")
        lines.append(f"{pad}{name} {{")
        _render_scope(child, depth + 1, lines)
        lines.append(f"{pad}}}")


def flatten(tree: Scope, prefix: str = "") -> dict[str, Any]:
    """Dotted names -> leaf values of a tree (maps, lists and closures are leaves)."""
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, Scope):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------


class ConfigSyntaxError(UsageError):
    """Text outside the supported subset, with its line number."""


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.pos = 0
        self.source = source

    # -- low level ---------------------------------------------------------------------------------------------

    def line(self, pos: int | None = None) -> int:
        return self.text.count("\n", 0, self.pos if pos is None else pos) + 1

    def fail(self, message: str, pos: int | None = None) -> ConfigSyntaxError:
        return ConfigSyntaxError(f"{self.source}:{self.line(pos)}: {message}")

    def skip(self, newlines: bool = True) -> None:
        """Skip blanks and comments (and newlines unless told otherwise)."""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.pos += 1
            elif self.text.startswith("//", self.pos):
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif self.text.startswith("/*", self.pos):
                end = self.text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, token: str) -> None:
        self.skip()
        if not self.text.startswith(token, self.pos):
            found = self.text[self.pos : self.pos + 20].split("\n")[0] or "end of file"
            raise self.fail(f"expected '{token}', found '{found}'")
        self.pos += len(token)

    def ident(self) -> str:
        self.skip()
        match = IDENT.match(self.text, self.pos)
        if not match:
            found = self.text[self.pos : self.pos + 20].split("\n")[0] or "end of file"
            raise self.fail(f"expected a name, found '{found}'")
        self.pos = match.end()
        return match.group()

    # -- statements --------------------------------------------------------------------------------------------

    def block(self, prefix: str, flat: dict[str, Any], closing: bool) -> None:
        """Statements until '}' (closing) or the end of the text."""
        while True:
            self.skip()
            if self.pos >= len(self.text):
                if closing:
                    raise self.fail("missing '}' at end of file")
                return
            if self.peek() == "}":
                if not closing:
                    raise self.fail("unexpected '}'")
                self.pos += 1
                return
            self.statement(prefix, flat)

    def statement(self, prefix: str, flat: dict[str, Any]) -> None:
        start = self.pos
        parts = [self.ident()]
        while self.peek() == ".":
            self.pos += 1
            parts.append(self.ident())
        name = prefix + ".".join(parts)
        self.skip(newlines=False)
        if self.peek() == "=":
            self.pos += 1
            flat[name] = self.value()
            self.end_of_statement()
        elif self.peek() == "{" or (self.peek() == "\n" and self._next_is_brace()):
            self.expect("{")
            self.block(name + ".", flat, closing=True)
        else:
            raise self.fail(f"'{name}': expected '=' or '{{'", start)

    def _next_is_brace(self) -> bool:
        saved = self.pos
        self.skip()
        brace = self.peek() == "{"
        self.pos = saved
        return brace

    def end_of_statement(self) -> None:
        self.skip(newlines=False)
        ch = self.peek()
        if ch == ";":
            self.pos += 1
        elif ch not in ("\n", "}", ""):
            raise self.fail(f"unexpected '{ch}' after a value")

    # -- values ------------------------------------------------------------------------------------------------

    def value(self) -> Any:
        self.skip()
        ch = self.peek()
        if ch in ("'", '"'):
            return self.string()
        if ch == "[":
            return self.collection()
        if ch == "{":
            return Closure(self.closure_text())
        number = NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            literal = number.group()
            return float(literal) if number.group(1) or number.group(2) else int(literal)
        word = IDENT.match(self.text, self.pos)
        if word and word.group() in ("true", "false", "null"):
            self.pos = word.end()
            return {"true": True, "false": False, "null": None}[word.group()]
        found = self.text[self.pos : self.pos + 20].split("\n")[0] or "end of file"
        raise self.fail(f"unsupported value '{found}' (strings, numbers, booleans, lists, maps and closures only)")

    def string(self) -> str:
        start = self.pos
        delim = self.text[self.pos]
        if self.text.startswith(delim * 3, self.pos):
            raise self.fail("triple-quoted strings are not supported")
        self.pos += 1
        out: list[str] = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "$": "$"}
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise self.fail("unterminated string", start)
            ch = self.text[self.pos]
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in escapes:
                    raise self.fail(f"unsupported escape '\\{nxt}' in a string")
                out.append(escapes[nxt])
                self.pos += 2
                continue
            if ch == "$" and delim == '"':
                raise self.fail("string interpolation ('$' in a double-quoted string) is not supported")
            self.pos += 1
            if ch == delim:
                return "".join(out)
            out.append(ch)

    def collection(self) -> list[Any] | dict[str, Any]:
        self.expect("[")
        self.skip()
        if self.text.startswith(":", self.pos):
            self.expect(":")
            self.expect("]")
            return {}
        if self.peek() == "]":
            self.pos += 1
            return []
        items: list[Any] = []
        mapping: dict[str, Any] | None = None
        while True:
            self.skip()
            key = self._map_key()
            if key is not None:
                if items:
                    raise self.fail("a list cannot mix values and 'key: value' entries")
                mapping = {} if mapping is None else mapping
                mapping[key] = self.value()
            else:
                if mapping is not None:
                    raise self.fail("a map cannot mix 'key: value' entries and values")
                items.append(self.value())
            self.skip()
            if self.peek() == ",":
                self.pos += 1
                self.skip()
                if self.peek() == "]":  # trailing comma
                    self.pos += 1
                    break
                continue
            self.expect("]")
            break
        return mapping if mapping is not None else items

    def _map_key(self) -> str | None:
        """A ``key:`` (bare or quoted) at the cursor, consumed; None when the entry is a plain value."""
        saved = self.pos
        if self.peek() in ("'", '"'):
            key = self.string()
        else:
            match = IDENT.match(self.text, self.pos)
            if not match:
                return None
            key = match.group()
            self.pos = match.end()
        self.skip()
        if self.peek() == ":":
            self.pos += 1
            return key
        self.pos = saved
        return None

    def closure_text(self) -> str:
        """The closure's text from '{' to its matching '}', skipping braces inside strings and comments."""
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in ("'", '"'):
                delim = ch
                self.pos += 1
                while self.pos < len(self.text) and self.text[self.pos] != delim:
                    self.pos += 2 if self.text[self.pos] == "\\" else 1
                self.pos += 1
                continue
            if self.text.startswith("//", self.pos) or self.text.startswith("/*", self.pos):
                self.skip(newlines=False)
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return self.text[start : self.pos]
            self.pos += 1
        raise self.fail("unterminated closure", start)


def parse(text: str, source: str = "nextflow.config") -> dict[str, Any]:
    """Flat dotted names -> values of config text in the supported subset; later assignments win."""
    flat: dict[str, Any] = {}
    _Reader(text, source).block("", flat, closing=False)
    return flat
