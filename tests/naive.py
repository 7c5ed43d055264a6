"""Slow, obviously-correct float64 references that the compiled code is
tested against.  Written for reading, not for speed."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of area resampling along one axis.

    Output pixel i covers input interval [i*n_in/n_out, (i+1)*n_in/n_out);
    entry (i, r) is the length of that interval's overlap with input pixel
    [r, r+1), divided by the interval's length.  Exact rational arithmetic.
    """
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = Fraction(i * n_in, n_out), Fraction((i + 1) * n_in, n_out)
        for r in range(n_in):
            overlap = min(hi, r + 1) - max(lo, r)
            if overlap > 0:
                m[i, r] = overlap / (hi - lo)
    return m


def resize_area(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resample (H, W) or (N, H, W) images: A_y @ image @ A_x.T."""
    images = np.asarray(images, dtype=np.float64)
    ay = area_matrix(images.shape[-2], size[0])
    ax = area_matrix(images.shape[-1], size[1])
    return ay @ images @ ax.T


# ------------------------------------------------- the network, textbook


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a**2),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(float)),
    "identity": (lambda z: z, lambda a: np.ones_like(a)),
}


def forward(X, weights, biases, activation, output):
    """Activations of every layer, input first: a[l+1] = f(a[l] @ W[l] + b[l])."""
    f = ACTIVATIONS[activation][0]
    activations = [np.asarray(X, float)]
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ W + b
        last = layer == len(weights) - 1
        activations.append((softmax(z) if output == "softmax" else sigmoid(z)) if last else f(z))
    return activations


def loss(X, y, weights, biases, activation, output, l2=0.0):
    """J = (1/m) sum_i CE_i + l2/(2m) sum W**2 (biases not regularised).

    CE for softmax: -log p[y]; for one-vs-all sigmoids:
    -sum_k [t_k log h_k + (1 - t_k) log(1 - h_k)].
    """
    m = len(X)
    h = forward(X, weights, biases, activation, output)[-1]
    t = np.eye(h.shape[1])[y]
    if output == "softmax":
        ce = -np.sum(t * np.log(h))
    else:
        ce = -np.sum(t * np.log(h) + (1 - t) * np.log(1 - h))
    return ce / m + l2 / (2 * m) * sum(np.sum(W**2) for W in weights)


def backprop(X, y, weights, biases, activation, output, l2=0.0):
    """Gradients (nabla_w, nabla_b) of ``loss``.

    Output delta = h - t for both output styles; hidden deltas go back
    through the weights times the activation's derivative.
    """
    m = len(X)
    fprime = ACTIVATIONS[activation][1]
    activations = forward(X, weights, biases, activation, output)
    delta = (activations[-1] - np.eye(activations[-1].shape[1])[y]) / m
    nabla_w, nabla_b = [None] * len(weights), [None] * len(weights)
    for layer in range(len(weights) - 1, -1, -1):
        nabla_w[layer] = activations[layer].T @ delta + l2 / m * weights[layer]
        nabla_b[layer] = delta.sum(axis=0)
        if layer > 0:
            delta = (delta @ weights[layer].T) * fprime(activations[layer])
    return nabla_w, nabla_b
