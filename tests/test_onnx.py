"""fastdigits.export: ONNX graphs that onnxruntime runs to predict_proba's
answers, and networks read from scikit-learn and PyTorch."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from fastdigits import Ensemble, MLPClassifier, load_model
from fastdigits.errors import FastDigitsError, InputError
from fastdigits.export import from_sklearn, from_torch, to_onnx
from fastdigits.preprocess import preprocessing_dict

HAVE_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="onnx and onnxruntime are not installed "
                                                      "(pip install 'fastdigits[test]')")

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
OUTPUTS = ("softmax", "sigmoid")
DEPTHS = {0: (), 1: (16,), 2: (16, 12)}


def _random_net(hidden, activation="relu", output="softmax", seed=0, n_in=400, classes=None, **params):
    rng = np.random.default_rng(seed)
    sizes = [n_in, *hidden, 10 if classes is None else len(classes)]
    weights = [rng.normal(scale=1 / np.sqrt(a), size=(a, b)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(scale=0.1, size=b) for b in sizes[1:]]
    return MLPClassifier.from_weights(weights, biases, classes=classes, activation=activation, output=output, **params)


def _rows(n=64, width=400, seed=1):
    return np.random.default_rng(seed).random((n, width), dtype=np.float32)


def _run(proto, rows):
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": rows})


# ------------------------------------------------------------------ export


@needs_onnx
@pytest.mark.parametrize("depth", sorted(DEPTHS))
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnxruntime_gives_predict_proba(activation, output, depth):
    net = _random_net(DEPTHS[depth], activation, output, seed=depth)
    rows = _rows()
    proba, label = _run(to_onnx(net), rows)
    assert proba.shape == (len(rows), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba, net.predict_proba(rows), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(label, proba.argmax(axis=1))
    assert label.dtype == np.int64


@needs_onnx
def test_an_ensemble_is_one_graph_averaging_its_members():
    ensemble = Ensemble.from_members([_random_net((16,), "tanh", "sigmoid", seed=s) for s in range(3)])
    rows = _rows()
    proba, label = _run(to_onnx(ensemble), rows)
    np.testing.assert_allclose(proba, ensemble.predict_proba(rows), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(label, proba.argmax(axis=1))


@needs_onnx
def test_the_shipped_ensemble_exports_with_its_classes_and_preprocessing():
    model = load_model()
    proto = to_onnx(model)
    rows = model.prepare(np.random.default_rng(2).integers(0, 256, (8, 28, 28), dtype=np.uint8)).reshape(8, -1)
    proba, label = _run(proto, rows)
    np.testing.assert_allclose(proba, model.predict_proba(rows), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(label, proba.argmax(axis=1))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == model.classes_.tolist()
    assert json.loads(meta["preprocessing"]) == preprocessing_dict(model.preprocessing)
    assert sum(node.op_type == "Gemm" for node in proto.graph.node) == 2 * len(model.members_)


@needs_onnx
def test_batch_is_dynamic_and_metadata_names_classes_and_preprocessing():
    net = _random_net((), classes=["cat", "dog", "eel"], preprocessing="scale")
    proto = to_onnx(net)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 400
    for n in (1, 5):
        assert _run(proto, _rows(n))[0].shape == (n, 3)
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props if p.key != "fastdigits"}
    assert meta == {"classes": ["cat", "dog", "eel"], "preprocessing": {"method": "scale", "size": 20}}


@needs_onnx
def test_path_is_written_and_reads_back(tmp_path):
    import onnx

    net = _random_net((8,), dtype="float64")
    target = tmp_path / "deeper" / "net.onnx"
    proto = to_onnx(net, target)
    assert onnx.load(str(target)) == proto
    assert [p.name for p in tmp_path.joinpath("deeper").iterdir()] == ["net.onnx"]  # no temporaries left
    np.testing.assert_allclose(_run(proto, _rows())[0], net.predict_proba(_rows().astype(np.float64)), atol=1e-5)


def test_without_onnx_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(FastDigitsError, match=r"pip install 'fastdigits\[onnx\]'"):
        to_onnx(_random_net(()))


def test_an_untrained_model_is_refused():
    pytest.importorskip("onnx")
    from fastdigits.errors import NotFittedError

    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier())


# ------------------------------------------------------------ scikit-learn


def _sklearn_data(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 6))
    y = np.array(["a", "b", "c", "d"])[:n_classes][np.argmax(X[:, :n_classes], axis=1)]
    return X, y


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # not converged: no matter here
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_a_sklearn_mlp_predicts_as_sklearn_does(activation, n_classes):
    sk_mlp = pytest.importorskip("sklearn.neural_network")
    X, y = _sklearn_data(n_classes)
    sk = sk_mlp.MLPClassifier((7, 5), activation=activation, max_iter=200, random_state=0)
    sk.fit(X, y)
    model = from_sklearn(sk)
    assert model.activation == {"logistic": "sigmoid"}.get(activation, activation)
    np.testing.assert_array_equal(model.predict(X), sk.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), atol=1e-5, rtol=0)
    if HAVE_ONNX:  # and on through ONNX, in float32
        proba, _ = _run(to_onnx(model), X.astype(np.float32))
        np.testing.assert_allclose(proba, sk.predict_proba(X), atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_a_multilabel_sklearn_mlp_is_refused():
    sk_mlp = pytest.importorskip("sklearn.neural_network")
    X, _ = _sklearn_data(3)
    sk = sk_mlp.MLPClassifier((4,), max_iter=20, random_state=0).fit(X, X[:, :3] > 0)
    with pytest.raises(InputError, match="multilabel"):
        from_sklearn(sk)


def test_sklearn_weights_in_the_wrong_layout_name_the_expected_shapes():
    rng = np.random.default_rng(0)
    fake = SimpleNamespace(coefs_=[rng.normal(size=(6, 5)), rng.normal(size=(3, 5))],  # second one transposed
                           intercepts_=[np.zeros(5), np.zeros(3)], classes_=np.arange(3),
                           activation="relu", out_activation_="softmax")
    with pytest.raises(InputError, match=r"coefs_\[1\] has shape \(3, 5\).*expected \(5, n_out\)"):
        from_sklearn(fake)
    with pytest.raises(InputError, match="expected a fitted sklearn"):
        from_sklearn(object())


# ----------------------------------------------------------------- PyTorch


def _module(kind: str, **attributes):
    """An object whose class is called ``kind``, as torch's modules are."""
    return type(kind, (), {})() if not attributes else type(kind, (), attributes)()


