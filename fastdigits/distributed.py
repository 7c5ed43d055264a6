"""Classify and read picture files on a Dask cluster (``dask.distributed``).

``pip install 'fastdigits[dask]'`` adds Dask.  The file list is cut into
partitions of ``partition_size`` files; each worker process loads the
model once (its model file's bytes are sent to each worker once, not
pickled into every task) and decodes, prepares and classifies the
partitions it is given, a task decoding its files one by one and running
the network with the worker's threads.  Rows come back in the order of
the files, the same rows as a local run gives (a file that cannot be read
is a row with its error); a worker that dies has its partitions run again
elsewhere by Dask's scheduler, so nothing is lost or given twice.

Three ways in:

- :func:`stream` streams :class:`fastdigits.classify.Result` or
  :class:`fastdigits.Reading` objects in order, as partitions finish:
  what ``fastdigits classify --dask ADDRESS`` and ``fastdigits read
  --dask ADDRESS`` write.
- :func:`classify` and :func:`read` give a lazy ``dask.dataframe`` with
  the columns of the commands' CSV output, to compose with other Dask work.
- :func:`predict_proba` runs a model over a chunked ``dask.array`` of
  prepared rows.

Paths are opened on the workers: local paths must be visible there (a
shared file system; relative ones are taken from the client's working
folder), and fsspec URLs (``s3://``, ``gs://``, ``file://``) are read by
the workers themselves.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import io
import itertools
import json
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config
from ._models import networks as _networks
from .config import PARTITION_SIZE
from .errors import ClusterError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import dask.array
    import dask.dataframe
    import distributed

    from .classify import Result
    from .ensemble import Ensemble
    from .model import MLPClassifier
    from .read import Reading

__all__ = ["ClusterError", "classify", "connect", "predict_proba", "read", "stream"]


_INSTALL = "pip install 'fastdigits[dask]'"


def _distributed():
    """``dask.distributed``, or an InputError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError(f"running on a Dask cluster needs dask.distributed: {_INSTALL}") from None
    return distributed


