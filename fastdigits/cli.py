"""The ``fastdigits`` command.

Commands are thin wrappers over library calls.  This is the only module
that prints: data goes to stdout, progress and messages to stderr, and a
``FastDigitsError`` becomes one red line and exit code 1.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import json
import shlex
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .classify import BLANK_FOLDER
from ._io import check_folder, check_writable
from .errors import FastDigitsError
from .kernels import HIDDEN_ACTIVATIONS, OUTPUTS
from .model import DEVICES, SCHEDULES, SOLVERS, compiled_forward
from .persist import check_model_size, model_path
from .recipes import PRESETS

app = typer.Typer(
    name="fastdigits",
    help="Train and run small image classifiers (handwritten digits and more), fast.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _plain() -> bool:
    """Whether messages go without colour: NO_COLOR set (no-color.org) or
    TERM=dumb."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def _err(message: str, **style) -> None:
    message = _escaped(message)  # a file name that is not UTF-8 as on stdout: \xNN
    if style and not _plain():
        typer.secho(message, err=True, **style)
    else:
        typer.echo(message, err=True)


@contextlib.contextmanager
def _file_progress(total: int, quiet: bool, what: str, to_stdout: bool = False):
    """A progress bar on stderr over ``total`` files (done, files/s, time
    left), advanced by calling the yielded function once per file; nothing
    is drawn with ``quiet``, for fewer than two files, when stderr is not
    a terminal (a pipe, a log file, TERM=dumb), or when the rows go
    (``to_stdout``) to a stdout that is a terminal too: they show the
    progress there, and a bar would be drawn in among them."""
    from rich.console import Console

    console = Console(stderr=True, no_color=_plain())
    rows_on_screen = to_stdout and sys.stdout.isatty()
    if quiet or total < 2 or rows_on_screen or not console.is_terminal or console.is_dumb_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(what), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total, rate="")
        t0 = time.perf_counter()

        def advance():
            done = bar.tasks[0].completed + 1
            bar.update(task, completed=done, rate=f"{done / max(time.perf_counter() - t0, 1e-9):,.1f} files/s")

        yield advance


def _escaped(value):
    """``value`` (a string, or a list or dict of them) with every byte of a
    file name that is not UTF-8 (Python's ``surrogateescape`` characters)
    written as a ``\\xNN`` escape, as Python's ``backslashreplace`` does,
    and any other lone surrogate (a class name from a JSON file) as
    ``\\uNNNN``: output rows are valid UTF-8 that csv and pandas read, with
    every byte of the name shown (though a name that itself holds ``\\x``
    reads the same as an escape)."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    return value


class _Rows:
    """csv.writer whose rows are ``_escaped``."""

    def __init__(self, out):
        self._writer = csv.writer(out)

    def writerow(self, row: list) -> None:
        self._writer.writerow(_escaped(row))


def _json_line(row: dict) -> str:
    return json.dumps(_escaped(row)) + "\n"


def _open_output(path: Path):
    """The results file, opened for writing in UTF-8 (rows are
    ``_escaped``); a folder that does not exist or cannot be written is a
    one-line error, not a traceback."""
    try:
        return open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        why = f"the folder {path.parent} does not exist" if not path.parent.is_dir() else exc.strerror or exc
        _err(f"error: cannot write {path}: {why}", fg=typer.colors.RED)
        raise typer.Exit(1) from None


def _fail(exc: FastDigitsError) -> typer.Exit:
    _err(f"error: {exc}", fg=typer.colors.RED)
    return typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fastdigits {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Train and run small image classifiers (handwritten digits and more), fast."""


# ------------------------------------------------------------------ mnist


@app.command()
def mnist(
    path: Annotated[
        Optional[Path],
        typer.Option("--path", file_okay=False, help="Folder holding the four MNIST files."),
    ] = None,
    download: Annotated[bool, typer.Option(help="Download into the cache when no copy is found.")] = True,
) -> None:
    """Find MNIST (or download it), verify its checksums and say where it is."""
    from .data import find_mnist, load_mnist

    try:
        data = load_mnist(path, download_missing=download)
        folder = find_mnist(path)
    except FastDigitsError as exc:
        raise _fail(exc) from None
    typer.echo(f"MNIST at {folder}: {len(data.train_labels)} training and {len(data.test_labels)} test digits, checksums OK")


