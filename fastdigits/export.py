"""Networks out to ONNX, and in from scikit-learn and PyTorch.

:func:`to_onnx` writes an :class:`~fastdigits.MLPClassifier` or an
:class:`~fastdigits.Ensemble` as an ONNX graph (a few ``Gemm``, activation
and ``Softmax`` or ``Sigmoid`` nodes) that onnxruntime, onnxruntime-web and
onnxruntime-mobile run: from prepared rows (float32, shape (N, 400) for
20 x 20 frames, N free) to ``probabilities`` (N, n_classes) and ``label``
(N,), the index of the most probable class.  The class names and the
preprocessing settings travel in the model's ``metadata_props`` as JSON,
so that whoever runs the graph can prepare pictures as fastdigits does and
name its answers.  It needs the ``onnx`` package
(``pip install 'fastdigits[onnx]'``), imported only when called.

:func:`from_sklearn` and :func:`from_torch` read networks trained
elsewhere into an MLPClassifier (then ``predict``, ``save`` and
:func:`to_onnx` work on them).  Neither imports scikit-learn or torch: they
read the attributes, ``state_dict()`` and module class names of the object
given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from ._io import atomic_open
from .errors import FastDigitsError, InputError
from .model import MLPClassifier

if TYPE_CHECKING:  # pragma: no cover
    import onnx

    from .ensemble import Ensemble

__all__ = ["from_sklearn", "from_torch", "to_onnx"]

#: The ONNX operator set the graph uses: 17 (2022) is run by every
#: onnxruntime since 1.13, onnxruntime-web and onnxruntime-mobile included.
OPSET = 17

#: The ONNX file format version written: 8, the one that goes with opset
#: 17 (newer ``onnx`` packages default to versions older runtimes refuse).
IR_VERSION = 8

#: scikit-learn's hidden activations by fastdigits' names.
_SKLEARN_ACTIVATIONS = {"relu": "relu", "logistic": "sigmoid", "tanh": "tanh", "identity": "identity"}

#: PyTorch activation modules (by class name) by fastdigits' names.
_TORCH_ACTIVATIONS = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}

#: PyTorch modules that change nothing at inference on flat rows.
_TORCH_PASSIVE = {"Identity", "Dropout", "Flatten"}

#: ONNX operators of the hidden activations ("identity": none).
_ONNX_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": None}


# ------------------------------------------------------------------ export


def _onnx():
    """The ``onnx`` module, or a FastDigitsError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise FastDigitsError("exporting to ONNX needs the onnx package: pip install 'fastdigits[onnx]'") from None
    return onnx


