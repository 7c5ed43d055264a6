"""The multilayer perceptron classifier.

scikit-learn conventions: ``__init__`` only stores hyperparameters, ``fit``
validates and learns, and learned state ends in ``_`` (``coefs_``,
``intercepts_``, ``classes_``, ``history_``).

The objective is the textbook one (and scikit-learn's), for training rows
of weights w_i (1 each by default) summing to S::

    J = (1/S) sum_i w_i CE_i  +  alpha / (2S) * sum of squared weights (not biases)

with CE the softmax cross-entropy or, for ``output="sigmoid"``, the sum of
one-vs-all binary cross-entropies.  Minibatch gradients estimate the
gradient of this same J (the L2 term uses S, not the batch's share), so
``alpha`` means the same for every solver and batch size.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import operator
import os
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import ArrayLike

from . import _forksafe, config, persist, training
from ._ext import _forward
from ._sklearn import BaseEstimator, ClassifierMixin, available_if
from ._validation import (Choice, Interval, classes_of, flattened_pictures, how_to_pass, labels, ndim, not_finite,
                          numeric, refuse_channels, sample_weight_of)
from .errors import InputError, ModelFileError
from .kernels import HIDDEN_ACTIVATIONS, OUTPUTS, aligned_zeros, backend
from .kernels.backend import CPU
from .preprocess import as_preprocessing, is_image_sequence, prepare, preprocessing_dict
from .training import Progress

__all__ = ["MLPClassifier", "compiled_forward", "warm_kernels"]

SOLVERS = ("sgd", "adam", "lbfgs")
DEVICES = ("cpu", "cuda")
SCHEDULES = ("constant", "cosine", "exponential")
DTYPES = {"float32": np.float32, "float64": np.float64}

#: Set (True) inside ``compiled_forward``: every batch takes the forward pass
#: and the input checks that ``pip install`` compiled.
_COMPILED_FORWARD = contextvars.ContextVar("compiled_forward", default=False)


@contextlib.contextmanager
def compiled_forward() -> Iterator[None]:
    """Predict with the forward pass compiled at install time, within a ``with`` block.

    Within this block (in this thread or task), ``predict_proba`` of any
    number of rows runs the forward pass that ``pip install`` compiled
    (``ext/_forward.pyx``) instead of the parallel Numba kernel, and so do
    the input checks: nothing is compiled for a one-off scoring such as
    ``fastdigits train``'s of the test set (10,000 rows of 400-256-10 take a fraction of a second on one core,
    ``benchmarks/bench_forward.py``, against the kernel's first-use
    compile of tens of seconds).  Probabilities agree with the kernel's
    to float rounding.

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager for a ``with`` statement; it gives nothing to
        ``as``.  The previous setting is back when the block ends.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import load_model
    >>> from fastdigits.model import compiled_forward
    >>> model = load_model()
    >>> with compiled_forward():
    ...     proba = model.predict_proba(np.zeros((3, 400), np.float32))
    >>> proba.shape
    (3, 10)
    """
    token = _COMPILED_FORWARD.set(True)
    try:
        yield
    finally:
        _COMPILED_FORWARD.reset(token)


def _kernel_rows(n_params: int) -> int:
    """The fewest rows of a network of ``n_params`` weights and biases that
    ``predict_proba`` hands to the Numba kernels (outside
    ``compiled_forward``): more than ``config.COMPILED_ROWS``; once this
    process has loaded the kernels (for a bigger batch, or to train), also
    more than ``config.COMPILED_WORK`` multiply-adds, one row excepted.
    Fewer take the compiled pass: a process that only ever predicts a few
    rows never imports numba, nor waits on the kernels' lock."""
    rows = config.COMPILED_ROWS
    if "fastdigits.kernels.cpu" in sys.modules:
        rows = min(rows, max(1, config.COMPILED_WORK // max(1, n_params)))
    return rows + 1


def _serial_checks(size: int, parallel: bool) -> bool:
    """Whether input checks of ``size`` values run in the compiled
    extension's one-pass loop (``_forward.outside_total``: nothing to JIT
    compile, no thread pool, no lock) rather than a parallel kernel: small
    arrays, checks asked not to be ``parallel`` (``fit``'s one-off ones),
    and everything inside ``compiled_forward``."""
    return not parallel or size < config.PARALLEL_CHECK_SIZE or _COMPILED_FORWARD.get() or _forksafe.serial()


def warm_kernels(dtype: str = "float32", augment: bool = False, device: str = "cpu", *,
                 predict: bool = True) -> None:
    """Compile (or load from a disk cache) the kernels of training and prediction.

    Compiles the kernels that training (and with ``predict``, prediction)
    with ``dtype`` use on ``device``, on a few random rows: the kernels are
    specialised on array types, never on sizes, so later models of any
    size start at full speed.

    Parameters
    ----------
    dtype : {"float32", "float64"}
        The floating-point type of the models to come.
    augment : bool
        Also the kernels of training on distorted copies (``augment=True``).
    device : {"cpu", "cuda"}
        Where the models will run.
    predict : bool
        Also prediction's kernels: the parallel forward pass and both
        parallel input checks (rows of features, and pictures).

    Raises
    ------
    InputError
        ``dtype`` or ``device`` is unknown, or ``"cuda"`` without a usable
        GPU.

    Examples
    --------
    >>> from fastdigits.model import warm_kernels
    >>> warm_kernels("float32", predict=False)  # doctest: +SKIP
    """
    _warm_training(dtype, augment, device)
    if predict:
        _warm_prediction(dtype, device)


def _warm_training(dtype: str, augment: bool, device: str = "cpu", optimizer: str = "sgd") -> None:
    """Compile training's kernels for ``dtype``: the minibatch optimisers'
    (every one, with every activation and output style, is a runtime
    argument of one compilation), or L-BFGS's full-batch gradient."""
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 400), dtype=np.float32), np.arange(64) % 10
    MLPClassifier((32,), max_iter=1, batch_size=32, dtype=dtype, augment=augment or None, device=device,
                  solver=optimizer).fit(X, y)


