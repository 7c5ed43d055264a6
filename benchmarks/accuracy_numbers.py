"""How well does ``fastdigits read`` read whole numbers?  Seeded numbers made
of MNIST **test** digits (tests/drawing.py: number) with clear gaps (4-10
px), small gaps (1-3 px) or touching neighbours (0 to 2 px of overlap), 2-8
digits (and touching pairs: 2), half of them dark on white, some slanted; exact-string and per-digit
accuracy by kind and length, the rejection curve (accuracy of the readings
kept when the least confident are rejected), pictures/s; and beside it, on
the same pictures, the approach most tutorials use: a global Otsu
threshold, connected components, one crop per component.

    FASTDIGITS_DATA=... python benchmarks/accuracy_numbers.py [--model M] [--n 200] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from _common import machine, write_json
from fastdigits import _preprocess, load_mnist, load_model
from fastdigits.preprocess import normalize
from fastdigits.read import read_number

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402

#: Gap kinds: (lowest, highest) pixels between neighbours' ink.
GAPS = {"clear": (4, 10), "small": (1, 3), "touching": (-2, 0), "touching pairs": (-2, 0)}


def pictures(d, rng, kind: str, n: int):
    """n (picture, truth) pairs of one gap kind, lengths 2..8."""
    lo, hi = GAPS[kind]
    out = []
    for k in range(n):
        length = 2 if kind.endswith("pairs") else int(rng.integers(2, 9))
        idx = rng.choice(len(d.test_labels), length)
        gaps = rng.integers(lo, hi + 1, length - 1)
        slant = float(rng.uniform(-15, 15)) if k % 4 == 3 else 0.0
        image = drawing.number([d.test_images[i] for i in idx], gaps, invert=bool(k % 2), slant=slant)
        out.append((image, "".join(str(d.test_labels[i]) for i in idx)))
    return out


def otsu(image: np.ndarray) -> float:
    """Otsu's threshold of a uint8 picture."""
    hist = np.bincount(image.ravel(), minlength=256).astype(float)
    levels = np.arange(256)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * levels) / np.maximum(w0, 1)
    m1 = ((hist * levels).sum() - np.cumsum(hist * levels)) / np.maximum(w1, 1)
    return float(np.argmax(w0 * w1 * (m0 - m1) ** 2))


def naive_read(model, image: np.ndarray) -> str:
    """Global Otsu threshold, 8-connected components left to right, one
    crop per component prepared and classified."""
    ink = image > otsu(image)
    if ink.mean() > 0.5:  # dark ink on light paper
        ink = ~ink
    labels = np.empty(image.shape, np.int32)
    n = _preprocess.label_components(ink.astype(np.float32), labels)
    crops = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        if len(ys) < 10:
            continue
        crop = (labels[ys.min():ys.max() + 1, xs.min():xs.max() + 1] == k).astype(np.uint8) * 255
        crops.append((xs.min(), np.pad(crop, 4)))
    if not crops:
        return ""
    crops.sort(key=lambda c: c[0])
    frames = normalize([c for _, c in crops]).reshape(len(crops), -1)
    return "".join(str(c) for c in model.predict(frames))


def per_digit(read: str, truth: str) -> int:
    """Digits read right in place (a reading of the wrong length scores 0)."""
    return sum(a == b for a, b in zip(read, truth)) if len(read) == len(truth) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--n", type=int, default=200, help="pictures per gap kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    model = load_model(args.model)
    d = load_mnist()
    print(f"machine: {machine()}")
    print(f"{args.n} numbers of 2-8 MNIST test digits per kind (seed {args.seed})\n")
    print(f"{'kind':>14} {'strings':>8} {'digits':>7} {'naive strings':>14} {'pictures/s':>11}   by length 2..8")
    rows, confidences, correct = [], [], []
    for kind in GAPS:
        rng = np.random.default_rng([args.seed, list(GAPS).index(kind)])
        cases = pictures(d, rng, kind, args.n)
        t0 = time.perf_counter()
        readings = [read_number(image, model) for image, _ in cases]
        rate = len(cases) / (time.perf_counter() - t0)
        right = [r.text == truth for r, (_, truth) in zip(readings, cases)]
        digits = sum(per_digit(r.text, t) for r, (_, t) in zip(readings, cases)) / sum(len(t) for _, t in cases)
        naive = np.mean([naive_read(model, image) == truth for image, truth in cases])
        by_length = {n: np.mean([ok for ok, (_, t) in zip(right, cases) if len(t) == n] or [np.nan])
                     for n in range(2, 9)}
        print(f"{kind:>14} {np.mean(right):8.1%} {digits:7.1%} {naive:14.1%} {rate:11.1f}   "
              + " ".join(f"{v:.0%}" for v in by_length.values()))
        rows.append({"kind": kind, "strings": float(np.mean(right)), "digits": digits, "naive_strings": float(naive),
                     "pictures_per_s": rate, "by_length": {str(k): float(v) for k, v in by_length.items()}})
        confidences += [r.confidence for r in readings]
        correct += right
    order = np.argsort(confidences)
    ok = np.asarray(correct)[order]
    print("\nrejection curve (all kinds): reject the least confident share, accuracy of the rest")
    curve = []
    for share in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5):
        kept = ok[int(share * len(ok)):]
        threshold = float(np.asarray(confidences)[order][int(share * len(ok))]) if share else 0.0
        curve.append({"rejected": share, "confidence_above": threshold, "accuracy": float(kept.mean())})
        print(f"  reject {share:4.0%} (confidence < {threshold:.3f}): {kept.mean():.1%} of {len(kept)}")
    rng = np.random.default_rng([args.seed, 99])
    others = {"letters": [drawing.digit(c, size=120, stroke=3) for c in "ABCDEFGHKMNPRSTUVWXYZ"],
              "scribbles": [drawing.polyline(rng.uniform(0.1, 0.9, (6, 2)), size=200, width=8) for _ in range(20)]}
    conf_numbers = np.asarray(confidences)
    print("\nnot digits: median confidence (numbers above: "
          f"{np.median(conf_numbers):.3f}); share above 0.9")
    conf_others = {}
    for name, images in others.items():
        conf = np.asarray([read_number(im, model).confidence for im in images])
        conf_others[name] = conf
        print(f"  {name:>10}: median {np.median(conf):.3f}, above 0.9: {np.mean(conf > 0.9):.0%}")
    print("\nrejecting readings below a confidence: numbers kept (and right among them), non-digits kept")
    thresholds = []
    for t in (0.5, 0.8, 0.9, 0.95):
        kept = conf_numbers >= t
        row = {"threshold": t, "numbers_kept": float(kept.mean()),
               "kept_right": float(np.asarray(correct)[kept].mean()) if kept.any() else float("nan"),
               **{f"{name}_kept": float(np.mean(c >= t)) for name, c in conf_others.items()}}
        thresholds.append(row)
        print(f"  >= {t:.2f}: numbers {row['numbers_kept']:.0%} kept, {row['kept_right']:.1%} of them right; "
              + ", ".join(f"{name} {np.mean(c >= t):.0%}" for name, c in conf_others.items()))
    write_json(args.json, {"machine": machine(), "results": rows, "rejection": curve, "thresholds": thresholds})


if __name__ == "__main__":
    main()