class FakeSequential:
    """What from_torch reads of a torch.nn.Sequential: named_children() and
    state_dict(), with Linear weights in torch's (out, in) layout."""

    def __init__(self, *layers):
        self.layers = [(str(i), layer) for i, layer in enumerate(layers)]
        self.state = {}
        for name, layer in self.layers:
            if type(layer).__name__ == "Linear":
                self.state[f"{name}.weight"] = layer.weight
                if layer.bias is not None:
                    self.state[f"{name}.bias"] = layer.bias

    def named_children(self):
        return iter(self.layers)

    def state_dict(self):
        return dict(self.state)


def _linear(n_in, n_out, rng, bias=True):
    return _module("Linear", weight=rng.normal(size=(n_out, n_in)), bias=rng.normal(size=n_out) if bias else None)


def _torch_forward(seq, X):
    """The forward pass as torch computes it: x W^T + b, then each module."""
    funcs = {"ReLU": lambda z: np.maximum(z, 0), "Tanh": np.tanh, "Sigmoid": lambda z: 1 / (1 + np.exp(-z)),
             "Dropout": lambda z: z}
    for _, layer in seq.named_children():
        kind = type(layer).__name__
        if kind == "Linear":
            X = X @ layer.weight.T + (0 if layer.bias is None else layer.bias)
        elif kind == "Softmax":
            e = np.exp(X - X.max(axis=1, keepdims=True))
            X = e / e.sum(axis=1, keepdims=True)
        else:
            X = funcs[kind](X)
    return X


@pytest.mark.parametrize("kind", ["ReLU", "Tanh", "Sigmoid"])
def test_a_torch_like_sequential_predicts_as_its_forward_pass(kind):
    rng = np.random.default_rng(0)
    seq = FakeSequential(_linear(6, 8, rng), _module(kind), _module("Dropout"), _linear(8, 5, rng, bias=False),
                         _module(kind), _linear(5, 3, rng), _module("Softmax"))
    model = from_torch(seq, classes=["x", "y", "z"])
    X = rng.normal(size=(20, 6))
    assert model.layer_sizes_ == [6, 8, 5, 3] and model.dtype == "float64"
    np.testing.assert_allclose(model.predict_proba(X), _torch_forward(seq, X), atol=1e-10)
    assert model.predict(X).tolist() == np.array(["x", "y", "z"])[_torch_forward(seq, X).argmax(1)].tolist()


def test_a_torch_like_sequential_ending_in_sigmoid_has_sigmoid_outputs():
    rng = np.random.default_rng(1)
    seq = FakeSequential(_linear(4, 3, rng), _module("Sigmoid"))
    model = from_torch(seq)
    assert model.output == "sigmoid" and model.layer_sizes_ == [4, 3]
    X = rng.normal(size=(10, 4))
    out = _torch_forward(seq, X)
    np.testing.assert_allclose(model.predict_proba(X), out / out.sum(axis=1, keepdims=True), atol=1e-10)


def test_torch_weights_in_the_wrong_layout_name_the_expected_shapes():
    rng = np.random.default_rng(0)
    wrong = _module("Linear", weight=rng.normal(size=(8, 5)), bias=np.zeros(5))  # (in, out): not torch's layout
    seq = FakeSequential(_linear(6, 8, rng), _module("ReLU"), wrong)
    with pytest.raises(InputError, match=r"weight \(8, 5\).*expected weight \(out_features, 8\)"):
        from_torch(seq)


def test_torch_modules_that_do_not_translate_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="one hidden activation"):
        from_torch(FakeSequential(_linear(4, 4, rng), _module("ReLU"), _linear(4, 4, rng), _module("Tanh"),
                                  _linear(4, 2, rng)))
    with pytest.raises(InputError, match=r"'1' \(Conv2d\) cannot be translated"):
        from_torch(FakeSequential(_linear(4, 4, rng), _module("Conv2d"), _linear(4, 2, rng)))
    with pytest.raises(InputError, match="expected a torch.nn.Sequential"):
        from_torch(object())


def test_a_real_torch_sequential():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model = from_torch(seq)
    X = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(seq(torch.from_numpy(X)), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-5)
