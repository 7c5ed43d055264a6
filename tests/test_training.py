"""Training (fastdigits/training.py): gradients against the NumPy float64
reference and by central differences, the schedules, early stopping,
L-BFGS's direction against the textbook inverse-Hessian update, progress
and divergence."""

from __future__ import annotations


import numpy as np
import pytest

import naive
from fastdigits import FastDigitsError, InputError, MLPClassifier, training
from toy import blobs, tiny


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "identity"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_gradient_check(rng, act, output, l2):
    """Central differences of the public loss against the analytic gradient."""
    model, _, _ = tiny(rng, act, output)
    model.alpha = l2
    X, y = rng.random((9, 6)), rng.integers(0, 3, 9)
    yi = model._encode(y, len(X))
    buf = training.buffers(model, len(X))
    training.loss_and_grad(model, X, yi, model.params_, buf)
    analytic = buf.grads.copy()
    numeric = np.empty_like(analytic)
    h = 1e-5
    for i in range(len(numeric)):
        saved = model.params_[i]
        model.params_[i] = saved + h
        up = model.loss(X, y)
        model.params_[i] = saved - h
        down = model.loss(X, y)
        model.params_[i] = saved
        numeric[i] = (up - down) / (2 * h)
    if act == "relu":  # a kink inside [-h, h] would make the difference meaningless
        pre = [X @ model.coefs_[0] + model.intercepts_[0]]
        assert np.abs(pre[0]).min() > 1e-3
    rel = np.linalg.norm(numeric - analytic) / np.linalg.norm(numeric + analytic)
    assert rel < 1e-7


def test_tiny_network_by_hand():
    # 2 inputs -> 2 relu units -> 2 softmax outputs, one sample x = (1, 2), class 1.
    # hidden z = (1*1 + 2*0 + 0, 1*-1 + 2*1 + 0.5) = (1, 1.5)   a = (1, 1.5)
    # output z = (1*1 + 1.5*0, 1*0 + 1.5*2) = (1, 3)   p = (1, e^2)/(1 + e^2)
    W1, b1 = np.array([[1.0, -1.0], [0.0, 1.0]]), np.array([0.0, 0.5])
    W2, b2 = np.array([[1.0, 0.0], [0.0, 2.0]]), np.zeros(2)
    model = MLPClassifier.from_weights([W1, W2], [b1, b2], activation="relu", dtype="float64")
    x = np.array([[1.0, 2.0]])
    p1 = np.exp(2) / (1 + np.exp(2))
    np.testing.assert_allclose(model.predict_proba(x), [[1 - p1, p1]], rtol=1e-12)
    assert model.loss(x, [1]) == pytest.approx(-np.log(p1), rel=1e-12)
    # delta_out = p - t = (1-p1, p1-1);  dJ/dW2 = a^T delta;  dJ/db2 = delta
    model.alpha = 0.0
    buf = training.buffers(model, 1)
    training.loss_and_grad(model, x, np.array([1]), model.params_, buf)
    gw, gb = model._layout.views(buf.grads)
    d = np.array([1 - p1, p1 - 1])
    np.testing.assert_allclose(gw[1], np.outer([1, 1.5], d), rtol=1e-12)
    np.testing.assert_allclose(gb[1], d, rtol=1e-12)
    # hidden delta = (W2 @ d) * relu'(z) = (d0, 2 d1); dJ/dW1 = x^T delta_h
    dh = np.array([d[0], 2 * d[1]])
    np.testing.assert_allclose(gw[0], np.outer([1, 2], dh), rtol=1e-12)


