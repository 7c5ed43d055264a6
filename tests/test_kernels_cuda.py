"""The numba.cuda kernels against the float64 textbook reference in naive.py.

Without an NVIDIA GPU these run in numba's CUDA simulator (conftest.py sets
NUMBA_ENABLE_CUDASIM=1), which runs every GPU thread as a Python thread: the
networks are tiny and the launches small, and the small launches also make
blocks take several rows and threads several units each."""

from __future__ import annotations

import sys

import numba
import numpy as np
import pytest

import naive
from fastdigits import config
from fastdigits.errors import InputError
from fastdigits.kernels import ADAM, NESTEROV, SGD, Data, Optimizer, workspace
from fastdigits.kernels import cuda as gpu
from fastdigits.model import MLPClassifier
from kernel_cases import check_batch_grad, network, random_network, reference_training

pytestmark = pytest.mark.skipif(not gpu.available(), reason="numba.cuda has no GPU here and the simulator is off "
                                                            "(NUMBA_ENABLE_CUDASIM=0)")


SIMULATOR = numba.config.ENABLE_CUDASIM


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """3 blocks of 8 threads for the rows pass (so blocks go round the rows
    and threads round a layer's units), 32 threads for the weights pass;
    the one-launch training kernel on 3 blocks (1 in the simulator, whose
    grid-wide wait only knows one block)."""
    monkeypatch.setattr(config, "CUDA_ROW_THREADS", 8)
    monkeypatch.setattr(config, "CUDA_ROW_BLOCKS", 3)
    monkeypatch.setattr(config, "CUDA_WEIGHT_THREADS", 32)
    monkeypatch.setattr(config, "CUDA_TRAIN_BLOCKS", 1 if SIMULATOR else 3)


def _inputs(rng, m, n_in, dtype=np.float64):
    x = rng.random((m, n_in)).astype(dtype)
    x[x < 0.4] = 0  # the zero-skipping sums
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes, act, output", [([20, 9, 4, 3], "tanh", "sigmoid"), ([20, 17, 5], "relu", "softmax"),
                                                ([6, 3], "sigmoid", "softmax")])
def test_forward_matches_reference(rng, dtype, sizes, act, output):
    lay, params = random_network(rng, sizes, dtype)
    x = _inputs(rng, 7, sizes[0], dtype)
    out = np.full((7, sizes[-1]), np.nan, dtype)
    gpu.forward(x, network(lay, act, output), params, None, out, 1)
    ws, bs = (list(map(lambda t: t.astype(float), v)) for v in lay.views(params))
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(out, naive.forward(x, ws, bs, act, output)[-1], **tol)


def test_forward_into_a_device_array(rng):
    lay, params = random_network(rng, [8, 5, 3])
    x = _inputs(rng, 4, 8)
    out = gpu.to_device(np.zeros((4, 3)))
    gpu.forward(gpu.to_device(x), network(lay), params, None, out, 1)
    ws, bs = lay.views(params)
    np.testing.assert_allclose(out.copy_to_host(), naive.forward(x, ws, bs, "relu", "softmax")[-1], rtol=1e-12)


def _batch_grad(lay, params, x, y, act, output, l2_scale, weight):
    """gpu.batch_grad of the rows (x, y) with row weights: (grads, loss sum, rows right)."""
    work = workspace(network(lay, act, output), len(x), params.dtype)
    work.grads[...] = np.nan
    loss, correct = gpu.batch_grad(Data(x, y, weight), network(lay, act, output), params, l2_scale, work, 1)
    return work.grads, loss, correct


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("sizes", [[5, 3], [12, 9, 11, 4]])
@pytest.mark.parametrize("weighted", [False, True])
def test_batch_grad_matches_backprop(rng, dtype, act, output, sizes, weighted):
    lay, params = random_network(rng, sizes, dtype)
    m = 5
    x = _inputs(rng, m, sizes[0], dtype)
    y = rng.integers(0, sizes[-1], m)
    y[2] = -1  # a row of no class (outlier exposure)
    weight = rng.uniform(0, 2, m) if weighted else np.ones(m)
    l2 = 0.3
    grads, loss, correct = _batch_grad(lay, params, x, y, act, output, l2 / m, weight)
    check_batch_grad(lay, params, grads, loss, correct, x, y, act, output, l2, weight)


