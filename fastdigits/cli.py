"""The ``fastdigits`` command.

Each command parses its options, makes one call into the library
(mostly :mod:`fastdigits.recipes`) and prints what it returns.  This is
the only module that prints: data goes to stdout, progress and messages
to stderr.  Commands run inside one error boundary (:class:`_Commands`):
a ``FastDigitsError`` becomes one red line and exit code 1.
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
from typer.core import TyperGroup

from . import __version__, recipes
from .classify import BLANK_FOLDER
from .config import PARTITION_SIZE
from .errors import FastDigitsError, InputError, OutputError
from .kernels import HIDDEN_ACTIVATIONS, OUTPUTS
from .model import DEVICES, SCHEDULES, SOLVERS
from .recipes import PRESETS


class _Commands(TyperGroup):
    """The error boundary of every command: a ``FastDigitsError`` (an
    ``OutputError`` included) raised while a command parses or runs
    becomes ``error: MESSAGE`` in red on stderr and exit code 1, without a
    traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FastDigitsError as exc:
            _err(f"error: {exc}", fg=typer.colors.RED)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="fastdigits",
    cls=_Commands,
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


def _warn(message: str) -> None:
    _err(message, fg=typer.colors.YELLOW)


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


def _unwritable(path: Path) -> str | None:
    """Why a results file could not be written at ``path``, or None."""
    if path.is_dir():
        return "it is a folder"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        return "permission denied"
    return None


#: No first result (no files at all).
_NOTHING = object()


@contextlib.contextmanager
def _output(path: Optional[Path]):
    """stdout, or the results file opened for writing in UTF-8 (rows are
    ``_escaped``) and closed at the end; a folder that does not exist or
    cannot be written is an OutputError, not a traceback."""
    if path is None:
        yield sys.stdout
        return
    try:
        out = open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        why = f"the folder {path.parent} does not exist" if not path.parent.is_dir() else exc.strerror or exc
        raise OutputError(f"cannot write {path}: {why}") from None
    with out:
        yield out


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

    data = load_mnist(path, download_missing=download)
    folder = find_mnist(path)
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


def _hidden(text: Optional[str]) -> Optional[tuple[int, ...]]:
    if not text:
        return None
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected layer sizes like 256,128; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise typer.BadParameter(f"layer sizes must be positive; got {text!r}")
    return sizes


def _device(device: str) -> str:
    """The value of ``--device``, checked in the command line's words."""
    from .kernels.backend import backend

    device = Device(device).value
    if problem := backend(device).problem():
        raise InputError(f"--device {device} {problem}; use --device cpu")
    return device


def _value(choice: Optional[Enum]):
    return None if choice is None else choice.value


