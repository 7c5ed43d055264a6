"""The C extensions that ``pip install`` builds from ``ext/`` (Cython): the
image pipeline and the forward pass of a few rows.  Importing them here
gives one clear message when they are not built."""

try:
    from . import _forward, _preprocess
except ImportError as exc:  # a source checkout on sys.path ahead of the installed package
    from pathlib import Path

    raise ImportError(f"fastdigits is imported from {Path(__file__).parent}, where its C extensions are not built "
                      "(a source checkout?): run Python from another folder to use the installed fastdigits, or "
                      "build them here with `pip install -e .`") from exc

__all__ = ["_forward", "_preprocess"]