@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_central_differences(rng, weighted):
    """The gradient of J = (1/m) sum_i w_i CE_i + l2/(2m) sum W**2 against
    (J(p + h) - J(p - h)) / 2h, the loss itself coming from the kernel's
    own rows pass."""
    sizes, m, l2 = [6, 4, 3], 4, 0.2
    lay, params = random_network(rng, sizes)
    x, y = _inputs(rng, m, 6), rng.integers(0, 3, m)
    weight = rng.uniform(0, 2, m) if weighted else np.ones(m)

    def cost(p):
        grads, loss, _ = _batch_grad(lay, p, x, y, "tanh", "softmax", l2 / m, weight)
        return loss / m + l2 / (2 * m) * sum(float((w**2).sum()) for w in lay.views(p)[0]), grads

    _, grads = cost(params)
    h = 1e-6
    for p in rng.choice(lay.n_params, 8, replace=False):
        up, down = params.copy(), params.copy()
        up[p] += h
        down[p] -= h
        numeric = (cost(up)[0] - cost(down)[0]) / (2 * h)
        np.testing.assert_allclose(grads[p], numeric, rtol=1e-6, atol=1e-9)


def test_weight_two_is_the_row_twice(rng):
    """As on the CPU: a row of weight 2 gives the loss sum, and the
    gradient times the row count, of the data with that row twice."""
    lay, params = random_network(rng, [6, 5, 3])
    m = 4
    x, y = _inputs(rng, m, 6), rng.integers(0, 3, m)
    weight = np.array([1.0, 2.0, 1.0, 1.0])
    grads, loss, _ = _batch_grad(lay, params, x, y, "relu", "softmax", 0.0, weight)
    twice = np.r_[np.arange(m), 1]
    grads2, loss2, _ = _batch_grad(lay, params, x[twice], y[twice], "relu", "softmax", 0.0, np.ones(m + 1))
    np.testing.assert_allclose(grads * m, grads2 * (m + 1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, loss2, rtol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("opt", [SGD, NESTEROV, ADAM])
@pytest.mark.parametrize("sizes, n, bs", [([6, 5, 3], 10, 4), ([7, 11, 9, 3], 9, 9)])
def test_train_range_is_the_optimiser_over_batches(rng, opt, sizes, n, bs, on_device, fused, monkeypatch):
    """One call over the minibatches (the last one short) equals the
    reference steps, in one launch or two per batch, with the arrays given
    as NumPy arrays (copied back) or as device arrays (left on the GPU);
    rows of random weights, some zero, as training passes them (mean 1)."""
    monkeypatch.setattr(config, "CUDA_FUSED", fused)
    lay, params = random_network(rng, sizes)
    x, y = _inputs(rng, n, sizes[0]), rng.integers(0, sizes[-1], n)
    weight = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.2, 3, n))
    weight *= n / weight.sum()
    order = rng.permutation(n).astype(np.int64)
    lr, l2_scale, step = 0.3, 0.1, 2
    p, s1, s2 = params.copy(), np.zeros_like(params), np.zeros_like(params)
    put = gpu.to_device if on_device else (lambda a: a)
    d_p, d_s1, d_s2 = put(p), put(s1), put(s2)
    work = workspace(network(lay), bs, p.dtype, minibatches=True)
    work = work._replace(**{k: put(v) for k, v in work._asdict().items()})
    loss, correct, steps = gpu.train_range(
        Data(put(x), put(y), put(weight)), put(order), bs, network(lay), d_p, (d_s1, d_s2),
        Optimizer(opt, lr, 0.9, 0.9, 0.999, 1e-8, l2_scale, step), work, 1,
    )
    if on_device:
        p, s1, s2 = d_p.copy_to_host(), d_s1.copy_to_host(), d_s2.copy_to_host()
    assert steps == -(-n // bs)
    assert not gpu._FUSED_FAILED, gpu._FUSED_FAILED
    q, a, b, want_loss, want_right = reference_training(lay, params, x, y, order, bs, opt, lr, l2_scale, step,
                                                        weight=weight)
    np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s1, a, rtol=1e-10, atol=1e-12)
    if opt == ADAM:
        np.testing.assert_allclose(s2, b, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    assert correct == want_right


def test_a_refused_one_launch_kernel_falls_back_to_two_launches(rng, monkeypatch):
    """If the GPU refuses the cooperative launch, training says so once and
    goes on with two launches per batch, to the same weights."""
    lay, params = random_network(rng, [6, 5, 3])
    x, y, order = _inputs(rng, 10, 6), rng.integers(0, 3, 10), np.arange(10, dtype=np.int64)

    def train(fused):
        monkeypatch.setattr(config, "CUDA_FUSED", fused)
        p, s1 = params.copy(), np.zeros_like(params)
        gpu.train_range(Data(x, y, np.ones(10)), order, 4, network(lay), p, (s1, s1),
                        Optimizer(SGD, 0.3, 0.9, 0.9, 0.999, 1e-8, 0.0, 0), workspace(network(lay), 4, p.dtype,
                                                                                      minibatches=True), 1)
        return p

    def refuse(args, threads):
        raise RuntimeError("cooperative launch not supported")

    monkeypatch.setattr(config, "CUDA_TRAIN_BLOCKS", 0)
    monkeypatch.setattr(gpu, "_fused_blocks", refuse)
    monkeypatch.setattr(gpu, "_FUSED_FAILED", [])
    with pytest.warns(RuntimeWarning, match="one-launch CUDA training unavailable.*cooperative launch not supported"):
        fell_back = train(True)
    assert gpu._FUSED_FAILED == ["RuntimeError: cooperative launch not supported"]
    np.testing.assert_array_equal(fell_back, train(False))
    assert not np.array_equal(fell_back, params)


def test_the_gradient_pass_leaves_the_weights(rng):
    lay, params = random_network(rng, [6, 4, 3])
    before = params.copy()
    _batch_grad(lay, params, _inputs(rng, 3, 6), np.array([0, 1, 2]), "relu", "softmax", 0.1, np.ones(3))
    np.testing.assert_array_equal(params, before)


# ------------------------------------------------------------------ the model


@pytest.mark.parametrize("kwargs", [dict(solver="sgd", nesterovs_momentum=True, alpha=0.5),
                                    dict(solver="adam", learning_rate_init=0.01, activation="sigmoid", output="sigmoid"),
                                    dict(solver="lbfgs", activation="tanh")])
def test_model_trains_the_same_on_cuda_as_on_cpu(rng, kwargs):
    """Same seed, data and settings: the GPU's weights, losses and
    probabilities are the CPU's (float64, to rounding)."""
    X = _inputs(rng, 24, 10)
    y = np.arange(24) % 3
    settings = dict(hidden_layer_sizes=(7,), max_iter=2, batch_size=10, dtype="float64", **kwargs)
    cpu_model = MLPClassifier(**settings).fit(X, y)
    gpu_model = MLPClassifier(**settings, device="cuda").fit(X, y)
    np.testing.assert_allclose(gpu_model.params_, cpu_model.params_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([h["loss"] for h in gpu_model.history_], [h["loss"] for h in cpu_model.history_],
                               rtol=1e-9)
    np.testing.assert_allclose(gpu_model.predict_proba(X[:3]), cpu_model.predict_proba(X[:3]), rtol=1e-9, atol=1e-14)
    if kwargs["solver"] != "lbfgs":  # the optimiser state came back too: one more epoch still agrees
        cpu_model.partial_fit(X, y)
        gpu_model.partial_fit(X, y)
        np.testing.assert_allclose(gpu_model.params_, cpu_model.params_, rtol=1e-9, atol=1e-12)


def test_a_fit_interrupted_on_the_gpu_keeps_its_last_batch(rng, monkeypatch):
    """Ctrl-C in the middle of an epoch: the GPU model's weights and
    optimiser state are those of the last batch run, as the CPU model's
    (which it updates in place) are."""
    from fastdigits.kernels import cpu

    X, y = _inputs(rng, 24, 10), np.arange(24) % 3
    models = []
    for module, device in ((cpu, "cpu"), (gpu, "cuda")):
        real, calls = module.train_range, []

        def interrupted_in_second_epoch(*args, real=real, calls=calls):
            result = real(*args)
            calls.append(result)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return result

        monkeypatch.setattr(module, "train_range", interrupted_in_second_epoch)
        model = MLPClassifier((7,), max_iter=3, batch_size=10, dtype="float64", device=device)
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y)
        assert len(calls) == 2 and len(model.history_) == 1
        models.append(model)
    np.testing.assert_allclose(models[1].params_, models[0].params_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(models[1]._opt_state[0], models[0]._opt_state[0], rtol=1e-9, atol=1e-12)


def test_model_file_does_not_keep_the_device(rng, tmp_path):
    from fastdigits import load_model

    X, y = _inputs(rng, 12, 8), np.arange(12) % 2
    model = MLPClassifier((4,), max_iter=1, batch_size=6, device="cuda").fit(X, y)
    loaded = load_model(model.save(tmp_path / "m.npz"))
    assert loaded.device == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_device_is_validated(monkeypatch):
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(InputError, match="device must be one of 'cpu', 'cuda'; got 'gpu'"):
        MLPClassifier(device="gpu").fit(X, y)
    monkeypatch.setattr(gpu, "available", lambda: False)
    with pytest.raises(InputError, match="device='cuda' needs an NVIDIA GPU"):
        MLPClassifier(device="cuda").fit(X, y)
    import fastdigits.kernels

    monkeypatch.delattr(fastdigits.kernels, "cuda")  # as if importing it failed
    monkeypatch.setitem(sys.modules, "fastdigits.kernels.cuda", None)
    with pytest.raises(InputError, match="device='cuda' needs numba.cuda, which fails to import here"):
        MLPClassifier(device="cuda").fit(X, y)


# -------------------------------------------------------------- command line


def test_train_evaluate_and_classify_on_the_gpu_from_the_command_line(tmp_path, monkeypatch):
    import drawing
    from PIL import Image
    from typer.testing import CliRunner

    from fastdigits.cli import app

    for letter in "LT":
        for k in range(4):
            (tmp_path / "data" / letter).mkdir(parents=True, exist_ok=True)
            image = drawing.digit(letter, size=32, height=0.6 + 0.05 * k)
            Image.fromarray(image).save(tmp_path / "data" / letter / f"{k}.png")
    runner = CliRunner()
    model_file = tmp_path / "m.npz"
    trained = runner.invoke(app, ["train", "--data", str(tmp_path / "data"), "--hidden", "4", "--epochs", "2",
                                  "--batch-size", "8", "--device", "cuda", "-o", str(model_file)])
    assert trained.exit_code == 0, trained.output
    assert "compiling the kernels for this CPU" not in trained.stderr  # none of them will run
    assert "epoch   2:" in trained.stderr
    evaluated = runner.invoke(app, ["evaluate", str(model_file), "--data", str(tmp_path / "data"), "--device", "cuda"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "accuracy" in evaluated.stdout
    classified = runner.invoke(app, ["classify", str(tmp_path / "data"), "--model", str(model_file), "--device",
                                     "cuda"])
    assert classified.exit_code == 0, classified.output
    assert classified.stdout.count("\n") == 9  # a header and the 8 images
    monkeypatch.setattr(gpu, "available", lambda: False)
    refused = runner.invoke(app, ["evaluate", str(model_file), "--data", str(tmp_path / "data"), "--device", "cuda"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --device cuda needs an NVIDIA GPU") and "Traceback" not in refused.output
    assert refused.stderr.rstrip().endswith("use --device cpu") and "device='cpu'" not in refused.stderr
    refused = runner.invoke(app, ["classify", str(tmp_path / "data"), "--model", str(model_file), "--device", "cuda"])
    assert refused.exit_code == 1 and refused.stderr.startswith("error: --device cuda needs an NVIDIA GPU")
    refused = runner.invoke(app, ["train", "--data", str(tmp_path / "data"), "--device", "cuda", "-o", str(model_file)])
    assert refused.exit_code == 1 and refused.stderr.startswith("error: --device cuda needs an NVIDIA GPU")