@app.command()
def train(
    *,
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
    preset = Preset(preset).value
    settings = {"hidden_layer_sizes": _hidden(hidden), "activation": _value(activation),
                "output": _value(output_style), "solver": _value(optimizer), "learning_rate_init": lr,
                "learning_rate": _value(schedule), "max_iter": epochs, "batch_size": batch_size, "alpha": l2,
                "augment": augment, "n_iter_no_change": patience}
    with _Interrupts() as interrupts, _TrainingDisplay(interrupts) as display:
        run = recipes.train(preset=preset, settings=settings, data=data, mnist=mnist_dir, members=members,
                            outliers=outliers, deskew=deskew, validation=validation, test_fraction=test_fraction,
                            seed=seed, threads=threads, device=_device(device), output=output,
                            command=_command_line(preset), callback=display)
    _report_training(run, interrupted=run.interrupted or bool(interrupts.noted), noted=bool(interrupts.noted))


def _command_line(preset: str) -> str:
    """How this run was started, for the model's record."""
    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name == "fastdigits" else []
    return "fastdigits " + shlex.join(argv) if argv else f"fastdigits train --preset {preset}"


def _report_training(run: recipes.TrainingRun, *, interrupted: bool, noted: bool) -> None:
    """What ``train`` says once the run is over; exits 130 after a Ctrl-C
    and 1 when the model is not where asked."""
    if not run.epochs_run:  # Ctrl-C before fit had set up, or within the first epoch
        _warn("interrupted before the first epoch ended: nothing saved")
        raise typer.Exit(130)
    if noted:
        _warn("interrupt: the model was saved first")
    if run.test_accuracy is not None:
        typer.echo(f"test accuracy {run.test_accuracy:.2%} on {run.test_images:,} images")
    if run.save_error is not None:
        _err(f"error: {run.save_error}", fg=typer.colors.RED)
        if run.saved is None:
            raise typer.Exit(1)
        _warn(f"the model is saved to {run.saved} instead")
    else:
        typer.echo(f"model saved to {run.saved}")
    if interrupted:
        members = run.record.get("members")
        _warn(f"interrupted: kept the model after "
              f"{f'{members} networks, {run.epochs_run} epochs in all' if members else f'{run.epochs_run} epochs'}")
    if run.save_error is not None:  # not where asked: a failure, interrupted or not
        raise typer.Exit(1)
    if interrupted:
        raise typer.Exit(130)


class _Interrupts:
    """Ctrl-C (SIGINT) while ``train`` works.  The first raises
    ``KeyboardInterrupt`` (reading stops, or fit stops and keeps its best
    weights); any later one, and any once ``saving`` is set, is only
    counted in ``noted``, so that the trained model is saved.  Nothing is
    printed from the handler (it may run while the progress bar writes).
    Installed in the main thread only, where Python handles signals; a
    SIGINT that was being ignored (``nohup``) stays ignored.  A
    ``KeyboardInterrupt`` that leaves the block (one before fit: fit's own
    ends the run early) ends the command: exit 130, nothing saved."""

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

    def __exit__(self, kind, value, traceback) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGINT, self._previous)
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            _warn("interrupted before training: nothing trained, nothing saved")
            raise typer.Exit(130) from None


