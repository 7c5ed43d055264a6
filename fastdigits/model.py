"""The multilayer perceptron classifier.

scikit-learn conventions: ``__init__`` only stores hyperparameters, ``fit``
validates and learns, and learned state ends in ``_`` (``coefs_``,
``intercepts_``, ``classes_``, ``history_``).

The objective is the textbook one, for ``m`` training rows::

    J = (1/m) sum_i CE_i  +  l2 / (2m) * sum of squared weights (not biases)

with CE the softmax cross-entropy or, for ``output="sigmoid"``, the sum of
one-vs-all binary cross-entropies.  Minibatch gradients estimate the
gradient of this same J (the L2 term uses the training-set size ``m``, not
the batch size), so ``l2`` means the same for every optimiser and batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _forksafe, config
from .errors import FastDigitsError, InputError
from .kernels import HIDDEN_ACTIVATIONS, OUTPUTS, aligned_zeros

__all__ = ["MLPClassifier", "Progress"]

OPTIMIZERS = ("sgd", "adam", "lbfgs")
DEVICES = ("cpu", "cuda")
SCHEDULES = ("constant", "cosine", "exponential")
_DTYPES = {"float32": np.float32, "float64": np.float64}

# numba's default "workqueue" threading layer aborts the process when two
# Python threads enter parallel kernels at once.  Each kernel already uses
# every core, so fastdigits serialises its own kernel calls: safe under any
# threading layer, and nothing is lost on a CPU-bound machine.
_KERNEL_LOCK = threading.RLock()


def _new_lock_in_child() -> None:
    global _KERNEL_LOCK
    _KERNEL_LOCK = threading.RLock()


_forksafe.after_fork_in_child(_new_lock_in_child)

#: Set (True) inside ``compiled_forward``: every batch takes the forward pass
#: that ``pip install`` compiled, and input checks are NumPy's.
_COMPILED_FORWARD = contextvars.ContextVar("compiled_forward", default=False)


@contextlib.contextmanager
def compiled_forward():
    """Within this block (in this thread or task), ``predict_proba`` of
    any number of rows runs the forward pass that ``pip install`` compiled
    (``ext/_forward.pyx``) instead of the parallel Numba kernel, and the
    input checks are NumPy's: nothing is compiled for a one-off scoring
    such as ``fastdigits train``'s of the test set (10,000 rows of
    400-256-10 take a fraction of a second on one core,
    ``benchmarks/bench_forward.py``, against the kernel's first-use compile
    of tens of seconds).  Probabilities agree with the kernel's to float
    rounding."""
    token = _COMPILED_FORWARD.set(True)
    try:
        yield
    finally:
        _COMPILED_FORWARD.reset(token)


def _numpy_checks(size: int, parallel: bool) -> bool:
    """Whether input checks of ``size`` values run in NumPy (nothing to
    compile, no thread pool, no lock) rather than a parallel kernel: small
    arrays, checks asked not to be ``parallel`` (``fit``'s one-off ones),
    and everything inside ``compiled_forward``."""
    return not parallel or size < config.PARALLEL_CHECK_SIZE or _COMPILED_FORWARD.get() or _forksafe.serial()


def cuda_problem() -> str | None:
    """Why the "cuda" device cannot run here (words to follow its name), or
    None where it can."""
    try:
        from .kernels import cuda
    except Exception as exc:  # numba.cuda itself fails to import (a version mismatch, say)
        return f"needs numba.cuda, which fails to import here ({type(exc).__name__}: {exc})"
    if not cuda.available():
        return ("needs an NVIDIA GPU that numba can use, and numba finds none here "
                "(numba.cuda.is_available() is False)")
    return None


def numba_threads() -> int:
    """The thread count numba's parallel kernels run with now."""
    import numba

    return numba.get_num_threads()


@contextlib.contextmanager
def _kernels(threads: int | None, device: str = "cpu"):
    """Hold the kernel lock, with numba's thread count set for this call;
    yields the kernel module of ``device``.  In a process that must not run
    parallel kernels (``_forksafe``) prediction and input checks never come
    here, so what is refused there is training (``warm_kernels`` too)."""
    import numba

    if device == "cuda":
        from .kernels import cuda

        with _KERNEL_LOCK:
            yield cuda
        return

    from .kernels import cpu

    _forksafe.check_parallel("training")
    _forksafe.started()
    with _KERNEL_LOCK:
        before = numba.get_num_threads()
        if threads:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        try:
            yield cpu
        finally:
            numba.set_num_threads(before)


def _labelled(yi: np.ndarray) -> int:
    """Rows with a class (at least 1): the denominator of train accuracy,
    as rows of no class (outliers, label -1) are never "right"."""
    return max(int(np.count_nonzero(np.asarray(yi) >= 0)), 1)


#: Kernels whose first use in this process has been looked at (announced if
#: they compile).
_ANNOUNCED: set[tuple[str, str]] = set()


def _kernel_cached(dispatcher, dtype: str | None = None) -> bool:
    """Whether ``dispatcher``'s compiled code is at hand, for rows of
    ``dtype`` (its first argument's; any if None): compiled in this process
    already, or in a numba disk cache for this CPU (``kernels.cache``).
    True where that cannot be told (``NUMBA_DISABLE_JIT``, numba's
    internals moved): nothing to announce or warm then."""
    try:
        import numba

        first = None if dtype is None else numba.from_dtype(np.dtype(dtype))

        def fits(args) -> bool:
            rows = args[0] if len(args) > 0 else None
            rows = rows[0] if isinstance(rows, numba.types.BaseTuple) else rows  # kernels.Data: its x
            return first is None or getattr(rows, "dtype", None) == first

        if any(fits(args) for args in dispatcher.overloads):
            return True
        cache = dispatcher._cache
        keys = cache.index_keys() if hasattr(cache, "index_keys") else cache._cache_file._load_index()
        magic = dispatcher.targetctx.codegen().magic_tuple()
        return any(fits(key[0]) and key[1] == magic for key in keys)
    except Exception:  # only advice: numba's internals moved, an index unreadable, no JIT
        return True


def _announce_compile(dispatcher, what: str, dtype: str) -> None:
    """Say on stderr (the ``fastdigits`` logger, once per process, kernel
    and dtype) that ``what`` is about to compile, so that the wait is never
    silent."""
    if (what, dtype) in _ANNOUNCED:
        return
    _ANNOUNCED.add((what, dtype))
    if not _kernel_cached(dispatcher, dtype):
        logging.getLogger("fastdigits").warning(
            "compiling the %s kernel for %s rows on this CPU, once (numba caches it): up to a minute on 2 cores",
            what, dtype)


def warm_kernels(dtype: str = "float32", augment: bool = False, device: str = "cpu", *,
                 predict: bool = True) -> None:
    """Compile (or load from a disk cache) the kernels that training (and
    with ``predict``, prediction) with ``dtype`` use on ``device``, on a few
    random rows: the kernels are specialised on array types, never on
    sizes."""
    _warm_training(dtype, augment, device)
    if predict:
        _warm_prediction(dtype, device)


def _warm_training(dtype: str, augment: bool, device: str = "cpu", optimizer: str = "sgd") -> None:
    """Compile training's kernels for ``dtype``: the minibatch optimisers'
    (every one, with every activation and output style, is a runtime
    argument of one compilation), or L-BFGS's full-batch gradient."""
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 400), dtype=np.float32), np.arange(64) % 10
    MLPClassifier((32,), epochs=1, batch_size=32, dtype=dtype, augment=augment or None, device=device,
                  optimizer=optimizer).fit(X, y)


