"""How well does a model read photos of handwriting?  Held-out MNIST test
digits made into photos (tests/drawing.py: photo_of): enlarged onto a page
at a random place and size, dark ink on white, grey or squared paper,
uneven light, blur and noise.  Prints the accuracy on the photos and on
the same digits as they are.

    FASTDIGITS_DATA=... python benchmarks/accuracy_photos.py [--model M] [--n 500] [--sheet out.png]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from fastdigits import load_mnist, load_model

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import drawing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", help="write a contact sheet of the first 24 photos here")
    args = parser.parse_args()
    model = load_model(args.model)
    d = load_mnist()
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(d.test_labels), args.n, replace=False)
    photos = [drawing.photo_of(d.test_images[i], rng) for i in idx]
    pred = model.predict(photos)
    truth = d.test_labels[idx]
    print(f"{args.n} held-out MNIST digits: {np.mean(model.predict(d.test_images[idx]) == truth):.1%} as they are, "
          f"{np.mean(pred == truth):.1%} as photos")
    if args.sheet:
        from fastdigits.sheet import contact_sheet

        contact_sheet(photos[:24], model.prepare(photos[:24]).reshape(-1, 20, 20), args.sheet,
                      labels=[f"{t}->{p}" for t, p in zip(truth[:24], pred[:24])])


if __name__ == "__main__":
    main()