class _TrainingDisplay:
    """``train``'s callback: each step a line on stderr; fit's progress a
    bar (on a terminal) and a line per epoch; once fit has returned, Ctrl-C
    waits for the save (``interrupts.saving``), the bar closes, and a
    Ctrl-C noted by then skips the scoring of the test set."""

    def __init__(self, interrupts: _Interrupts):
        from rich.console import Console

        self.interrupts = interrupts
        self.console = Console(stderr=True)
        self.bar = None

    def __enter__(self) -> _TrainingDisplay:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.stop()

    def __call__(self, event) -> Optional[bool]:
        if isinstance(event, recipes.Note):
            _err(event.text, **({"fg": typer.colors.YELLOW} if event.warning else {}))
        elif isinstance(event, recipes.Fitted):
            self.interrupts.saving = True  # the bar may still be closing: a Ctrl-C now waits for the save
            self.close()
            return not self.interrupts.noted
        else:
            self._progress(event)
        return None

    def _progress(self, p) -> None:
        """fit's Progress: samples_total is the rows an epoch trains on (a
        validation split holds some out)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.bar is None:
            columns = [TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.fields[status]}")]
            # Off when stderr is no terminal (a log file would keep one cut-off bar); the epoch lines stay.
            self.bar = Progress(*columns, console=self.console, transient=False,
                                disable=not self.console.is_terminal or self.console.is_dumb_terminal)
            self.bar.start()
            self.task = self.bar.add_task("train", total=p.samples_total, epoch="1", status="")
        bar, task = self.bar, self.task
        bar.update(task, completed=p.samples_done, total=p.samples_total,
                   epoch=_where(p.member, p.members, p.epoch, p.epochs))
        if p.record is None:
            return
        r = p.record
        val = f", val acc {r['val_accuracy']:.2%}" if "val_accuracy" in r else ""
        status = (f"loss {r['loss']:.4f}, train acc {r['train_accuracy']:.2%}{val}, "
                  f"{r['samples_per_second']:,.0f} samples/s")
        bar.update(task, status=status)
        network = f"network {p.member + 1}/{p.members}, " if p.members > 1 else ""
        self.console.print(f"{network}epoch {r['epoch']:>3}: {status}")
        if p.epoch + 1 < p.epochs:
            bar.reset(task, total=p.samples_total, epoch=_where(p.member, p.members, p.epoch + 1, p.epochs), status="")
        elif p.member + 1 < p.members:
            bar.reset(task, total=p.samples_total, epoch=_where(p.member + 1, p.members, 0, p.epochs), status="")


def _where(member: int, members: int, epoch: int, epochs: int) -> str:
    """"3/30", or "network 2/3, 3/30" in an ensemble."""
    return (f"network {member + 1}/{members}, " if members > 1 else "") + f"{epoch + 1}/{epochs}"


# --------------------------------------------------------------- evaluate


DaskOption = Annotated[Optional[str], typer.Option(
    "--dask", metavar="ADDRESS", help="Run on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786, or a "
    "scheduler file .json), or 'local': worker processes on this machine's CPUs. Needs fastdigits\\[dask].")]
PartitionOption = Annotated[int, typer.Option(min=1, help="With --dask: files per task. A multiple of --batch-size "
                                               "gives probabilities identical to a local run's to the last digit.")]
ModelOption = Annotated[Optional[Path], typer.Option("--model", "-m", exists=True, dir_okay=False,
                                                     help="Model file (default: the shipped digit model).")]
ModelArgument = Annotated[Optional[Path], typer.Argument(metavar="MODEL", exists=True, dir_okay=False,
                                                         help="Model file (default: the shipped digit model).")]


@app.command()
def evaluate(
    model_path: ModelArgument = None,
    data: Annotated[Optional[Path], typer.Option("--data", exists=True, file_okay=False,
                    help="Folder of labelled images (default: the MNIST test set).")] = None,
    report: Annotated[Optional[Path], typer.Option(file_okay=False,
                      help="Also write PNG pictures here: confusion matrix, mistakes, hidden units.")] = None,
    device: DeviceOption = "cpu",
) -> None:
    """Accuracy, per-class precision and recall, and the confusion matrix."""
    run = recipes.evaluate(model_path, data, device=_device(device), report=report)
    if run.without_ink or run.unreadable:
        _warn(f"not scored: {run.without_ink} without ink, {run.unreadable} unreadable")
    ev, names = run.evaluation, run.names
    width = max(7, *(len(n) for n in names))
    typer.echo(f"accuracy {ev.accuracy:.2%} on {run.images:,} images\n")
    typer.echo(f"{'class':>{width}} {'precision':>9} {'recall':>7} {'support':>8}")
    for name, p, r, s in zip(names, ev.precision, ev.recall, ev.support):
        typer.echo(f"{name:>{width}} {p:9.2%} {r:7.2%} {s:8d}")
    typer.echo(f"\nconfusion matrix (rows: true class, columns: predicted)\n{'':>{width}} "
               + " ".join(f"{n:>5}" for n in names))
    for name, row in zip(names, ev.confusion):
        typer.echo(f"{name:>{width}} " + " ".join(f"{v:5d}" for v in row))
    if run.written:
        _err("wrote " + ", ".join(str(p) for p in run.written))


# --------------------------------------------------------------- classify


class Format(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Image files, folders (searched recursively) or glob patterns.")],
    *,
    model_path: ModelOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                      help="Write results here instead of stdout.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", "-k", min=1,
                     help="Give the K most probable classes instead of every class.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images decoded and classified at a time.")] = 256,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Decoding threads (default: all CPUs; with --dask, "
                                                              "each task's threads, default: its worker's).")] = None,
    sort_into: Annotated[Optional[Path], typer.Option(file_okay=False,
                         help=f"Copy each classified file into DIR/<label>/, pictures without ink "
                              f"into DIR/{BLANK_FOLDER}/.")] = None,
    move: Annotated[bool, typer.Option(help="With --sort-into: move files instead of copying them.")] = False,
    device: DeviceOption = "cpu",
    dask: DaskOption = None,
    partition_size: PartitionOption = PARTITION_SIZE,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")] = False,
) -> None:
    """Classify pictures: one row per file with its label and probabilities.

    A picture with nothing to read gets no label and the note "no ink
    found" (not an error). Unreadable files get a row with an error and the
    rest go on; the exit code is 1 if any file failed.
    """
    # With --dask, everything is checked before the cluster is connected to (at the first row).
    results = recipes.classify(paths, model_path, device=_device(device), batch_size=batch_size, workers=workers,
                               sort_into=sort_into, move=move, client=dask, partition_size=partition_size)
    k = min(top_k, len(results.classes)) if top_k else None
    _write_rows(results, output, lambda out: _writer(fmt, out, results.classes, k), "classify", quiet)
    _finish(results.tally, "classified")


def _write_rows(results: recipes.FileResults, output: Optional[Path], writer, what: str, quiet: bool) -> None:
    """Stream ``results`` to ``output`` (stdout if None) through
    ``writer(out)``'s function, flushing each row, with a progress bar;
    each failed file's error on stderr as it comes."""
    if output is not None and (problem := _unwritable(output)):  # refused before any work
        raise OutputError(f"cannot write {output}: {problem}")
    rows = iter(results)
    # The first result before the file is opened: a cluster that cannot be
    # reached (or anything else that fails before the first row) leaves
    # an earlier results file as it was, not truncated to a header.
    first = next(rows, _NOTHING)
    with _output(output) as out:
        write = writer(out)
        with _file_progress(len(results), quiet, what, to_stdout=output is None) as advance:
            for result in itertools.chain(() if first is _NOTHING else (first,), rows):
                write(result)
                out.flush()
                advance()
                if not result.ok:
                    _err(result.error, fg=typer.colors.RED)