def _network_nodes(onnx, net: MLPClassifier, k: int, rows: str) -> tuple[list, list, str]:
    """The nodes and initializers of network ``k`` (``net``) from the
    tensor ``rows`` to its class probabilities: (nodes, initializers, the
    name of its probabilities)."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    nodes, weights, x = [], [], rows
    last = len(net.coefs_) - 1
    for i, (w, b) in enumerate(zip(net.coefs_, net.intercepts_)):
        w_name, b_name, z = f"net{k}.W{i}", f"net{k}.b{i}", f"net{k}.z{i}"
        weights += [numpy_helper.from_array(np.asarray(w, np.float32), w_name),
                    numpy_helper.from_array(np.asarray(b, np.float32), b_name)]
        nodes.append(helper.make_node("Gemm", [x, w_name, b_name], [z], name=f"net{k}.layer{i}"))
        op = _ONNX_ACTIVATIONS[net.activation] if i < last else ("Softmax" if net.output == "softmax" else "Sigmoid")
        if op is None:
            x = z
            continue
        x = f"net{k}.a{i}"
        nodes.append(helper.make_node(op, [z], [x], name=f"net{k}.{op.lower()}{i}", **(
            {"axis": 1} if op == "Softmax" else {})))
    if net.output == "sigmoid":  # one-vs-all outputs divided by their row sum, as predict_proba does
        total, floor, p = f"net{k}.sum", f"net{k}.sum_floor", f"net{k}.proba"
        nodes += [helper.make_node("ReduceSum", [x, "axis1"], [total], keepdims=1, name=f"net{k}.sum"),
                  helper.make_node("Max", [total, "tiny"], [floor], name=f"net{k}.floor"),
                  helper.make_node("Div", [x, floor], [p], name=f"net{k}.normalise")]
        x = p
    return nodes, weights, x


def to_onnx(model: MLPClassifier | Ensemble, path: str | os.PathLike | None = None) -> onnx.ModelProto:
    """An ONNX graph of a trained network or ensemble: prepared rows in, probabilities out.

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        Trained.  An Ensemble becomes one graph that averages its
        members' probabilities, as its ``predict_proba`` does.
    path : str or path-like, optional
        Also write the graph there (atomically: a reader never sees half a
        file, a failure leaves the old file).

    Returns
    -------
    onnx.ModelProto
        Input ``input``: float32 (N, n_features_in_), N free; rows as
        ``model.prepare(images).reshape(N, -1)`` makes them.  Outputs
        ``probabilities``: float32 (N, n_classes), columns in ``classes_``
        order, equal to ``predict_proba`` (float32 arithmetic); and
        ``label``: int64 (N,), the column of the largest probability.
        ``metadata_props`` holds JSON: ``classes`` (the list of class
        names), ``preprocessing`` (the settings ``prepare`` uses) and
        ``fastdigits`` (the version that wrote it).

    Raises
    ------
    FastDigitsError
        The onnx package is not installed.
    NotFittedError
        The model is not trained.
    OutputError
        ``path`` cannot be written.

    Notes
    -----
    Each layer is one ``Gemm`` (rows times ``coefs_[i]`` plus
    ``intercepts_[i]``) and its activation; softmax outputs end in
    ``Softmax``, one-vs-all outputs in ``Sigmoid`` divided by the row sum
    (``ReduceSum``, ``Max`` with the smallest float, ``Div``).  Weights
    are stored as float32, also those of a float64 model.  Opset
    :data:`OPSET`, file format :data:`IR_VERSION`.

    Examples
    --------
    >>> from fastdigits import load_model
    >>> from fastdigits.export import to_onnx
    >>> graph = to_onnx(load_model())
    >>> [o.name for o in graph.graph.output]
    ['probabilities', 'label']
    >>> {p.key for p in graph.metadata_props} >= {"classes", "preprocessing"}
    True

    Running it (``pip install onnxruntime``):

    >>> import onnxruntime as ort                                   # doctest: +SKIP
    >>> session = ort.InferenceSession(graph.SerializeToString())   # doctest: +SKIP
    >>> proba, label = session.run(None, {"input": rows})           # doctest: +SKIP
    """
    from .preprocess import preprocessing_dict

    onnx = _onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto
    model._check_fitted()
    networks = list(getattr(model, "members_", [model]))
    n_in, n_classes = networks[0].n_features_in_, len(model.classes_)
    nodes, weights, outputs = [], [], []
    if any(net.output == "sigmoid" for net in networks):  # the constants of the row-sum division
        weights += [onnx.numpy_helper.from_array(np.array([1], np.int64), "axis1"),
                    onnx.numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, np.float32), "tiny")]
    for k, net in enumerate(networks):
        net_nodes, net_weights, proba = _network_nodes(onnx, net, k, "input")
        nodes += net_nodes
        weights += net_weights
        outputs.append(proba)
    if len(outputs) == 1:
        nodes.append(helper.make_node("Identity", outputs, ["probabilities"], name="probabilities"))
    else:
        weights.append(onnx.numpy_helper.from_array(np.array(len(outputs), np.float32), "members"))
        nodes += [helper.make_node("Sum", outputs, ["proba_sum"], name="sum_members"),
                  helper.make_node("Div", ["proba_sum", "members"], ["probabilities"], name="mean_members")]
    nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0, name="label"))
    graph = helper.make_graph(
        nodes, "fastdigits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fastdigits",
                              producer_version=__version__, ir_version=IR_VERSION,
                              doc_string=f"{len(networks)} x {'-'.join(map(str, networks[0].layer_sizes_))}")
    helper.set_model_props(proto, {
        "classes": json.dumps(model.classes_.tolist()),
        "preprocessing": json.dumps(preprocessing_dict(networks[0].preprocessing)),
        "fastdigits": __version__,
    })
    onnx.checker.check_model(proto)
    if path is not None:
        with atomic_open(path) as fh:
            fh.write(proto.SerializeToString())
    return proto


# ------------------------------------------------------------------ import


def _array(value: Any, what: str) -> np.ndarray:
    """A NumPy array of ``value``: a NumPy array, a torch tensor (detached,
    moved to the CPU) or anything ``numpy.asarray`` takes."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: not an array ({exc})") from None
    if array.dtype.kind not in "fiu":
        raise InputError(f"{what}: numbers expected, got dtype {array.dtype}")
    return array


def _dtype_of(weights: Sequence[np.ndarray]) -> str:
    """float64 if any weight is, else float32: what keeps the given precision."""
    return "float64" if any(w.dtype == np.float64 for w in weights) else "float32"