def _warm_prediction(dtype: str, device: str = "cpu") -> None:
    """Compile prediction's kernels for ``dtype``: the parallel forward
    pass and both parallel input checks (rows as wide as frames, and frames
    prepared from pictures), on enough rows to use them."""
    rng = np.random.default_rng(0)
    model = MLPClassifier.from_weights([rng.standard_normal((400, 32)), rng.standard_normal((32, 10))],
                                       [np.zeros(32), np.zeros(10)], dtype=dtype, device=device)
    rows = max(config.COMPILED_ROWS, config.PARALLEL_CHECK_SIZE // 400) + 1
    model.predict_proba(rng.random((rows, 400), dtype=np.float32))
    model.predict_proba(np.zeros((rows, 20, 20), np.uint8))


@dataclass
class Progress:
    """What ``fit`` reports to its callback: after each chunk of batches
    (``record`` is None) and at the end of each epoch (``record`` is that
    epoch's entry of ``history_``).  An ensemble's members train one after
    another: ``member`` of ``members``, each from epoch 0."""

    epoch: int
    epochs: int
    samples_done: int
    samples_total: int
    record: dict | None = None
    member: int = 0  #: which network of an :class:`fastdigits.Ensemble` is training
    members: int = 1


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


def _ndim(a) -> int | None:
    """np.ndim(a), or None for a ragged nest of sequences."""
    try:
        return np.ndim(a)
    except ValueError:
        return None


def _how_to_pass(width: int) -> str:
    """The advice that closes every error about a 2-D input that may be one picture."""
    return (f"To pass one picture img, make it a batch of one: img[None] or [img]; pictures go in as "
            f"(N, H, W) or a list of (H, W) arrays of any sizes, and feature rows as (N, {width}) floats, "
            f"such as the frames in [0, 1] that model.prepare(images) makes.")


def _refuse_channels(arr: np.ndarray, name: str) -> None:
    """A colour or channel-last picture, (H, W, 3), (H, W, 4) or (H, W, 1)
    as Pillow, OpenCV and Keras give it, is not a batch of H pictures W
    pixels wide: refuse it with the way to pass it."""
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4) and min(arr.shape[:2]) >= 8:
        raise InputError(f"{name} has shape {arr.shape}: one colour or channel-last picture (H, W, C), not "
                         f"{arr.shape[0]} pictures {arr.shape[2]} pixels wide.  Make it grey first "
                         f"(fastdigits.read_image(path), or np.asarray(pil_image.convert('L'))) and pass [img].")


