"""fastdigits on a real Dask cluster: a scheduler and worker processes
started here on 127.0.0.1, classifying and reading folders the tests write.

The rows must equal a local run's, byte for byte in the commands' output;
a worker killed during a run must cost nothing.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdigits import ClusterError, InputError, load_model, recipes
from fastdigits.cli import app

NO_DASK = "dask.distributed is not installed: pip install 'fastdigits[dask]'"


def _needs(module: str):
    return pytest.importorskip(module, reason=NO_DASK)


def _picture(rng: np.random.Generator, kind: int) -> np.ndarray:
    """A white page with dark strokes: bars, a box, a cross or nothing."""
    h, w = rng.integers(24, 90, size=2)
    page = np.full((h, w), 255, np.uint8)
    if kind == 0:
        return page  # blank: no ink
    for _ in range(kind):
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        y1, x1 = rng.integers(y0 + 4, h), rng.integers(x0 + 2, w)
        if rng.random() < 0.5:
            page[y0:y1, x0:x0 + max(2, w // 10)] = rng.integers(0, 60)
        else:
            page[y0:y0 + max(2, h // 10), x0:x1] = rng.integers(0, 60)
    return page


def _number(rng: np.random.Generator, digits: int) -> np.ndarray:
    """A picture of ``digits`` upright bars side by side: a number of ones."""
    page = np.full((60, 30 * digits + 20), 255, np.uint8)
    for d in range(digits):
        x = 15 + 30 * d + int(rng.integers(0, 6))
        page[10:50, x:x + 5] = 0
    return page


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """``scans/``: 41 pictures (natural-order names, a sub-folder, blank
    pages, RGBA and 16-bit files) and two files that are not pictures."""
    root = tmp_path_factory.mktemp("dask")
    scans = root / "scans"
    (scans / "more").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(36):
        folder = scans / "more" if i % 5 == 0 else scans
        image = _number(rng, 1 + i % 4) if i % 3 == 0 else _picture(rng, i % 4)
        mode = ("RGBA", "I;16", "L")[i % 7 % 3] if i % 7 < 2 else "L"
        if mode == "RGBA":
            rgba = np.zeros(image.shape + (4,), np.uint8)
            rgba[..., 3] = 255 - image  # ink as opacity on a transparent page
            Image.fromarray(rgba, "RGBA").save(folder / f"{i}.png")
        elif mode == "I;16":
            Image.fromarray(image.astype(np.uint16) * 257).save(folder / f"{i}.png")
        else:
            Image.fromarray(image).save(folder / f"{i}.{'jpg' if i % 4 == 1 else 'png'}")
    (scans / "broken.png").write_text("not a picture")
    (scans / "more" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    for i in range(5):
        Image.fromarray(_number(rng, 3)).save(scans / f"n{i}.png")
    return root


def _cluster(n_workers: int = 2):
    """A scheduler here and worker processes (one thread each) on 127.0.0.1."""
    distributed = _needs("distributed")
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=":0")


@pytest.fixture(scope="module")
def client():
    distributed = _needs("distributed")
    with _cluster() as cluster, distributed.Client(cluster) as client:
        yield client


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


# ------------------------------------------------------------- the commands


@pytest.mark.parametrize("command, fmt", [("classify", "csv"), ("classify", "jsonl"), ("read", "csv"),
                                          ("read", "jsonl")])
def test_command_rows_equal_the_local_run(client, pictures, monkeypatch, command, fmt):
    # Relative paths, from a working folder the workers were not started in.
    monkeypatch.chdir(pictures)
    args = [command, "scans", "nowhere/*.png", "scans/7.png", "-q", "-f", fmt]
    if command == "classify":  # partitions of whole batches: the same batches as the local run's
        args += ["--batch-size", "4"]
    local = _run(*args)
    on_dask = _run(*args, "--dask", client.scheduler.address, "--partition-size", "8")
    assert on_dask == local
    code, out = local
    assert code == 1  # two files are not pictures, one pattern matches nothing
    rows = list(csv.reader(io.StringIO(out))) if fmt == "csv" else out.splitlines()  # a text may hold newlines
    assert len(rows) == 41 + 2 + 1 + (fmt == "csv")
    rows = [",".join(row) for row in rows] if fmt == "csv" else rows
    assert sum("scans/broken.png: not a readable image" in row for row in rows) == 1
    assert any("no ink found" in row for row in rows)


def test_classify_sorts_into_folders_on_dask(client, pictures, tmp_path, monkeypatch):
    monkeypatch.chdir(pictures)
    local, on_dask = tmp_path / "local", tmp_path / "dask"
    _run("classify", "scans", "-q", "--sort-into", str(local))
    _run("classify", "scans", "-q", "--sort-into", str(on_dask), "--dask", client.scheduler.address)
    listing = [sorted(str(p.relative_to(root)) for p in root.rglob("*")) for root in (local, on_dask)]
    assert listing[0] == listing[1] and len(listing[0]) > 30


def test_library_stream_equals_local(client, pictures):
    files = [pictures / "scans"]
    local = list(recipes.classify(files))
    results = recipes.classify(files, client=client, partition_size=3)
    assert len(results) == len(local)
    remote = list(results)
    assert [r.path for r in remote] == [r.path for r in local]
    assert [(r.label, r.error, r.note) for r in remote] == [(r.label, r.error, r.note) for r in local]
    for a, b in zip(remote, local):
        assert (a.probabilities is None) == (b.probabilities is None)
        if a.probabilities is not None:
            np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-6, atol=1e-7)
    assert results.tally.failed == 2 and results.tally.blank > 0


# -------------------------------------------------------- dask collections


def test_classify_dataframe_has_the_csv_columns_and_rows(client, pictures):
    _needs("dask.dataframe")
    pd = _needs("pandas")
    from fastdigits import distributed

    paths = [pictures / "scans", pictures / "missing.png"]
    frame = distributed.classify(paths, partition_size=5)
    assert frame.known_divisions and frame.npartitions == 1 + -(-41 // 5)
    rows = frame.compute()
    local = list(recipes.classify(paths))
    classes = load_model().classes_.tolist()
    assert list(rows.columns) == ["path", "label", "probability", "error", "note", *[f"p_{c}" for c in classes]]
    assert rows.index.tolist() == list(range(len(local)))
    assert rows["path"].tolist() == [r.path for r in local]
    assert rows["label"].dtype == "Int64"  # integer classes: a nullable integer column
    assert [None if v is pd.NA else v for v in rows["label"].astype(object)] == [r.label for r in local]
    assert [e if isinstance(e, str) else None for e in rows["error"]] == [r.error for r in local]
    proba = rows[[f"p_{c}" for c in classes]].to_numpy()
    for row, result in zip(proba, local):
        if result.probabilities is None:
            assert np.isnan(row).all()
        else:
            np.testing.assert_allclose(row, result.probabilities, rtol=1e-6, atol=1e-7)
    # one partition alone is computed alone
    part = frame.get_partition(2).compute()
    assert part.index.tolist() == list(range(6, 11))


def test_read_dataframe_equals_the_local_readings(client, pictures):
    _needs("dask.dataframe")
    from fastdigits import distributed

    paths = [pictures / "scans"]
    rows = distributed.read(paths, partition_size=6).compute()
    local = list(recipes.read(paths))
    assert list(rows.columns) == ["path", "text", "confidence", "note", "error"]
    assert rows["path"].tolist() == [r.path for r in local]
    assert [t if isinstance(t, str) else None for t in rows["text"]] == [r.text if r.ok else None for r in local]
    assert "111" in rows["text"].tolist()


@pytest.mark.filterwarnings("ignore:Sending large graph")  # the plain way's pickled model, below
def test_predict_proba_over_a_chunked_array(client):
    da = _needs("dask.array")
    from fastdigits import distributed

    model = load_model()
    rows = np.random.default_rng(0).random((300, 400), dtype=np.float32)
    X = da.from_array(rows, chunks=(70, 150))  # column chunks are joined
    P = distributed.predict_proba(model, X)
    assert P.shape == (300, 10) and P.chunks[0] == X.chunks[0]
    np.testing.assert_allclose(P.compute(), model.predict_proba(rows), rtol=1e-6, atol=1e-7)
    # the plain way works too: the model pickles into the tasks
    plain = da.from_array(rows, chunks=(70, 400)).map_blocks(model.predict_proba, chunks=((70, 70, 70, 70, 20), (10,)),
                                                             dtype=np.float32)
    np.testing.assert_allclose(plain.compute(), model.predict_proba(rows), rtol=1e-6, atol=1e-7)
    with pytest.raises(InputError, match=r"shape \(300, 399\).*400 features"):
        distributed.predict_proba(model, X[:, 1:])


def test_urls_are_read_by_the_workers(client, pictures):
    _needs("fsspec")
    url = f"file://{pictures}/scans/more"
    local = _run("classify", url, "-q", "--batch-size", "4")
    on_dask = _run("classify", url, "-q", "--batch-size", "4", "--dask", client.scheduler.address,
                   "--partition-size", "4")
    assert on_dask == local
    rows = local[1].splitlines()[1:]
    assert len(rows) == 9 and all(row.startswith(f"file://{pictures}/scans/more/") for row in rows)


def test_the_model_travels_as_its_file_and_loads_once_per_worker(client, pictures):
    from fastdigits import distributed

    key, data = distributed._payload(None)
    assert len(data) < 4_000_000  # its compressed model file, not a 15 MB pickle
    np.load(io.BytesIO(data), allow_pickle=False)  # and no pickle in it

    def loaded():
        from fastdigits import distributed

        return sorted(id(model) for (k, _), model in distributed._MODELS.items() if k == key)

    files = sorted(str(p) for p in (pictures / "scans").rglob("*.png"))
    for _ in range(2):
        assert len(list(distributed.stream(client, "classify", None, files, partition_size=2))) == len(files)
        models = client.run(loaded)
        assert all(len(ids) == 1 for ids in models.values()), models  # one model per worker process
        if _ == 0:
            first = models
    assert models == first  # the second run used the models the first one loaded


# ------------------------------------------------------------ workers dying


def _hold_decoding(sentinel: str) -> None:
    """On a worker: decoding waits until ``sentinel`` exists (at most a
    minute), so that a worker is surely busy with a partition when killed."""
    import time

    import fastdigits.classify as module

    decode = module._decode

    def held(path, name=None):
        deadline = time.monotonic() + 60
        while not os.path.exists(sentinel) and time.monotonic() < deadline:
            time.sleep(0.02)
        return decode(path, name)

    module._decode = held


def _kill_a_busy_worker(client, sentinel, killed: set) -> None:
    """Once both workers run a partition, SIGKILL one (its keys into
    ``killed``) and let the other go on."""
    deadline = time.monotonic() + 60
    busy = {}
    while time.monotonic() < deadline and len(busy) < 2:
        busy = {w: {k for k in keys if str(k).startswith("fastdigits-classify-")}
                for w, keys in client.processing().items()}
        busy = {w: keys for w, keys in busy.items() if keys}
        time.sleep(0.05)
    worker = sorted(busy)[0]
    killed.update(busy[worker])
    os.kill(client.run(os.getpid, workers=[worker])[worker], signal.SIGKILL)
    time.sleep(0.5)  # the scheduler notices, before the other worker goes on
    open(sentinel, "w").close()


def _run_killing_a_worker(client, files, tmp_path, **stream_kw) -> tuple[list, set]:
    from fastdigits import distributed

    sentinel = str(tmp_path / "go")
    client.run(_hold_decoding, sentinel)
    killed: set = set()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(client, sentinel, killed))
    killer.start()
    try:
        rows = list(distributed.stream(client, "classify", None, files, partition_size=2, **stream_kw))
    finally:
        killer.join()
    assert killed, "no worker was running a partition"
    return rows, killed


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_worker_loses_nothing(pictures, tmp_path):
    distributed = _needs("distributed")

    def row(r):
        return r.path, r.label, r.error, None if r.probabilities is None else r.probabilities.tobytes()

    files = sorted(str(p) for p in (pictures / "scans").rglob("*.png"))
    local = [row(r) for r in recipes.classify(files, batch_size=2)]
    with _cluster() as cluster, distributed.Client(cluster) as client:
        rows, _ = _run_killing_a_worker(client, files, tmp_path, batch_size=2)
    assert [row(r) for r in rows] == local  # complete, in order, none twice


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_partition_whose_workers_keep_dying_becomes_error_rows(pictures, tmp_path):
    distributed = _needs("distributed")
    import dask

    files = sorted(str(p) for p in (pictures / "scans").rglob("*.png"))
    local = {r.path: r.label for r in recipes.classify(files)}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a partition's first death is its last
        with _cluster() as cluster, distributed.Client(cluster) as client:
            rows, killed = _run_killing_a_worker(client, files, tmp_path)
    assert [r.path for r in rows] == files
    died = [r for r in rows if r.error and "kept dying" in r.error]
    assert died and len(died) <= 2 * len(killed)
    assert all(r.error == f"{r.path}: not classified: the workers running its partition kept dying (1 times)"
               for r in died)
    assert all(r.label == local[r.path] for r in rows if r not in died)  # the others go on


def test_losing_the_cluster_mid_run_is_a_cluster_error_after_the_rows_so_far(pictures):
    distributed = _needs("distributed")
    from fastdigits import distributed as fd_distributed

    files = sorted(str(p) for p in (pictures / "scans").rglob("*.png"))
    cluster = _cluster()
    rows = []
    with distributed.Client(cluster) as client:
        with pytest.raises(ClusterError, match=rf"^lost the Dask scheduler after \d+ of {len(files)} files"):
            for result in fd_distributed.stream(client, "classify", None, files, partition_size=2):
                rows.append(result.path)
                if len(rows) == 1:
                    cluster.close()
    assert rows == files[: len(rows)] and 2 <= len(rows) < len(files)


def test_a_cluster_without_workers_is_a_cluster_error(pictures, monkeypatch):
    distributed = _needs("distributed")
    from fastdigits import config
    from fastdigits import distributed as fd_distributed

    monkeypatch.setattr(config, "DASK_NO_WORKERS_SECONDS", 1.5)
    files = sorted(str(p) for p in (pictures / "scans").rglob("*.png"))
    with _cluster(n_workers=0) as cluster, distributed.Client(cluster) as client:
        start = time.monotonic()
        with pytest.raises(ClusterError, match=rf"no Dask worker in the cluster for 1.5 s, after 0 of {len(files)}"):
            list(fd_distributed.stream(client, "classify", None, files))
        assert time.monotonic() - start < 30
        assert not client.processing() or not any(client.processing().values())  # nothing left submitted


# ---------------------------------------------------------------- refusals


def test_no_scheduler_at_the_address_is_a_clear_error(tmp_path):
    _needs("distributed")
    import dask

    from fastdigits import distributed

    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "a.png")
    # Nothing listens on port 9: refused at once, not after Dask's connect timeout.
    refused = r"tcp://127.0.0.1:9: no Dask scheduler answers there \(connection refused: nothing listens at 127.0.0.1:9\)"
    with pytest.raises(ClusterError, match=f"^{refused}$"):
        with distributed.connect("tcp://127.0.0.1:9"):
            pass
    out = tmp_path / "out.csv"
    out.write_text("path,label\nearlier.png,3\n")
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--dask", "tcp://127.0.0.1:9", "-o", str(out)])
    assert result.exit_code == 1
    assert re.search(f"error: {refused}", result.stderr), result.stderr
    assert out.read_text() == "path,label\nearlier.png,3\n"  # an earlier results file left as it was
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--dask", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1 and result.stdout == ""  # no header before the error
    (tmp_path / "notes.json").write_text("not a scheduler file")
    (tmp_path / "empty.json").write_text('{"type": "Scheduler", "workers": {}}')
    (tmp_path / "gone-scheduler.json").write_text('{"type": "Scheduler", "address": "tcp://127.0.0.1:9"}')
    for address, words in [(str(tmp_path / "gone.JSON"), "no such scheduler file"),
                           (str(tmp_path / "notes.json"), r"not a Dask scheduler file \(JSONDecodeError: "),
                           (str(tmp_path / "empty.json"), 'not a Dask scheduler file \\(no "address" in it\\)'),
                           (str(tmp_path / "gone-scheduler.json"), "no Dask scheduler answers there")]:
        with pytest.raises(ClusterError, match=f"^{address}: {words}"):
            with distributed.connect(address):
                pass


_REFUSED_THEN_COMPUTE = """
import gc, sys
import dask, dask.array as da, distributed
from fastdigits import distributed as fd
from fastdigits.errors import ClusterError
gc.disable()  # the cyclic collector runs when this test says, not when allocations happen to trigger it
kept = []