def from_sklearn(estimator: Any, **params: Any) -> MLPClassifier:
    """A fastdigits MLPClassifier with the weights of a trained scikit-learn ``MLPClassifier``.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier
        Fitted (or any object with its ``coefs_``, ``intercepts_``,
        ``classes_``, ``activation`` and ``out_activation_``).
    **params
        fastdigits hyperparameters (e.g. ``preprocessing``); ``dtype``
        defaults to that of the weights (scikit-learn's float64 stays
        float64, so probabilities agree to rounding).

    Returns
    -------
    MLPClassifier
        Trained: the same hidden activation ("logistic" is fastdigits'
        "sigmoid"), softmax outputs, and the estimator's ``classes_``.

    Raises
    ------
    InputError
        The estimator is not fitted, is multilabel, or its weights do not
        chain: the message names the layer, its shape and the expected
        ``(n_in, n_out)``.

    Notes
    -----
    A binary scikit-learn classifier has one logistic output ``z`` for
    ``classes_[1]``.  It becomes the equivalent two-output softmax with
    logits ``(0, z)``: ``softmax(0, z) = (1 - sigmoid(z), sigmoid(z))``,
    exactly scikit-learn's ``predict_proba``.  Multilabel classifiers
    (logistic outputs, several labels per row) are refused: fastdigits'
    sigmoid outputs are normalised to one class per row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier as SkMLP
    >>> from fastdigits.export import from_sklearn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4))
    >>> y = np.where(X[:, 0] > 0, "right", "left")
    >>> sk = SkMLP((8,), max_iter=300, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model = from_sklearn(sk)                                  # doctest: +SKIP
    >>> bool((model.predict(X) == sk.predict(X)).all())           # doctest: +SKIP
    True
    """
    missing = [a for a in ("coefs_", "intercepts_", "classes_", "activation", "out_activation_")
               if not hasattr(estimator, a)]
    if missing:
        raise InputError(f"{type(estimator).__name__} has no {', '.join(missing)}: "
                         f"expected a fitted sklearn.neural_network.MLPClassifier")
    activation = _SKLEARN_ACTIVATIONS.get(estimator.activation)
    if activation is None:
        raise InputError(f"unknown scikit-learn activation {estimator.activation!r}; "
                         f"expected one of {sorted(_SKLEARN_ACTIVATIONS)}")
    coefs = [_array(w, f"coefs_[{i}]") for i, w in enumerate(estimator.coefs_)]
    intercepts = [_array(b, f"intercepts_[{i}]") for i, b in enumerate(estimator.intercepts_)]
    classes = np.asarray(estimator.classes_)
    if len(coefs) != len(intercepts) or not coefs:
        raise InputError(f"{len(coefs)} coefs_ and {len(intercepts)} intercepts_: expected as many, at least one")
    n = coefs[0].shape[0] if coefs[0].ndim == 2 else None
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        if w.ndim != 2 or w.shape[0] != n or b.shape != w.shape[1:]:
            raise InputError(f"layer {i}: coefs_[{i}] has shape {w.shape} and intercepts_[{i}] {b.shape}; "
                             f"expected ({n}, n_out) and (n_out,) (scikit-learn's layout: rows are inputs)")
        n = w.shape[1]
    if classes.ndim != 1:
        raise InputError(f"classes_ of shape {classes.shape}: a multilabel classifier; "
                         f"only one class per row can be imported")
    if estimator.out_activation_ == "logistic" and n == 1 and len(classes) == 2:
        coefs[-1] = np.concatenate([np.zeros_like(coefs[-1]), coefs[-1]], axis=1)
        intercepts[-1] = np.concatenate([np.zeros_like(intercepts[-1]), intercepts[-1]])
    elif estimator.out_activation_ != "softmax":
        raise InputError(f"out_activation_ {estimator.out_activation_!r} with {n} outputs: a multilabel classifier; "
                         f"only softmax outputs (or one logistic output of a binary classifier) can be imported")
    if coefs[-1].shape[1] != len(classes):
        raise InputError(f"{len(classes)} classes_ for {coefs[-1].shape[1]} outputs: expected as many")
    params.setdefault("dtype", _dtype_of(coefs))
    return MLPClassifier.from_weights(coefs, intercepts, classes=classes, activation=activation,
                                      output="softmax", **params)


