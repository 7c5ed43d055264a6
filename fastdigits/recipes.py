"""Named training recipes (``fastdigits train --preset NAME``).

Each is a set of :class:`fastdigits.MLPClassifier` settings; options on
the command line override them.
"""

from __future__ import annotations

from typing import Any

#: The classic course network: 400-25-10, sigmoid units, one-vs-all
#: sigmoid outputs, cross-entropy with L2 (lambda = alpha = 1).
CLASSIC: dict[str, Any] = dict(
    hidden_layer_sizes=(25,), activation="sigmoid", output="sigmoid", alpha=1.0, solver="sgd",
    learning_rate_init=0.5, momentum=0.9, batch_size=32, max_iter=10,
)

#: A fast default: 400-256-10 relu/softmax, a few seconds on two cores.
FAST: dict[str, Any] = dict(
    hidden_layer_sizes=(256,), activation="relu", output="softmax", solver="sgd",
    learning_rate_init=0.05, momentum=0.9, batch_size=64, max_iter=8, learning_rate="cosine",
)

#: The recipe of the model shipped in the package: four 400-800-10 networks
#: (seeds SEED..SEED+3, probabilities averaged) trained on distorted copies
#: of MNIST (affine + elastic, as Simard et al. 2003 did), deskewed, and
#: on a tenth as many pictures of no class (outlier exposure:
#: :mod:`fastdigits.outliers`).  Besides MLPClassifier settings, a recipe
#: may name ``members`` (networks averaged), ``outliers`` (their share) and
#: ``deskew`` (the normalisation's).
SHIPPED: dict[str, Any] = dict(
    hidden_layer_sizes=(800,), activation="relu", output="softmax", solver="sgd",
    learning_rate_init=0.05, momentum=0.9, batch_size=64, max_iter=100, learning_rate="cosine", augment=True,
    members=4, outliers=0.1, deskew=True,
)

PRESETS: dict[str, dict[str, Any]] = {"classic": CLASSIC, "fast": FAST, "shipped": SHIPPED}