def refuse():
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        try:
            with fd.connect(sys.argv[1]):
                pass
        except ClusterError as error:
            kept.append(error)  # the user keeps it, as a notebook keeps its last error


if sys.argv[2] == "own client":  # refused while a client of the user's runs, which then closes
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        with distributed.Client(cluster):
            refuse()
else:
    refuse()
gc.collect()  # a half-made client left uncollected until now would set Dask's scheduler back to 'dask.distributed'
print(dask.config.get("scheduler", None), int(da.ones(4, chunks=2).sum().compute()))
"""


@pytest.mark.parametrize("kind", ["nothing listening", "an unknown scheme"])
def test_a_refused_connection_leaves_dask_as_it_was(client, kind):
    """A ``Client(address)`` that fails other than by an OSError (a mistyped
    address: an unknown scheme, no port) stays registered as a default
    client, with Dask's ``scheduler`` setting "dask.distributed", until it is
    garbage-collected: a kept error must not keep it, and a client of the
    user's running meanwhile must leave the setting as it was when it
    closes (a plain compute later fails "no Client active" otherwise).
    Checked in fresh processes, without a client and with one that closes,
    and beside this module's running client."""
    distributed = _needs("distributed")
    import dask

    from fastdigits import distributed as fd_distributed

    address = "tcp://127.0.0.1:9" if kind == "nothing listening" else "foo://127.0.0.1:9"
    for around in ("nothing", "own client"):
        alone = subprocess.run([sys.executable, "-c", _REFUSED_THEN_COMPUTE, address, around], capture_output=True,
                               text=True, timeout=120)
        assert alone.returncode == 0 and alone.stdout.split() == ["None", "4"], (around, alone.stderr[-2000:])

    before = dask.config.get("scheduler", None)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ClusterError, match=f"^{address}: no Dask scheduler answers there"):
            with fd_distributed.connect(address):
                pass
    assert distributed.default_client() is client and dask.config.get("scheduler", None) == before