def test_deterministic_whatever_the_threads(rng):
    X, y = blobs(rng, n=500)
    runs = [MLPClassifier((16,), max_iter=3, batch_size=32, random_state=7, threads=t).fit(X, y).params_ for t in (1, 2, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[1], runs[2])
    other = MLPClassifier((16,), max_iter=3, batch_size=32, random_state=8).fit(X, y).params_
    assert not np.array_equal(runs[0], other)


def test_validation_early_stopping_keeps_best(rng):
    X, y = blobs(rng, n=400, spread=0.6)
    seen = []
    model = MLPClassifier((64,), max_iter=200, learning_rate_init=0.5, validation_fraction=0.25, n_iter_no_change=3)
    model.fit(X, y, callback=seen.append)
    assert len(model.history_) < 200
    val = [h["val_loss"] for h in model.history_]
    best = int(np.argmin(val))
    assert len(val) - 1 - best == 3  # stopped after 3 epochs without improvement
    X_val = X[np.random.default_rng([0, 1]).permutation(400)[:100]]
    y_val = y[np.random.default_rng([0, 1]).permutation(400)[:100]]
    assert training.evaluate(model, model._features(X_val), model._encode(y_val, 100))[0] == pytest.approx(val[best], rel=1e-5)
    records = [p.record for p in seen if p.record is not None]
    assert [r["epoch"] for r in records] == list(range(1, len(val) + 1))


def test_callback_can_stop_and_reports_progress(rng):
    X, y = blobs(rng, n=200)
    calls = []

    def cb(progress):
        calls.append(progress)
        return progress.epoch < 1

    model = MLPClassifier((4,), max_iter=10).fit(X, y, callback=cb)
    assert len(model.history_) == 2
    assert calls[-1].samples_done == calls[-1].samples_total == 200


def test_partial_fit_continues(rng):
    X, y = blobs(rng)
    model = MLPClassifier((8,), learning_rate_init=0.1)
    model.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    first = model.params_.copy()
    model.partial_fit(X, y)
    assert len(model.history_) == 2 and not np.array_equal(first, model.params_)


def test_divergence_is_reported(rng):
    X, y = blobs(rng)
    with pytest.raises(FastDigitsError, match="diverged.*learning_rate"):
        MLPClassifier((8,), learning_rate_init=1e30, max_iter=3).fit(X * 1e10, y)


# ------------------------------------------------------------ pieces


def test_learning_rate_schedules():
    assert training.learning_rate("constant", 0.1, 0.9, 7, 10) == 0.1
    assert training.learning_rate("exponential", 0.1, 0.5, 3, 10) == pytest.approx(0.1 * 0.125)
    cosine = [training.learning_rate("cosine", 0.2, 0.9, e, 4) for e in range(6)]
    assert cosine[0] == 0.2 and cosine[2] == pytest.approx(0.1) and cosine[4] == pytest.approx(0.0, abs=1e-17)
    assert cosine[5] == cosine[4]  # epochs past max_iter (more partial_fit calls) stay at zero
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))


def test_early_stopping_keeps_the_best_params_and_counts_patience():
    params = np.zeros(3)
    stopping = training.EarlyStopping(2)
    for score, value, stop in [(5.0, 1, False), (4.0, 2, False), (4.5, 3, False), (4.0, 4, True)]:
        params[:] = value
        assert stopping.update(score, params) is stop
    stopping.restore(params)
    np.testing.assert_array_equal(params, 2)  # the epoch of score 4.0 first reached
    never = training.EarlyStopping(None)
    assert not any(never.update(s, params) for s in (3.0, 4.0, 5.0, 6.0))
    params[:] = 9
    never.restore(params)
    np.testing.assert_array_equal(params, 9)


def test_lbfgs_direction_is_the_textbook_inverse_hessian_update(rng):
    """Two pairs (s, y): the two-loop recursion equals -H g with H built by
    the BFGS update H+ = (I - r s y') H (I - r y s') + r s s', r = 1/(y's),
    from H0 = (s'y / y'y) I of the newest pair (Nocedal and Wright, 7.19-7.20)."""
    n = 6
    A = rng.standard_normal((n, n))
    A = A @ A.T + n * np.eye(n)  # a positive definite Hessian: y = A s
    s_hist = [rng.standard_normal(n) for _ in range(2)]
    y_hist = [A @ s for s in s_hist]
    g = rng.standard_normal(n)
    H = np.dot(s_hist[-1], y_hist[-1]) / np.dot(y_hist[-1], y_hist[-1]) * np.eye(n)
    for s, y in zip(s_hist, y_hist):
        r = 1 / np.dot(y, s)
        H = (np.eye(n) - r * np.outer(s, y)) @ H @ (np.eye(n) - r * np.outer(y, s)) + r * np.outer(s, s)
    np.testing.assert_allclose(training.lbfgs_direction(g, s_hist, y_hist), -H @ g, rtol=1e-10)
    np.testing.assert_array_equal(training.lbfgs_direction(g, [], []), -g)  # no history: steepest descent


def test_row_weights_have_mean_one_and_ones_without_weights():
    ones, total = training.row_weights(None, 5)
    assert total == 5.0 and ones.dtype == np.float64 and (ones == 1).all()
    w, total = training.row_weights(np.array([1.0, 3.0, 0.0, 4.0]), 4)
    assert total == 8.0 and w.mean() == pytest.approx(1.0) and w.tolist() == [0.5, 1.5, 0.0, 2.0]


