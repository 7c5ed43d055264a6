"""What augmentation costs: seconds per MNIST epoch with and without the
random affine + elastic distortions, for a small and a large network
(frames prepared once beforehand; the epoch includes its augmentation).

    FASTDIGITS_DATA=... python benchmarks/bench_augment.py [--repeats 3]
"""

from __future__ import annotations

import argparse

from fastdigits import MLPClassifier, bench, load_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    d = load_mnist()
    X, y = MLPClassifier().prepare(d.train_images), d.train_labels
    print(f"machine: {bench.machine()}")
    for hidden in (256, 800):
        runners = {}
        for augment in (False, True):
            model = MLPClassifier((hidden,), batch_size=64, max_iter=1, augment=augment)
            model.fit(X[:1000], y[:1000])  # kernels compiled outside the timing
            runners["augmented" if augment else "plain"] = lambda m=model: m.partial_fit(X, y)
        seconds = bench.interleaved_medians(runners, args.repeats)
        extra = seconds["augmented"] / seconds["plain"] - 1
        print(f"400-{hidden}-10, batch 64: {seconds['plain']:.2f} s plain, {seconds['augmented']:.2f} s augmented "
              f"per epoch: +{extra:.0%}")


if __name__ == "__main__":
    main()