def _finish(tally: recipes.Tally, answered: str) -> None:
    """The closing line of classify and read; exit 1 if any file failed."""
    _err(f"{tally.answered} {answered}, {tally.blank} without ink, {tally.failed} failed")
    if tally.failed:
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
    workers: Annotated[Optional[int], typer.Option(min=1, help="Threads (default: all CPUs; with --dask, each "
                                                              "task's, default: its worker's).")] = None,
    dask: DaskOption = None,
    partition_size: PartitionOption = PARTITION_SIZE,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on stderr.")] = False,
) -> None:
    """Read the number written in each picture: one row per file, in order.

    Several lines of writing are read top to bottom, separated by a newline
    in the text.  The confidence is the product of the digits'
    probabilities.  A picture with nothing to read gets an empty text and
    the note "no ink found"; unreadable files get a row with an error and
    the rest go on; the exit code is 1 if any file failed.
    """
    readings = recipes.read(paths, model_path, min_confidence=min_confidence, workers=workers, client=dask,
                            partition_size=partition_size)
    _write_rows(readings, output, lambda out: _reading_writer(fmt, out), "read", quiet)
    _finish(readings.tally, "read")


def _reading_writer(fmt: Format, out):
    """A function writing one Reading as a CSV row (path, text,
    confidence, note, error) or a JSON line that adds each digit."""
    if fmt is Format.jsonl:
        return lambda reading: out.write(_json_line(_reading_json(reading)))
    rows = _Rows(out)
    rows.writerow(["path", "text", "confidence", "note", "error"])
    return lambda r: rows.writerow([r.path, r.text, f"{r.confidence:.6f}" if r.ok else "", r.note or "", r.error or ""])


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


# ----------------------------------------------------------------- export


@app.command()
def export(
    model_path: ModelArgument = None,
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False,
                      help="The ONNX file to write, e.g. model.onnx.")] = ...,
) -> None:
    """Write a model as an ONNX graph (prepared 400 float32 inputs to class
    probabilities and label index; classes and preprocessing in its
    metadata) for onnxruntime, browsers and phones.  Needs
    pip install 'fastdigits\\[onnx]'."""
    _err(f"wrote {recipes.export(model_path, output)}")


# ------------------------------------------------------------------ bench


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

    report = measure.run(repeats=repeats, threads=threads, quick=quick, progress=lambda m: _err(f"measuring {m} ..."))
    typer.echo(json.dumps(report, indent=2) if as_json else measure.format_table(report))


# ------------------------------------------------------------------- show


@app.command()
def show(model_path: ModelArgument = None) -> None:
    """Architecture, classes, preprocessing and training record of a model."""
    for what, value in recipes.describe(model_path):
        typer.echo(f"{what:<14} {value}")


def main() -> None:  # console-script entry point
    # Under a strict locale, text that cannot be encoded (a name in messages) is escaped, never a traceback.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    app()