@contextlib.contextmanager
def connect(address: str = "local", *, n_workers: int | None = None, timeout: float | None = None
            ) -> Iterator[distributed.Client]:
    """A ``distributed.Client`` of the scheduler at ``address``, closed at the end.

    Parameters
    ----------
    address : str
        A scheduler's address (``tcp://10.0.0.5:8786``, or a scheduler
        file's path ending in ``.json``), or ``"local"``: a
        ``distributed.LocalCluster`` of worker processes on this machine,
        one thread each, started here and stopped at the end.
    n_workers : int, optional
        With ``"local"``: worker processes (default: the CPUs available).
    timeout : float, optional
        Seconds to wait for the scheduler to answer (default: Dask's
        ``distributed.comm.timeouts.connect``, 30 s).

    Returns
    -------
    context manager of distributed.Client
        ``with connect(...) as client:``; the client (and a local
        cluster) closed when the block ends.  Within it, the client's own
        log says nothing below CRITICAL: a lost scheduler is this module's
        :class:`ClusterError` instead of a logged traceback.

    Raises
    ------
    InputError
        If dask.distributed is not installed.
    ClusterError
        At once if nothing listens at a ``tcp://`` address (the connection
        is refused); if no scheduler answers at ``address`` within
        ``timeout``, or a
        scheduler file is missing or holds no scheduler's address.

    Examples
    --------
    >>> from fastdigits import distributed
    >>> with distributed.connect("local", n_workers=2) as client:  # doctest: +SKIP
    ...     rows = distributed.classify(["scans/"]).compute()
    """
    dd = _distributed()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_log_level("distributed.client", logging.CRITICAL))  # restored last, after close
        if address == "local":
            from .config import default_threads

            cluster = stack.enter_context(dd.LocalCluster(
                n_workers=n_workers or default_threads(), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(dd.Client(cluster))
        else:
            where = _scheduler_address(address) if address.lower().endswith(".json") else address
            failure = _refused(where, 2.0 if timeout is None else min(2.0, timeout))
            if failure is not None:
                raise ClusterError(f"{address}: no Dask scheduler answers there ({failure})")
            try:
                waiting = {} if timeout is None else {"timeout": timeout}  # None: Dask's own setting
                client = stack.enter_context(dd.Client(where, **waiting))
            except Exception as exc:  # noqa: BLE001 - a foreign server fails in many ways
                failure = f"{address}: no Dask scheduler answers there ({type(exc).__name__}: {str(exc)[:200]})"
            if failure is not None:  # raised here, so that the error does not keep Dask's traceback alive
                _close_failed_client(dd)
                raise ClusterError(failure)
        yield client


def _refused(address: str, timeout: float) -> str | None:
    """Why nothing can answer at a TCP scheduler ``address``, if one quick
    connection there is refused (nothing listens on that port); else
    None, and Dask's own connect decides.  Dask retries a refused
    connection until its connect timeout (30 s), for a scheduler that is
    still starting; a user who named a wrong port learns it at once.
    ``timeout``: seconds the quick connection may take."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return None
        host, port = parse_host_port(location, 8786)
        socket.create_connection((host, port), timeout=timeout).close()
    except ConnectionRefusedError:
        return f"connection refused: nothing listens at {host}:{port}"
    except Exception:  # noqa: BLE001 - unreachable, a timeout, a malformed address: Dask's connect says
        return None
    return None


def _scheduler_address(path: str) -> str:
    """The scheduler's address in a Dask scheduler file (JSON, as
    ``dask scheduler --scheduler-file`` writes it: Dask's client reads only
    its ``"address"``), read here rather than by ``Client(scheduler_file=)``,
    which waits for a missing file to appear and fails on a file without an
    address in a way that leaves its half-made client registered.

    Raises
    ------
    ClusterError
        No such file, or no scheduler's address in it.
    """
    try:
        with open(path, encoding="utf-8") as file:
            cfg = json.load(file)
    except FileNotFoundError:
        raise ClusterError(f"{path}: no such scheduler file") from None
    except (OSError, ValueError) as exc:  # unreadable, not JSON, not UTF-8
        raise ClusterError(f"{path}: not a Dask scheduler file ({type(exc).__name__}: {str(exc)[:200]})") from None
    where = cfg.get("address") if isinstance(cfg, dict) else None
    if not isinstance(where, str) or not where:
        raise ClusterError(f'{path}: not a Dask scheduler file (no "address" in it)')
    return where


def _close_failed_client(dd: Any) -> None:
    """Close the client a failed ``Client(address)`` may leave behind.

    Dask's client closes itself after a connection's OSError.  Other
    failures (seen: a scheduler file without an address, now read by
    ``_scheduler_address``) leave it "connecting", registered as a default
    client with Dask's ``scheduler`` setting on ``"dask.distributed"``,
    until the cyclic garbage collector takes it: meanwhile a plain
    ``.compute()`` waits for it, a client of the user's that closes leaves
    the setting as it is, and when it is collected at last it sets the
    setting back to what it was when it was made ("no Client active" from
    then on).  Collecting it now closes it while any older client still
    runs; where something else still holds it, it is closed here if it is
    the default client.
    """
    gc.collect()
    try:
        client = dd.default_client()
    except ValueError:  # none: it was collected
        return
    if client.status not in ("running", "closed"):  # a running one is the user's own
        client.close()


@contextlib.contextmanager
def _log_level(name: str, level: int):
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


# ----------------------------------------------------------- on the workers


_MODELS: OrderedDict[tuple[str, int], Any] = OrderedDict()
_MODELS_LOCK = threading.Lock()


def _payload(model: str | os.PathLike | MLPClassifier | Ensemble | None) -> tuple[str, bytes]:
    """The bytes of ``model``'s model file (no pickle), and a key naming them.

    A model file (None: the shipped one) is sent as it is; a model in
    memory is saved into memory first (about a second for the shipped
    model's 4 x 400-800-10, which compresses slowly)."""
    from . import persist
    from .modelfiles import load_model, save_model

    if model is None or isinstance(model, (str, os.PathLike)):
        path = persist.SHIPPED_MODEL if model is None else Path(model)
        load_model(path)  # refused here, naming the file, rather than in every task
        data = path.read_bytes()
    else:
        buffer = io.BytesIO()
        save_model(model, buffer)
        data = buffer.getvalue()
    return "fastdigits-model-" + hashlib.sha256(data).hexdigest()[:32], data


def _worker_model(key: str, payload: bytes, threads: int) -> MLPClassifier | Ensemble:
    """The model of ``payload``, loaded once per worker process (and thread count)."""
    from .modelfiles import load_model

    with _MODELS_LOCK:
        model = _MODELS.get((key, threads))
        if model is None:
            model = load_model(io.BytesIO(payload))
            for net in _networks(model):
                net.threads = threads  # its kernels (one task at a time, under their lock) and preparation
            _MODELS[key, threads] = model
            while len(_MODELS) > config.DASK_MODELS_KEPT:
                _MODELS.popitem(last=False)
        _MODELS.move_to_end((key, threads))
    return model


def _worker_threads() -> int:
    """The threads of the Dask worker running this task (1 outside one)."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return 1


def _same(data: bytes) -> bytes:
    """``data``: a task whose result is the model file's bytes."""
    return data


def _loaded(model: str | os.PathLike | MLPClassifier | Ensemble | None) -> MLPClassifier | Ensemble:
    """``model``, read from its file if it is a path (None: the shipped model)."""
    from .modelfiles import load_model

    return load_model(model) if model is None or isinstance(model, (str, os.PathLike)) else model


def _locations(paths: Sequence[str], cwd: str) -> list[str]:
    """Where a worker opens each file: URLs and absolute paths as they are,
    relative paths from the client's working folder."""
    from .data import is_url

    return [path if is_url(path) or os.path.isabs(path) else os.path.join(cwd, path) for path in paths]


def _classify_part(payload: bytes, key: str, paths: list[str], cwd: str, batch_size: int,
                   threads: int | None) -> list:
    """One partition's Results (runs on a worker): decoded one at a time,
    prepared and classified with ``threads`` (default: the worker's)."""
    from .classify import classify_files

    model = _worker_model(key, payload, threads or _worker_threads())
    return list(classify_files(model, _locations(paths, cwd), names=paths, batch_size=batch_size, workers=1))


def _read_part(payload: bytes, key: str, paths: list[str], cwd: str, min_confidence: float,
               threads: int | None) -> list:
    """One partition's Readings (runs on a worker), one picture at a time."""
    from .read import read_files

    model = _worker_model(key, payload, threads or _worker_threads())
    return list(read_files(_locations(paths, cwd), model, names=paths, min_confidence=min_confidence, workers=1))


# ------------------------------------------------------------- on the client


def _partitions(paths: list[str], size: int) -> list[list[str]]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"partition_size must be an integer of at least 1, got {size!r}")
    return [paths[lo:lo + size] for lo in range(0, len(paths), size)]


def _setting(kind: str, min_confidence: float, batch_size: int | None) -> Any:
    """The setting that ``kind``'s partition function takes after the files."""
    from . import config

    if kind not in _KINDS:
        raise InputError(f"kind must be 'classify' or 'read', got {kind!r}")
    return batch_size or config.CLASSIFY_BATCH if kind == "classify" else min_confidence


def _failed(kind: str, paths: Sequence[str], why: str) -> list:
    """Error rows for a partition that could not run."""
    from .classify import Result
    from .read import Reading

    make = (lambda name, error: Result(name, error=error)) if kind == "classify" else \
        (lambda name, error: Reading(path=name, error=error))
    verb = "classified" if kind == "classify" else "read"
    return [make(path, f"{path}: not {verb}: {why}") for path in paths]


def stream(client: distributed.Client, kind: str, model: str | os.PathLike | MLPClassifier | Ensemble | None,
           paths: Sequence[str | os.PathLike], *, partition_size: int = PARTITION_SIZE, batch_size: int | None = None,
           min_confidence: float = 0.0, threads: int | None = None) -> Iterator[Result] | Iterator[Reading]:
    """Classify or read picture files on the cluster of ``client``, streaming results in order.

    Partitions are submitted a window at a time (twice the cluster's
    threads, looked at again as workers come and go), earliest first, and their results given as soon as they and
    every partition before them are done, so memory stays bounded however
    many files there are.

    Parameters
    ----------
    client : distributed.Client
    kind : {"classify", "read"}
        :func:`fastdigits.classify.classify_files`' work, or
        :func:`fastdigits.read.read_files`'.
    model : path-like, MLPClassifier, Ensemble or None
        A model file (None: the shipped model), sent as it is, or a model
        in memory, saved into memory first: each worker gets the bytes of
        its model file once and loads them once.
    paths : sequence of str or path-like
        Picture files: paths (relative ones from this process's working
        folder, and reported as given) or fsspec URLs, e.g.
        ``find_images``' files.
    partition_size : int
        Files per task.
    batch_size : int, optional
        With "classify": pictures decoded and classified together on a
        worker (default ``config.CLASSIFY_BATCH``).
    min_confidence : float
        With "read": as for :func:`fastdigits.read.read_files`.
    threads : int, optional
        Threads with which a task prepares its pictures and runs the
        network (default: its worker's; the network's kernels run one task
        at a time per worker process).  A task decodes its files one by one.

    Returns
    -------
    iterator of fastdigits.classify.Result or fastdigits.Reading
        One per path, in order, computed on the cluster as it is taken.  A partition whose workers died more often
        than the scheduler allows (``distributed.scheduler.allowed-failures``),
        or that raised, gives an error row for each of its files.

    Raises
    ------
    InputError
        At the call: an unknown ``kind``, ``partition_size`` or
        ``threads`` below 1, dask.distributed not installed.
    ModelFileError
        At the call: the model file cannot be read.
    ClusterError
        While the results are taken: the scheduler is lost, or the cluster
        has had no workers for ``config.DASK_NO_WORKERS_SECONDS``; saying
        how many files had their rows.

    Examples
    --------
    >>> from fastdigits import distributed
    >>> with distributed.connect("local") as client:  # doctest: +SKIP
    ...     for result in distributed.stream(client, "classify", None, ["scans/a.png", "scans/b.png"]):
    ...         print(result.path, result.label)
    scans/a.png 7
    scans/b.png 3
    """
    return _results(client, _plan(kind, model, paths, partition_size, batch_size, min_confidence, threads))


@dataclass(frozen=True)
class _Plan:
    """A run's work, checked before any cluster is asked for: the model
    file's bytes and their key, the partitions and each task's settings."""

    kind: str
    key: str
    data: bytes
    parts: list
    setting: Any
    threads: int | None


def _plan(kind: str, model: Any, paths: Sequence[str | os.PathLike], partition_size: int, batch_size: int | None,
          min_confidence: float, threads: int | None) -> _Plan:
    """:func:`stream`'s arguments checked, and the model file's bytes read."""
    _distributed()
    setting = _setting(kind, min_confidence, batch_size)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be an integer of at least 1 or None, got {threads!r}")
    parts = _partitions([str(p) for p in paths], partition_size)
    key, data = _payload(model)
    return _Plan(kind, key, data, parts, setting, threads)


def _results(client, plan: _Plan) -> Iterator:
    """The results of ``plan``'s work on ``client``'s cluster, in order."""
    import distributed
    from distributed.client import ClosedClientError

    kind, key, data, parts, setting, threads = (plan.kind, plan.key, plan.data, plan.parts, plan.setting,
                                                plan.threads)
    if not parts:
        return
    total, done = sum(map(len, parts)), 0
    function = _KINDS[kind][0]
    cwd = os.getcwd()
    token = hashlib.sha256(os.urandom(16)).hexdigest()[:12]
    pending: deque = deque()
    todo = iter(enumerate(parts))
    window = _Window(client)

    def lost(exc: BaseException | None = None) -> ClusterError:
        why = f" ({type(exc).__name__})" if exc is not None else ""
        return ClusterError(f"lost the Dask scheduler after {done:,} of {total:,} files{why}")

    try:
        # A task that gives the bytes, rather than scattered data: a worker
        # fetches it once from another, and if every worker holding it dies
        # the scheduler runs it again (scattered data would be lost for good).
        payload = client.submit(_same, data, key=key, pure=True)
        while True:
            for i, part in itertools.islice(todo, max(0, window.size() - len(pending))):
                pending.append((part, client.submit(function, payload, key, part, cwd, setting, threads,
                                                    key=f"fastdigits-{kind}-{token}-{i}", priority=-i, pure=False)))
            if not pending:
                break
            part, future = pending.popleft()
            _wait(client, future, lambda: f"after {done:,} of {total:,} files")
            if future.status == "finished":
                rows = future.result()
            elif future.status == "error":  # its files get the error, the others go on
                exc = future.exception()
                rows = _failed(kind, part, _why(exc, distributed))
            else:  # cancelled or lost: the scheduler went away
                raise lost()
            future.release()
            done += len(part)
            yield from rows
    except (OSError, distributed.CancelledError, ClosedClientError) as exc:
        raise lost(exc) from None
    finally:  # the run ends, is stopped (Ctrl-C, a consumer's break) or lost: cancel what was not taken
        with contextlib.suppress(Exception):  # a client closed under us has nothing left to cancel
            client.cancel([future for _, future in pending])
            payload.release()


def _why(exc: BaseException, distributed) -> str:
    """Words for a partition's failure, for each of its files' rows."""
    if isinstance(exc, distributed.KilledWorker):
        times = getattr(exc, "allowed_failures", None)
        return "the workers running its partition kept dying" + (f" ({times + 1} times)" if times is not None else "")
    return f"{type(exc).__name__}: {exc}"


class _Window:
    """How many partitions to keep submitted: twice the cluster's threads
    (at least 4), asked of the scheduler at most once a second."""

    def __init__(self, client):
        self._client, self._size, self._asked = client, 4, -1.0

    def size(self) -> int:
        if time.monotonic() - self._asked >= 1.0:
            self._size = max(4, 2 * _threads(self._client))
            self._asked = time.monotonic()
        return self._size


def _threads(client) -> int:
    """The threads of the cluster's workers; ConnectionError (an OSError)
    once the client has lost its scheduler."""
    if client.status != "running":
        raise ConnectionError(f"the Dask client is {client.status}")
    return sum(client.nthreads().values())


def _wait(client, future, progress: Callable[[], str]) -> None:
    """Wait for ``future``; a ClusterError once the cluster has had no
    workers for ``config.DASK_NO_WORKERS_SECONDS``."""
    import distributed

    idle_since = None
    while True:
        try:
            distributed.wait(future, timeout=1.0)
            return
        except TimeoutError:
            pass
        if _threads(client):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > config.DASK_NO_WORKERS_SECONDS:
            raise ClusterError(f"no Dask worker in the cluster for {config.DASK_NO_WORKERS_SECONDS:g} s, "
                               f"{progress()}")


# ------------------------------------------------------------ dask collections


def _classify_frame(results: list, classes: list):
    """The rows of ``fastdigits classify``'s CSV as a pandas.DataFrame."""
    import pandas as pd

    proba = np.full((len(results), len(classes)), np.nan)
    for i, r in enumerate(results):
        if r.probabilities is not None:
            proba[i] = r.probabilities
    frame = pd.DataFrame({
        "path": pd.Series([r.path for r in results], dtype=object),
        "label": pd.Series([r.label for r in results], dtype=_label_dtype(classes)),
        "probability": pd.Series([np.nan if r.probability is None else r.probability for r in results],
                                 dtype=np.float64),
        "error": pd.Series([r.error for r in results], dtype=object),
        "note": pd.Series([r.note for r in results], dtype=object),
    })
    return frame.join(pd.DataFrame(proba, columns=[f"p_{c}" for c in classes]))


def _label_dtype(classes: list):
    """pandas' nullable integer dtype for integer classes (a picture without
    a label is NA), else object (Dask may store strings as strings)."""
    import pandas as pd

    return pd.Int64Dtype() if all(isinstance(c, int) and not isinstance(c, bool) for c in classes) else object


def _read_frame(readings: list, classes: list):
    """The rows of ``fastdigits read``'s CSV as a pandas.DataFrame."""
    import pandas as pd

    return pd.DataFrame({
        "path": pd.Series([r.path for r in readings], dtype=object),
        "text": pd.Series([r.text if r.ok else None for r in readings], dtype=object),
        "confidence": pd.Series([r.confidence if r.ok else np.nan for r in readings], dtype=np.float64),
        "note": pd.Series([r.note for r in readings], dtype=object),
        "error": pd.Series([r.error for r in readings], dtype=object),
    })


#: Each kind's partition function and the frame of its rows.
_KINDS = {"classify": (_classify_part, _classify_frame), "read": (_read_part, _read_frame)}


def _indexed(frame, start: int):
    """``frame`` indexed by the files' positions in the listing, from ``start``."""
    import pandas as pd

    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def _frame_part(kind: str, payload: bytes, key: str, paths: list[str], cwd: str, setting: Any, threads: int | None,
                classes: list, start: int):
    """One partition's rows as a pandas.DataFrame (runs on a worker)."""
    function, make_frame = _KINDS[kind]
    return _indexed(make_frame(function(payload, key, paths, cwd, setting, threads), classes), start)


def _frame(kind: str, paths: Iterable[str | os.PathLike], model: Any, partition_size: int,
           setting: Any) -> dask.dataframe.DataFrame:
    """The lazy dask.dataframe of :func:`classify` or :func:`read`."""
    import dask
    import dask.dataframe as dd

    from .classify import find_images
    from .read import Reading

    make_frame = _KINDS[kind][1]
    classes = _loaded(model).classes_.tolist()
    found, missing = find_images(paths)
    if kind == "read":
        missing = [Reading(path=m.path, error=m.error) for m in missing]
    key, data = _payload(model)
    payload = dask.delayed(data, name=key, pure=True)  # one key: each worker fetches it once
    cwd = os.getcwd()
    parts, divisions = [], [0]
    if missing:  # the paths that named nothing come first, as in a local run
        parts.append(dask.delayed(_indexed(make_frame(missing, classes), 0)))
        divisions.append(len(missing))
    for paths in _partitions([str(f) for f in found], partition_size):
        parts.append(dask.delayed(_frame_part, pure=True)(kind, payload, key, paths, cwd, setting, None, classes,
                                                          divisions[-1]))
        divisions.append(divisions[-1] + len(paths))
    meta = make_frame([], classes)
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    divisions[-1] -= 1  # the last division is the last row's own index
    return dd.from_delayed(parts, meta=meta, divisions=divisions, verify_meta=False)


def classify(paths: Iterable[str | os.PathLike], model: str | os.PathLike | Any | None = None, *,
             partition_size: int = PARTITION_SIZE, batch_size: int | None = None) -> dask.dataframe.DataFrame:
    """Classify picture files on Dask: a lazy dataframe of one row per file.

    Computed by the Dask scheduler in use (a ``distributed.Client`` made
    with :func:`connect` or your own).  Each partition of
    ``partition_size`` files is one task.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files, folders (searched recursively), glob patterns and fsspec
        URLs, expanded here as ``fastdigits classify`` does; opened on the
        workers.
    model : path-like, MLPClassifier, Ensemble or None
        As for :func:`fastdigits.recipes.load` (None: the shipped model).
    partition_size : int
        Files per partition (task).
    batch_size : int, optional
        Pictures decoded and classified together within a task (default
        ``config.CLASSIFY_BATCH``).

    Returns
    -------
    dask.dataframe.DataFrame
        Indexed by the file's position in the listing (divisions known
        when there are files),
        with the columns of ``fastdigits classify``'s CSV: ``path``,
        ``label`` (the class: ``Int64`` for integer classes, else object
        or string; missing without one), ``probability``
        (float64, NaN without a label), ``error``, ``note`` and one
        ``p_<class>`` (float64) per class.  A path that named nothing, or a
        file that could not be read, is a row with its ``error``.

    Raises
    ------
    InputError
        If dask[dataframe] is not installed, or ``partition_size`` < 1.
    ModelFileError
        If the model cannot be read.

    Examples
    --------
    >>> from fastdigits import distributed
    >>> with distributed.connect("local") as client:  # doctest: +SKIP
    ...     rows = distributed.classify(["scans/"]).compute()
    >>> rows[["path", "label", "probability"]].head(2)  # doctest: +SKIP
              path  label  probability
    0   scans/a.png      7     0.999812
    1   scans/b.png      3     0.987153
    """
    from . import config

    _dataframe()
    return _frame("classify", paths, model, partition_size, batch_size or config.CLASSIFY_BATCH)


def read(paths: Iterable[str | os.PathLike], model: str | os.PathLike | Any | None = None, *,
         min_confidence: float = 0.0, partition_size: int = PARTITION_SIZE) -> dask.dataframe.DataFrame:
    """Read the number in each picture file on Dask: a lazy dataframe of one row per file.

    Parameters
    ----------
    paths : iterable of str or path-like
        As for :func:`classify`.
    model : path-like, MLPClassifier, Ensemble or None
        A digit model (None: the shipped one).
    min_confidence : float
        Digits read with a lower probability are ``?`` in the text.
    partition_size : int
        Files per partition (task).

    Returns
    -------
    dask.dataframe.DataFrame
        Indexed by the file's position in the listing, with the columns of
        ``fastdigits read``'s CSV: ``path``, ``text`` (None for a file that
        failed), ``confidence`` (float64, NaN for a file that failed),
        ``note`` and ``error``.

    Raises
    ------
    InputError
        If dask[dataframe] is not installed, ``partition_size`` is below 1
        or ``min_confidence`` outside [0, 1] (when the rows are computed).
    ModelFileError
        If the digit model cannot be read.

    Examples
    --------
    >>> from fastdigits import distributed
    >>> with distributed.connect("local") as client:  # doctest: +SKIP
    ...     texts = distributed.read(["cheques/"])["text"].compute()
    """
    _dataframe()
    return _frame("read", paths, model, partition_size, min_confidence)


def _dataframe() -> None:
    try:
        importlib.import_module("dask.dataframe")
    except ImportError:
        raise InputError(f"Dask dataframes need dask[dataframe] (pandas and pyarrow): {_INSTALL}") from None


def _proba_block(block: np.ndarray, payload: bytes, key: str) -> np.ndarray:
    """``predict_proba`` of one chunk of rows (runs on a worker, with its threads)."""
    return _worker_model(key, payload, _worker_threads()).predict_proba(block)


def predict_proba(model: MLPClassifier | Ensemble, X: Any) -> dask.array.Array:
    """``model.predict_proba`` over a chunked dask array of rows, chunk by chunk.

    The model goes into the graph once, as its model file's bytes, and is
    loaded once per worker process; each chunk of rows is one task, run
    with its worker's threads.  (``X.map_blocks(model.predict_proba, ...)`` works
    too, but carries the pickled model, optimiser state included, in every
    task.)

    Parameters
    ----------
    model : MLPClassifier or Ensemble
        A trained model.
    X : dask.array.Array or array_like, shape (n_samples, n_features)
        Prepared rows (``model.prepare``'s output), chunked along the rows;
        column chunks are joined.

    Returns
    -------
    dask.array.Array, shape (n_samples, n_classes)
        Lazy probabilities, the rows chunked as ``X``'s, of the dtype
        ``model.predict_proba`` gives.

    Raises
    ------
    InputError
        If ``X`` is not 2-D with ``model.n_features_in_`` columns, or dask
        is not installed.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastdigits import load_model
    >>> from fastdigits.distributed import predict_proba
    >>> model = load_model()
    >>> X = da.zeros((1000, 400), dtype=np.float32, chunks=(250, 400))
    >>> P = predict_proba(model, X)
    >>> P.shape, P.chunks[0]
    ((1000, 10), (250, 250, 250, 250))
    >>> bool(np.allclose(P.sum(axis=1).compute(), 1.0, atol=1e-5))
    True
    """
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise InputError(f"predict_proba on dask arrays needs dask: {_INSTALL}") from None
    X = da.asarray(X)
    n_features = _networks(model)[0].n_features_in_
    if X.ndim != 2 or X.shape[1] != n_features:
        raise InputError(f"X has shape {X.shape}; the model takes rows of {n_features} features, "
                         f"shape (n_samples, {n_features})")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    dtype = np.dtype(_networks(model)[0].dtype)
    key, data = _payload(model)
    payload = dask.delayed(data, name=key, pure=True)
    return X.map_blocks(_proba_block, payload, key, chunks=(X.chunks[0], (len(model.classes_),)), dtype=dtype,
                        meta=np.empty((0, 0), dtype))
