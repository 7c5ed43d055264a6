"""What the CPU and the CUDA kernel tests share: random networks, and the
checks that hold a kernel's gradient and its training steps to naive.py."""

from __future__ import annotations

import numpy as np

import naive
from fastdigits.kernels import ADAM, HIDDEN_ACTIVATIONS, NESTEROV, OUTPUTS, SGD
from fastdigits.kernels import network as kernels_network
from fastdigits.model import _Layout

OPTIMIZERS = {SGD: "sgd", NESTEROV: "nesterov", ADAM: "adam"}


def random_network(rng, sizes, dtype=np.float64):
    """(layout, flat parameters) of a random network, weights scaled by
    1/sqrt(fan-in) (float32 sigmoids of a wide layer would otherwise
    saturate to exactly 0 or 1)."""
    lay = _Layout.of(sizes)
    params = rng.standard_normal(lay.n_params).astype(dtype) * 0.5
    for w in lay.views(params)[0]:
        w *= dtype(2 / np.sqrt(w.shape[0]))
    return lay, params


#: ``Network.dense_share`` and ``training_share`` values that force the
#: CPU's dense register blocks (0) and its sums of nonzeros (2), beside the
#: default (None: ``config``'s).
PRODUCTS = {"default": None, "dense": 0.0, "sparse": 2.0}


def network(lay, act="relu", output="softmax", products="default"):
    """The kernels' ``Network`` of a layout and public activation names,
    its products chosen as ``PRODUCTS`` says."""
    net = kernels_network(lay.sizes, lay.w_off, lay.b_off, HIDDEN_ACTIVATIONS[act], OUTPUTS[output])
    share = PRODUCTS[products]
    return net if share is None else net._replace(dense_share=share, training_share=share)


def check_batch_grad(lay, params, grads, loss, correct, x, y, act, output, l2, weight=None):
    """A batch_grad's gradient, loss sum (of weight_i CE_i) and count of
    right rows (unweighted) against textbook backprop on the float64
    parameters."""
    m = len(x)
    ws, bs = (list(map(lambda t: t.astype(float), v)) for v in lay.views(params))
    nabla_w, nabla_b = naive.backprop(x, y, ws, bs, act, output, l2, sample_weight=weight)
    tol = dict(rtol=1e-10, atol=1e-12) if params.dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)
    gw, gb = lay.views(grads)
    for got, want in zip(gw + gb, nabla_w + nabla_b):
        np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(loss, naive.loss(x, y, ws, bs, act, output, sample_weight=weight) * m,
                               rtol=1e-10 if params.dtype == np.float64 else 1e-5)
    assert correct == int((naive.forward(x, ws, bs, act, output)[-1].argmax(1) == y).sum())


def reference_training(lay, params, x, y, order, batch, opt, lr, l2_scale, step=0, weight=None):
    """Minibatches order[0:batch], order[batch:2 batch], ... of a relu/softmax
    network by the textbook, in float64, from zero optimiser state after
    ``step`` earlier steps, rows weighted by ``weight`` (None: 1 each):
    (params, state1, state2, weighted loss sum, right rows)."""
    q, a, b = params.copy(), np.zeros_like(params), np.zeros_like(params)
    weight = np.ones(len(x)) if weight is None else weight
    loss, right = 0.0, 0
    for t, lo in enumerate(range(0, len(order), batch), start=step + 1):
        idx = order[lo : lo + batch]
        ws, bs = lay.views(q)
        loss += naive.loss(x[idx], y[idx], ws, bs, "relu", "softmax", sample_weight=weight[idx]) * len(idx)
        right += int((naive.forward(x[idx], ws, bs, "relu", "softmax")[-1].argmax(1) == y[idx]).sum())
        nw, nb = naive.backprop(x[idx], y[idx], ws, bs, "relu", "softmax", sample_weight=weight[idx])
        grad = np.concatenate([np.concatenate([w.ravel(), b_]) for w, b_ in zip(nw, nb)])
        grad += l2_scale * np.concatenate([np.concatenate([w.ravel(), np.zeros_like(b_)]) for w, b_ in zip(ws, bs)])
        lr_t = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) if opt == ADAM else lr
        q, a, b = naive.optimizer_step(OPTIMIZERS[opt], q, grad, a, b, lr_t)
    return q, a, b, loss, right