# ------------------------------------------------------------------ train


def _choices(name: str, values) -> type[Enum]:
    """A str Enum of the library's own table of choices (one source of truth)."""
    return Enum(name, {v: v for v in values}, type=str)


Preset = _choices("Preset", PRESETS)
Activation = _choices("Activation", HIDDEN_ACTIVATIONS)
OutputStyle = _choices("OutputStyle", OUTPUTS)
Optimizer = _choices("Optimizer", SOLVERS)
Schedule = _choices("Schedule", SCHEDULES)
Device = _choices("Device", DEVICES)
DeviceOption = Annotated[Device, typer.Option(help="Where the network runs: CPU cores, or an NVIDIA GPU (numba.cuda).")]


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected layer sizes like 256,128; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise typer.BadParameter(f"layer sizes must be positive; got {text!r}")
    return sizes


def _split(n: int, fraction: float, seed: int):
    import numpy as np

    perm = np.random.default_rng([seed, 3]).permutation(n)
    n_test = int(round(n * fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


@app.command()
def train(
    data: Annotated[Optional[Path], typer.Option("--data", exists=True, file_okay=False,
                    help="Folder of labelled images, one sub-folder per class. Default: MNIST.")] = None,
    mnist_dir: Annotated[Optional[Path], typer.Option("--mnist", file_okay=False,
                         help="Folder with the MNIST files (default: as load_mnist finds them).")] = None,
    preset: Annotated[Preset, typer.Option(help="Starting recipe; the options below override it.")] = "fast",
    hidden: Annotated[Optional[str], typer.Option(help="Hidden layer sizes, e.g. 256,128.")] = None,
    activation: Annotated[Optional[Activation], typer.Option(help="Hidden-layer activation.")] = None,
    output_style: Annotated[Optional[OutputStyle], typer.Option("--output-style",
                            help="softmax, or one-vs-all sigmoid outputs.")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="Optimiser.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", min=0, help="Learning rate.")] = None,
    schedule: Annotated[Optional[Schedule], typer.Option(help="Learning-rate schedule over epochs.")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Passes over the training data.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Rows per minibatch.")] = None,
    l2: Annotated[Optional[float], typer.Option(min=0, help="L2 penalty lambda: l2/(2m) * sum W^2.")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment",
                       help="Random affine + elastic distortions each epoch.")] = None,
    outliers: Annotated[Optional[float], typer.Option(min=0, max=1,
                        help="Also train on this many pictures of no class (pairs, pieces, scribbles), as a share "
                             "of the training images, so that the network is unsure of what is not a digit.")] = None,
    members: Annotated[Optional[int], typer.Option(min=1,
                       help="Networks trained from seeds SEED, SEED+1, ...; their probabilities are averaged.")] = None,
    deskew: Annotated[Optional[bool], typer.Option("--deskew/--no-deskew",
                      help="Deskew images in the pipeline (default: the preset's; off but in 'shipped').")] = None,
    validation: Annotated[float, typer.Option(min=0, max=0.9,
                          help="Share of training data held out for validation.")] = 0.0,
    patience: Annotated[Optional[int], typer.Option(min=1,
                        help="Early stopping: epochs without better validation loss.")] = None,
    test_fraction: Annotated[float, typer.Option(min=0, max=0.9,
                             help="With --data: share of images held out as a test set.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of weights, shuffling and splits.")] = 0,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Kernel threads (default: all CPUs).")] = None,
    device: DeviceOption = "cpu",
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="Where to save the model.")] = Path(
        "model.npz"),
) -> None:
    """Train a network on MNIST or on a folder of labelled images, and save it."""
    from .preprocess import Normalization

    preset = Preset(preset)
    params = dict(PRESETS[preset.value])
    # the settings that are not an MLPClassifier's
    n_members, outlier_share, preset_deskew = (params.pop(key, default) for key, default in
                                               (("members", 1), ("outliers", 0.0), ("deskew", False)))
    n_members = members or n_members
    outlier_share = outlier_share if outliers is None else outliers
    deskew = preset_deskew if deskew is None else deskew
    overrides = {"hidden_layer_sizes": _hidden(hidden) if hidden else None, "activation": activation and activation.value,
                 "output": output_style and output_style.value, "solver": optimizer and optimizer.value,
                 "learning_rate_init": lr, "learning_rate": schedule and schedule.value, "max_iter": epochs,
                 "batch_size": batch_size, "alpha": l2, "augment": augment, "n_iter_no_change": patience}
    params.update({k: v for k, v in overrides.items() if v is not None})
    pipeline = Normalization(deskew=deskew)
    with _Interrupts() as interrupts:
        _train_and_save(params=params, n_members=n_members, outlier_share=outlier_share, pipeline=pipeline,
                        preset=preset, data=data, mnist_dir=mnist_dir, validation=validation,
                        test_fraction=test_fraction, seed=seed, threads=threads, device=device, output=output,
                        interrupts=interrupts)


