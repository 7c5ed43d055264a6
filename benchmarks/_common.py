"""Helpers shared by the benchmark scripts (timing lives in fastdigits.bench)."""

from __future__ import annotations

import json
from pathlib import Path

from fastdigits.bench import machine, median_seconds  # noqa: F401 - re-exported for the scripts


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")
