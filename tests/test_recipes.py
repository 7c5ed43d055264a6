"""The workflows behind the commands (fastdigits.recipes), called directly:
they return data, tell their steps to a callback, raise the package's
errors, and never print."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import drawing
from fastdigits import load_model, recipes
from fastdigits.classify import BLANK_FOLDER
from fastdigits.data import NO_INK
from fastdigits.errors import InputError, ModelFileError, OutputError
from fastdigits import training
from fastdigits.model import MLPClassifier
from fastdigits.training import Progress


def _save(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def letters(tmp_path_factory) -> Path:
    """Ten drawn letters of each of L, T, X (seeded), and one blank page in X."""
    root = tmp_path_factory.mktemp("letters")
    rng = np.random.default_rng(7)
    for letter in "LTX":
        for k in range(10):
            image = drawing.digit(letter, size=48, height=rng.uniform(0.5, 0.8), stroke=int(rng.integers(1, 3)),
                                  at=tuple(rng.uniform(0.4, 0.6, 2)))
            _save(root / letter / f"{k}.png", image)
    _save(root / "X" / "blank.png", drawing.blank_page("white"))
    return root


SMALL = {"hidden_layer_sizes": (16,), "max_iter": 30, "batch_size": 8, "learning_rate_init": 0.1}


@pytest.fixture(scope="module")
def trained(letters, tmp_path_factory):
    """A run of train on the letters, with every event its callback got."""
    events = []
    out = tmp_path_factory.mktemp("model") / "letters"
    run = recipes.train(data=letters, settings=SMALL, test_fraction=0.3, seed=3, output=out,
                        command="fastdigits train --data letters", callback=events.append)
    return run, events


def test_train_returns_the_model_its_record_and_where_it_is_saved(trained, letters):
    run, _ = trained
    assert isinstance(run.model, MLPClassifier) and run.model.layer_sizes_ == [400, 16, 3]
    assert run.model.classes_.tolist() == ["L", "T", "X"]
    assert run.epochs_run == 30 and not run.interrupted and run.save_error is None
    assert run.saved.name == "letters.npz" and run.saved.exists()  # .npz appended
    assert run.test_images == 9 and run.test_accuracy >= 0.6  # 30 % of the 30 letters held out
    assert list(run.record) == ["command", "preset", "seed", "data", "fastdigits", "epochs_run", "interrupted",
                                "seconds", "test_accuracy", "test_images"]
    assert run.record["command"] == "fastdigits train --data letters" and run.record["data"] == f"{letters} (3 classes)"
    assert run.record["test_accuracy"] == run.test_accuracy and run.record["epochs_run"] == 30
    loaded = load_model(run.saved)
    assert loaded.record_ == run.record and len(loaded.history_) == 30
    np.testing.assert_array_equal(loaded.coefs_[0], run.model.coefs_[0])


def test_train_tells_its_steps_to_the_callback(trained, letters):
    _, events = trained
    notes = [e for e in events if isinstance(e, recipes.Note)]
    assert notes[0] == recipes.Note(f"reading {letters} ...")
    assert recipes.Note(f"skipped: {letters / 'X' / 'blank.png'}: {NO_INK}", warning=True) in notes
    assert any(n.text.startswith("21 training images from") and "network 400-16-3, 30 epochs" in n.text
               for n in notes)
    progress = [e for e in events if isinstance(e, Progress)]
    assert sum(p.record is not None for p in progress) == 30  # one per epoch
    assert [e for e in events if isinstance(e, recipes.Fitted)] == [recipes.Fitted(False, 30)]
    fitted = events.index(recipes.Fitted(False, 30))
    assert events.index(progress[-1]) < fitted and all(isinstance(e, recipes.Note) for e in events[fitted + 1:])


def test_train_is_deterministic_and_never_prints(letters, tmp_path, capsys):
    runs = [recipes.train(data=letters, settings={**SMALL, "max_iter": 3}, seed=5) for _ in range(2)]
    assert capsys.readouterr() == ("", "")
    assert runs[0].saved is None and runs[0].test_accuracy is None  # no output, no test split
    np.testing.assert_array_equal(runs[0].model.coefs_[0], runs[1].model.coefs_[0])
    assert "test_accuracy" not in runs[0].record and "command" not in runs[0].record


def test_a_callback_that_says_stop_once_fitted_skips_the_scoring(letters):
    run = recipes.train(data=letters, settings={**SMALL, "max_iter": 2}, test_fraction=0.3,
                        callback=lambda event: not isinstance(event, recipes.Fitted))
    assert run.epochs_run == 2 and run.interrupted and run.record["interrupted"] is True
    assert run.test_accuracy is None and "test_accuracy" not in run.record


def test_train_with_members_and_outliers_records_them(letters):
    run = recipes.train(data=letters, settings={**SMALL, "max_iter": 2}, members=2, outliers=0.2, seed=1)
    assert len(run.model.members_) == 2 and [m.random_state for m in run.model.members_] == [1, 2]
    assert run.record["members"] == 2 and run.record["outliers"] == 0.2 and run.epochs_run == 4


@pytest.mark.parametrize("kwargs, says", [
    ({"preset": "huge"}, "preset must be one of 'classic', 'fast', 'shipped'; got 'huge'"),
    ({"settings": {"hiden": (8,)}}, "unknown settings ['hiden']"),
    ({"settings": {"solver": "lbfgs", "augment": True}}, "augment needs a minibatch solver"),
    ({"members": 0}, "members must be at least 1"),
    ({"device": "gpu"}, "device must be one of"),
])
def test_train_refuses_bad_settings_before_reading_the_data(letters, kwargs, says):
    events = []
    with pytest.raises(InputError, match=says.replace("[", r"\[").replace("]", r"\]")):
        recipes.train(data=letters, callback=events.append, **kwargs)
    assert events == []


def test_train_refuses_an_unwritable_output_before_the_work(letters, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    events = []
    with pytest.raises(OutputError, match="cannot write the model there"):
        recipes.train(data=letters, settings=SMALL, output=tmp_path / "file" / "m.npz", callback=events.append)
    assert events == []


def test_train_refuses_a_model_too_big_to_read_back_before_fitting(letters, monkeypatch):
    from fastdigits import config

    monkeypatch.setattr(config, "MAX_MODEL_BYTES", 1_000)
    events = []
    with pytest.raises(OutputError, match="larger than fastdigits reads back"):
        recipes.train(data=letters, settings=SMALL, callback=events.append)
    assert not any(isinstance(e, (Progress, recipes.Fitted)) for e in events)


@pytest.mark.parametrize("epoch, kept", [(0, 0), (1, 1)])
def test_a_ctrl_c_in_fit_keeps_what_was_trained(letters, tmp_path, monkeypatch, epoch, kept):
    check = training._check_finite

    def interrupt(self, e):
        if e == epoch:
            raise KeyboardInterrupt
        return check(self, e)

    monkeypatch.setattr(training, "_check_finite", interrupt)
    out = tmp_path / "m.npz"
    run = recipes.train(data=letters, settings={**SMALL, "max_iter": 5}, test_fraction=0.3, output=out)
    assert run.interrupted and run.epochs_run == kept
    if kept:
        assert run.saved == out and load_model(out).record_["interrupted"] is True
        assert run.test_accuracy is not None  # scored all the same: nobody said stop
    else:
        assert run.saved is None and run.record == {} and not out.exists()


def test_a_ctrl_c_before_fit_propagates(letters, monkeypatch):
    import fastdigits.data

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fastdigits.data, "load_image_folder", interrupt)
    with pytest.raises(KeyboardInterrupt):
        recipes.train(data=letters, settings=SMALL)


def test_a_failed_save_is_rescued_into_a_private_folder(letters, tmp_path, monkeypatch):
    import tempfile

    from fastdigits import persist

    save, rescue = persist.write_archive, tmp_path / "tmp"
    rescue.mkdir()

    def fails_outside_the_rescue(path, meta, arrays):
        if rescue not in Path(path).parents:
            raise OutputError(f"{path}: cannot save the model there (disk full)")
        return save(path, meta, arrays)

    monkeypatch.setattr(persist, "write_archive", fails_outside_the_rescue)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(rescue))
    out = tmp_path / "m.npz"
    run = recipes.train(data=letters, settings={**SMALL, "max_iter": 1}, output=out)
    assert isinstance(run.save_error, OutputError) and "disk full" in str(run.save_error)
    assert rescue in run.saved.parents and run.saved.name == "m.npz" and not out.exists()
    assert run.saved.parent.stat().st_mode & 0o777 == 0o700
    assert len(load_model(run.saved).history_) == 1


def test_evaluate_scores_a_folder_and_writes_the_report(trained, letters, tmp_path, capsys):
    run, _ = trained
    scored = recipes.evaluate(run.saved, letters, report=tmp_path / "report")
    assert capsys.readouterr() == ("", "")
    ev = scored.evaluation
    assert scored.images == 30 and scored.without_ink == 1 and scored.unreadable == 0
    assert scored.names == ["L", "T", "X"] and ev.confusion.sum() == 30
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / 30) and ev.accuracy >= 0.8
    names = {p.name for p in scored.written}
    assert {"confusion.png", "hidden_units.png"} <= names and ("mistakes.png" in names) == (ev.accuracy < 1)
    assert all(p.parent == tmp_path / "report" and p.exists() for p in scored.written)
    # the model in memory scores as its file does
    assert recipes.evaluate(run.model, letters).evaluation.accuracy == ev.accuracy


def test_evaluate_refuses_a_class_the_model_does_not_know(trained, letters, tmp_path):
    import shutil

    shutil.copytree(letters, tmp_path / "data")
    shutil.copytree(letters / "L", tmp_path / "data" / "Q")
    with pytest.raises(InputError, match="a label the model does not know: 'Q'"):
        recipes.evaluate(trained[0].saved, tmp_path / "data")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="is a file"):
        recipes.evaluate(trained[0].saved, letters, report=tmp_path / "file" / "report")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pictures")
    _save(root / "a_four.png", drawing.polyline(drawing.FOUR, size=280, width=12))
    _save(root / "b_blank.png", drawing.blank_page("white"))
    (root / "c_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _save(root / "d_seven.png", drawing.polyline(drawing.SEVEN, size=280, width=12))
    return root


def test_classify_streams_one_result_per_file_and_tallies_them(pictures, tmp_path, capsys):
    results = recipes.classify([tmp_path / "missing.png", pictures], sort_into=tmp_path / "sorted")
    assert len(results) == 5 and results.classes == list(range(10))
    assert list((tmp_path / "sorted").iterdir()) == []  # made (checked), nothing sorted before iterating
    rows = list(results)
    assert capsys.readouterr() == ("", "")
    assert [Path(r.path).name for r in rows] == ["missing.png", "a_four.png", "b_blank.png", "c_broken.png",
                                                 "d_seven.png"]
    assert "no such file or folder" in rows[0].error and rows[3].error
    assert rows[1].label == 4 and rows[2].blank and rows[4].label == 7
    assert (results.tally.answered, results.tally.blank, results.tally.failed) == (2, 1, 2)
    sorted_files = sorted(p.relative_to(tmp_path / "sorted").as_posix() for p in (tmp_path / "sorted").rglob("*.png"))
    assert sorted_files == sorted(["4/a_four.png", f"{BLANK_FOLDER}/b_blank.png", "7/d_seven.png"])
    assert (pictures / "a_four.png").exists()  # copied, not moved


def test_classify_checks_the_model_and_the_sort_folder_first(pictures, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    with pytest.raises(ModelFileError):
        recipes.classify([pictures], bad)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write the sorted pictures there"):
        recipes.classify([pictures], sort_into=tmp_path / "file" / "sorted")
    with pytest.raises(InputError, match="device must be one of"):
        recipes.classify([pictures], device="gpu")


def test_read_streams_one_reading_per_file(pictures, tmp_path, capsys):
    readings = recipes.read([pictures, tmp_path / "*.jpg"])
    assert len(readings) == 5
    missing, four, blank, broken, seven = readings  # paths that matched nothing first
    assert capsys.readouterr() == ("", "")
    assert [Path(r.path).name for r in (four, blank, broken, seven)] == ["a_four.png", "b_blank.png", "c_broken.png",
                                                                          "d_seven.png"]
    assert four.text == "4" and seven.text == "7" and blank.note == NO_INK and blank.text == ""
    assert not broken.ok and "no file matches" in missing.error
    assert (readings.tally.answered, readings.tally.blank, readings.tally.failed) == (2, 1, 2)


def test_describe_a_trained_model_and_the_shipped_one(trained):
    run, _ = trained
    lines = recipes.describe(run.saved)
    assert [what for what, _ in lines[:4]] == ["network", "classes", "preprocessing", "training"]
    shown = dict(lines)
    assert shown["network"].startswith("400-16-3, relu hidden units, softmax outputs, 6,467 parameters")
    assert shown["classes"] == "L, T, X" and "augmentation off, seed 3" in shown["training"]
    assert shown["command"] == "fastdigits train --data letters" and shown["epochs_run"] == "30"
    assert shown["last epoch"].startswith("30: loss ")
    shipped = dict(recipes.describe())
    assert shipped["network"].startswith("4 x 400-800-10, probabilities averaged")
    assert "augmentation on" in shipped["training"] and "last epoch (4)" in shipped


def test_load_sets_the_device_and_checks_it(trained):
    model = recipes.load(trained[0].saved)
    assert model.device == "cpu" and recipes.load(model) is model
    with pytest.raises(InputError, match="device must be one of"):
        recipes.load(model, device="gpu")