def _check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


class MLPClassifier:
    """A fully connected network: inputs -> hidden layers -> one output per class.

    Parameters
    ----------
    hidden : sequence of int
        Units of each hidden layer, e.g. ``(25,)`` for the classic 400-25-10
        network or ``()`` for multinomial logistic regression.
    activation : {"relu", "sigmoid", "tanh", "identity"}
        Hidden-layer activation.
    output : {"softmax", "sigmoid"}
        Softmax (probabilities sum to one) or one-vs-all logistic units.
    optimizer : {"sgd", "adam", "lbfgs"}
        Minibatch SGD with momentum (``nesterov`` optional), Adam, or
        full-batch L-BFGS for small problems (one epoch = one iteration).
    learning_rate, momentum, nesterov, beta1, beta2, epsilon : float/bool
        Optimiser settings (``learning_rate`` is Adam's step size too).
    batch_size : int
        Rows per minibatch.
    epochs : int
        Passes over the training data (iterations for L-BFGS).
    l2 : float
        The lambda of the L2 term ``l2/(2m) sum W**2``.
    lr_schedule : {"constant", "cosine", "exponential"}
        Learning rate per epoch: constant; cosine decay to zero over
        ``epochs``; or multiplied by ``lr_decay`` each epoch.
    validation_fraction : float
        Share of the training rows held out to measure validation loss and
        accuracy each epoch (0 disables).
    patience : int or None
        Early stopping: stop after this many epochs without a better
        validation loss (training loss without validation) and keep the
        best weights.  None trains all epochs.
    seed : int
        Seeds initial weights, shuffling and the validation split.  Same
        seed, data and settings give bit-identical weights, whatever the
        thread count.
    dtype : {"float32", "float64"}
        Precision of weights and arithmetic.
    threads : int or None
        Threads for the kernels; None uses numba's setting.
    device : {"cpu", "cuda"}
        Where training and prediction run: numba's CPU kernels, or their
        numba.cuda twins on an NVIDIA GPU (the data and weights stay on the
        GPU during a fit).  Not stored in model files: a loaded model runs
        on the CPU until told otherwise.
    preprocessing : "normalize", "scale" or Normalization
        How images become 400 inputs, in ``fit`` and ``predict`` alike:
        the MNIST-style pipeline (default; see
        :class:`fastdigits.preprocess.Normalization`) or plain whole-frame
        area scaling.  Stored in model files.

    Notes
    -----
    Input, in every method that takes ``X``: pictures are (N, H, W) arrays
    or sequences of (H, W) arrays (one picture: ``img[None]`` or
    ``[img]``); a 2-D array is feature rows, never a picture.  Rows as wide
    as a frame (400) must be floats that are not a picture's grey levels:
    a uint8 picture, or a float one in 0..255, that happens to be 400
    pixels wide raises an InputError instead of being read as a few
    hundred rows.  Frames in [0, 1], as :meth:`prepare` makes them, pass,
    and so do features with negative values (standardised ones).  A model
    first fitted on rows of another width (raw features) takes such rows
    of any numeric dtype and range.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (256,),
        *,
        activation: str = "relu",
        output: str = "softmax",
        optimizer: str = "sgd",
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        nesterov: bool = False,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        batch_size: int = 128,
        epochs: int = 10,
        l2: float = 0.0,
        lr_schedule: str = "constant",
        lr_decay: float = 0.9,
        validation_fraction: float = 0.0,
        patience: int | None = None,
        seed: int = 0,
        dtype: str = "float32",
        threads: int | None = None,
        device: str = "cpu",
        preprocessing: Any = "normalize",
        augment: Any = None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.output = output
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.dtype = dtype
        self.threads = threads
        self.device = device
        self.preprocessing = preprocessing
        self.augment = augment

    # ------------------------------------------------------------ params

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters, as given to ``__init__``."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        params = {name: getattr(self, name) for name in names}
        params["hidden"] = [int(h) for h in params["hidden"]]
        return params

    def _validate_params(self) -> None:
        _check_choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        _check_choice("output", self.output, OUTPUTS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, SCHEDULES)
        _check_choice("dtype", self.dtype, _DTYPES)
        _check_choice("device", self.device, DEVICES)
        if self.device == "cuda" and (problem := cuda_problem()):
            raise InputError(f"device='cuda' {problem}; use device='cpu'")
        from .preprocess import as_preprocessing

        as_preprocessing(self.preprocessing)
        if self._augmentation() is not None and self.optimizer == "lbfgs":
            raise InputError("augment needs a minibatch optimiser ('sgd' or 'adam'): L-BFGS sees one fixed batch")
        try:
            hidden = [int(h) for h in self.hidden]
        except (TypeError, ValueError):
            raise InputError(f"hidden must be a sequence of layer sizes, got {self.hidden!r}") from None
        if any(h < 1 for h in hidden):
            raise InputError(f"hidden layer sizes must be positive, got {hidden}")
        for name in ("batch_size", "epochs"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("learning_rate", "l2", "momentum", "epsilon"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.validation_fraction < 1:
            raise InputError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if self.patience is not None and int(self.patience) < 1:
            raise InputError(f"patience must be at least 1 or None, got {self.patience!r}")

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
    def _float(self) -> type:
        return _DTYPES[self.dtype]

    @property
    def _frame_width(self) -> int:
        """Inputs of one frame of this model's ``preprocessing`` (400 unless
        a Normalization says otherwise): feature rows this wide may be one
        picture, so they are checked (``_check_rows``)."""
        p = self.preprocessing
        size = p.get("size", config.IMAGE_SIZE) if isinstance(p, dict) else getattr(p, "size", config.IMAGE_SIZE)
        return int(size) ** 2

    def prepare(self, images, *, return_ink: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """What the network sees of ``images``: rows made by this model's
        ``preprocessing``.

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
        from .preprocess import is_image_sequence, prepare

        if not is_image_sequence(images) and _ndim(images) == 2:
            raise InputError(f"images is a 2-D array of shape {np.shape(images)}: one picture, or feature rows? "
                             f"prepare takes pictures only, (N, H, W) or a list of (H, W) arrays, so one picture "
                             f"is a batch of one: img[None] or [img] (feature rows need no preparing)")
        frames, ink = prepare(images, self.preprocessing, threads=self.threads, return_ink=True)
        rows = frames.reshape(len(frames), frames.shape[1] * frames.shape[2])  # (0, 400) for no pictures
        return (rows, ink) if return_ink else rows

    def _features(self, X, name: str = "X", *, parallel_checks: bool = True) -> np.ndarray:
        """Rows for the network, (N, D) in the model's dtype: images,
        (N, H, W) or a sequence of (H, W) arrays of any sizes, through
        ``prepare``; feature rows (N, D) as given, once ``_check_rows``
        has found that they are not a picture."""
        from .preprocess import is_image_sequence

        frame_wide = False
        if is_image_sequence(X):
            arr = self.prepare(X)
        elif isinstance(X, (list, tuple)) and not X:  # an empty batch: no rows
            arr = np.empty((0, getattr(self, "n_features_in_", self._frame_width)), self._float)
        else:
            arr = np.asarray(X)
            if arr.dtype.kind not in "uifb":
                raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
            if arr.ndim == 3:
                _refuse_channels(arr, name)
                arr = self.prepare(arr)
            elif arr.ndim == 2:
                frame_wide = self._check_rows(arr, name)
            else:
                raise InputError(f"{name} must be feature rows (N, D) or images (N, H, W), got shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=self._float)
        if not arr.flags.writeable:  # a read-only memmap or view: the kernels take writable arrays
            arr = arr.copy()
        if frame_wide:
            self._check_not_grey_levels(arr, name, parallel_checks)  # finite too
        elif not self._all_finite(arr, parallel_checks):
            raise InputError(f"{name} contains NaN or infinite values")
        return arr

    def _check_rows(self, X: np.ndarray, name: str) -> bool:
        """The rule that keeps one picture from being read as rows: feature
        rows as wide as this model's frames (400) must be floats (their
        values are checked in ``_check_not_grey_levels``); and a trained
        model takes rows of ``n_features_in_`` only.  Rows of another width
        start a model on raw features (first ``fit``) and are then used as
        given, whatever their dtype.  Returns whether X is as wide as a
        frame."""
        frame = self._frame_width
        expected = self.__dict__.get("n_features_in_")
        if expected is not None and X.shape[1] != expected:
            why = f"{name} has {X.shape[1]} features per row, the model expects {expected} (shape {X.shape})"
            raise InputError(why + (". " + _how_to_pass(frame) if expected == frame else ""))
        if X.shape[1] != frame:
            return False
        if X.dtype.kind != "f":
            raise InputError(f"{name} is a 2-D {X.dtype} array of shape {X.shape}: {X.dtype} values are a "
                             f"picture's grey levels, while this model's feature rows are floats. "
                             + _how_to_pass(frame))
        return True

    def _check_not_grey_levels(self, X: np.ndarray, name: str, parallel: bool = True) -> None:
        """Float rows as wide as a frame are finite and are not a picture's
        grey levels: values all within [0, 255] with a maximum above 1
        (give or take ``config.FRAME_VALUE_SLACK``) are a float picture and
        raise.  Frames (within [0, 1]) pass after NumPy's checks when X is
        small or not ``parallel``, else one parallel kernel pass over X; rows
        beyond [0, 1] cost NumPy's min and max too, and pass if a value is
        negative (standardised features) or above 255.  ``fit`` checks with
        NumPy (tens of milliseconds for MNIST's 60,000 rows, once) rather
        than compile the kernel for it (seconds).  See ``_numpy_checks``."""
        as_dtype = X.dtype.type
        slack = config.FRAME_VALUE_SLACK
        lo, hi = as_dtype(-slack), as_dtype(1.0 + slack)
        if _numpy_checks(X.size, parallel):
            if not np.isfinite(X).all():
                outside = math.nan
            else:
                outside = 0.0 if X.size == 0 or (X.min() >= lo and X.max() <= hi) else 1.0
        else:
            with _kernels(self.threads) as cpu:
                outside = cpu.outside_total(X, lo, hi, numba_threads())
        if outside == 0:
            return
        if math.isnan(outside):
            raise InputError(f"{name} contains NaN or infinite values")
        low, high = float(X.min()), float(X.max())
        if low >= -slack and high <= 255 * (1 + slack):
            raise InputError(f"{name} has shape {X.shape} and values from {low:g} to {high:g}: grey levels of a "
                             f"picture, not feature rows? " + _how_to_pass(X.shape[1]))

    def _all_finite(self, arr: np.ndarray, parallel: bool = True) -> bool:
        if _numpy_checks(arr.size, parallel):
            return bool(np.isfinite(arr).all())
        with _kernels(self.threads) as cpu:
            return cpu.all_finite(arr, numba_threads())

    def _encode(self, y, n_rows: int) -> np.ndarray:
        """Each label's index into ``classes_`` (see
        :func:`fastdigits.metrics.class_indices`: "3" is the class 3)."""
        from .metrics import class_indices

        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_rows:
            raise InputError(f"y must be one label per row: {n_rows} rows, got labels of shape {y.shape}")
        return class_indices(y, self.classes_, name="y")

    # ------------------------------------------------------------- setup

    def _init_state(self, n_features: int, classes) -> None:
        classes = np.asarray(classes)
        if len(classes) < 2:
            raise InputError(f"need at least two classes to classify, got {classes.tolist()}")
        self.classes_ = classes
        self.n_features_in_ = int(n_features)
        self._layout = _Layout.of([n_features, *[int(h) for h in self.hidden], len(classes)])
        rng = np.random.default_rng(self.seed)
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
        return self._layout.views(self.params_)[0]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, (n_out,) each: views into ``params_``."""
        return self._layout.views(self.params_)[1]

    @property
    def layer_sizes_(self) -> list[int]:
        return [int(s) for s in self._layout.sizes]

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise FastDigitsError("this model is not trained yet: call fit, or load a model file")

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        classes: Sequence[Hashable] | None = None,
        **params,
    ) -> MLPClassifier:
        """A trained model from existing weights (n_in, n_out) and biases
        (n_out,), e.g. a network trained elsewhere.  ``classes`` defaults to
        ``0 .. n_out-1``; other keyword arguments are hyperparameters."""
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
        params.setdefault("hidden", sizes[1:-1])
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

    def _network(self):
        """The kernels' description of this network (``kernels.Network``)."""
        from .kernels import Network

        lay = self._layout
        return Network(lay.sizes, lay.w_off, lay.b_off, HIDDEN_ACTIVATIONS[self.activation], OUTPUTS[self.output])

    def _buffers(self, rows: int, minibatches: bool = False):
        """The kernels' buffers for passes of ``rows`` rows (``kernels.workspace``)."""
        from .kernels import workspace

        return workspace(self._network(), rows, self._float, minibatches=minibatches)

    @staticmethod
    def _row_weights(sample_weight, n: int) -> np.ndarray:
        """Each row's weight in the loss, float64: ``sample_weight`` (mean 1
        over the training rows, as the caller made it) or ones."""
        return np.ones(n) if sample_weight is None else np.ascontiguousarray(sample_weight, np.float64)

    def _l2_term(self, m: int, params: np.ndarray | None = None) -> float:
        """l2 / (2m) * sum of squared weights (biases excluded), at ``params`` or the model's own."""
        weights = self._layout.views(self.params_ if params is None else params)[0]
        return self.l2 / (2 * m) * sum(float(np.dot(w.ravel(), w.ravel())) for w in weights)

    def _loss_and_grad(self, X: np.ndarray, yi: np.ndarray, params: np.ndarray, buf,
                       sample_weight=None) -> tuple[float, int]:
        """Full-batch J = (1/m) sum_i w_i CE_i + l2/(2m) sum W**2 and its
        gradient (into buf.grads, a ``kernels.Workspace``) at ``params``;
        ``sample_weight``: the rows' weights w_i (mean 1), or None for ones."""
        from .kernels import Data

        m = len(X)
        weight = self._put(self._row_weights(sample_weight, m))
        with _kernels(self.threads, self.device) as kernels:
            if self.device == "cpu":
                _announce_compile(kernels.batch_grad, "L-BFGS gradient", self.dtype)
            loss, correct = kernels.batch_grad(Data(X, yi, weight), self._network(), params, self.l2 / m, buf,
                                               numba_threads())
        return loss / m + self._l2_term(m, params), correct

    def _lr(self, epoch: int) -> float:
        if self.lr_schedule == "cosine":
            # Epochs past ``epochs`` (more partial_fit calls) stay at zero.
            return self.learning_rate * 0.5 * (1 + math.cos(math.pi * min(epoch, self.epochs) / self.epochs))
        if self.lr_schedule == "exponential":
            return self.learning_rate * self.lr_decay**epoch
        return self.learning_rate

    def _split(self, X, yi):
        if not self.validation_fraction:
            return X, yi, None, None
        n_val = max(1, int(round(len(X) * self.validation_fraction)))
        if n_val >= len(X):
            raise InputError(f"validation_fraction {self.validation_fraction} leaves no training rows")
        perm = np.random.default_rng([self.seed, 1]).permutation(len(X))
        val, train = perm[:n_val], np.sort(perm[n_val:])
        return X[train], yi[train], X[val], yi[val]

    def fit(
        self,
        X,
        y,
        *,
        outliers=None,
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
            Labels: any hashable class names (digits, letters, words).
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

        A ``KeyboardInterrupt`` leaves the model consistent (the best weights
        so far, when early stopping tracks them) and is re-raised.
        """
        self._validate_params()
        X = self._features_for_fit(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise InputError(f"y must be one label per row: {len(X)} rows, got labels of shape {y.shape}")
        try:
            classes = np.unique(y)
        except TypeError:  # unorderable mix of label types: order of appearance
            classes = np.asarray(list(dict.fromkeys(y.tolist())), dtype=object)
        self._init_state(X.shape[1], classes)
        yi = self._encode(y, len(X))
        if validation_data is not None:
            Xv = self._features(validation_data[0], "validation X", parallel_checks=False)
            yv = self._encode(validation_data[1], len(Xv))
            Xt, yt = X, yi
        else:
            Xt, yt, Xv, yv = self._split(X, yi)
        if outliers is not None:
            O = self._features(outliers, "outliers", parallel_checks=False)
            Xt = np.concatenate([Xt, O.astype(Xt.dtype, copy=False)])
            yt = np.concatenate([yt, np.full(len(O), -1, yt.dtype)])
        return self._train(Xt, yt, Xv, yv, self.epochs, callback)

    def _features_for_fit(self, X) -> np.ndarray:
        self.__dict__.pop("n_features_in_", None)  # a new fit may change the input width
        X = self._features(X, parallel_checks=False)
        if len(X) == 0:
            raise InputError("X has no rows to learn from")
        return X

    def partial_fit(self, X, y, classes: Sequence[Hashable] | None = None) -> MLPClassifier:
        """One more epoch over (X, y); the first call sets up the model
        (pass ``classes`` when this batch does not show every class)."""
        if not hasattr(self, "params_"):
            self._validate_params()
            X = self._features_for_fit(X)
            self._init_state(X.shape[1], np.unique(np.asarray(y)) if classes is None else classes)
        else:
            X = self._features(X)
        if self.optimizer == "lbfgs":
            raise InputError("partial_fit needs a minibatch optimiser ('sgd' or 'adam'), not 'lbfgs'")
        return self._train(X, self._encode(y, len(X)), None, None, 1, None)

    def _evaluate(self, X, yi) -> tuple[float, float]:
        proba = self._proba(X)
        p = np.clip(proba, 1e-15, 1.0)
        rows = np.arange(len(yi))
        ce = -np.log(p[rows, yi])
        if self.output == "sigmoid":
            q = np.clip(1 - proba, 1e-15, 1.0)
            ce = ce - np.log(q).sum(axis=1) + np.log(q[rows, yi])
        return float(ce.mean()) + self._l2_term(len(yi)), float((proba.argmax(1) == yi).mean())

    def _train(self, X, yi, Xv, yv, epochs, callback, sample_weight=None) -> MLPClassifier:
        """``epochs`` epochs over (X, yi), each row's loss weighted by
        ``sample_weight`` (mean 1; None: ones)."""
        if self.optimizer == "lbfgs":
            return self._train_lbfgs(X, yi, Xv, yv, epochs, callback, sample_weight=sample_weight)
        from .augment import augment
        from .kernels import ADAM, NESTEROV, SGD, Data, Optimizer

        augmentation = self._augmentation()
        X_epoch = X if augmentation is None else np.empty_like(X)
        n = len(X)
        labelled = _labelled(yi)
        bs = min(int(self.batch_size), n)
        opt = {"sgd": NESTEROV if self.nesterov else SGD, "adam": ADAM}[self.optimizer]
        # On a GPU the data, weights, optimiser state and buffers are copied
        # there once; the weights come back after each epoch.
        put = self._put
        network = self._network()
        network = network._replace(sizes=put(network.sizes), w_off=put(network.w_off), b_off=put(network.b_off))
        yi_k, weight = put(yi), put(self._row_weights(sample_weight, n))
        params, state1, state2 = put(self.params_), put(self._opt_state[0]), put(self._opt_state[1])
        buf = self._buffers(bs, minibatches=True)
        buf = buf._replace(**{k: put(v) for k, v in buf._asdict().items()})
        X_k = put(X_epoch)
        # Chunks of about 2**16 rows between progress reports.
        chunk = max(bs, (65536 // bs) * bs)
        best = (math.inf, None)
        since_best = 0
        start_epoch = len(self.history_)
        try:
            for epoch in range(start_epoch, start_epoch + epochs):
                t0 = time.perf_counter()  # the epoch's time includes its augmentation
                lr = self._lr(epoch)
                order = put(self._rng.permutation(n).astype(np.int64))
                if augmentation is not None:
                    X_epoch = augment(X, augmentation, seed=[self.seed, 2, epoch], out=X_epoch)
                    X_k = put(X_epoch)
                loss_sum, correct = 0.0, 0
                stop = False
                for lo in range(0, n, chunk):
                    hi = min(n, lo + chunk)
                    with _kernels(self.threads, self.device) as kernels:
                        if self.device == "cpu":
                            _announce_compile(kernels.train_range, "training", self.dtype)
                        optimizer = Optimizer(opt, float(lr), float(self.momentum), float(self.beta1),
                                              float(self.beta2), float(self.epsilon), self.l2 / n, self._steps)
                        loss, right, steps = kernels.train_range(
                            Data(X_k, yi_k, weight), order[lo:hi], bs, network, params, (state1, state2),
                            optimizer, buf, numba_threads(),
                        )
                    self._steps += steps
                    loss_sum += loss
                    correct += right
                    if callback is not None and hi < n:
                        stop = callback(Progress(epoch, start_epoch + epochs, hi, n)) is False or stop
                self._fetch(params, self.params_)
                self._check_finite(epoch)
                record = {
                    "epoch": epoch + 1,
                    "loss": loss_sum / n + self._l2_term(n),
                    "train_accuracy": correct / labelled,
                    "lr": lr,
                    "seconds": time.perf_counter() - t0,
                }
                record["samples_per_second"] = n / record["seconds"]
                best, since_best, stop = self._end_epoch(record, Xv, yv, best, since_best, callback, epoch,
                                                         start_epoch + epochs, n, stop)
                if stop:
                    break
        finally:
            # Interrupted mid-epoch on a GPU: the weights of the last batch, as on the CPU.
            for dev, host in ((params, self.params_), (state1, self._opt_state[0]), (state2, self._opt_state[1])):
                self._fetch(dev, host)
            if best[1] is not None:
                self.params_[...] = best[1]
        return self

    def _put(self, a):
        """``a`` where the kernels of ``device`` work on it: as it is for the
        CPU, a copy on the GPU for CUDA."""
        if self.device != "cuda":
            return a
        from .kernels import cuda

        return cuda.to_device(a)

    @staticmethod
    def _fetch(dev, host: np.ndarray) -> None:
        """Copy what ``_put`` gave back into ``host`` (nothing to do on the CPU)."""
        if dev is not host:
            dev.copy_to_host(host)

    def _end_epoch(self, record, Xv, yv, best, since_best, callback, epoch, epochs, n, stop):
        if Xv is not None:
            record["val_loss"], record["val_accuracy"] = self._evaluate(Xv, yv)
        self.history_.append(record)
        if self.patience is not None:
            score = record.get("val_loss", record["loss"])
            if score < best[0]:
                best, since_best = (score, self.params_.copy()), 0
            else:
                since_best += 1
                stop = stop or since_best >= int(self.patience)
        if callback is not None:
            stop = callback(Progress(epoch, epochs, n, n, record)) is False or stop
        return best, since_best, stop

    def _check_finite(self, epoch: int) -> None:
        if not np.isfinite(self.params_).all():
            raise FastDigitsError(
                f"training diverged in epoch {epoch + 1}: weights became NaN or infinite "
                f"(learning_rate={self.learning_rate} is probably too high)"
            )

    def _train_lbfgs(self, X, yi, Xv, yv, iterations, callback, memory: int = 10,
                     sample_weight=None) -> MLPClassifier:
        """Full-batch L-BFGS (two-loop recursion) with a backtracking
        line search on the Armijo condition; rows weighted by
        ``sample_weight`` (mean 1; None: ones)."""
        # On a GPU the data and scratch go there once; the weights (changed in
        # NumPy between calls) and the gradient travel with each call.
        buf = self._buffers(len(X))
        buf = buf._replace(**{k: self._put(v) for k, v in buf._asdict().items() if k != "grads"})
        labelled = _labelled(yi)  # on the host: a GPU array has no comparisons
        X, yi = self._put(X), self._put(yi)
        x = self.params_
        f, _ = self._loss_and_grad(X, yi, x, buf, sample_weight=sample_weight)
        g = buf.grads.astype(np.float64)
        s_hist: list[np.ndarray] = []
        y_hist: list[np.ndarray] = []
        best, since_best = (math.inf, None), 0
        start = len(self.history_)
        try:
            for it in range(start, start + iterations):
                t0 = time.perf_counter()
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
                direction = q
                slope = float(np.dot(g, direction))
                if slope >= 0:  # not a descent direction: restart from steepest descent
                    s_hist.clear()
                    y_hist.clear()
                    direction, slope = -g, -float(np.dot(g, g))
                step = 1.0 if s_hist else 1.0 / max(1.0, float(np.linalg.norm(g)))
                x0 = x.astype(np.float64)
                for _ in range(30):
                    x[...] = x0 + step * direction
                    f_new, correct = self._loss_and_grad(X, yi, x, buf, sample_weight=sample_weight)
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
                    if len(s_hist) > memory:
                        s_hist.pop(0)
                        y_hist.pop(0)
                f, g = f_new, g_new
                self._check_finite(it)
                record = {"epoch": it + 1, "loss": f, "train_accuracy": correct / labelled, "lr": step,
                          "seconds": time.perf_counter() - t0}
                record["samples_per_second"] = len(X) / record["seconds"]
                best, since_best, stop = self._end_epoch(record, Xv, yv, best, since_best, callback, it,
                                                         start + iterations, len(X), False)
                if stop or float(np.abs(g).max()) < 1e-9:
                    break
        finally:
            if best[1] is not None:
                self.params_[...] = best[1]
        return self

    # --------------------------------------------------------- inference

    def _proba(self, X: np.ndarray) -> np.ndarray:
        lay = self._layout
        out = np.empty((len(X), lay.sizes[-1]), self._float)
        compiled = len(X) <= config.COMPILED_ROWS or _COMPILED_FORWARD.get() or _forksafe.serial()
        if self.device == "cpu" and compiled:
            # The forward pass that pip install compiled (Cython): no JIT
            # compile before a first answer, no thread pool and no lock, so
            # safe from any number of Python threads at once, and in a
            # child forked after OpenMP started (fastdigits._forksafe).
            from . import _forward

            weights, biases = lay.views(self.params_)
            return _forward.forward_rows(np.ascontiguousarray(X, self._float),
                                         [np.ascontiguousarray(w) for w in weights], biases,
                                         HIDDEN_ACTIVATIONS[self.activation], OUTPUTS[self.output], out)
        params_t = np.empty_like(self.params_)
        with _kernels(self.threads, self.device) as kernels:
            if self.device == "cpu":
                _announce_compile(kernels.forward, "prediction", self.dtype)
            kernels.forward(X, self._network(), self.params_, params_t, out, numba_threads())
        return out

    def predict_proba(self, X) -> np.ndarray:
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
        FastDigitsError
            If the model is not trained.
        """
        self._check_fitted()
        return self._probabilities(self._features(X))

    def _probabilities(self, rows: np.ndarray) -> np.ndarray:
        """predict_proba of rows that ``_features`` has already checked."""
        proba = self._proba(rows)
        if self.output == "sigmoid":
            proba /= np.maximum(proba.sum(axis=1, keepdims=True), np.finfo(proba.dtype).tiny)
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable class of each picture or feature row.

        ``X`` as for :meth:`predict_proba`.  Returns an array (N,) of
        ``classes_`` values: a class for every row, as scikit-learn does,
        also for a picture without ink (whose frame is all zero); detect
        those with ``prepare(images, return_ink=True)`` or
        :func:`fastdigits.classify.classify_images`, which answers them
        with no label.  Raises as :meth:`predict_proba`.
        """
        self._check_fitted()
        return self.classes_[self._proba(self._features(X)).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Accuracy: the share of rows whose predicted class is ``y``.

        ``X`` as for :meth:`predict_proba`; ``y`` (N,) labels, matched to
        ``classes_`` as :func:`fastdigits.metrics.class_indices` does (the
        folder name "3" is the class 3 of a digit model).

        Raises
        ------
        InputError
            As :meth:`predict_proba`; and for a label that matches no
            class, naming it and listing the classes.
        """
        self._check_fitted()
        X = self._features(X)
        yi = self._encode(y, len(X))
        return float(np.mean(self._proba(X).argmax(axis=1) == yi))

    def loss(self, X, y, l2: float | None = None) -> float:
        """The regularised cost J on (X, y), m = len(X)::

            J = (1/m) sum_i CE_i + l2/(2m) sum W**2

        ``l2`` defaults to the model's.  For ``output="sigmoid"`` CE_i is
        the one-vs-all binary cross-entropy summed over classes.  ``X`` and
        ``y`` as for :meth:`score`, and the same errors.
        """
        self._check_fitted()
        X = self._features(X)
        yi = self._encode(y, len(X))
        saved, self.l2 = self.l2, self.l2 if l2 is None else l2
        try:
            return self._loss_and_grad(X, yi, self.params_, self._buffers(len(X)))[0]
        finally:
            self.l2 = saved

    def save(self, path) -> Any:
        """Write the model to ``path`` (see :func:`fastdigits.persist.save_model`)."""
        from .persist import save_model

        return save_model(self, path)

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.layer_sizes_)) if hasattr(self, "params_") else "untrained"
        return f"MLPClassifier({sizes}, activation={self.activation!r}, output={self.output!r})"
