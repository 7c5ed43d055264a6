"""What fastdigits' modules share about a model in memory, whichever kind it
is, without importing the estimators (the CLI imports this at start)."""

from __future__ import annotations

from typing import Any


def networks(model: Any) -> list:
    """The networks of a model: an Ensemble's members, or the one MLPClassifier."""
    return list(getattr(model, "members_", [model]))