def _train_and_save(*, params: dict, n_members: int, outlier_share: float, pipeline, preset, data, mnist_dir,
                    validation: float, test_fraction: float, seed: int, threads, device: str, output: Path,
                    interrupts: _Interrupts) -> None:
    """``train``'s work once its options are settled: read the data, fit
    (with a progress bar), score the test set, save; exits 130 after a
    Ctrl-C and 1 when the model could not be saved where asked."""
    import numpy as np

    from .data import NO_INK, load_image_folder, load_mnist
    from .ensemble import Ensemble
    from .model import MLPClassifier
    from .outliers import make_outliers

    model = None
    try:
        net = MLPClassifier(**params, validation_fraction=validation, random_state=seed, threads=threads,
                            device=_device(device), preprocessing=pipeline)
        net._validate_params()
        target = check_writable(model_path(output), "the model")  # before the work, not after it
        _compile_apart(net)
        model = net if n_members == 1 else Ensemble(net, n_members=n_members)
        t0 = time.perf_counter()
        if data is not None:
            _err(f"reading {data} ...")
            ds = load_image_folder(data, preprocessing=pipeline)
            for path, why in ds.skipped:  # a read error names its file; "no ink found" does not
                _err(f"skipped: {path}: {why}" if why == NO_INK else f"skipped: {why}", fg=typer.colors.YELLOW)
            X, y = ds.features, ds.names
            X_test = y_test = None
            if test_fraction:
                tr, te = _split(len(X), test_fraction, seed)
                X, y, X_test, y_test = X[tr], y[tr], X[te], y[te]
            source = f"{data} ({len(ds.classes)} classes)"
        else:
            _err("loading MNIST ...")
            d = load_mnist(mnist_dir)
            X, y = model.prepare(d.train_images), d.train_labels
            X_test, y_test = model.prepare(d.test_images), d.test_labels
            source = "MNIST"
        _err(f"{len(X):,} training images from {source}; network "
             f"{'-'.join(map(str, [X.shape[1], *params['hidden_layer_sizes'], len(set(y.tolist()))]))}, "
             f"{params.get('max_iter', 10)} epoch{'s' * (params.get('max_iter', 10) != 1)}"
             f"{f', {n_members} networks averaged' if n_members > 1 else ''} ({time.perf_counter() - t0:.1f} s to prepare)")
        rejects = None
        if outlier_share:
            # from the rows that fit trains on: none of a --validation split
            trained = net._split(X, np.zeros(len(X), np.int64))[0]
            rejects = make_outliers(trained, int(round(outlier_share * len(trained))), seed=[seed, 3],
                                    settings=pipeline)
            _err(f"{len(rejects):,} pictures of no class (pairs, pieces, scribbles) made from them")
        check_model_size(model, X.shape[1], len(set(y.tolist())))  # a model too big to read back: before training
        interrupted = _fit_with_progress(model, X, y, rejects, interrupts)
    except KeyboardInterrupt:  # while reading the data or compiling, or just after fit returned
        if not getattr(model, "history_", None):
            _err("interrupted before training: nothing trained, nothing saved", fg=typer.colors.YELLOW)
            raise typer.Exit(130) from None
        interrupted = True
    except FastDigitsError as exc:
        raise _fail(exc) from None
    if not getattr(model, "history_", None):  # Ctrl-C before fit had set up, or within the first epoch
        _err("interrupted before the first epoch ended: nothing saved", fg=typer.colors.YELLOW)
        raise typer.Exit(130)
    interrupts.saving = True  # from here on a Ctrl-C is noted, not obeyed: the model is saved first
    accuracy = None
    if X_test is not None and len(X_test) and not interrupts.noted:
        try:
            with compiled_forward():  # one scoring: not worth compiling the prediction kernel for
                accuracy = model.score(X_test, y_test)
        except FastDigitsError as exc:  # the model is saved all the same
            _err(f"warning: the test set could not be scored: {exc}", fg=typer.colors.YELLOW)
    networks = _networks(model)
    epochs_run = sum(len(n.history_) for n in networks)
    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name == "fastdigits" else []
    model.record_ = {
        "command": "fastdigits " + shlex.join(argv) if argv else f"fastdigits train --preset {preset.value}",
        "preset": preset.value, "seed": seed, "data": source, "fastdigits": __version__,
        **({"members": len(networks)} if n_members > 1 else {}),
        **({"outliers": outlier_share} if outlier_share else {}),
        "epochs_run": epochs_run, "interrupted": interrupted or bool(interrupts.noted),
        "seconds": round(time.perf_counter() - t0, 1),
        **({"test_accuracy": accuracy, "test_images": int(len(X_test))} if accuracy is not None else {}),
    }
    saved, failure = _save_or_rescue(model, target)
    if interrupts.noted:
        _err("interrupt: the model was saved first", fg=typer.colors.YELLOW)
    interrupted = interrupted or bool(interrupts.noted)
    if accuracy is not None:
        typer.echo(f"test accuracy {accuracy:.2%} on {len(X_test):,} images")
    if failure is not None:
        _err(f"error: {failure}", fg=typer.colors.RED)
        if saved is None:
            raise typer.Exit(1)
        _err(f"the model is saved to {saved} instead", fg=typer.colors.YELLOW)
    else:
        typer.echo(f"model saved to {saved}")
    if interrupted:
        kept = f"{len(networks)} networks, {epochs_run} epochs in all" if n_members > 1 else f"{epochs_run} epochs"
        _err(f"interrupted: kept the model after {kept}", fg=typer.colors.YELLOW)
    if failure is not None:  # not where asked: a failure, interrupted or not
        raise typer.Exit(1)
    if interrupted:
        raise typer.Exit(130)


