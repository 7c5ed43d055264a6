"""How well does a model read each kind of real picture?  One seeded sample
of held-out MNIST test digits is made into each kind (tests/drawing.py):
JPEG copies, HTML-canvas exports whose stroke lives in the alpha channel
(written as PNG and read back with fastdigits.data.read_image), load_digits-
like 8x8 floats, underexposed photos, a page inside a dark surround, ruled
paper.  Prints each kind's accuracy beside the same digits' clean accuracy,
scikit-learn's real load_digits when scikit-learn is installed, and the
share of blank pictures that were given a digit (not recognised as "no ink").

    FASTDIGITS_DATA=... python benchmarks/accuracy_kinds.py [--model M] [--n 300] [--seed 0]
        [--kinds jpeg alpha-red blank ...] [--json out.json] [--sheet out.png]
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fastdigits
from _common import machine, write_json
from fastdigits import load_mnist, load_model, read_image
from fastdigits.preprocess import as_preprocessing, normalize

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402


@dataclass(frozen=True)
class Kind:
    label: str
    draw: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (digit28, rng) -> picture
    through_png: bool = False  # saved as PNG and read back with read_image


KINDS = {
    "jpeg-q90": Kind("jpeg q90", lambda d, rng: drawing.jpeg_copy(d, 90)),
    "jpeg-q75": Kind("jpeg q75", lambda d, rng: drawing.jpeg_copy(d, 75)),
    "jpeg-q50": Kind("jpeg q50", lambda d, rng: drawing.jpeg_copy(d, 50)),
    **{f"alpha-{c}": Kind(f"alpha, {c} stroke (PNG)", lambda d, rng, c=c: drawing.alpha_canvas(d, rng, c), True)
       for c in drawing.COLOURS},
    "rotated-photo": Kind("photo rotated, transparent corners (PNG)", drawing.rotated_photo, True),
    "digits-8x8": Kind("low range: 8x8 floats 0..16", lambda d, rng: drawing.digits_8x8(d)),
    "underexposed": Kind("low range: underexposed", drawing.underexposed),
    "dark-surround": Kind("dark surround", drawing.dark_surround),
    "ruled-paper": Kind("ruled paper", drawing.ruled_paper),
}
#: Not drawn from the sample: scikit-learn's own data set, and blank pictures.
EXTRA = ("sklearn-digits", "blank")


#: How :func:`no_ink` decides, for the table's heading.
NO_INK_RULE = ("normalize(..., return_ink=True)" if "return_ink" in inspect.signature(normalize).parameters
               else "an all-zero prepared frame (this normalize has no return_ink)")


def no_ink(model, images: list[np.ndarray]) -> np.ndarray:
    """Which pictures the model's pipeline finds no ink in, (N,) bool:
    ``normalize(..., return_ink=True)`` where it exists, else an all-zero
    prepared frame."""
    settings = as_preprocessing(model.preprocessing)
    if settings is not None and NO_INK_RULE.startswith("normalize"):
        _, ink = normalize(images, settings, return_ink=True)
        return ~np.atleast_1d(np.asarray(ink, bool))
    frames = model.prepare(images)
    return ~frames.reshape(len(frames), -1).any(axis=1)


def through_png(pictures: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    """Each picture written as a PNG file and decoded by ``read_image``."""
    from PIL import Image

    out = []
    for i, picture in enumerate(pictures):
        path = folder / f"{i}.png"
        Image.fromarray(picture).save(path)
        out.append(read_image(path))
    return out


def selected(names: list[str] | None) -> list[str]:
    """The kinds named, where a name also selects every kind it prefixes
    ("jpeg" selects jpeg-q90, jpeg-q75 and jpeg-q50)."""
    every = [*KINDS, *EXTRA]
    if not names:
        return every
    unknown = [n for n in names if not any(k == n or k.startswith(n + "-") for k in every)]
    if unknown:
        raise SystemExit(f"unknown kinds {unknown}; choose from {every} or their prefixes")
    return [k for k in every if any(k == n or k.startswith(n + "-") for n in names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--n", type=int, default=300, help="MNIST test digits per kind, and blanks per blank kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", metavar="KIND", help=f"default: all of {[*KINDS, *EXTRA]}")
    parser.add_argument("--json", help="write the tables here as JSON")
    parser.add_argument("--sheet", help="write a contact sheet of 4 pictures of each kind here")
    args = parser.parse_args()
    kinds = selected(args.kinds)
    model = load_model(args.model)
    info = machine()
    print(f"machine: {info}")
    print(f"fastdigits {fastdigits.__version__}, model: {args.model or 'shipped'}, seed {args.seed}")

    d = load_mnist()
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(d.test_labels), args.n, replace=False))
    digits, truth = d.test_images[idx], d.test_labels[idx]
    clean = float(np.mean(model.predict(digits) == truth))
    rows, blanks, shown = [], [], []

    def kind_rng(name: str) -> np.random.Generator:  # a kind's pictures do not depend on which others run
        return np.random.default_rng([args.seed, zlib.crc32(name.encode())])

    with tempfile.TemporaryDirectory() as tmp:
        for name in kinds:
            if name in KINDS:
                kind, krng = KINDS[name], kind_rng(name)
                pictures = [kind.draw(digit, krng) for digit in digits]
                if kind.through_png:
                    pictures = through_png(pictures, Path(tmp))
                pred = model.predict(pictures)
                rows.append({"kind": kind.label, "n": args.n, "accuracy": float(np.mean(pred == truth)),
                             "clean": clean})
                shown += [(p, f"{t}->{q}") for p, t, q in zip(pictures[:4], truth, pred)]
            elif name == "sklearn-digits":
                try:
                    from sklearn.datasets import load_digits
                except ImportError:
                    print("sklearn load_digits: skipped, scikit-learn is not installed")
                    continue
                sk = load_digits()
                pred = model.predict(sk.images)
                rows.append({"kind": "sklearn load_digits (1797, 8x8, 0..16)", "n": len(sk.target),
                             "accuracy": float(np.mean(pred == sk.target)), "clean": None})
                shown += [(p, f"{t}->{q}") for p, t, q in zip(sk.images[:4], sk.target, pred)]
            else:
                krng = kind_rng(name)
                for blank in drawing.BLANK_KINDS:
                    pictures = [drawing.blank_picture(krng, blank) for _ in range(args.n)]
                    given = ~no_ink(model, pictures)
                    blanks.append({"kind": blank, "n": args.n, "given_a_digit": float(np.mean(given))})
                    shown += [(p, f"blank {blank}") for p in pictures[:1]]

    if rows:
        print(f"\n{len(digits)} held-out MNIST test digits (seed {args.seed}) as each kind of picture:")
        print(f"{'kind':<40} {'n':>5} {'accuracy':>9} {'clean':>7}")
        for r in rows:
            clean_text = "-" if r["clean"] is None else f"{r['clean']:.1%}"
            print(f"{r['kind']:<40} {r['n']:>5} {r['accuracy']:>9.1%} {clean_text:>7}")
    if blanks:
        print(f"\nblank pictures given a digit (want 0 %); no ink = {NO_INK_RULE}:")
        print(f"{'blank kind':<40} {'n':>5} {'given':>9}")
        for b in blanks:
            print(f"{b['kind']:<40} {b['n']:>5} {b['given_a_digit']:>9.1%}")
        total = float(np.mean([b["given_a_digit"] for b in blanks]))
        print(f"{'all blanks':<40} {args.n * len(blanks):>5} {total:>9.1%}")
    write_json(args.json, {"machine": info, "fastdigits": fastdigits.__version__, "model": args.model,
                           "n": args.n, "seed": args.seed, "kinds": rows, "no_ink_rule": NO_INK_RULE, "blanks": blanks})
    if args.sheet and shown:
        from fastdigits.sheet import contact_sheet

        originals = [p for p, _ in shown]
        contact_sheet(originals, model.prepare(originals).reshape(len(originals), 20, 20), args.sheet,
                      labels=[label for _, label in shown])


if __name__ == "__main__":
    main()
