"""The ``fastdigits`` command.

Commands are thin wrappers over library calls.  This is the only module
that prints: data goes to stdout, messages to stderr, and a
``FastDigitsError`` becomes one red line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import FastDigitsError

app = typer.Typer(
    name="fastdigits",
    help="Train and run small image classifiers (handwritten digits and more), fast.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(exc: FastDigitsError) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fastdigits {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Train and run small image classifiers (handwritten digits and more), fast."""


@app.command()
def mnist(
    path: Annotated[
        Optional[Path],
        typer.Option("--path", file_okay=False, help="Folder holding the four MNIST files."),
    ] = None,
    download: Annotated[bool, typer.Option(help="Download into the cache when no copy is found.")] = True,
) -> None:
    """Find MNIST (or download it), verify its checksums and say where it is."""
    from .data import find_mnist, load_mnist

    try:
        data = load_mnist(path, download_missing=download)
        folder = find_mnist(path)
    except FastDigitsError as exc:
        raise _fail(exc) from None
    typer.echo(f"MNIST at {folder}: {len(data.train_labels)} training and {len(data.test_labels)} test digits, checksums OK")


def main() -> None:  # console-script entry point
    app()