def _save_or_rescue(model, target: Path):
    """Save ``model`` to ``target``; if that fails after all, to a new
    folder of the temporary folder so that the training is not lost.  Returns (the
    path saved to or None, the OutputError of ``target`` or None)."""
    import tempfile

    from .errors import OutputError

    try:
        return model.save(target), None
    except OutputError as exc:
        try:  # a folder of this user's alone (mkdtemp: mode 0700)
            return model.save(Path(tempfile.mkdtemp(prefix="fastdigits-rescued-")) / target.name), exc
        except (OutputError, OSError):
            return None, exc


class _Interrupts:
    """Ctrl-C (SIGINT) while ``train`` works.  The first raises
    ``KeyboardInterrupt`` (reading stops, or fit stops and keeps its best
    weights); any later one, and any once ``saving`` is set, is only
    counted in ``noted``, so that the trained model is saved.  Nothing is
    printed from the handler (it may run while the progress bar writes).
    Installed in the main thread only, where Python handles signals; a
    SIGINT that was being ignored (``nohup``) stays ignored."""

    def __init__(self):
        self.raised = 0
        self.noted = 0
        self.saving = False
        self._previous = None

    def __enter__(self) -> _Interrupts:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:
                # None: a handler installed from C, which Python cannot put back; its default then.
                self._previous = signal.default_int_handler if previous is None else previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.raised or self.saving:
            self.noted += 1
            return
        self.raised += 1
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGINT, self._previous)


