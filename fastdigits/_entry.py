"""The ``fastdigits`` command's entry point: light to import, so that a
Ctrl-C while the command line's modules (typer, numpy, the kernels) are
still loading exits 130 with a line on stderr, not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()
