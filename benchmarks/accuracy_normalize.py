"""Does the normalisation pay?  The same network trained on MNIST with
plain whole-frame 28 -> 20 scaling and with the MNIST-style pipeline,
scored on the MNIST test set and on digits drawn from a font in many ways
(stroke weight, size, position, paper, polarity, lighting).

    FASTDIGITS_DATA=... python benchmarks/accuracy_normalize.py [--epochs 8] [--sheet out.png]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

import numpy as np

from fastdigits import MLPClassifier, load_mnist
from fastdigits.preprocess import Normalization

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402

PAPERS = {
    "white": dict(paper=255, ink=0),
    "grey": dict(paper=150, ink=30),
    "squared": dict(paper=235, ink=25, grid=0.06),
    "uneven light": dict(paper=245, ink=50, gradient=0.5),
    "light on dark": dict(paper=10, ink=230),
}


def rendered_digits() -> tuple[list[np.ndarray], np.ndarray, list[tuple]]:
    images, labels, kinds = [], [], []
    for digit, size, weight, place, paper in itertools.product(
        range(10), (28, 64, 200, 600), (0.0, 0.01), ("centred", "small, off centre"), PAPERS
    ):
        style = dict(PAPERS[paper])
        if "grid" in style:
            style["grid"] = max(3, int(style["grid"] * size))
        at, height = ((0.5, 0.5), 0.6) if place == "centred" else ((0.3, 0.65), 0.3)
        images.append(drawing.digit(str(digit), size=size, height=height, at=at,
                                    stroke=round(weight * size), **style))
        labels.append(digit)
        kinds.append((paper, size, place))
    return images, np.asarray(labels), kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sheet", help="write a contact sheet of the rendered digits here")
    args = parser.parse_args()
    d = load_mnist()
    images, labels, kinds = rendered_digits()
    print(f"{len(images)} rendered digits; network 400-256-10 relu/softmax, SGD, {args.epochs} epochs")
    sizes = sorted({k[1] for k in kinds})
    print(f"{'preprocessing':>22} {'MNIST test':>11} {'rendered':>9}   " + "  ".join(f"{p:>13}" for p in PAPERS)
          + "  " + "  ".join(f"{str(s) + ' px':>7}" for s in sizes))
    paper_of = np.asarray([k[0] for k in kinds])
    size_of = np.asarray([k[1] for k in kinds])
    for name, prep in (("whole frame 28->20", "scale"), ("normalize", "normalize"),
                       ("normalize + deskew", Normalization(deskew=True))):
        t0 = time.perf_counter()
        model = MLPClassifier((256,), learning_rate_init=0.05, batch_size=64, max_iter=args.epochs, learning_rate="cosine",
                              preprocessing=prep, random_state=0).fit(d.train_images, d.train_labels)
        mnist = model.score(d.test_images, d.test_labels)
        pred = model.predict(images)
        right = pred == labels
        per = [right[paper_of == p].mean() for p in PAPERS]
        by_size = [right[size_of == s].mean() for s in sizes]
        print(f"{name:>22} {mnist:11.2%} {right.mean():9.1%}   " + "  ".join(f"{v:13.1%}" for v in per)
              + "  " + "  ".join(f"{v:7.1%}" for v in by_size) + f"   ({time.perf_counter() - t0:.0f} s)")
        if args.sheet and prep == "normalize":
            from fastdigits.sheet import contact_sheet

            pick = np.random.default_rng(0).choice(len(images), 24, replace=False)
            contact_sheet([images[i] for i in pick], model.prepare([images[i] for i in pick]).reshape(-1, 20, 20),
                          args.sheet, labels=[f"{labels[i]} -> {pred[i]}" for i in pick])


if __name__ == "__main__":
    main()
