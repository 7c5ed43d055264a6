"""Prediction throughput of the shipped model (4 x 400-800-10, probabilities
averaged): its exported ONNX graph in onnxruntime (CPU) beside fastdigits'
``predict_proba``, on the same 10,000 prepared MNIST test rows, in one
process, median of ``--repeats`` calls after one warm-up.  Preparation is
not timed: both take the same prepared rows.  Also checks that the two
agree (largest probability difference, labels).

    python benchmarks/bench_onnx.py [--rows 10000] [--repeats 5] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import machine, median_seconds, write_json
from fastdigits import load_mnist, load_model
from fastdigits.export import to_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="both sides (default: all CPUs)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import onnxruntime as ort

    model = load_model()
    model.threads = args.threads
    for net in model.members_:
        net.threads = args.threads
    rows = model.prepare(load_mnist().test_images[: args.rows]).reshape(args.rows, -1)

    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), options, providers=["CPUExecutionProvider"])
    ours = model.predict_proba(rows)
    theirs, label = session.run(None, {"input": rows})

    results = {
        "fastdigits predict_proba": median_seconds(lambda: model.predict_proba(rows), args.repeats),
        "onnxruntime run": median_seconds(lambda: session.run(None, {"input": rows}), args.repeats),
    }
    print(f"{args.rows:,} prepared MNIST test rows, shipped model, median of {args.repeats}")
    for name, seconds in results.items():
        print(f"  {name:<26} {seconds * 1e3:8.1f} ms  {args.rows / seconds:12,.0f} rows/s")
    agree = {"max_abs_difference": float(np.abs(ours - theirs).max()),
             "labels_equal": bool((label == ours.argmax(axis=1)).all())}
    print(f"  largest probability difference {agree['max_abs_difference']:.1e}, labels equal: {agree['labels_equal']}")
    write_json(args.json, {"machine": {**machine(), "onnxruntime": ort.__version__}, "rows": args.rows,
                           "seconds": results, **agree})


if __name__ == "__main__":
    main()