def test_everything_is_checked_before_the_cluster_is_asked_for(tmp_path):
    _needs("distributed")
    (tmp_path / "bad.npz").write_text("not a model")
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "a.png")
    # No scheduler listens there: these fail at once, on their own fault.
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "a.png"), "-m", str(tmp_path / "bad.npz"),
                                      "--dask", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1 and "bad.npz: not a fastdigits model file" in result.stderr
    assert "Dask" not in result.stderr
    with pytest.raises(InputError, match="device 'cuda' with a Dask cluster"):
        recipes.classify([tmp_path], device="cuda", client="tcp://127.0.0.1:9")
    with pytest.raises(InputError, match="partition_size must be an integer of at least 1, got 0"):
        recipes.classify([tmp_path], client="tcp://127.0.0.1:9", partition_size=0)
    with pytest.raises(InputError, match="threads must be an integer of at least 1 or None, got 0"):
        recipes.read([tmp_path], client="tcp://127.0.0.1:9", workers=0)
    assert CliRunner().invoke(app, ["classify", "a.png", "--dask", "local", "--partition-size", "0"]).exit_code == 2


def test_without_dask_the_option_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(app, ["classify", str(tmp_path), "--dask", "local"])
    assert result.exit_code == 1
    assert "pip install 'fastdigits[dask]'" in result.stderr
    assert result.stdout == ""
