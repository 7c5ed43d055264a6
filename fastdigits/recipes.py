"""Named training recipes, and the workflows the ``fastdigits`` commands run.

Presets (``fastdigits train --preset NAME``) are sets of
:class:`fastdigits.MLPClassifier` settings; options on the command line
override them.

The workflows (:func:`train`, :func:`evaluate`, :func:`classify`,
:func:`read`, :func:`describe`, :func:`export`) are each one command's work as a library
call: they return data and raise :class:`fastdigits.FastDigitsError`; they
never print.  What a person would want to see while they work goes to a
``callback``: a :class:`Note` per step, and ``fit``'s
:class:`fastdigits.Progress`.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

from ._models import networks as _networks
from .errors import FastDigitsError, InputError, OutputError

if TYPE_CHECKING:  # pragma: no cover
    from .classify import Result
    from .ensemble import Ensemble
    from .metrics import Evaluation
    from .model import MLPClassifier
    from .training import Progress
    from .read import Reading

__all__ = ["CLASSIC", "FAST", "PRESETS", "SHIPPED", "EvaluationRun", "FileResults", "Fitted", "Note", "Tally",
           "TrainingRun", "classify", "describe", "evaluate", "export", "load", "read", "train"]

#: The classic course network: 400-25-10, sigmoid units, one-vs-all
#: sigmoid outputs, cross-entropy with L2 (lambda = alpha = 1).
CLASSIC: dict[str, Any] = dict(
    hidden_layer_sizes=(25,), activation="sigmoid", output="sigmoid", alpha=1.0, solver="sgd",
    learning_rate_init=0.5, momentum=0.9, batch_size=32, max_iter=10,
)

#: A fast default: 400-256-10 relu/softmax, a few seconds on two cores.
FAST: dict[str, Any] = dict(
    hidden_layer_sizes=(256,), activation="relu", output="softmax", solver="sgd",
    learning_rate_init=0.05, momentum=0.9, batch_size=64, max_iter=8, learning_rate="cosine",
)

#: The recipe of the model shipped in the package: four 400-800-10 networks
#: (seeds SEED..SEED+3, probabilities averaged) trained on distorted copies
#: of MNIST (affine + elastic, as Simard et al. 2003 did), deskewed, and
#: on a tenth as many pictures of no class (outlier exposure:
#: :mod:`fastdigits.outliers`).  Besides MLPClassifier settings, a recipe
#: may name ``members`` (networks averaged), ``outliers`` (their share) and
#: ``deskew`` (the normalisation's).
SHIPPED: dict[str, Any] = dict(
    hidden_layer_sizes=(800,), activation="relu", output="softmax", solver="sgd",
    learning_rate_init=0.05, momentum=0.9, batch_size=64, max_iter=100, learning_rate="cosine", augment=True,
    members=4, outliers=0.1, deskew=True,
)

#: The presets by name, as ``fastdigits train --preset NAME`` and
#: :func:`train` take them: :data:`CLASSIC`, :data:`FAST`, :data:`SHIPPED`.
PRESETS: dict[str, dict[str, Any]] = {"classic": CLASSIC, "fast": FAST, "shipped": SHIPPED}

#: A preset's settings that are not an MLPClassifier's, and their defaults.
_RECIPE_ONLY = {"members": 1, "outliers": 0.0, "deskew": False}


# ------------------------------------------------------------ what callbacks get


@dataclass(frozen=True)
class Note:
    """A step of a workflow, told to its ``callback``.

    One line for a person ("reading FOLDER ...", "skipped: FILE: no ink
    found").

    Parameters
    ----------
    text : str
        The line, without a newline.
    warning : bool
        Something to look at (a file skipped), not a failure.

    Examples
    --------
    >>> from fastdigits.recipes import Note
    >>> Note("skipped: scan.png: no ink found", warning=True)
    Note(text='skipped: scan.png: no ink found', warning=True)
    """

    text: str
    warning: bool = False  #: something to look at (a file skipped), not a failure


@dataclass(frozen=True)
class Fitted:
    """Told to :func:`train`'s callback once ``fit`` has returned or stopped.

    ``fit`` returns, or stops on a ``KeyboardInterrupt``; scoring and
    saving follow.  A callback that returns ``False`` to it stops the run
    short: the test set is not scored, and the record says
    ``interrupted``.

    Parameters
    ----------
    interrupted : bool
        A ``KeyboardInterrupt`` stopped ``fit``.
    epochs_run : int
        Epochs trained, over every network; 0: nothing to keep.

    Examples
    --------
    A callback that keeps the model but skips scoring the test set:

    >>> from fastdigits.recipes import Fitted
    >>> def skip_scoring(event):
    ...     return False if isinstance(event, Fitted) else None
    >>> skip_scoring(Fitted(interrupted=False, epochs_run=8))
    False
    """

    interrupted: bool  #: a KeyboardInterrupt stopped fit
    epochs_run: int  #: epochs trained, over every network; 0: nothing to keep


Event = Union[Note, "Progress", Fitted]
Callback = Callable[[Event], Union[bool, None]]


def _quiet(event: Event) -> None:
    return None


# --------------------------------------------------------------------- models


def _augments(net) -> bool:
    """Whether ``net`` (an MLPClassifier) trains on distorted copies."""
    return net.get_params()["augment"] not in (None, False)


def load(model: str | os.PathLike | Any | None = None, *, device: str = "cpu") -> MLPClassifier | Ensemble:
    """A model, set to run on ``device``.

    Parameters
    ----------
    model : str, path-like, MLPClassifier, Ensemble or None
        A model file, or a model already in memory; None: the shipped
        digit model.
    device : {"cpu", "cuda"}
        Where it runs.

    Returns
    -------
    MLPClassifier or Ensemble
        The model (the one given, its ``device`` set).

    Raises
    ------
    ModelFileError
        The file is not a readable fastdigits model.
    InputError
        ``device`` is unknown, or ``"cuda"`` without a usable GPU.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> recipes.load().classes_.tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    if model is None or isinstance(model, (str, os.PathLike)):
        from .modelfiles import load_model

        model = load_model(model)
    model.device = device
    for net in _networks(model):
        net._validate_params()  # the device: known, and a GPU there if asked for
    return model


# ---------------------------------------------------------------------- train


@dataclass
class TrainingRun:
    """What :func:`train` did.

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        The MLPClassifier, or the Ensemble of ``members`` networks.
    record : dict
        How it was trained (``model.record_``); empty when ``epochs_run``
        is 0.
    epochs_run : int
        Epochs trained, over every network; 0: stopped before the first
        ended.
    interrupted : bool
        A ``KeyboardInterrupt`` (or the callback) stopped it early.
    test_accuracy : float or None
        On the held-out test set, if there was one and it was scored.
    test_images : int
        Pictures of the test set scored (0 when none were).
    saved : pathlib.Path or None
        Where the model is, if saved (``output``, or a rescue folder).
    save_error : OutputError or None
        Why it is not at ``output``, if it is not.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> run = recipes.train(preset="fast", output="digits.npz")  # doctest: +SKIP
    >>> run.epochs_run, run.interrupted, run.saved  # doctest: +SKIP
    (8, False, PosixPath('digits.npz'))
    """

    model: Any  #: the MLPClassifier, or the Ensemble of ``members`` networks
    record: dict  #: how it was trained (``model.record_``); empty when ``epochs_run`` is 0
    epochs_run: int  #: epochs trained, over every network; 0: stopped before the first ended
    interrupted: bool  #: a KeyboardInterrupt (or the callback) stopped it early
    test_accuracy: float | None = None  #: on the held-out test set, if there was one and it was scored
    test_images: int = 0
    saved: Path | None = None  #: where the model is, if saved (``output``, or a rescue folder)
    save_error: OutputError | None = None  #: why it is not at ``output``, if it is not


def train(
    *,
    preset: str = "fast",
    settings: Mapping[str, Any] | None = None,
    data: str | os.PathLike | None = None,
    mnist: str | os.PathLike | None = None,
    members: int | None = None,
    outliers: float | None = None,
    deskew: bool | None = None,
    validation: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
    device: str = "cpu",
    output: str | os.PathLike | None = None,
    command: str | None = None,
    callback: Callback | None = None,
) -> TrainingRun:
    """Train a network (or an ensemble) by a preset, score it and save it.

    Reads the data (a folder of labelled images, or MNIST), optionally
    makes pictures of no class (outlier exposure), fits with ``callback``
    as fit's, scores the held-out test set with the forward pass that
    ``pip install`` compiled (``compiled_forward``), and saves.  Work that
    can fail for a reason known in advance (settings, the output path, a
    model too big to read back) is checked before the data is read.

    Parameters
    ----------
    preset : {"classic", "fast", "shipped"}
        The starting recipe (:data:`PRESETS`).
    settings : mapping, optional
        MLPClassifier settings over the preset's (``hidden``,
        ``learning_rate``, ``epochs``, ``augment``, ...); None values are
        ignored.
    data : path-like, optional
        A folder with one sub-folder of images per class; None: MNIST.
    mnist : path-like, optional
        The folder of the MNIST files (default: as ``load_mnist`` finds them).
    members : int, optional
        Networks trained from seeds ``seed, seed + 1, ...``, probabilities
        averaged (default: the preset's, else 1).
    outliers : float, optional
        Pictures of no class to train on, as a share of the training rows
        (default: the preset's, else 0).
    deskew : bool, optional
        Deskew images in the pipeline (default: the preset's, else off).
    validation : float
        Share of the training rows held out for validation, in [0, 1).
    test_fraction : float
        With ``data``: share of the images held out as a test set; MNIST
        has its own.
    seed : int
        Seeds weights, shuffling and both splits.
    threads : int, optional
        Kernel threads (default: numba's setting).
    device : {"cpu", "cuda"}
        Where the network trains.
    output : path-like, optional
        Where to save the model (``.npz`` appended unless given).  If the
        save fails after training, the model is saved in a new private
        folder of the temporary folder instead (``saved``, with
        ``save_error`` saying why).  None: not saved.
    command : str, optional
        The command line to record as ``record["command"]``.
    callback : callable, optional
        Called with a :class:`Note` per step, fit's
        :class:`fastdigits.Progress` (returning ``False`` stops fit at
        the end of that epoch, as in fit), and :class:`Fitted` once fit is
        done.

    Returns
    -------
    TrainingRun
        The model, its record, the test accuracy and where it was saved.
        A ``KeyboardInterrupt`` during fit ends fit early: the run returns
        with ``interrupted`` set, the weights so far kept and saved; one
        within the first epoch leaves ``epochs_run`` 0, and nothing saved.

    Raises
    ------
    InputError
        An unknown preset or setting, a setting out of range, labels the
        model cannot learn from.
    DataError
        The data cannot be read (MNIST not found, an empty folder).
    OutputError
        ``output`` cannot be written (checked before training), or the
        model would be too big to read back.
    FastDigitsError
        Training diverged.
    KeyboardInterrupt
        Raised before fit (while the data is read or the kernels compile).

    Examples
    --------
    >>> from fastdigits import recipes
    >>> run = recipes.train(data="letters/", settings={"hidden_layer_sizes": (32,), "max_iter": 20},
    ...                     test_fraction=0.25, output="letters.npz")  # doctest: +SKIP
    >>> run.test_accuracy, run.saved  # doctest: +SKIP
    (0.97, PosixPath('letters.npz'))
    """
    import numpy as np

    from ._io import check_writable
    from .ensemble import Ensemble
    from .model import MLPClassifier, compiled_forward
    from .outliers import make_outliers
    from .modelfiles import check_model_size
    from .persist import model_path
    from .preprocess import Normalization

    tell = callback or _quiet
    params, extra = _settings(preset, settings, members=members, outliers=outliers, deskew=deskew)
    pipeline = Normalization(deskew=extra["deskew"])
    net = MLPClassifier(**params, validation_fraction=validation, random_state=seed, threads=threads, device=device,
                        preprocessing=pipeline)
    net._validate_params()  # settings refused now, not after the data is read
    target = None if output is None else check_writable(model_path(output), "the model")  # before the work
    _compile_apart(net, tell)
    n_members = extra["members"]
    model = net if n_members == 1 else Ensemble(net, n_members=n_members)
    t0 = time.perf_counter()
    X, y, X_test, y_test, source = _training_data(model, data, mnist, test_fraction, seed, tell)
    n_classes = len(set(y.tolist()))
    tell(Note(f"{len(X):,} training images from {source}; network "
              f"{'-'.join(map(str, [X.shape[1], *params['hidden_layer_sizes'], n_classes]))}, "
              f"{net.max_iter} epoch{'s' * (net.max_iter != 1)}"
              f"{f', {n_members} networks averaged' if n_members > 1 else ''} "
              f"({time.perf_counter() - t0:.1f} s to prepare)"))
    rejects = None
    if extra["outliers"]:
        trained = net._split(X, np.zeros(len(X), np.int64))[0]  # none of a validation split
        rejects = make_outliers(trained, int(round(extra["outliers"] * len(trained))), seed=[seed, 3],
                                settings=pipeline)
        tell(Note(f"{len(rejects):,} pictures of no class (pairs, pieces, scribbles) made from them"))
    check_model_size(model, X.shape[1], n_classes)  # a model too big to read back: before training
    interrupted = False
    try:
        model.fit(X, y, outliers=rejects, callback=tell)
    except KeyboardInterrupt:  # fit kept the weights so far
        interrupted = True
    networks = _networks(model)
    epochs_run = sum(len(getattr(n, "history_", None) or ()) for n in networks)
    stop = tell(Fitted(interrupted, epochs_run)) is False
    if not epochs_run:
        return TrainingRun(model, {}, 0, interrupted=True)
    accuracy = None
    if X_test is not None and len(X_test) and not stop:
        try:
            with compiled_forward():  # one scoring: not worth compiling the prediction kernel for
                accuracy = model.score(X_test, y_test)
        except FastDigitsError as exc:  # the model is saved all the same
            tell(Note(f"warning: the test set could not be scored: {exc}", warning=True))
    from . import __version__

    model.record_ = {
        **({"command": command} if command else {}),
        "preset": preset, "seed": seed, "data": source, "fastdigits": __version__,
        **({"members": len(networks)} if n_members > 1 else {}),
        **({"outliers": extra["outliers"]} if extra["outliers"] else {}),
        "epochs_run": epochs_run, "interrupted": interrupted or stop,
        "seconds": round(time.perf_counter() - t0, 1),
        **({"test_accuracy": accuracy, "test_images": int(len(X_test))} if accuracy is not None else {}),
    }
    run = TrainingRun(model, model.record_, epochs_run, interrupted or stop, accuracy,
                      int(len(X_test)) if accuracy is not None else 0)
    if target is not None:
        run.saved, run.save_error = _save_or_rescue(model, target)
    return run


def _settings(preset: str, settings: Mapping[str, Any] | None, **extra: Any) -> tuple[dict, dict]:
    """The MLPClassifier settings of ``preset`` with ``settings`` over them,
    and the recipe's own (members, outliers, deskew) with ``extra`` over
    them; None values in either leave the preset's."""
    from .model import MLPClassifier

    if preset not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(map(repr, PRESETS))}; got {preset!r}")
    params = dict(PRESETS[preset])
    own = {key: params.pop(key, default) for key, default in _RECIPE_ONLY.items()}
    own.update({k: v for k, v in extra.items() if v is not None})
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    known = set(MLPClassifier().get_params()) - {"validation_fraction", "random_state", "threads", "device", "preprocessing"}
    if unknown := sorted(set(settings) - known):
        raise InputError(f"unknown settings {unknown}; known: {', '.join(sorted(known))}")
    params.update(settings)
    if int(own["members"]) < 1:
        raise InputError(f"members must be at least 1, got {own['members']!r}")
    if not 0 <= float(own["outliers"]) <= 1:
        raise InputError(f"outliers must be a share in [0, 1], got {own['outliers']!r}")
    return params, own