def _compile_apart(model) -> None:
    """Compile the training kernels in a child process when numba's cache
    lacks them.

    The compiler's memory is not given back by the process that used it;
    compiled apart, it is gone before the data is loaded (the default MNIST
    run peaked at 651 MB compiled in-process at commit 02f9431; now the
    compiling child holds the peak and training itself stays near 345 MB:
    benchmarks/RESULTS.md), and the one-off wait gets its own line.  The
    prediction kernel is compiled too only when a validation split will
    need it after every epoch: the test set is scored by the forward pass
    that pip install built (``compiled_forward``)."""
    import subprocess

    from .kernels import cpu
    from .kernels.cache import is_cached

    if model.device != "cpu" or is_cached(cpu.train_range, model.dtype):  # GPU kernels, or nothing to compile
        return
    _err("compiling the kernels for this CPU (once: numba caches them) ...")
    t0 = time.perf_counter()
    validated = bool(getattr(model, "validation_fraction", 0.0))
    code = (f"from fastdigits.model import warm_kernels; warm_kernels({model.dtype!r}, "
            f"{model._augmentation() is not None}, predict={validated})")
    # From the package's parent folder: the child imports the fastdigits this process did, whatever the cwd.
    home = Path(__file__).resolve().parents[1]
    if subprocess.run([sys.executable, "-c", code], cwd=home).returncode == 0:
        _err(f"compiled in {time.perf_counter() - t0:.1f} s")
    else:
        _err("compiling in a child process failed; compiling here", fg=typer.colors.YELLOW)


def _fit_with_progress(model, X, y, outliers=None, interrupts: _Interrupts | None = None) -> bool:
    """fit with a progress bar on stderr; True if Ctrl-C stopped it.  From
    the moment fit returns, ``interrupts`` defers Ctrl-C to the save."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = [TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[status]}")]

    def where(member, members, epoch, epochs):  # "3/30", or "network 2/3, 3/30" in an ensemble
        return (f"network {member + 1}/{members}, " if members > 1 else "") + f"{epoch + 1}/{epochs}"

    # Off when stderr is no terminal (a log file would keep one cut-off bar); the epoch lines stay.
    with Progress(*columns, console=console, transient=False,
                  disable=not console.is_terminal or console.is_dumb_terminal) as bar:
        task = bar.add_task("train", total=len(X), epoch="1", status="")

        def report(p):  # samples_total: the rows an epoch trains on (a validation split holds some out)
            bar.update(task, completed=p.samples_done, total=p.samples_total,
                       epoch=where(p.member, p.members, p.epoch, p.epochs))
            if p.record is not None:
                r = p.record
                val = f", val acc {r['val_accuracy']:.2%}" if "val_accuracy" in r else ""
                status = (f"loss {r['loss']:.4f}, train acc {r['train_accuracy']:.2%}{val}, "
                          f"{r['samples_per_second']:,.0f} samples/s")
                bar.update(task, status=status)
                network = f"network {p.member + 1}/{p.members}, " if p.members > 1 else ""
                console.print(f"{network}epoch {r['epoch']:>3}: {status}")
                if p.epoch + 1 < p.epochs:
                    bar.reset(task, total=p.samples_total, epoch=where(p.member, p.members, p.epoch + 1, p.epochs),
                              status="")
                elif p.member + 1 < p.members:
                    bar.reset(task, total=p.samples_total, epoch=where(p.member + 1, p.members, 0, p.epochs),
                              status="")

        try:
            model.fit(X, y, outliers=outliers, callback=report)
        except KeyboardInterrupt:
            return True
        finally:
            if interrupts is not None:
                interrupts.saving = True  # the bar may still be closing: a Ctrl-C now waits for the save
    return False


# --------------------------------------------------------------- evaluate


def _networks(model) -> list:
    """The networks of a model: an Ensemble's members, or the one MLPClassifier."""
    return getattr(model, "members_", [model])


def _device(device: str) -> str:
    """The value of ``--device``, checked in the command line's words."""
    from .errors import InputError
    from .kernels.backend import cuda_problem

    device = Device(device).value
    if device == "cuda" and (problem := cuda_problem()):
        raise InputError(f"--device cuda {problem}; use --device cpu")
    return device


def _load(model_path: Optional[Path], device: str = "cpu"):
    """The model file (default: the shipped one), set to run on ``device``
    (checked: a GPU asked for and not found is a FastDigitsError)."""
    from .persist import load_model

    model = load_model(model_path)
    model.device = _device(device)
    for net in _networks(model):
        net._validate_params()
    return model


ModelOption = Annotated[Optional[Path], typer.Option("--model", "-m", exists=True, dir_okay=False,
                                                     help="Model file (default: the shipped digit model).")]