def _torch_layers(sequential: Any) -> list[tuple[str, str, Any]]:
    """(name, class name, module) of each child of ``sequential``."""
    if hasattr(sequential, "named_children"):
        return [(name, type(module).__name__, module) for name, module in sequential.named_children()]
    raise InputError(f"{type(sequential).__name__} has no named_children(): expected a torch.nn.Sequential "
                     f"of Linear layers and activations")


def from_torch(sequential: Any, classes: Sequence[Hashable] | None = None, **params: Any) -> MLPClassifier:
    """A fastdigits MLPClassifier with the weights of a PyTorch ``nn.Sequential``.

    Parameters
    ----------
    sequential : torch.nn.Sequential
        ``Linear`` layers with one activation between each two (``ReLU``,
        ``Sigmoid`` or ``Tanh``, the same everywhere; none: identity), and
        optionally ``Softmax``, ``LogSoftmax`` or ``Sigmoid`` at the end.
        ``Dropout``, ``Identity`` and ``Flatten`` are skipped.  Read by
        duck typing: ``named_children()``, the children's class names and
        ``state_dict()``; torch is not imported here.
    classes : sequence, optional
        The class of each output; default ``0 .. n_out-1``.
    **params
        fastdigits hyperparameters; ``dtype`` defaults to that of the
        weights.

    Returns
    -------
    MLPClassifier
        Trained.  Softmax outputs, unless the network ends in ``Sigmoid``
        (then one-vs-all sigmoid outputs); a network ending in a
        ``Linear`` gives logits, which become softmax outputs.

    Raises
    ------
    InputError
        A module it cannot translate, mixed activations, or weights that
        do not chain: the message names the layer, its shape and the
        expected ``(out_features, in_features)`` (torch's layout,
        transposed here into fastdigits' ``(n_in, n_out)``).

    Examples
    --------
    >>> import torch                                                   # doctest: +SKIP
    >>> from fastdigits.export import from_torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(400, 64), torch.nn.ReLU(),
    ...                           torch.nn.Linear(64, 10))             # doctest: +SKIP
    >>> model = from_torch(net)                                        # doctest: +SKIP
    >>> model.layer_sizes_                                             # doctest: +SKIP
    [400, 64, 10]
    """
    layers = _torch_layers(sequential)
    state = sequential.state_dict()
    linears = [(name, module) for name, kind, module in layers if kind == "Linear"]
    if not linears:
        raise InputError(f"no Linear layer in {type(sequential).__name__}: expected Linear layers and activations")
    hidden, output, between = set(), "softmax", None
    last_linear = max(i for i, (_, kind, _) in enumerate(layers) if kind == "Linear")
    for i, (name, kind, _) in enumerate(layers):
        if kind == "Linear":
            if between is not None:
                hidden.add(between)
            between = "identity" if i < last_linear else None
        elif kind in _TORCH_PASSIVE:
            continue
        elif i > last_linear and kind in ("Softmax", "LogSoftmax", "Sigmoid"):
            output = "sigmoid" if kind == "Sigmoid" else "softmax"
        elif kind in _TORCH_ACTIVATIONS and between == "identity":
            between = _TORCH_ACTIVATIONS[kind]
        else:
            raise InputError(f"module {name!r} ({kind}) cannot be translated: expected Linear layers with one of "
                             f"{sorted(_TORCH_ACTIVATIONS)} between them and Softmax, LogSoftmax or Sigmoid at the end")
    if len(hidden) > 1:
        raise InputError(f"different activations between layers ({', '.join(sorted(hidden))}): "
                         f"a fastdigits network has one hidden activation")
    weights, biases, n = [], [], None
    for i, (name, _) in enumerate(linears):
        if f"{name}.weight" not in state:
            raise InputError(f"state_dict() has no {name}.weight for Linear layer {name!r}")
        w = _array(state[f"{name}.weight"], f"{name}.weight")
        b = _array(state[f"{name}.bias"], f"{name}.bias") if f"{name}.bias" in state else None
        expected = f"(out_features, {n if n is not None else 'in_features'})"
        if w.ndim != 2 or (n is not None and w.shape[1] != n) or (b is not None and b.shape != w.shape[:1]):
            raise InputError(f"layer {i} (Linear {name!r}): weight {w.shape}" + (f", bias {b.shape}" if b is not None
                             else "") + f"; expected weight {expected} and bias (out_features,) in torch's layout")
        weights.append(w.T)
        biases.append(np.zeros(w.shape[0], w.dtype) if b is None else b)
        n = w.shape[0]
    params.setdefault("dtype", _dtype_of(weights))
    return MLPClassifier.from_weights(weights, biases, classes=classes, activation=hidden.pop() if hidden else "relu",
                                      output=output, **params)