def _training_data(model, data, mnist, test_fraction: float, seed: int, tell: Callback):
    """(X, y, X_test, y_test, source): feature rows of a labelled folder
    (``test_fraction`` of them held out) or of MNIST (its test set held
    out), prepared by ``model``'s pipeline; its skipped files told."""
    from .data import NO_INK, load_image_folder, load_mnist

    if data is None:
        tell(Note("loading MNIST ..."))
        d = load_mnist(mnist)
        return model.prepare(d.train_images), d.train_labels, model.prepare(d.test_images), d.test_labels, "MNIST"
    tell(Note(f"reading {data} ..."))
    ds = load_image_folder(data, preprocessing=model.preprocessing)
    for path, why in ds.skipped:  # a read error names its file; "no ink found" does not
        tell(Note(f"skipped: {path}: {why}" if why == NO_INK else f"skipped: {why}", warning=True))
    X, y = ds.features, ds.names
    X_test = y_test = None
    if test_fraction:
        train_rows, test_rows = _split(len(X), test_fraction, seed)
        X, y, X_test, y_test = X[train_rows], y[train_rows], X[test_rows], y[test_rows]
    return X, y, X_test, y_test, f"{data} ({len(ds.classes)} classes)"


def _split(n: int, fraction: float, seed: int):
    """Row indices (train, test), each sorted: ``fraction`` of ``n`` rows
    held out, drawn by ``seed``."""
    import numpy as np

    perm = np.random.default_rng([seed, 3]).permutation(n)
    n_test = int(round(n * fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _compile_apart(net, tell: Callback) -> None:
    """Compile the training kernels in a child process when numba's cache
    lacks them.

    The compiler's memory is not given back by the process that used it;
    compiled apart, it is gone before the data is loaded (the default MNIST
    run peaked at 651 MB compiled in-process at commit 02f9431; now the
    compiling child holds the peak and training itself stays near 345 MB:
    benchmarks/RESULTS.md), and the one-off wait gets its own step.  The
    prediction kernel is compiled too only when a validation split will
    need it after every epoch: the test set is scored by the forward pass
    that pip install built (``compiled_forward``)."""
    import subprocess
    import sys

    from .kernels import cache as kernel_cache, cpu

    if not net._backend.host or kernel_cache.is_compiled(cpu.train_range, net.dtype):  # GPU kernels, or cached
        return
    tell(Note("compiling the kernels for this CPU (once: numba caches them) ..."))
    t0 = time.perf_counter()
    code = (f"from fastdigits.model import warm_kernels; warm_kernels({net.dtype!r}, "
            f"{_augments(net)}, predict={bool(net.validation_fraction)})")
    # From the package's parent folder: the child imports the fastdigits this process did, whatever the cwd.
    home = Path(__file__).resolve().parents[1]
    if subprocess.run([sys.executable, "-c", code], cwd=home).returncode == 0:
        tell(Note(f"compiled in {time.perf_counter() - t0:.1f} s"))
    else:
        tell(Note("compiling in a child process failed; compiling here", warning=True))


def _save_or_rescue(model, target: Path) -> tuple[Path | None, OutputError | None]:
    """Save ``model`` to ``target``; if that fails after all, to a new
    folder of the temporary folder so that the training is not lost.
    Returns (the path saved to or None, the OutputError of ``target`` or
    None)."""
    import tempfile

    try:
        return model.save(target), None
    except OutputError as exc:
        try:  # a folder of this user's alone (mkdtemp: mode 0700)
            return model.save(Path(tempfile.mkdtemp(prefix="fastdigits-rescued-")) / target.name), exc
        except OSError:  # OutputError is one too
            return None, exc


# ------------------------------------------------------------------- evaluate


@dataclass
class EvaluationRun:
    """What :func:`evaluate` measured.

    Parameters
    ----------
    evaluation : fastdigits.metrics.Evaluation
        Accuracy, confusion matrix, precision and recall, by class name.
    images : int
        Pictures scored.
    without_ink : int
        Pictures of the folder not scored: nothing to read.
    unreadable : int
        Files of the folder not scored: not a picture.
    written : list of pathlib.Path
        The report's PNG files.

    Examples
    --------
    >>> from fastdigits.metrics import evaluate_predictions
    >>> from fastdigits.recipes import EvaluationRun
    >>> run = EvaluationRun(evaluate_predictions([0, 1, 1, 1], [0, 1, 1, 0], [0, 1]), images=4)
    >>> run.names, run.evaluation.accuracy
    (['0', '1'], 0.75)
    """

    evaluation: Evaluation  #: accuracy, confusion matrix, precision and recall, by class name
    images: int  #: pictures scored
    without_ink: int = 0  #: pictures of the folder not scored: nothing to read
    unreadable: int = 0  #: files of the folder not scored: not a picture
    written: list[Path] = field(default_factory=list)  #: the report's PNG files

    @property
    def names(self) -> list[str]:
        """The class names as text, in the order of the confusion matrix."""
        return [str(c) for c in self.evaluation.classes]


def evaluate(
    model: str | os.PathLike | Any | None = None,
    data: str | os.PathLike | None = None,
    *,
    mnist: str | os.PathLike | None = None,
    device: str = "cpu",
    report: str | os.PathLike | None = None,
) -> EvaluationRun:
    """Score a model on a folder of labelled images or on the MNIST test set.

    Parameters
    ----------
    model : path-like, MLPClassifier, Ensemble or None
        As for :func:`load` (None: the shipped digit model).
    data : path-like, optional
        A folder with one sub-folder of images per class, named as the
        model's classes ("3" is the class 3 of a digit model); None: the
        MNIST test set.
    mnist : path-like, optional
        The folder of the MNIST files (default: as ``load_mnist`` finds them).
    device : {"cpu", "cuda"}
        Where the network runs.
    report : path-like, optional
        A folder (made if missing, checked before the work) to write PNG
        pictures into: ``confusion.png``, ``mistakes.png`` (up to 48
        mistakes, if any), ``hidden_units.png`` (first-layer weights, for
        models of 400 inputs).

    Returns
    -------
    EvaluationRun
        The scores (:class:`fastdigits.metrics.Evaluation`), how many
        pictures were scored and skipped, and the report's files.

    Raises
    ------
    InputError
        A folder names a class the model does not know; an unknown device.
    DataError, ModelFileError, OutputError
        The data, the model or the report folder cannot be read or written.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> run = recipes.evaluate(data="digits/")  # doctest: +SKIP
    >>> f"{run.evaluation.accuracy:.2%} on {run.images} images"  # doctest: +SKIP
    '99.10% on 1,000 images'
    """
    import numpy as np

    from . import metrics
    from ._io import check_folder
    from .data import NO_INK, load_image_folder, load_mnist

    if report is not None:
        report = check_folder(report, "the report")  # before the work, not after it
    model = load(model, device=device)
    without_ink = unreadable = 0
    if data is not None:
        ds = load_image_folder(data, preprocessing=model.preprocessing)
        frames, truth, originals, paths = ds.images, ds.names, None, ds.paths
        without_ink = sum(why == NO_INK for _, why in ds.skipped)
        unreadable = len(ds.skipped) - without_ink
    else:
        d = load_mnist(mnist)
        frames = model.prepare(d.test_images).reshape(-1, 20, 20)
        truth, originals, paths = d.test_labels, d.test_images, None
    proba = model.predict_proba(frames.reshape(len(frames), -1))
    # A folder "3" is the class 3 of a digit model: matched as fit and score match labels.
    truth = metrics.class_indices(truth, model.classes_, name=f"the folder {data}" if data else "the MNIST test set")
    pred = proba.argmax(axis=1)
    classes = model.classes_
    ev = metrics.evaluate_predictions(classes[truth], classes[pred], classes.tolist())  # ev.classes: the names
    run = EvaluationRun(ev, len(truth), without_ink, unreadable)
    if report is not None:
        from .data import read_image
        from .sheet import confusion_png, contact_sheet, weights_png

        names = run.names
        run.written.append(confusion_png(ev.confusion, names, report / "confusion.png"))
        wrong = np.nonzero(pred != truth)[0][:48]
        if len(wrong):
            shown = [originals[i] if originals is not None else read_image(paths[i]) for i in wrong]
            labels = [f"{names[truth[i]]}->{names[pred[i]]} {proba[i].max():.2f}" for i in wrong]
            run.written.append(contact_sheet(shown, frames[wrong], report / "mistakes.png", labels=labels))
        if model.n_features_in_ == 400:
            units = np.hstack([net.coefs_[0] for net in _networks(model)])
            run.written.append(weights_png(units, report / "hidden_units.png"))
    return run


# ------------------------------------------------------- classify and read


R = TypeVar("R")


@dataclass
class Tally:
    """Counts of the results that went by.

    Parameters
    ----------
    answered : int
        Labelled (:func:`classify`) or read (:func:`read`).
    blank : int
        Read fine, nothing to read: no ink.
    failed : int
        Not read: the file is missing, not a picture, or broke the reader.

    Examples
    --------
    >>> from fastdigits.classify import Result
    >>> from fastdigits.recipes import Tally
    >>> tally = Tally()
    >>> tally.add(Result("scan.png", error="scan.png: no such file"))
    >>> tally.add(Result("seven.png", label=7, probability=0.99))
    >>> tally
    Tally(answered=1, blank=0, failed=1)
    """

    answered: int = 0  #: labelled (classify) or read (read)
    blank: int = 0  #: read fine, nothing to read: no ink
    failed: int = 0  #: not read: the file is missing, not a picture, or broke the reader

    def add(self, result: Result | Reading) -> None:
        """Count one result: failed, blank or answered.

        Parameters
        ----------
        result : fastdigits.classify.Result or fastdigits.Reading
            A result of :func:`classify` or :func:`read`: failed unless
            ``ok``; blank when it has a ``note`` (no ink); else answered.
        """
        if not result.ok:
            self.failed += 1
        elif result.note:
            self.blank += 1
        else:
            self.answered += 1


class FileResults(Generic[R]):
    """The results of :func:`classify` or :func:`read`, one per file.

    One per file, in order, computed as they are iterated (once).
    ``len`` is how many will come; ``tally`` (a :class:`Tally`) counts
    those that came.

    Parameters
    ----------
    results : iterable of fastdigits.classify.Result or fastdigits.Reading
        The results, computed as they are taken.
    count : int
        How many ``results`` will give: ``len`` of this.
    classes : list
        The model's classes, in the order of ``probabilities``; kept as
        the attribute ``classes``.

    Examples
    --------
    >>> from fastdigits.classify import Result
    >>> from fastdigits.recipes import FileResults
    >>> done = [Result("seven.png", label=7, probability=0.99), Result("notes.txt", error="notes.txt: not a picture")]
    >>> results = FileResults(iter(done), len(done), classes=list(range(10)))
    >>> len(results), [result.ok for result in results]
    (2, [True, False])
    >>> results.tally
    Tally(answered=1, blank=0, failed=1)
    """

    def __init__(self, results: Iterable[R], count: int, classes: list):
        self._results = results
        self._count = count
        self.classes = classes  #: the model's classes, in the order of ``probabilities``
        self.tally = Tally()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[R]:
        for result in self._results:
            self.tally.add(result)
            yield result


def classify(
    paths: Iterable[str | os.PathLike],
    model: str | os.PathLike | Any | None = None,
    *,
    device: str = "cpu",
    batch_size: int | None = None,
    workers: int | None = None,
    sort_into: str | os.PathLike | None = None,
    move: bool = False,
    client: Any = None,
    partition_size: int | None = None,
) -> FileResults[Result]:
    """Classify picture files, folders (searched recursively) and glob patterns.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files, folders and glob patterns, in the order the results come;
        local, or fsspec URLs (``s3://bucket/scans/``) when fsspec is
        installed (see :func:`fastdigits.classify.find_images`).
    model : path-like, MLPClassifier, Ensemble or None
        As for :func:`load` (None: the shipped digit model).
    device : {"cpu", "cuda"}
        Where the network runs.
    batch_size : int, optional
        Pictures decoded and classified at a time (default
        ``config.CLASSIFY_BATCH``).
    workers : int, optional
        Decoding threads (default: the CPUs available).
    sort_into : path-like, optional
        A folder (checked before the work) to copy each picture read into,
        under ``<label>/``, or ``_blank/`` without ink; local pictures
        only.
    move : bool
        With ``sort_into``: move the files instead of copying them.
    client : distributed.Client or str, optional
        Classify on this Dask cluster (:func:`fastdigits.distributed.stream`),
        or on the one at this address (or ``"local"``:
        :func:`fastdigits.distributed.connect`), connected to when the
        results are first taken, after every other check: the files in
        partitions, the results streamed in the same order and the same
        form.  ``workers`` is then each task's threads for preparing and
        the network (default: its worker's); ``device`` must be "cpu".
    partition_size : int, optional
        With ``client``: files per task (default
        ``config.PARTITION_SIZE``).

    Returns
    -------
    FileResults of fastdigits.classify.Result
        One Result per file (each path that matched nothing included, as an
        error), streamed: a batch is decoded, classified (and sorted) as
        the results are iterated.

    Raises
    ------
    ModelFileError, OutputError, InputError
        The model cannot be read, ``sort_into`` cannot be written or is
        given with URLs, an unknown device.  A file that cannot be read is a Result with its
        ``error``, not an exception.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> results = recipes.classify(["scans/"])  # doctest: +SKIP
    >>> [(r.path, r.label) for r in results]  # doctest: +SKIP
    [('scans/a.png', 7), ('scans/b.png', 3)]
    """
    from . import config
    from ._io import check_folder
    from .classify import classify_files, find_images, sort_into as sort_file

    if client is not None and device != "cpu":
        raise InputError(f"device {device!r} with a Dask cluster: its workers run the network on their CPUs")
    if sort_into is not None:
        sort_into = check_folder(sort_into, "the sorted pictures")  # before the work, not after it
    source, model = model, load(model, device=device)
    files, missing = find_images(paths)
    if sort_into is not None and (url := next((f for f in files if isinstance(f, str)), None)):
        raise InputError(f"{url}: a URL; only local files can be sorted into a folder")  # before the work
    on_cluster = None if client is None else \
        _on_cluster(client, "classify", source, files, partition_size, workers, batch_size=batch_size)

    def results() -> Iterator[Result]:
        answers = on_cluster if on_cluster is not None else \
            classify_files(model, files, batch_size=batch_size or config.CLASSIFY_BATCH, workers=workers)
        for result in itertools.chain(missing, answers):
            if sort_into is not None and result.ok:
                sort_file(result, sort_into, move=move)
            yield result

    return FileResults(results(), len(files) + len(missing), model.classes_.tolist())


def read(
    paths: Iterable[str | os.PathLike],
    model: str | os.PathLike | Any | None = None,
    *,
    min_confidence: float = 0.0,
    workers: int | None = None,
    client: Any = None,
    partition_size: int | None = None,
) -> FileResults[Reading]:
    """Read the number written in each picture file, folder or glob pattern.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files, folders and glob patterns, in the order the readings come;
        local, or fsspec URLs when fsspec is installed.
    model : path-like, MLPClassifier, Ensemble or None
        A digit model, as for :func:`load` (None: the shipped one).
    min_confidence : float
        Digits read with a lower probability are ``?`` in the text.
    workers : int, optional
        Threads (default: the CPUs available).
    client : distributed.Client or str, optional
        Read on this Dask cluster, or the one at this address, as
        :func:`classify` does.
    partition_size : int, optional
        With ``client``: files per task.

    Returns
    -------
    FileResults of fastdigits.read.Reading
        One Reading per file (each path that matched nothing included, as
        an error), streamed as they are iterated.

    Raises
    ------
    ModelFileError
        The model cannot be read.  A file that cannot be read is a Reading
        with its ``error``, not an exception.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> [r.text for r in recipes.read(["cheque.png"])]  # doctest: +SKIP
    ['1250']
    """
    from .classify import find_images
    from .read import Reading, read_files

    source, model = model, load(model)
    files, missing = find_images(paths)
    readings = (read_files(files, model, min_confidence=min_confidence, workers=workers) if client is None else
                _on_cluster(client, "read", source, files, partition_size, workers, min_confidence=min_confidence))
    readings = itertools.chain((Reading(path=m.path, error=m.error) for m in missing), readings)
    return FileResults(readings, len(files) + len(missing), model.classes_.tolist())


def _on_cluster(client, kind: str, model, files: list, partition_size: int | None, threads: int | None,
                **settings) -> Iterator:
    """:func:`fastdigits.distributed.stream`'s results for ``files``, checked
    now; ``client`` a Client, or an address connected to when the first
    result is taken (``model`` as the caller gave it: a model file is sent
    as it is)."""
    from . import config, distributed

    size = config.PARTITION_SIZE if partition_size is None else partition_size
    plan = distributed._plan(kind, model, files, size, settings.get("batch_size"),
                             settings.get("min_confidence", 0.0), threads)
    if not isinstance(client, str):
        return distributed._results(client, plan)

    def connected() -> Iterator:
        with distributed.connect(client) as connection:
            yield from distributed._results(connection, plan)

    return connected()


# ------------------------------------------------------------------- describe


def describe(model: str | os.PathLike | Any | None = None) -> list[tuple[str, str]]:
    """A model's architecture, classes, preprocessing and training record.

    Parameters
    ----------
    model : path-like, MLPClassifier, Ensemble or None
        As for :func:`load` (None: the shipped digit model); fitted.

    Returns
    -------
    list of (str, str)
        (what, value) pairs, in the order to show them: ``network``,
        ``classes``, ``preprocessing``, ``training``, the items of the
        model's ``record_``, and the last epoch of each network's history.

    Raises
    ------
    ModelFileError
        The file is not a readable fastdigits model.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> dict(recipes.describe())["classes"]
    '0, 1, 2, 3, 4, 5, 6, 7, 8, 9'
    """
    from .preprocess import preprocessing_dict

    model = load(model)
    networks = _networks(model)
    first = networks[0]
    p = first.get_params()
    shapes = sorted({"-".join(map(str, net.layer_sizes_)) for net in networks})
    shape = f"{len(networks)} x {shapes[0]}, probabilities averaged" if len(networks) > 1 and len(shapes) == 1 \
        else " + ".join(shapes)
    seeds = ", ".join(str(net.random_state) for net in networks)
    lines = [
        ("network", f"{shape}, {p['activation']} hidden units, {p['output']} outputs, "
                    f"{sum(net.params_.size for net in networks):,} parameters ({p['dtype']})"),
        ("classes", ", ".join(str(c) for c in model.classes_.tolist())),
        ("preprocessing", ", ".join(f"{k}={v}" for k, v in preprocessing_dict(model.preprocessing).items())),
        ("training", f"{p['solver']}, lr {p['learning_rate_init']} ({p['learning_rate']}), batch {p['batch_size']}, "
                     f"alpha {p['alpha']}, augmentation {'on' if _augments(first) else 'off'}, "
                     f"seed{'s' if len(networks) > 1 else ''} {seeds}"),
        *((str(key), str(value)) for key, value in getattr(model, "record_", {}).items()),
    ]
    for k, net in enumerate(networks):
        if net.history_:
            last = net.history_[-1]
            which = f" ({k + 1})" if len(networks) > 1 else ""
            lines.append(("last epoch" + which, f"{last['epoch']}: loss {last['loss']:.4f}, "
                                                f"train accuracy {last['train_accuracy']:.2%}"))
    return lines


# --------------------------------------------------------------------- export


def export(model: str | os.PathLike | Any | None, output: str | os.PathLike) -> Path:
    """Write a model as an ONNX graph (see :func:`fastdigits.export.to_onnx`).

    Parameters
    ----------
    model : path-like, MLPClassifier, Ensemble or None
        As for :func:`load` (None: the shipped digit model, an ensemble:
        one graph averaging its members' probabilities).
    output : path-like
        The ``.onnx`` file to write (atomically).

    Returns
    -------
    pathlib.Path
        ``output``.

    Raises
    ------
    ModelFileError
        The file is not a readable fastdigits model.
    OutputError
        ``output`` cannot be written.
    FastDigitsError
        The onnx package is not installed.

    Examples
    --------
    >>> from fastdigits import recipes
    >>> recipes.export(None, "digits.onnx")  # doctest: +SKIP
    PosixPath('digits.onnx')
    """
    from ._io import check_writable
    from .export import to_onnx

    output = check_writable(output, "the ONNX model")
    to_onnx(load(model), output)
    return output