# ------------------------------------------------------ sample weights


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_weights_of_ones_train_to_the_bits_of_no_weights(rng, solver):
    """fit(sample_weight=ones) is fit(); other weights move the weights."""
    X, y = rng.random((40, 6)), np.arange(40) % 3

    def trained(weight):
        model = MLPClassifier((5,), max_iter=2, batch_size=16, solver=solver, dtype="float64")
        return model.fit(X, y, sample_weight=weight).params_

    plain = trained(None)
    assert np.array_equal(trained(np.ones(40)), plain)
    assert not np.array_equal(trained(np.r_[np.full(20, 0.5), np.full(20, 1.5)]), plain)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_weighted_loss_and_gradient_are_the_textbook_ones(rng, scale):
    """J = (1/S) sum_i w_i CE_i + alpha/(2S) sum W**2, S = sum_i w_i, and
    its gradient, as naive.py has them for weights of mean 1 (w n/S, with
    alpha n/S): the weights' scale counts, as repeating every row would."""
    model, ws, bs = tiny(rng, "tanh", "softmax")
    model.alpha = 0.4
    X, y = rng.random((9, 6)), rng.integers(0, 3, 9)
    w = rng.uniform(0, 2, 9)
    w *= scale * 9 / w.sum()  # S = 9 scale
    mean_one, l2 = w / scale, 0.4 / scale
    buf = training.buffers(model, len(X))
    loss, _ = training.loss_and_grad(model, X, y, model.params_, buf, sample_weight=w)
    assert loss == pytest.approx(naive.loss(X, y, ws, bs, "tanh", "softmax", l2, sample_weight=mean_one), rel=1e-12)
    assert model.loss(X, y, sample_weight=w) == pytest.approx(loss, rel=1e-12)
    nabla_w, nabla_b = naive.backprop(X, y, ws, bs, "tanh", "softmax", l2, sample_weight=mean_one)
    gw, gb = model._layout.views(buf.grads)
    for got, want in zip(gw + gb, nabla_w + nabla_b):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def test_lbfgs_with_whole_weights_is_the_fit_of_repeated_rows(rng):
    """A row of weight k is that row k times, and weight 0 no row, for the
    full-batch solver (scikit-learn's equivalence check, here exactly)."""
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    k = rng.integers(0, 4, 30)
    k[:3] = [0, 1, 2]  # some of each
    settings = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=15, dtype="float64", random_state=2)
    weighted = MLPClassifier(**settings).fit(X, y, sample_weight=k)
    repeated = MLPClassifier(**settings).fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7, atol=1e-10)


def test_outliers_weigh_the_mean_training_weight_whatever_the_weights_scale(rng):
    X, y = rng.random((60, 8)), np.arange(60) % 3
    O = rng.random((10, 8))
    w = rng.uniform(0.5, 2, 60)
    fits = [MLPClassifier((5,), max_iter=2, batch_size=16, dtype="float64").fit(X, y, w * c, outliers=O).params_
            for c in (1.0, 0.01)]
    np.testing.assert_allclose(fits[0], fits[1], rtol=1e-9, atol=1e-12)


def test_held_out_rows_keep_their_weights_and_training_rows_must_weigh_something(rng):
    X, y = rng.random((40, 5)), np.arange(40) % 2
    model = MLPClassifier((4,), max_iter=1, dtype="float64", alpha=0.3).fit(X, y)
    w = np.r_[np.ones(30), np.zeros(10)]
    weighted = training.evaluate(model, X, y, w)
    np.testing.assert_allclose(weighted, training.evaluate(model, X[:30], y[:30]), rtol=1e-12)
    held_out = np.random.default_rng([0, 1]).permutation(40)[:10]  # the split of random_state=0, fraction 0.25
    only_there = np.zeros(40)
    only_there[held_out] = 1.0
    with pytest.raises(InputError, match="training rows that validation_fraction=0.25 leaves sums to 0"):
        MLPClassifier((4,), max_iter=1, validation_fraction=0.25).fit(X, y, sample_weight=only_there)


def test_loss_takes_sample_weight_by_name_only(rng):
    X, y = rng.random((20, 5)), np.arange(20) % 2
    model = MLPClassifier((4,), max_iter=1).fit(X, y)
    with pytest.raises(TypeError):
        model.loss(X, y, 0.5)  # l2 before the names changed: never read as weights
    assert model.loss(X, y, sample_weight=np.full(20, 0.5)) == pytest.approx(model.loss(X, y), rel=1e-6)
