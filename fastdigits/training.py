"""Training of :class:`fastdigits.MLPClassifier`: the minibatch epochs
(SGD, Nesterov, Adam), full-batch L-BFGS, the learning-rate schedules,
early stopping and the record of each epoch.

The estimator (``model.py``) validates its data and settings and calls
:func:`train`; the functions here work on its learned state (``params_``,
the optimiser state, ``history_``) through the kernels of its device's
backend (``kernels/backend.py``).

The objective, for training rows of weights w_i summing to S::

    J = (1/S) sum_i w_i CE_i  +  alpha / (2S) * sum of squared weights

Minibatch gradients estimate the gradient of this same J: the kernels take
each row's weight as w_i n / S (mean 1) and the L2 term's scale as alpha/S.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import FastDigitsError
from .kernels import (ADAM, HIDDEN_ACTIVATIONS, NESTEROV, OUTPUTS, SGD, Data, Network, Optimizer, Workspace,
                      workspace)
from .kernels import network as kernels_network

if TYPE_CHECKING:  # pragma: no cover
    from .model import MLPClassifier

__all__ = ["EarlyStopping", "Progress", "learning_rate", "train"]

#: Rows between progress reports within an epoch (rounded to whole batches).
REPORT_ROWS = 65536

#: Pairs (s, y) of past steps that L-BFGS keeps (Nocedal and Wright,
#: "Numerical Optimization", 2006, ch. 7: 3 to 20 work well).
LBFGS_MEMORY = 10


@dataclass
class Progress:
    """What ``fit`` reports to its callback.

    Reported after each chunk of batches (``record`` is None) and at the
    end of each epoch (``record`` is that epoch's entry of ``history_``).
    An ensemble's members train one after another: ``member`` of
    ``members``, each from epoch 0.

    Parameters
    ----------
    epoch : int
        The epoch under way, from 0.
    epochs : int
        The epoch this ``fit`` stops before (``len(history_)`` at the start
        plus ``max_iter``).
    samples_done : int
        Rows of this epoch trained so far.
    samples_total : int
        Rows per epoch.
    record : dict or None
        The epoch's ``history_`` entry, at its end.
    member : int
        Which network of an :class:`fastdigits.Ensemble` is training.
    members : int
        Networks in the ensemble (1 for one network).

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import MLPClassifier
    >>> seen = []
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> _ = MLPClassifier((4,), max_iter=2).fit(X, X[:, 0] > 0, callback=seen.append)  # doctest: +SKIP
    >>> [p.record["epoch"] for p in seen if p.record]  # doctest: +SKIP
    [1, 2]
    """

    epoch: int
    epochs: int
    samples_done: int
    samples_total: int
    record: dict | None = None
    member: int = 0  #: which network of an :class:`fastdigits.Ensemble` is training
    members: int = 1


def learning_rate(schedule: str, init: float, decay: float, epoch: int, max_iter: int) -> float:
    """The step size of an epoch under a learning-rate schedule.

    Parameters
    ----------
    schedule : {"constant", "cosine", "exponential"}
        "constant": ``init`` every epoch.  "cosine": cosine decay from
        ``init`` to zero over ``max_iter`` epochs (Loshchilov and Hutter,
        "SGDR", ICLR 2017); epochs past ``max_iter``, from more
        ``partial_fit`` calls, stay at zero.  "exponential":
        ``init * decay**epoch``.
    init : float
        The step size of epoch 0.
    decay : float
        The factor per epoch of "exponential"; unused by the others.
    epoch : int
        The epoch: 0, 1, ...
    max_iter : int
        The epochs over which "cosine" decays to zero; unused by the
        others.

    Returns
    -------
    float
        The step size of ``epoch``.

    Examples
    --------
    >>> from fastdigits.training import learning_rate
    >>> learning_rate("constant", 0.1, 0.9, 5, 10)
    0.1
    >>> round(learning_rate("cosine", 0.1, 0.9, 5, 10), 6), learning_rate("cosine", 0.1, 0.9, 12, 10)
    (0.05, 0.0)
    >>> round(learning_rate("exponential", 0.1, 0.9, 2, 10), 6)
    0.081
    """
    if schedule == "cosine":
        return init * 0.5 * (1 + math.cos(math.pi * min(epoch, max_iter) / max_iter))
    if schedule == "exponential":
        return init * decay**epoch
    return init


class EarlyStopping:
    """Stop after ``patience`` epochs without a better score, keeping the best epoch's parameters.

    Parameters
    ----------
    patience : int or None
        Epochs in a row without a better (lower) score before
        :meth:`update` says to stop; None: never stop, and keep nothing.

    Attributes
    ----------
    best_score : float
        The lowest score so far (``inf`` before the first).
    best_params : numpy.ndarray or None
        A copy of the parameters at that score (None before the first).
    since_best : int
        Epochs since that score.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits.training import EarlyStopping
    >>> stopping, params = EarlyStopping(2), np.zeros(1)
    >>> [stopping.update(score, params + score) for score in (0.5, 0.4, 0.45, 0.41)]
    [False, False, False, True]
    >>> stopping.restore(params)
    >>> params
    array([0.4])
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best_score = math.inf
        self.best_params: np.ndarray | None = None
        self.since_best = 0

    def update(self, score: float, params: np.ndarray) -> bool:
        """Record an epoch's score (lower is better), and say whether to stop.

        Parameters
        ----------
        score : float
            The epoch's score, such as its validation loss; lower is
            better.
        params : numpy.ndarray
            The parameters at that score; copied when it is the best so
            far.

        Returns
        -------
        bool
            True to stop: ``patience`` epochs in a row without a better
            score.  Always False when ``patience`` is None.
        """
        if self.patience is None:
            return False
        if score < self.best_score:
            self.best_score, self.best_params, self.since_best = score, params.copy(), 0
            return False
        self.since_best += 1
        return self.since_best >= int(self.patience)

    def restore(self, params: np.ndarray) -> None:
        """Put the best epoch's parameters back into ``params``, when one was kept.

        Parameters
        ----------
        params : numpy.ndarray
            The parameters, overwritten in place; of the shape given to
            :meth:`update`.  Left as they are when nothing was kept.
        """
        if self.best_params is not None:
            params[...] = self.best_params


def labelled(yi: np.ndarray) -> int:
    """Rows with a class (at least 1): the denominator of train accuracy,
    as rows of no class (outliers, label -1) are never "right"."""
    return max(int(np.count_nonzero(np.asarray(yi) >= 0)), 1)


def row_weights(sample_weight: np.ndarray | None, n_rows: int) -> tuple[np.ndarray, float]:
    """The kernels' per-row weights, w_i n/S (mean 1, so that their
    (1/n) sum_i w_i CE_i is (1/S) sum_i w_i CE_i), and S, the rows' total
    weight.  Without weights: ones and n, and the arithmetic is that of no
    weights (a product by 1 is exact)."""
    if sample_weight is None:
        return np.ones(n_rows), float(n_rows)
    total = float(sample_weight.sum())
    return np.ascontiguousarray(sample_weight * (n_rows / total), np.float64), total


def network(model) -> Network:
    """The kernels' description of ``model``'s network (``kernels.Network``)."""
    lay = model._layout
    return kernels_network(lay.sizes, lay.w_off, lay.b_off, HIDDEN_ACTIVATIONS[model.activation],
                           OUTPUTS[model.output])


def buffers(model, rows: int, minibatches: bool = False) -> Workspace:
    """The kernels' buffers for passes of ``rows`` rows, allocated once per
    fit (``kernels.workspace``)."""
    return workspace(network(model), rows, model._float, minibatches=minibatches)


def l2_term(model, total: float, params: np.ndarray | None = None, alpha: float | None = None) -> float:
    """alpha / (2 S) * sum of squared weights (biases excluded), S =
    ``total`` (the rows' weight), at ``params`` or the model's own."""
    weights = model._layout.views(model.params_ if params is None else params)[0]
    alpha = model.alpha if alpha is None else alpha
    return alpha / (2 * total) * sum(float(np.dot(w.ravel(), w.ravel())) for w in weights)


def loss_and_grad(model, X, yi, params: np.ndarray, buf: Workspace,
                  sample_weight: np.ndarray | None = None, *, alpha: float | None = None) -> tuple[float, int]:
    """Full-batch J and its gradient (into ``buf.grads``) at ``params``,
    with the model's ``alpha`` unless given; and the rows predicted right."""
    m = len(X)
    alpha = model.alpha if alpha is None else alpha
    backend = model._backend
    weight, total = row_weights(sample_weight, m)
    data = Data(X, yi, backend.put(weight))
    with backend.session(model.threads) as kernels:
        backend.announce(kernels.batch_grad, "L-BFGS gradient", model.dtype)
        loss, correct = kernels.batch_grad(data, network(model), params, alpha / total, buf, backend.threads())
    return loss / m + l2_term(model, total, params, alpha), correct


def evaluate(model, X: np.ndarray, yi: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[float, float]:
    """J and accuracy on held-out rows at the current weights, each row
    weighted by ``sample_weight`` (None: 1 each)."""
    proba = model._proba(X)
    p = np.clip(proba, 1e-15, 1.0)
    rows = np.arange(len(yi))
    ce = -np.log(p[rows, yi])
    if model.output == "sigmoid":
        q = np.clip(1 - proba, 1e-15, 1.0)
        ce = ce - np.log(q).sum(axis=1) + np.log(q[rows, yi])
    total = len(yi) if sample_weight is None else float(sample_weight.sum())
    right = proba.argmax(1) == yi
    return (float(np.average(ce, weights=sample_weight)) + l2_term(model, total),
            float(np.average(right, weights=sample_weight)))


def train(model: MLPClassifier, X: np.ndarray, yi: np.ndarray, validation: tuple | None, epochs: int,
          callback: Callable[[Progress], bool | None] | None, sample_weight: np.ndarray | None = None) -> None:
    """Train ``model`` for ``epochs`` more epochs (L-BFGS iterations).

    What ``fit`` and ``partial_fit`` call once they have checked the data
    and set up the learned state (``params_``, the optimiser state,
    ``history_``), which this updates in place.  Each epoch is measured on
    the ``validation`` rows when given, and appended to ``history_``.

    Parameters
    ----------
    model : MLPClassifier
        The estimator, its learned state set up.
    X : numpy.ndarray, shape (n, d)
        Training rows, of the model's dtype.
    yi : numpy.ndarray, shape (n,)
        Class indices of the rows; -1: no class (an outlier).
    validation : (Xv, yv, wv) or None
        Validation rows (of the model's dtype), their class indices and
        weights (None: 1 each): each epoch's ``val_loss`` and
        ``val_accuracy``, and early stopping's score; None: none.
    epochs : int
        Epochs (L-BFGS: iterations) to train.
    callback : callable or None
        As for ``fit``: called with a :class:`Progress`; returning
        ``False`` stops training at the end of that epoch.
    sample_weight : numpy.ndarray, shape (n,), optional
        Weight of each row; None: 1 each.

    Raises
    ------
    FastDigitsError
        Training diverged: the weights became NaN or infinite.
    KeyboardInterrupt
        Re-raised once the model is consistent (the best weights so far
        under early stopping).

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import MLPClassifier
    >>> from fastdigits.training import train
    >>> X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    >>> model = MLPClassifier((8,), max_iter=1).fit(X, X[:, 0] > 0)  # doctest: +SKIP
    >>> train(model, X, (X[:, 0] > 0).astype(np.int64), None, 2, None)  # doctest: +SKIP
    >>> len(model.history_)  # doctest: +SKIP
    3
    """
    run = _lbfgs if model.solver == "lbfgs" else _minibatch
    stopping = EarlyStopping(model.n_iter_no_change)
    try:
        run(model, X, yi, validation, epochs, callback, sample_weight, stopping)
    finally:
        stopping.restore(model.params_)


def _end_epoch(model, record: dict, validation, stopping: EarlyStopping, callback, epochs: int, n: int) -> bool:
    """Finish an epoch's ``record`` (validation figures), append it to
    ``history_``; True to stop (early stopping, or the callback said
    False)."""
    if validation is not None:
        record["val_loss"], record["val_accuracy"] = evaluate(model, *validation)
    model.history_.append(record)
    stop = stopping.update(record.get("val_loss", record["loss"]), model.params_)
    if callback is not None:
        stop = callback(Progress(record["epoch"] - 1, epochs, n, n, record)) is False or stop
    return stop


def _check_finite(model, epoch: int) -> None:
    if not np.isfinite(model.params_).all():
        raise FastDigitsError(
            f"training diverged in epoch {epoch + 1}: weights became NaN or infinite "
            f"(learning_rate_init={model.learning_rate_init} is probably too high)"
        )


def _minibatch(model, X, yi, validation, epochs, callback, sample_weight, stopping: EarlyStopping) -> None:
    """Epochs of minibatch SGD, Nesterov or Adam, shuffled by the model's
    generator; on a GPU the data, weights, optimiser state and buffers are
    copied there once and the weights come back after each epoch."""
    from .augment import augment

    augmentation = model._augmentation()
    X_epoch = X if augmentation is None else np.empty_like(X)
    n = len(X)
    n_labelled = labelled(yi)
    weight, total = row_weights(sample_weight, n)
    bs = min(int(model.batch_size), n)
    opt = {"sgd": NESTEROV if model.nesterovs_momentum else SGD, "adam": ADAM}[model.solver]
    backend = model._backend
    put = backend.put
    net = network(model)
    net = net._replace(sizes=put(net.sizes), w_off=put(net.w_off), b_off=put(net.b_off))
    yi_k, weight = put(yi), put(weight)
    params, state1, state2 = put(model.params_), put(model._opt_state[0]), put(model._opt_state[1])
    buf = buffers(model, bs, minibatches=True)
    buf = buf._replace(**{k: put(v) for k, v in buf._asdict().items()})
    X_k = put(X_epoch)
    chunk = max(bs, (REPORT_ROWS // bs) * bs)
    start_epoch = len(model.history_)
    last = start_epoch + epochs
    try:
        for epoch in range(start_epoch, last):
            t0 = time.perf_counter()  # the epoch's time includes its augmentation
            lr = learning_rate(model.learning_rate, model.learning_rate_init, model.lr_decay, epoch, model.max_iter)
            order = put(model._rng.permutation(n).astype(np.int64))
            if augmentation is not None:
                X_epoch = augment(X, augmentation, seed=[model._seed, 2, epoch], out=X_epoch)
                X_k = put(X_epoch)
            loss_sum, correct = 0.0, 0
            stop = False
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                with backend.session(model.threads) as kernels:
                    backend.announce(kernels.train_range, "training", model.dtype)
                    optimizer = Optimizer(opt, float(lr), float(model.momentum), float(model.beta_1),
                                          float(model.beta_2), float(model.epsilon), model.alpha / total, model._steps)
                    loss, right, steps = kernels.train_range(Data(X_k, yi_k, weight), order[lo:hi], bs, net, params,
                                                             (state1, state2), optimizer, buf, backend.threads())
                model._steps += steps
                loss_sum += loss
                correct += right
                if callback is not None and hi < n:
                    stop = callback(Progress(epoch, last, hi, n)) is False or stop
            backend.fetch(params, model.params_)
            _check_finite(model, epoch)
            record = {
                "epoch": epoch + 1,
                "loss": loss_sum / n + l2_term(model, total),
                "train_accuracy": correct / n_labelled,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
            }
            record["samples_per_second"] = n / record["seconds"]
            if _end_epoch(model, record, validation, stopping, callback, last, n) or stop:
                break
    finally:
        # Interrupted mid-epoch on a GPU: the weights of the last batch, as on the CPU.
        for dev, host in ((params, model.params_), (state1, model._opt_state[0]), (state2, model._opt_state[1])):
            backend.fetch(dev, host)


def lbfgs_direction(g: np.ndarray, s_hist: list[np.ndarray], y_hist: list[np.ndarray]) -> np.ndarray:
    """The L-BFGS search direction -H g by the two-loop recursion (Nocedal
    and Wright, "Numerical Optimization", 2006, algorithm 7.4), scaled by
    s'y / y'y of the newest pair; float64 vectors (n_params,)."""
    q = -g
    alphas = []
    for s, yk in zip(reversed(s_hist), reversed(y_hist)):
        a = np.dot(s, q) / np.dot(yk, s)
        alphas.append(a)
        q -= a * yk
    if s_hist:
        q *= np.dot(s_hist[-1], y_hist[-1]) / np.dot(y_hist[-1], y_hist[-1])
    for (s, yk), a in zip(zip(s_hist, y_hist), reversed(alphas)):
        q += s * (a - np.dot(yk, q) / np.dot(yk, s))
    return q


def _lbfgs(model, X, yi, validation, iterations, callback, sample_weight, stopping: EarlyStopping) -> None:
    """Full-batch L-BFGS (``lbfgs_direction``) with a backtracking line
    search on the Armijo condition; one iteration is one epoch of
    ``history_``.  On a GPU the data and scratch go there once; the weights
    (changed in NumPy between calls) and the gradient travel with each
    call."""
    backend = model._backend
    buf = buffers(model, len(X))
    buf = buf._replace(**{k: backend.put(v) for k, v in buf._asdict().items() if k != "grads"})
    n_labelled = labelled(yi)  # on the host: a GPU array has no comparisons
    X, yi = backend.put(X), backend.put(yi)
    x = model.params_
    f, _ = loss_and_grad(model, X, yi, x, buf, sample_weight)
    g = buf.grads.astype(np.float64)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    start = len(model.history_)
    for it in range(start, start + iterations):
        t0 = time.perf_counter()
        direction = lbfgs_direction(g, s_hist, y_hist)
        slope = float(np.dot(g, direction))
        if slope >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            direction, slope = -g, -float(np.dot(g, g))
        step = 1.0 if s_hist else 1.0 / max(1.0, float(np.linalg.norm(g)))
        x0 = x.astype(np.float64)
        for _ in range(30):
            x[...] = x0 + step * direction
            f_new, correct = loss_and_grad(model, X, yi, x, buf, sample_weight)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            x[...] = x0
            break
        g_new = buf.grads.astype(np.float64)
        s, yk = x.astype(np.float64) - x0, g_new - g
        if np.dot(s, yk) > 1e-10:
            s_hist.append(s)
            y_hist.append(yk)
            if len(s_hist) > LBFGS_MEMORY:
                s_hist.pop(0)
                y_hist.pop(0)
        f, g = f_new, g_new
        _check_finite(model, it)
        record = {"epoch": it + 1, "loss": f, "train_accuracy": correct / n_labelled, "lr": step,
                  "seconds": time.perf_counter() - t0}
        record["samples_per_second"] = len(X) / record["seconds"]
        if _end_epoch(model, record, validation, stopping, callback, start + iterations, len(X)) \
                or float(np.abs(g).max()) < 1e-9:
            break
