"""The ``fastdigits`` command's entry point: light to import, so that a
Ctrl-C while the command line's modules (typer, numpy, the kernels) are
still loading exits 130 with a line on stderr, not a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # The command line has no use for scikit-learn's base classes, and
    # importing scikit-learn would add a second or more to every command.
    os.environ.setdefault("FASTDIGITS_SKLEARN", "0")
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()
