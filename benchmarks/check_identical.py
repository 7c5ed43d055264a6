"""Whether two builds of fastdigits train to the same bits: a set of small
fits (every optimiser, both dtypes, every activation and output style,
augmentation, early stopping, partial_fit, no and two hidden layers, one
and two threads) whose ``params_`` and predicted probabilities are saved,
one .npy per case, then compared byte for byte (same dtype, same values).

Run it once in each build (a folder holding a built ``fastdigits``
package, imported from there), then compare::

    python benchmarks/check_identical.py run /work/wt-before /tmp/before
    python benchmarks/check_identical.py run . /tmp/new
    python benchmarks/check_identical.py compare /tmp/before /tmp/new

A refactoring of the kernels that changes no arithmetic must pass this;
one that does (another order of additions, another fused multiply-add)
shows which cases moved.  Set NUMBA_CACHE_DIR to a folder of its own
per build.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np

#: name -> MLPClassifier settings, under the earlier names (and how to fit: "partial" adds a partial_fit, "outliers" passes some).
CASES = {
    "sgd-f32-relu": dict(hidden=(128,), batch_size=64),
    "sgd-f64-relu": dict(hidden=(128,), batch_size=64, dtype="float64"),
    "nesterov-f32-tanh": dict(hidden=(64,), nesterov=True, activation="tanh", l2=0.5),
    "nesterov-f64-sigmoid": dict(hidden=(40,), nesterov=True, activation="sigmoid", dtype="float64"),
    "adam-f32-relu-sigmoid-out": dict(hidden=(64,), optimizer="adam", learning_rate=0.003, output="sigmoid"),
    "adam-f64-tanh": dict(hidden=(64,), optimizer="adam", learning_rate=0.003, activation="tanh", dtype="float64",
                          l2=0.1),
    "lbfgs-f64-tanh": dict(hidden=(32,), optimizer="lbfgs", activation="tanh", dtype="float64", epochs=8, l2=0.3),
    "lbfgs-f32-relu": dict(hidden=(32,), optimizer="lbfgs", epochs=8),
    "augment-f32": dict(hidden=(128,), augment=True, batch_size=100),
    "validation-patience": dict(hidden=(64,), validation_fraction=0.2, patience=1, epochs=4,
                                lr_schedule="cosine"),
    "partial-fit": dict(hidden=(64,), epochs=1, fit="partial"),
    "no-hidden-f32": dict(hidden=(), batch_size=50),
    "no-hidden-f64-sigmoid-out": dict(hidden=(), output="sigmoid", dtype="float64"),
    "two-hidden-f32": dict(hidden=(128, 64), batch_size=96),
    "two-hidden-f64-narrow": dict(hidden=(25, 40), activation="tanh", dtype="float64"),
    "narrow-first-f32": dict(hidden=(25,), batch_size=32),
    "one-thread-f32": dict(hidden=(128,), threads=1),
    "one-thread-adam-f64": dict(hidden=(64, 32), optimizer="adam", learning_rate=0.003, threads=1, dtype="float64"),
    "outliers-f32": dict(hidden=(64,), fit="outliers"),
    "outliers-sigmoid-out-f64": dict(hidden=(32,), output="sigmoid", dtype="float64", fit="outliers"),
}


def data():
    """Sparse rows of 400 values in [0, 1] with labels a random linear
    teacher gives them (learnable, so that training moves the weights)."""
    rng = np.random.default_rng(7)
    X = rng.random((1500, 400), dtype=np.float32)
    X[X < 0.75] = 0
    teacher = rng.standard_normal((400, 10))
    y = (X @ teacher + rng.standard_normal((1500, 10))).argmax(axis=1)
    return X, y


def named(fastdigits, settings: dict) -> dict:
    """``settings`` (the earlier names) under the names this build's
    estimator takes: scikit-learn's since it became a scikit-learn
    estimator (the build's own table of old names, which its model files
    also read)."""
    if "max_iter" not in inspect.signature(fastdigits.MLPClassifier).parameters:
        return settings
    from fastdigits.persist import _RENAMED

    return {_RENAMED.get(k, k): v for k, v in settings.items()}


def run(build: str, out: str) -> None:
    sys.path.insert(0, str(Path(build).resolve()))
    import fastdigits

    print(f"fastdigits from {fastdigits.__file__}", file=sys.stderr)
    X, y = data()
    Path(out).mkdir(parents=True, exist_ok=True)
    for name, settings in CASES.items():
        settings = dict(settings)
        how = settings.pop("fit", "fit")
        settings = {"epochs": 2, "learning_rate": 0.05, "threads": 2, "seed": 3, **settings}
        model = fastdigits.MLPClassifier(**named(fastdigits, settings))
        if how == "outliers":
            model.fit(X[:1200], y[:1200], outliers=X[1200:1400][:, ::-1].copy())
        else:
            model.fit(X[:1200], y[:1200])
        if how == "partial":
            model.partial_fit(X[:600], y[:600])
        np.save(Path(out) / f"{name}.params.npy", model.params_)
        np.save(Path(out) / f"{name}.proba.npy", model.predict_proba(X[1200:]))
        print(f"{name}: loss {model.history_[-1]['loss']:.6f}", file=sys.stderr, flush=True)


def compare(a: str, b: str) -> int:
    files = sorted(p.name for p in Path(a).glob("*.npy"))
    bad = []
    for name in files:
        x, y = np.load(Path(a) / name), np.load(Path(b) / name)
        same = x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        if not same:
            diff = np.abs(x.astype(float) - y.astype(float)).max() if x.shape == y.shape else "shape"
            bad.append(f"{name}: differs (max abs difference {diff})")
    missing = sorted(set(files) ^ {p.name for p in Path(b).glob("*.npy")})
    for line in bad + [f"{m}: in one folder only" for m in missing]:
        print(line)
    print(f"{len(files) - len(bad)} of {len(files)} arrays identical ({len(CASES)} cases)")
    return 1 if bad or missing or not files else 0


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in ("run", "compare"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3])
        return 0
    return compare(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