@app.command()
def evaluate(
    model_path: Annotated[Optional[Path], typer.Argument(metavar="MODEL", exists=True, dir_okay=False,
                          help="Model file (default: the shipped digit model).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", exists=True, file_okay=False,
                    help="Folder of labelled images (default: the MNIST test set).")] = None,
    report: Annotated[Optional[Path], typer.Option(file_okay=False,
                      help="Also write PNG pictures here: confusion matrix, mistakes, hidden units.")] = None,
    device: DeviceOption = "cpu",
) -> None:
    """Accuracy, per-class precision and recall, and the confusion matrix."""
    import numpy as np

    from .data import NO_INK, load_image_folder, load_mnist, read_image
    from .metrics import class_indices, evaluate_predictions

    try:
        if report is not None:
            check_folder(report, "the report")  # before the work, not after it
        model = _load(model_path, device)
        if data is not None:
            ds = load_image_folder(data, preprocessing=model.preprocessing)
            frames, truth, originals = ds.images, ds.names, None
            paths = ds.paths
            blank = sum(why == NO_INK for _, why in ds.skipped)
            if ds.skipped:
                _err(f"not scored: {blank} without ink, {len(ds.skipped) - blank} unreadable",
                     fg=typer.colors.YELLOW)
        else:
            d = load_mnist()
            frames = model.prepare(d.test_images).reshape(-1, 20, 20)
            truth, originals, paths = d.test_labels, d.test_images, None
        proba = model.predict_proba(frames.reshape(len(frames), -1))
        # A folder "3" is the class 3 of a digit model: matched as fit and score match labels.
        truth = class_indices(truth, model.classes_, name=f"the folder {data}" if data else "the MNIST test set")
        pred = proba.argmax(axis=1)
        classes = model.classes_
        ev = evaluate_predictions(classes[truth], classes[pred], classes.tolist())  # ev.classes: the names
        names = [str(c) for c in ev.classes]
    except FastDigitsError as exc:
        raise _fail(exc) from None
    width = max(7, *(len(n) for n in names))
    typer.echo(f"accuracy {ev.accuracy:.2%} on {len(truth):,} images\n")
    typer.echo(f"{'class':>{width}} {'precision':>9} {'recall':>7} {'support':>8}")
    for name, p, r, s in zip(names, ev.precision, ev.recall, ev.support):
        typer.echo(f"{name:>{width}} {p:9.2%} {r:7.2%} {s:8d}")
    typer.echo(f"\nconfusion matrix (rows: true class, columns: predicted)\n{'':>{width}} "
               + " ".join(f"{n:>5}" for n in names))
    for name, row in zip(names, ev.confusion):
        typer.echo(f"{name:>{width}} " + " ".join(f"{v:5d}" for v in row))
    if report is not None:
        from .sheet import confusion_png, contact_sheet, weights_png

        report.mkdir(parents=True, exist_ok=True)
        written = [confusion_png(ev.confusion, names, report / "confusion.png")]
        wrong = np.nonzero(pred != truth)[0][:48]
        if len(wrong):
            shown = [originals[i] if originals is not None else read_image(paths[i]) for i in wrong]
            labels = [f"{names[truth[i]]}->{names[pred[i]]} {proba[i].max():.2f}" for i in wrong]
            written.append(contact_sheet(shown, frames[wrong], report / "mistakes.png", labels=labels))
        if model.n_features_in_ == 400:
            units = np.hstack([net.coefs_[0] for net in _networks(model)])
            written.append(weights_png(units, report / "hidden_units.png"))
        _err("wrote " + ", ".join(str(p) for p in written))