def _warm_prediction(dtype: str, device: str = "cpu") -> None:
    """Compile prediction's kernels for ``dtype``: the forward pass
    (compiled whole, its parallel driver with it, however many rows) and
    both parallel input checks (rows as wide as frames, and frames prepared
    from pictures), on enough rows to use them."""
    rng = np.random.default_rng(0)
    model = MLPClassifier.from_weights([rng.standard_normal((400, 32)), rng.standard_normal((32, 10))],
                                       [np.zeros(32), np.zeros(10)], dtype=dtype, device=device)
    rows = max(_kernel_rows(model._layout.n_params), config.PARALLEL_CHECK_SIZE // 400 + 1)
    model.predict_proba(rng.random((rows, 400), dtype=np.float32))
    model.predict_proba(np.zeros((rows, 20, 20), np.uint8))


@dataclass
class _Layout:
    """Where each layer's weights and biases sit in the flat vector."""

    sizes: np.ndarray
    w_off: np.ndarray
    b_off: np.ndarray
    n_params: int = field(init=False)

    def __post_init__(self):
        self.n_params = int(self.b_off[-1] + self.sizes[-1])

    @classmethod
    def of(cls, sizes: Sequence[int]) -> _Layout:
        sizes = np.asarray(sizes, dtype=np.int64)
        w_off, b_off, pos = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w_off.append(pos)
            pos += n_in * n_out
            b_off.append(pos)
            pos += n_out
        return cls(sizes, np.asarray(w_off, np.int64), np.asarray(b_off, np.int64))

    def views(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        ws = [flat[o : o + a * b].reshape(a, b) for o, (a, b) in zip(self.w_off, pairs)]
        bs = [flat[o : o + b] for o, (_, b) in zip(self.b_off, pairs)]
        return ws, bs


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A fully connected network: inputs -> hidden layers -> one output per class.

    A scikit-learn estimator (``BaseEstimator`` and ``ClassifierMixin``
    where scikit-learn is installed, the same methods where it is not):
    ``__init__`` only stores its arguments, ``fit`` validates and learns, and
    learned state ends in ``_``.  Parameters that mean what they mean in
    ``sklearn.neural_network.MLPClassifier`` have its names; the others are
    fastdigits' own.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default (256,)
        Units of each hidden layer, e.g. ``(25,)`` for the classic 400-25-10
        network or ``()`` for multinomial logistic regression.
        scikit-learn: the same.
    activation : {"relu", "sigmoid", "tanh", "identity"}, default "relu"
        Hidden-layer activation.  scikit-learn calls the sigmoid
        "logistic".
    output : {"softmax", "sigmoid"}, default "softmax"
        Softmax (probabilities sum to one) or one-vs-all logistic units (the
        classic 400-25-10 course network).  fastdigits only.
    solver : {"sgd", "adam", "lbfgs"}, default "sgd"
        Minibatch SGD with momentum (``nesterovs_momentum`` optional), Adam
        (Kingma and Ba, 2015), or full-batch L-BFGS (Nocedal, 1980; one
        iteration per epoch) for small problems.  scikit-learn: the same
        choices, default "adam".
    learning_rate_init : float > 0, default 0.05
        Step size of SGD and Adam at the first epoch.  scikit-learn: the
        same, default 0.001.
    learning_rate : {"constant", "cosine", "exponential"}, default "constant"
        Schedule of the step size per epoch: constant; cosine decay to zero
        over ``max_iter`` epochs (Loshchilov and Hutter, 2017); or
        multiplied by ``lr_decay`` each epoch.  scikit-learn's choices are
        "constant", "invscaling" and "adaptive".
    lr_decay : float in (0, 1], default 0.9
        The factor of the "exponential" schedule.  fastdigits only.
    momentum : float in [0, 1], default 0.9
        SGD's momentum.  scikit-learn: the same.
    nesterovs_momentum : bool, default False
        Nesterov's momentum for SGD.  scikit-learn: the same, default True.
    beta_1, beta_2 : float in [0, 1), defaults 0.9 and 0.999
        Adam's decay rates of the first and second moment estimates.
        scikit-learn: the same.
    epsilon : float > 0, default 1e-8
        Adam's numerical stability term.  scikit-learn: the same.
    batch_size : int, default 128
        Rows per minibatch (all rows when there are fewer).  scikit-learn's
        default is min(200, n_samples).
    max_iter : int, default 10
        Epochs: passes over the training data (iterations for L-BFGS).
        scikit-learn: the same, default 200.
    alpha : float >= 0, default 0.0
        Strength of the L2 penalty ``alpha / (2 S) * sum of squared
        weights`` (biases excluded), S the number of training rows (the sum
        of their weights).  scikit-learn: the same penalty, default 1e-4.
    validation_fraction : float in [0, 1), default 0.0
        Share of the training rows held out to measure validation loss and
        accuracy each epoch (0 disables).  scikit-learn holds out only with
        ``early_stopping=True``.
    n_iter_no_change : int or None, default None
        Early stopping: stop after this many epochs without a better
        validation loss (training loss without validation) and keep the
        best weights.  None trains all ``max_iter`` epochs.  scikit-learn:
        the same idea, with a tolerance ``tol`` and without keeping the best
        weights, default 10.
    random_state : int or None, default 0
        Seeds initial weights, shuffling, augmentation and the validation
        split.  Same seed, data and settings give bit-identical weights,
        whatever the thread count; None draws a fresh seed at each ``fit``.
        scikit-learn: the same idea, default None, and a
        ``numpy.random.RandomState`` is taken there too (not here).
    dtype : {"float32", "float64"}, default "float32"
        Precision of weights and arithmetic.  fastdigits only.
    threads : int or None, default None
        Threads for the kernels; None uses numba's setting.  fastdigits only.
    device : {"cpu", "cuda"}, default "cpu"
        Where training and prediction run: numba's CPU kernels, or their
        numba.cuda twins on an NVIDIA GPU (the data and weights stay on the
        GPU during a fit).  Not stored in model files: a loaded model runs
        on the CPU until told otherwise.  fastdigits only.
    preprocessing : "normalize", "scale" or Normalization, default "normalize"
        How images become 400 inputs, in ``fit`` and ``predict`` alike:
        the MNIST-style pipeline (see
        :class:`fastdigits.preprocess.Normalization`) or plain whole-frame
        area scaling.  Stored in model files.  fastdigits only.
    augment : None, bool, dict or Augmentation, default None
        Random distortions of the training frames, new each epoch (see
        :class:`fastdigits.augment.Augmentation`); needs "sgd" or "adam".
        fastdigits only.

    Attributes
    ----------
    classes_ : numpy.ndarray, shape (n_classes,)
        The class labels, sorted where they can be.
    n_features_in_ : int
        Inputs per row (400 for 20x20 frames).
    coefs_, intercepts_ : list of numpy.ndarray
        Weights (n_in, n_out) and biases (n_out,) of each layer, views into
        ``params_`` (the flat vector the kernels train).
    history_ : list of dict
        One entry per epoch: "loss", "train_accuracy", "lr", "seconds",
        "samples_per_second", and "val_loss", "val_accuracy" with
        validation.
    n_iter_ : int
        Epochs (L-BFGS iterations) trained so far.
    loss_ : float
        The objective J at the last epoch.

    Notes
    -----
    The objective, for training rows i with weights w_i (1 without
    ``sample_weight``) and S = sum_i w_i::

        J = (1/S) sum_i w_i CE_i + alpha/(2S) * sum of squared weights

    with CE the softmax cross-entropy or, for ``output="sigmoid"``, the sum
    of one-vs-all binary cross-entropies: scikit-learn's objective.

    Input, in every method that takes ``X``: pictures are (N, H, W) arrays
    or sequences of (H, W) arrays (one picture: ``img[None]`` or
    ``[img]``); a 2-D array is feature rows, never a picture.  Rows as wide
    as a frame (400) must be floats that are not a picture's grey levels:
    a uint8 picture, or a float one in 0..255, that happens to be 400
    pixels wide raises an InputError instead of being read as a few
    hundred rows.  Frames in [0, 1], as :meth:`prepare` makes them, pass,
    and so do features with negative values (standardised features).  A
    model first fitted on rows of another width (raw features) takes such
    rows of any numeric dtype and range.  Sparse matrices are refused.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdigits import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = MLPClassifier((16,), solver="lbfgs", max_iter=50).fit(X, y)  # doctest: +SKIP
    >>> model.score(X, y) > 0.9  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (256,),
        *,
        activation: str = "relu",
        output: str = "softmax",
        solver: str = "sgd",
        learning_rate_init: float = 0.05,
        learning_rate: str = "constant",
        lr_decay: float = 0.9,
        momentum: float = 0.9,
        nesterovs_momentum: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        batch_size: int = 128,
        max_iter: int = 10,
        alpha: float = 0.0,
        validation_fraction: float = 0.0,
        n_iter_no_change: int | None = None,
        random_state: int | None = 0,
        dtype: str = "float32",
        threads: int | None = None,
        device: str = "cpu",
        preprocessing: Any = "normalize",
        augment: Any = None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.dtype = dtype
        self.threads = threads
        self.device = device
        self.preprocessing = preprocessing
        self.augment = augment

    # ------------------------------------------------------------ params

    #: What each hyperparameter may be: checked by ``_validate_params`` at
    #: the start of ``fit``, as scikit-learn's ``_parameter_constraints``.
    _parameter_constraints: dict[str, Any] = {
        "activation": Choice(HIDDEN_ACTIVATIONS, {"logistic": "scikit-learn's 'logistic' is 'sigmoid' here"}),
        "output": Choice(OUTPUTS),
        "solver": Choice(SOLVERS),
        "learning_rate_init": Interval(float, 0, None, "neither"),
        "learning_rate": Choice(SCHEDULES, dict.fromkeys(("invscaling", "adaptive"), "scikit-learn's schedules; "
                                                         "fastdigits has 'cosine' and 'exponential' (lr_decay)")),
        "lr_decay": Interval(float, 0, 1, "right"),
        "momentum": Interval(float, 0, 1, "both"),
        "nesterovs_momentum": Choice((False, True)),
        "beta_1": Interval(float, 0, 1, "left"),
        "beta_2": Interval(float, 0, 1, "left"),
        "epsilon": Interval(float, 0, None, "neither"),
        "batch_size": Interval(int, 1, None, "left", instead="scikit-learn's 'auto' is min(200, n_samples); "
                                                              "give a number"),
        "max_iter": Interval(int, 1, None, "left"),
        "alpha": Interval(float, 0, None, "left"),
        "validation_fraction": Interval(float, 0, 1, "left"),
        "n_iter_no_change": Interval(int, 1, None, "left", none=True),
        "random_state": Interval(int, 0, None, "left", none=True,
                                 instead="a seed, not a numpy RandomState or Generator"),
        "dtype": Choice(DTYPES),
        "threads": Interval(int, 1, None, "left", none=True),
        "device": Choice(DEVICES),
    }

    def _validate_params(self) -> None:
        """Check every hyperparameter (``_parameter_constraints``, then
        the ones with a shape of their own); raise an InputError naming
        the first that is wrong, its value and what it may be."""
        for name, constraint in self._parameter_constraints.items():
            constraint.check(name, getattr(self, name))
        if problem := self._backend.problem():
            raise InputError(f"device={self.device!r} {problem}; use device='cpu'")
        as_preprocessing(self.preprocessing)
        if self._augmentation() is not None and self.solver == "lbfgs":
            raise InputError("augment needs a minibatch solver ('sgd' or 'adam'): L-BFGS sees one fixed batch")
        self._hidden()

    def _hidden(self) -> list[int]:
        """``hidden_layer_sizes`` as a list of positive ints (an int is one layer)."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            hidden = [operator.index(h) for h in sizes]
        except TypeError:
            raise InputError(f"hidden_layer_sizes must be a sequence of whole layer sizes, "
                             f"got {self.hidden_layer_sizes!r}") from None
        if any(h < 1 for h in hidden):
            raise InputError(f"hidden_layer_sizes must be positive, got {hidden}")
        return hidden

    def __sklearn_tags__(self):
        """scikit-learn's tags (only called by scikit-learn): dense input
        only, no missing values, one label per row."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------- input

    def _augmentation(self):
        from .augment import Augmentation

        if self.augment is None or self.augment is False:
            return None
        if self.augment is True:
            return Augmentation()
        if isinstance(self.augment, dict):
            return Augmentation.from_dict(self.augment)
        if isinstance(self.augment, Augmentation):
            return self.augment
        raise InputError(f"augment must be None, True or an Augmentation, got {self.augment!r}")

    @property
    def _backend(self) -> backend.Backend:
        """Where the kernels run: ``device``'s backend (``kernels/backend.py``)."""
        return backend.backend(self.device)

    @property
    def _float(self) -> type:
        return DTYPES[self.dtype]

    @property
    def _frame_width(self) -> int:
        """Inputs of one frame of this model's ``preprocessing`` (400 unless
        a Normalization says otherwise): feature rows this wide may be one
        picture, so they are checked (``_check_rows``)."""
        p = self.preprocessing
        size = p.get("size", config.IMAGE_SIZE) if isinstance(p, dict) else getattr(p, "size", config.IMAGE_SIZE)
        return int(size) ** 2

    def prepare(self, images: ArrayLike | Sequence[ArrayLike], *,
                return_ink: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """What the network sees of ``images``: rows made by this model's ``preprocessing``.

        Parameters
        ----------
        images : array_like (N, H, W), or a sequence of (H, W) arrays
            Grey pictures of any size (a sequence may mix sizes).  One
            picture is a batch of one: ``img[None]`` or ``[img]``.
        return_ink : bool
            Also return whether each picture has ink.

        Returns
        -------
        rows : numpy.ndarray of float32, shape (N, 400)
            The frames as rows, in [0, 1].  A picture without ink (a blank,
            white, black or grey page) gives the all-zero row ("normalize")
            or a constant one ("scale").
        ink : numpy.ndarray of bool, shape (N,)
            Only with ``return_ink``: False for a picture with nothing to
            read (see :func:`fastdigits.preprocess.prepare`).

        Raises
        ------
        InputError
            For a bare 2-D array: one picture and a block of feature rows
            look alike, so one picture comes as a batch of one.
        """
        if not is_image_sequence(images) and ndim(images) == 2:
            raise InputError(f"images is a 2-D array of shape {np.shape(images)}: one picture, or feature rows? "
                             f"prepare takes pictures only, (N, H, W) or a list of (H, W) arrays, so one picture "
                             f"is a batch of one: img[None] or [img] (feature rows need no preparing)")
        frames, ink = prepare(images, self.preprocessing, threads=self.threads, return_ink=True)
        rows = frames.reshape(len(frames), frames.shape[1] * frames.shape[2])  # (0, 400) for no pictures
        return (rows, ink) if return_ink else rows

    def _features(self, X, name: str = "X", *, parallel_checks: bool = True, fitting: bool = False) -> np.ndarray:
        """Rows for the network, (N, D) in the model's dtype: images,
        (N, H, W) or a sequence of (H, W) arrays of any sizes, through
        ``prepare``; feature rows (N, D) as given, once ``_check_rows``
        has found that they are not a picture."""
        if self.threads is not None:  # set_params after fit: refused here as fit refuses it
            self._parameter_constraints["threads"].check("threads", self.threads)
        frame_wide = False
        if is_image_sequence(X):
            arr = self._pictures(X, name, fitting)
        elif isinstance(X, (list, tuple)) and not X:  # an empty batch: no rows
            arr = np.empty((0, getattr(self, "n_features_in_", self._frame_width)), self._float)
        else:
            arr = numeric(X, name)
            if arr.ndim == 3:
                refuse_channels(arr, name)
                arr = self._pictures(arr, name, fitting)
            elif arr.ndim == 2:
                if arr.shape[1] == 0:
                    raise InputError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
                frame_wide = self._check_rows(arr, name, fitting)
            elif arr.ndim == 1:
                raise InputError(f"{name} is 1-D, shape {arr.shape}: expected feature rows (N, D) or images "
                                 f"(N, H, W).  Reshape your data: X.reshape(-1, 1) if it is one feature, "
                                 f"X.reshape(1, -1) if it is one row." + self._flattened(arr.size, one=True))
            else:
                raise InputError(f"{name} must be feature rows (N, D) or images (N, H, W), got shape {arr.shape}")
        given = arr
        with np.errstate(over="ignore"):  # a finite value beyond the dtype's range: not_finite says which
            arr = np.ascontiguousarray(arr, dtype=self._float)
        if not arr.flags.writeable:  # a read-only memmap or view: the kernels take writable arrays
            arr = arr.copy()
        if frame_wide:
            self._check_not_grey_levels(arr, name, parallel_checks, given)  # finite too
        elif not self._all_finite(arr, parallel_checks):
            raise InputError(not_finite(arr, name, given))
        return arr

    def _pictures(self, images, name: str, fitting: bool) -> np.ndarray:
        """``prepare(images)``, for a model that takes frames: one fitted on
        feature rows of another width cannot read pictures."""
        expected = None if fitting else self.__dict__.get("n_features_in_")
        if expected is not None and expected != self._frame_width:
            raise InputError(f"{name} holds pictures, which become {self._frame_width} inputs, but this model was "
                             f"fitted on feature rows of {expected}: give it rows of {expected} features")
        return self.prepare(images)

    def _check_rows(self, X: np.ndarray, name: str, fitting: bool = False) -> bool:
        """The rule that keeps one picture from being read as rows: feature
        rows as wide as this model's frames (400) must be floats (their
        values are checked in ``_check_not_grey_levels``); and a trained
        model takes rows of ``n_features_in_`` only.  Rows of another width
        start a model on raw features (first ``fit``) and are then used as
        given, whatever their dtype.  Returns whether X is as wide as a
        frame."""
        frame = self._frame_width
        expected = None if fitting else self.__dict__.get("n_features_in_")  # a new fit may change the width
        if expected is not None and X.shape[1] != expected:
            why = (f"{name} has {X.shape[1]} features, but {type(self).__name__} is expecting {expected} features "
                   f"as input (shape {X.shape})")
            raise InputError(why + (". " + how_to_pass(frame) if expected == frame else "")
                             + self._flattened(X.shape[1]))
        if X.shape[1] != frame:
            return False
        if X.dtype.kind != "f":
            raise InputError(f"{name} is a 2-D {X.dtype} array of shape {X.shape}: {X.dtype} values are a "
                             f"picture's grey levels, while this model's feature rows are floats. "
                             + how_to_pass(frame))
        return True

    def _flattened(self, width: int, one: bool = False) -> str:
        """``flattened_pictures`` advice for input ``width`` values wide, if
        this model takes pictures (a frame's width, or not fitted yet)."""
        frame = self._frame_width
        if width == frame or self.__dict__.get("n_features_in_", frame) != frame:
            return ""
        return flattened_pictures(width, one)

    def _check_not_grey_levels(self, X: np.ndarray, name: str, parallel: bool = True,
                               given: np.ndarray | None = None) -> None:
        """Float rows as wide as a frame are finite and are not a picture's
        grey levels: values all within [0, 255] with a maximum above 1
        (give or take ``config.FRAME_VALUE_SLACK``) are a float picture and
        raise.  Frames (within [0, 1]) pass after one serial pass of the
        compiled extension when X is small or not ``parallel``, else one
        parallel kernel pass over X; rows beyond [0, 1] cost a second pass
        of the same kind, and pass if a value is negative (standardised
        features) or above 255.  ``fit`` checks serially (tens of
        milliseconds for MNIST's 60,000 rows, once) rather than compile the
        kernel for it (seconds).  See ``_serial_checks``; ``given`` as for
        ``not_finite``."""
        slack = config.FRAME_VALUE_SLACK
        frames = self._outside_total(X, -slack, 1.0 + slack, parallel)
        if frames == 0:
            return
        if math.isnan(frames):
            raise InputError(not_finite(X, name, given))
        if self._outside_total(X, -slack, 255 * (1 + slack), parallel) == 0:  # a second pass, not min and max
            low, high = float(X.min()), float(X.max())
            raise InputError(f"{name} has shape {X.shape} and values from {low:g} to {high:g}: grey levels of a "
                             "picture, not feature rows? " + how_to_pass(X.shape[1]) + " Features of your own "
                             "that lie in [0, 255] are taken for a picture at this width: scale them to [0, 1] "
                             "or standardise them.")

    def _outside_total(self, X: np.ndarray, lo: float, hi: float, parallel: bool) -> float:
        """How X's values fall outside [lo, hi] (0, NaN for a value not
        finite, else positive): one serial compiled pass or a parallel
        kernel pass (``_serial_checks``)."""
        as_dtype = X.dtype.type
        if _serial_checks(X.size, parallel):
            return _forward.outside_total(X.reshape(-1), as_dtype(lo), as_dtype(hi))
        with CPU.session(self.threads) as cpu:
            return cpu.outside_total(X, as_dtype(lo), as_dtype(hi), CPU.threads())

    def _all_finite(self, arr: np.ndarray, parallel: bool = True) -> bool:
        if _serial_checks(arr.size, parallel):
            return _forward.outside_total(arr.reshape(-1), -np.inf, np.inf) == 0
        with CPU.session(self.threads) as cpu:
            return cpu.all_finite(arr, CPU.threads())

    def _encode(self, y, n_rows: int) -> np.ndarray:
        """Each label's index into ``classes_`` (see
        :func:`fastdigits.metrics.class_indices`: "3" is the class 3)."""
        from .metrics import class_indices

        return class_indices(labels(y, n_rows), self.classes_, name="y")

    # ------------------------------------------------------------- setup

    def _init_state(self, n_features: int, classes) -> None:
        classes = np.asarray(classes)
        if len(classes) < 2:
            raise InputError(f"need at least two classes to classify, got {len(classes)} class: {classes.tolist()}")
        self.classes_ = classes
        self.n_features_in_ = int(n_features)
        self._layout = _Layout.of([n_features, *self._hidden(), len(classes)])
        # None: a fresh seed for this fit, kept for its shuffling and split.
        self._seed = int(np.random.SeedSequence().entropy) if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(self._seed)
        params = aligned_zeros(self._layout.n_params, self._float)
        for w in self._layout.views(params)[0]:
            fan_in, fan_out = w.shape
            # He for relu, Glorot for the saturating units.
            bound = math.sqrt(6 / fan_in) if self.activation == "relu" else math.sqrt(6 / (fan_in + fan_out))
            w[...] = rng.uniform(-bound, bound, size=w.shape)
        self.params_ = params
        self.history_: list[dict] = []
        self.record_: dict = {}  # how the model was made (the CLI fills it; saved in model files)
        self._opt_state = (aligned_zeros(params.shape, params.dtype), aligned_zeros(params.shape, params.dtype))
        self._steps = 0
        self._rng = rng

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, (n_in, n_out) each: views into ``params_``."""
        self._check_fitted()
        return self._layout.views(self.params_)[0]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, (n_out,) each: views into ``params_``."""
        self._check_fitted()
        return self._layout.views(self.params_)[1]

    @property
    def layer_sizes_(self) -> list[int]:
        """Units of each layer, inputs first: ``[400, 256, 10]``."""
        self._check_fitted()
        return [int(s) for s in self._layout.sizes]

    @property
    def n_iter_(self) -> int:
        """Epochs (L-BFGS iterations) trained so far."""
        self._check_fitted()
        return len(self.history_)

    @property
    def loss_(self) -> float | None:
        """The objective J at the end of the last epoch (None before one)."""
        self._check_fitted()
        return self.history_[-1]["loss"] if self.history_ else None

    def _check_fitted(self) -> None:
        if "params_" not in self.__dict__:
            from .errors import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit with training data, "
                                 f"or load a model file (fastdigits.load_model)")

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        classes: Sequence[Hashable] | None = None,
        **params,
    ) -> MLPClassifier:
        """A trained model from existing weights and biases, e.g. of a network trained elsewhere.

        Parameters
        ----------
        weights : sequence of array_like, each (n_in, n_out)
            Each layer's weights, in the layout of ``coefs_`` (rows are
            inputs), chaining: one layer's n_out is the next one's n_in.
        biases : sequence of array_like, each (n_out,)
            Each layer's biases.
        classes : sequence, optional
            The class of each output; default ``0 .. n_out-1``.
        **params
            Hyperparameters, as for the class (``dtype`` sets the
            precision the weights are stored in).

        Returns
        -------
        MLPClassifier
            Trained: ``predict`` works at once.

        Raises
        ------
        InputError
            For weights and biases that do not chain (naming the layer and
            the shapes), as many classes as outputs not given, a bad
            hyperparameter, or values that are NaN or infinite.

        Examples
        --------
        >>> import numpy as np
        >>> from fastdigits import MLPClassifier
        >>> model = MLPClassifier.from_weights([np.eye(2)], [np.zeros(2)], classes=["no", "yes"])
        >>> model.predict(np.array([[0.0, 3.0], [2.0, 0.5]])).tolist()
        ['yes', 'no']
        """
        weights = [np.asarray(w) for w in weights]
        biases = [np.asarray(b) for b in biases]
        if not weights or len(weights) != len(biases):
            raise InputError(f"need as many bias vectors as weight matrices, got {len(weights)} and {len(biases)}")
        sizes = [weights[0].shape[0]] if weights[0].ndim == 2 else []
        for i, (w, b) in enumerate(zip(weights, biases)):
            if w.ndim != 2 or w.shape[0] != sizes[-1] or b.shape != (w.shape[1],):
                raise InputError(
                    f"layer {i}: weights {w.shape} and biases {b.shape} do not chain "
                    f"(expected ({sizes[-1] if sizes else '?'}, n) and (n,))"
                )
            sizes.append(w.shape[1])
        params.setdefault("hidden_layer_sizes", tuple(sizes[1:-1]))
        model = cls(**params)
        model._validate_params()
        model._init_state(sizes[0], np.arange(sizes[-1]) if classes is None else classes)
        if len(model.classes_) != sizes[-1]:
            raise InputError(f"{len(model.classes_)} classes for {sizes[-1]} outputs")
        for dst, src in zip(model.coefs_ + model.intercepts_, weights + biases):
            dst[...] = src
        if not np.isfinite(model.params_).all():
            raise InputError("weights or biases contain NaN or infinite values")
        return model

    # ---------------------------------------------------------- training

    def _split(self, X, yi, sample_weight=None):
        """(X, y, sample_weight) of the training rows, then those of the
        ``validation_fraction`` held out (None without), drawn from the
        fit's seed."""
        if not self.validation_fraction:
            return X, yi, sample_weight, None, None, None
        n_val = max(1, int(round(len(X) * self.validation_fraction)))
        if n_val >= len(X):
            raise InputError(f"validation_fraction {self.validation_fraction} leaves no training rows")
        seed = self.__dict__.get("_seed", self.random_state)  # before fit (the CLI's outliers): the seed given
        perm = np.random.default_rng([seed, 1]).permutation(len(X))
        val, train = perm[:n_val], np.sort(perm[n_val:])
        if sample_weight is None:
            return X[train], yi[train], None, X[val], yi[val], None
        return X[train], yi[train], sample_weight[train], X[val], yi[val], sample_weight[val]

    def fit(
        self,
        X: ArrayLike | Sequence[ArrayLike],
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        outliers: ArrayLike | Sequence[ArrayLike] | None = None,
        validation_data: tuple[Any, Any] | None = None,
        callback: Callable[[Progress], bool | None] | None = None,
    ) -> MLPClassifier:
        """Learn weights from feature rows (N, D) or images (N, H, W).

        Parameters
        ----------
        X : array_like
            Images, (N, H, W) or a sequence of (H, W) arrays of any sizes,
            prepared by the model's ``preprocessing`` into 20x20 = 400
            inputs; or feature rows (N, D), used as given.  Rows of 400
            must be floats that are not a picture's grey levels (a 2-D
            integer array 400 wide, or floats within 0..255 beyond 1, is
            taken for a picture and refused): frames in [0, 1] or, say,
            standardised features; rows of another width are raw features
            of any numeric dtype and range, and the model then takes only
            such rows.
        y : array_like, shape (N,)
            Labels: any hashable class names (digits, letters, words).  A
            column (N, 1) is taken as (N,), with a DataConversionWarning.
        sample_weight : array_like of float, shape (N,), optional
            Each row's weight in the objective (see the class's Notes): a
            row of weight 2 counts as the row twice, 0 as no row (L-BFGS
            gives exactly the fit of the repeated rows; SGD and Adam the
            same objective, sampled in other batches).  Non-negative,
            finite, not all zero.  None weighs every row 1.  A
            ``validation_fraction`` split keeps the held-out rows' weights
            for ``val_loss`` and ``val_accuracy``; ``outliers`` rows weigh
            the training rows' mean weight each.
        outliers : array_like, optional
            Rows or images, in the form of ``X``, that belong to no class
            (scribbles, two digits in one frame, pieces of a digit: see
            :func:`fastdigits.outliers.make_outliers`).  They are trained
            towards equal probabilities (softmax outputs) or all outputs
            off (one-vs-all sigmoids), so that the network is unsure of
            such inputs instead of naming a class with confidence: outlier
            exposure (Hendrycks, Mazeika and Dietterich, "Deep anomaly
            detection with outlier exposure", ICLR 2019).  They take part
            in training only: not in a validation split, and not in
            ``history_``'s ``train_accuracy``; its ``loss`` includes their
            cross-entropy, at least log(n_classes) per outlier row.  With
            one-vs-all sigmoid outputs the outputs learn to be all off, but
            ``predict_proba`` divides each row by its sum, which hides that:
            look at the largest raw output instead, or use softmax.
        validation_data : (X_val, y_val), optional
            Measured after every epoch instead of a ``validation_fraction``
            split.
        callback : callable, optional
            Called with a :class:`Progress` during and after each epoch;
            returning ``False`` stops training at the end of that epoch.

        Returns
        -------
        self
            Trained.

        Raises
        ------
        InputError
            For a bad hyperparameter (naming it, its value and what it may
            be), X that is not rows or pictures (sparse, complex, text, a
            picture's grey levels as rows, NaN), y that is not one class
            label per row (a regression target: "Unknown label type:
            continuous"), fewer than two classes, or a bad
            ``sample_weight``.
        FastDigitsError
            If training diverges (weights become NaN or infinite).

        Notes
        -----
        A ``KeyboardInterrupt`` leaves the model consistent (the best weights
        so far, when early stopping tracks them) and is re-raised.

        Examples
        --------
        >>> import numpy as np
        >>> from fastdigits import MLPClassifier
        >>> X = np.random.default_rng(0).normal(size=(100, 4))
        >>> model = MLPClassifier((8,), solver="lbfgs", max_iter=30).fit(X, X[:, 0] > 0)  # doctest: +SKIP
        >>> model.classes_.tolist()  # doctest: +SKIP
        [False, True]
        """
        self._validate_params()
        X = self._features_for_fit(X)
        y = labels(y, len(X), fitting=True)
        sample_weight = sample_weight_of(sample_weight, len(X))
        self._init_state(X.shape[1], classes_of(y))
        yi = self._encode(y, len(X))
        if validation_data is not None:
            Xv = self._features(validation_data[0], "validation X", parallel_checks=False)
            validation = (Xv, self._encode(validation_data[1], len(Xv)), None)
            Xt, yt, wt = X, yi, sample_weight
        else:
            Xt, yt, wt, *validation = self._split(X, yi, sample_weight)
        if wt is not None and not wt.sum() > 0:
            raise InputError(f"sample_weight of the {len(wt)} training rows that validation_fraction="
                             f"{self.validation_fraction} leaves sums to 0: no row counts")
        if outliers is not None:
            O = self._features(outliers, "outliers", parallel_checks=False)
            Xt = np.concatenate([Xt, O.astype(Xt.dtype, copy=False)])
            yt = np.concatenate([yt, np.full(len(O), -1, yt.dtype)])
            if wt is not None:  # each outlier row weighs what a training row does on average
                wt = np.concatenate([wt, np.full(len(O), wt.mean())])
        training.train(self, Xt, yt, None if validation[0] is None else tuple(validation), self.max_iter, callback,
                       sample_weight=wt)
        return self

    def _features_for_fit(self, X) -> np.ndarray:
        X = self._features(X, parallel_checks=False, fitting=True)
        if len(X) == 0:
            raise InputError(f"X has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required: "
                             f"no rows to learn from")
        return X

    def _minibatch(self) -> bool:
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for the minibatch solvers 'sgd' and 'adam', "
                                 "not 'lbfgs' (it needs all the rows at once)")
        return True

    @available_if(_minibatch)
    def partial_fit(self, X: ArrayLike | Sequence[ArrayLike], y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: Sequence[Hashable] | None = None) -> MLPClassifier:
        """One more epoch over (X, y), from the weights so far.

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`fit`.
        classes : sequence, optional
            Every class the model will know, for the first call, when this
            batch does not show them all; later calls must keep to them.

        Returns
        -------
        self

        Raises
        ------
        InputError
            As :meth:`fit`; for a label outside the first call's classes.
        AttributeError
            For ``solver="lbfgs"``, which needs all the rows at once: the
            method is not there (``hasattr(model, "partial_fit")`` is
            False), as in scikit-learn.
        """
        if "params_" not in self.__dict__:
            self._validate_params()
            X = self._features_for_fit(X)
            known = labels(y, len(X), fitting=True)
            self._init_state(X.shape[1], classes_of(known if classes is None else np.asarray(classes)))
        else:
            X = self._features(X)
        training.train(self, X, self._encode(y, len(X)), None, 1, None,
                       sample_weight=sample_weight_of(sample_weight, len(X)))
        return self

    # --------------------------------------------------------- inference

    def _proba(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs for rows that ``_features`` has checked:
        X (N, n_features_in_), C-contiguous, of the model's dtype (the
        kernels take no other)."""
        lay = self._layout
        out = np.empty((len(X), lay.sizes[-1]), self._float)
        compiled = len(X) < _kernel_rows(lay.n_params) or _COMPILED_FORWARD.get() or _forksafe.serial()
        if self._backend.host and compiled:
            # The forward pass that pip install compiled (Cython): no JIT
            # compile before a first answer, no thread pool and no lock, so
            # safe from any number of Python threads at once, and in a
            # child forked after OpenMP started (fastdigits._forksafe).
            _forward.forward_rows(X, self.params_, lay.sizes, HIDDEN_ACTIVATIONS[self.activation],
                                  OUTPUTS[self.output], out)
            return out
        params_t = np.empty_like(self.params_)
        backend = self._backend
        with backend.session(self.threads) as kernels:
            backend.announce(kernels.forward, "prediction", self.dtype)
            kernels.forward(X, training.network(self), self.params_, params_t, out, backend.threads())
        return out

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability of each class for each picture or feature row.

        Parameters
        ----------
        X : array_like
            Pictures, (N, H, W) or a sequence of (H, W) arrays of any sizes
            (one picture: ``img[None]`` or ``[img]``), prepared by the
            model's ``preprocessing``; or feature rows (N, n_features_in_)
            used as given.  For a model of 400 inputs (a frame), rows must
            be floats that are not a picture's grey levels (as for
            :meth:`fit`), so that one picture given as a bare 2-D array is
            never read as rows.

        Returns
        -------
        numpy.ndarray of the model's dtype, shape (N, n_classes)
            Columns in ``classes_`` order.  Softmax rows sum to one;
            one-vs-all sigmoid outputs are each class's own probability and
            are normalised to sum to one here.  Every row gets
            probabilities, also a picture without ink: its frame is all
            zero, and the answer is the network's biases.  To tell such
            pictures apart, use ``prepare(images, return_ink=True)`` or
            :func:`fastdigits.classify.classify_images`.

        Raises
        ------
        InputError
            For a 2-D X that is not rows of this model (an integer dtype,
            a float picture's grey levels or the wrong width), naming its
            shape and how to pass one picture; for NaN or infinite values.
        NotFittedError
            If the model is not trained.
        """
        self._check_fitted()
        return self._probabilities(self._features(X))

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """The natural log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray of the model's dtype, shape (N, n_classes)
            Columns in ``classes_`` order; a probability that underflows
            to zero gives ``-inf``.

        Raises
        ------
        InputError
            As :meth:`predict_proba`.
        NotFittedError
            If the model is not trained.

        Examples
        --------
        >>> import numpy as np
        >>> from fastdigits import load_model
        >>> one = np.zeros((28, 28), np.uint8)
        >>> one[4:24, 12:16] = 255
        >>> bool(np.argmax(load_model().members_[0].predict_log_proba([one])) == 1)
        True
        """
        return log_in_place(self.predict_proba(X))

    def _probabilities(self, rows: np.ndarray) -> np.ndarray:
        """predict_proba of rows that ``_features`` has already checked."""
        proba = self._proba(rows)
        if self.output == "sigmoid":
            proba /= np.maximum(proba.sum(axis=1, keepdims=True), np.finfo(proba.dtype).tiny)
        return proba

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each picture or feature row.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray, shape (N,)
            ``classes_`` values: a class for every row, as scikit-learn
            does, also for a picture without ink (whose frame is all zero);
            detect those with ``prepare(images, return_ink=True)`` or
            :func:`fastdigits.classify.classify_images`, which answers them
            with no label.

        Raises
        ------
        InputError
            As :meth:`predict_proba`.
        NotFittedError
            If the model is not trained.

        Examples
        --------
        >>> import numpy as np
        >>> from fastdigits import load_model
        >>> one = np.zeros((28, 28), np.uint8)
        >>> one[4:24, 12:16] = 255
        >>> load_model().predict([one]).tolist()
        [1]
        """
        self._check_fitted()
        return self.classes_[self._proba(self._features(X)).argmax(axis=1)]

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy: the share of rows whose predicted class is ``y``.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.
        y : array_like, shape (N,)
            Labels, matched to ``classes_`` as
            :func:`fastdigits.metrics.class_indices` does (the folder name
            "3" is the class 3 of a digit model).
        sample_weight : array_like of float, shape (N,), optional
            Each row's weight in the share (as
            ``sklearn.metrics.accuracy_score``).

        Returns
        -------
        float
            In [0, 1].

        Raises
        ------
        InputError
            As :meth:`predict_proba`; and for a label that matches no
            class, naming it and listing the classes.
        """
        self._check_fitted()
        X = self._features(X)
        yi = self._encode(y, len(X))
        right = self._proba(X).argmax(axis=1) == yi
        weight = sample_weight_of(sample_weight, len(X))
        return float(np.mean(right) if weight is None else np.average(right, weights=weight))

    def loss(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None,
             alpha: float | None = None) -> float:
        """The objective J on (X, y) at the current weights (see the class's Notes).

        Parameters
        ----------
        X, y
            As for :meth:`fit`.
        sample_weight : array_like of float, shape (N,), optional
            As for :meth:`fit` (keyword only: the third argument was
            ``l2`` before fastdigits took scikit-learn's names).
        alpha : float, optional
            The L2 strength to use instead of the model's ``alpha`` (0: the
            data term alone).

        Returns
        -------
        float
            J, in nats per row.

        Raises
        ------
        InputError
            As :meth:`score`.
        """
        self._check_fitted()
        X = self._features(X)
        yi = self._encode(y, len(X))
        weight = sample_weight_of(sample_weight, len(X))
        buf = training.buffers(self, len(X))
        return training.loss_and_grad(self, X, yi, self.params_, buf, weight, alpha=alpha)[0]

    def save(self, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
        """Write the trained model to a model file, atomically (see :func:`fastdigits.save_model`).

        Parameters
        ----------
        path : str, path-like or binary file object
            The file; ``.npz`` is appended to a path if missing.  A file
            object (anything with ``write``, such as ``io.BytesIO()``) is
            written directly.

        Returns
        -------
        pathlib.Path or binary file object
            The path written, or the file object itself
            (:func:`fastdigits.load_model` reads either back).

        Raises
        ------
        NotFittedError
            If the model is not trained.
        OutputError
            Naming the path (see :func:`fastdigits.persist.write_archive`).

        Examples
        --------
        >>> from fastdigits import load_model
        >>> model = load_model().members_[0]
        >>> print(model.save("one-network"))
        one-network.npz
        """
        self._check_fitted()
        entry, arrays = self._to_entry()
        meta = {"version": persist.VERSION, "classes": self.classes_.tolist(), **entry,
                "record": getattr(self, "record_", {})}
        return persist.write_archive(path, meta, arrays)

    def _to_entry(self, member: int | None = None) -> tuple[dict, dict[str, np.ndarray]]:
        """The metadata entry and arrays of this network in a model file
        (as ``member`` of an ensemble's)."""
        params = self.get_params(deep=False)
        params["hidden_layer_sizes"] = self.layer_sizes_[1:-1]
        params.pop("device")  # where it ran, not what it is: a loaded model runs on the CPU
        params["preprocessing"] = preprocessing_dict(params["preprocessing"])
        augmentation = self._augmentation()
        params["augment"] = augmentation.to_dict() if augmentation else None
        entry = {"layer_sizes": self.layer_sizes_, "params": params, "history": self.history_}
        arrays = {}
        for layer, (w, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            w_name, b_name = persist.array_names(member, layer)
            arrays[w_name], arrays[b_name] = w, b
        return entry, arrays

    @classmethod
    def _from_entry(cls, path: Path | str, entry: dict, arrays: dict, classes,
                    member: int | None = None) -> MLPClassifier:
        """The network of a model file's ``entry`` (``member`` of an
        ensemble's), read by :func:`fastdigits.persist.read_archive`."""
        network = persist.read_network(path, entry, arrays, member)
        if classes is None:
            raise ModelFileError(f"{path}: incomplete model file (missing 'classes')")
        try:
            model = cls.from_weights(network.weights, network.biases, classes=classes, **network.params)
        except (TypeError, ValueError) as exc:
            which = "" if member is None else f"member {member}, "
            raise ModelFileError(f"{path}: inconsistent model file ({which}{exc})") from None
        model.history_ = network.history
        return model

    @classmethod
    def _from_archive(cls, path: Path | str, meta: dict, arrays: dict) -> MLPClassifier:
        """The network of a one-network model file."""
        return cls._from_entry(path, meta, arrays, meta.get("classes"))


def log_in_place(proba: np.ndarray) -> np.ndarray:
    """np.log of probabilities, into their own array; 0 gives -inf, silently."""
    with np.errstate(divide="ignore"):
        return np.log(proba, out=proba)