# --------------------------------------------------------------- classify


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders (searched recursively) or glob patterns.")],
    model_path: ModelOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                      help="Write results here instead of stdout.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", "-k", min=1,
                     help="Give the K most probable classes instead of every class.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images decoded and classified at a time.")] = 256,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Decoding threads (default: all CPUs).")] = None,
    sort_into: Annotated[Optional[Path], typer.Option(file_okay=False,
                         help=f"Copy each classified file into DIR/<label>/, pictures without ink "
                              f"into DIR/{BLANK_FOLDER}/.")] = None,
    move: Annotated[bool, typer.Option(help="With --sort-into: move files instead of copying them.")] = False,
    device: DeviceOption = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")] = False,
) -> None:
    """Classify pictures: one row per file with its label and probabilities.

    A picture with nothing to read gets no label and the note "no ink
    found" (not an error). Unreadable files get a row with an error and the
    rest go on; the exit code is 1 if any file failed.
    """
    from .classify import classify_files, find_images, sort_into as sort_file

    try:
        if sort_into is not None:
            check_folder(sort_into, "the sorted pictures")  # before the work, not after it
        model = _load(model_path, device)
    except FastDigitsError as exc:
        raise _fail(exc) from None
    files, missing = find_images(paths)
    classes = model.classes_.tolist()
    k = min(top_k, len(classes)) if top_k else None
    out = _open_output(output) if output else sys.stdout
    classified = blank = failed = 0
    try:
        writer = _writer(fmt, out, classes, k)
        # streamed: each row is written (and flushed) as its batch is done
        with _file_progress(len(files) + len(missing), quiet, "classify", to_stdout=output is None) as advance:
            for result in itertools.chain(missing, classify_files(model, files, batch_size=batch_size,
                                                                  workers=workers)):
                writer(result)
                out.flush()
                advance()
                if not result.ok:
                    failed += 1
                    _err(result.error, fg=typer.colors.RED)
                    continue
                blank += result.blank
                classified += not result.blank
                if sort_into is not None:
                    sort_file(result, sort_into, move=move)
    finally:
        if output:
            out.close()
    _err(f"{classified} classified, {blank} without ink, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _writer(fmt: Format, out, classes: list, k: Optional[int]):
    """A function writing one result as a CSV row or a JSON line (labels
    keep their type in JSON: 7 for digits, "A" for letters).  A picture
    without ink has an empty label (JSON null) and its ``note``; a file
    that failed, its ``error``."""
    import numpy as np

    def ranked(result):
        order = np.argsort(-result.probabilities, kind="stable")[:k]
        return [(classes[i], float(result.probabilities[i])) for i in order]

    if fmt is Format.jsonl:
        def write(result):
            row = {"path": result.path}
            if not result.ok:
                row["error"] = result.error
            elif result.blank:
                row.update(label=None, probability=None, note=result.note)
            else:
                row.update(label=result.label, probability=round(result.probability, 6))
                if k:
                    row["top"] = [{"label": c, "probability": round(p, 6)} for c, p in ranked(result)]
                else:
                    row["probabilities"] = {str(c): round(float(p), 6) for c, p in zip(classes, result.probabilities)}
            out.write(_json_line(row))
        return write

    writer = _Rows(out)
    extra = [f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "probability")] if k else \
        [f"p_{c}" for c in classes]
    writer.writerow(["path", "label", "probability", "error", "note", *extra])

    def write(result):
        if not result.ok or result.blank:
            writer.writerow([result.path, "", "", result.error or "", result.note or "", *[""] * len(extra)])
        elif k:
            writer.writerow([result.path, result.label, f"{result.probability:.6f}", "", "",
                             *[v for c, p in ranked(result) for v in (c, f"{p:.6f}")]])
        else:
            writer.writerow([result.path, result.label, f"{result.probability:.6f}", "", "",
                             *[f"{p:.6f}" for p in result.probabilities]])
    return write


# ------------------------------------------------------------------ bench


# ------------------------------------------------------------------- read


@app.command()
def read(
    paths: Annotated[list[str], typer.Argument(help="Picture files, folders (searched recursively) or glob patterns.")],
    model_path: ModelOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f",
                   help="csv: path, text, confidence, note, error; jsonl adds each digit.")] = Format.csv,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                      help="Write results here instead of stdout.")] = None,
    min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0,
                              help="Digits read with a lower probability are ? in the text.")] = 0.0,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Threads (default: all CPUs).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")] = False,
) -> None:
    """Read the number written in each picture: one row per file, in order.

    Several lines of writing are read top to bottom, separated by a newline
    in the text.  The confidence is the product of the digits'
    probabilities.  A picture with nothing to read gets an empty text and
    the note "no ink found"; unreadable files get a row with an error and
    the rest go on; the exit code is 1 if any file failed.
    """
    from .classify import find_images
    from .read import read_files

    try:
        model = _load(model_path)
    except FastDigitsError as exc:
        raise _fail(exc) from None
    files, missing = find_images(paths)
    out = _open_output(output) if output else sys.stdout
    done = blank = failed = 0
    try:
        if fmt is Format.csv:
            rows = _Rows(out)
            rows.writerow(["path", "text", "confidence", "note", "error"])
        with _file_progress(len(files) + len(missing), quiet, "read", to_stdout=output is None) as advance:
            for result in itertools.chain((_missing_reading(m) for m in missing),
                                          read_files(files, model, min_confidence=min_confidence, workers=workers)):
                if fmt is Format.csv:
                    rows.writerow([result.path, result.text, f"{result.confidence:.6f}" if result.ok else "",
                                   result.note or "", result.error or ""])
                else:
                    out.write(_json_line(_reading_json(result)))
                out.flush()
                advance()
                if not result.ok:
                    failed += 1
                    _err(result.error, fg=typer.colors.RED)
                elif result.note:
                    blank += 1
                else:
                    done += 1
    finally:
        if output:
            out.close()
    _err(f"{done} read, {blank} without ink, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _missing_reading(result):
    from .read import Reading

    return Reading(path=result.path, error=result.error)


def _reading_json(result) -> dict:
    row = {"path": result.path, "text": result.text if result.ok else None,
           "confidence": round(result.confidence, 6) if result.ok else None}
    if result.note:
        row["note"] = result.note
    if not result.ok:
        row["error"] = result.error
    row["digits"] = [{"label": d.label, "probability": round(d.probability, 6), "box": list(d.box), "line": d.line}
                     for d in result.digits]
    return row


@app.command()
def bench(
    repeats: Annotated[int, typer.Option(min=1, help="Repeats per case (the median is reported).")] = 5,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Threads for everyone (default: all CPUs).")] = None,
    quick: Annotated[bool, typer.Option(help="10,000 training rows instead of 60,000.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
) -> None:
    """Measure training, inference, latency and preprocessing speed here,
    beside NumPy (and scikit-learn / PyTorch when installed)."""
    from . import bench as measure

    try:
        report = measure.run(repeats=repeats, threads=threads, quick=quick,
                             progress=lambda m: _err(f"measuring {m} ..."))
    except FastDigitsError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(report, indent=2) if as_json else measure.format_table(report))


# ------------------------------------------------------------------- show


@app.command()
def show(
    model_path: Annotated[Optional[Path], typer.Argument(metavar="MODEL", exists=True, dir_okay=False,
                          help="Model file (default: the shipped digit model).")] = None,
) -> None:
    """Architecture, classes, preprocessing and training record of a model."""
    from .preprocess import preprocessing_dict

    try:
        model = _load(model_path)
    except FastDigitsError as exc:
        raise _fail(exc) from None
    networks = _networks(model)
    first = networks[0]
    p = first.get_params()
    shapes = sorted({"-".join(map(str, net.layer_sizes_)) for net in networks})
    shape = f"{len(networks)} x {shapes[0]}, probabilities averaged" if len(networks) > 1 and len(shapes) == 1 \
        else " + ".join(shapes)
    typer.echo(f"network        {shape}, {p['activation']} hidden units, {p['output']} outputs, "
               f"{sum(net.params_.size for net in networks):,} parameters ({p['dtype']})")
    typer.echo(f"classes        {', '.join(str(c) for c in model.classes_.tolist())}")
    prep = preprocessing_dict(model.preprocessing)
    typer.echo("preprocessing  " + ", ".join(f"{k}={v}" for k, v in prep.items()))
    aug = first._augmentation()
    seeds = ", ".join(str(net.random_state) for net in networks)
    typer.echo(f"training       {p['solver']}, lr {p['learning_rate_init']} ({p['learning_rate']}), batch {p['batch_size']}, "
               f"alpha {p['alpha']}, augmentation {'on' if aug else 'off'}, seed{'s' if len(networks) > 1 else ''} {seeds}")
    for key, value in model.record_.items():
        typer.echo(f"{key:<14} {value}")
    for k, net in enumerate(networks):
        if net.history_:
            last = net.history_[-1]
            which = f" ({k + 1})" if len(networks) > 1 else ""
            typer.echo(f"{'last epoch' + which:<14} {last['epoch']}: loss {last['loss']:.4f}, "
                       f"train accuracy {last['train_accuracy']:.2%}")


def main() -> None:  # console-script entry point
    # Under a strict locale, text that cannot be encoded (a name in messages) is escaped, never a traceback.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    app()
