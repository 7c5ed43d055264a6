"""Ensembles: several seeded networks, probabilities averaged, in one model file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import drawing
from fastdigits import Ensemble, InputError, MLPClassifier, ModelFileError, load_model, save_model
from fastdigits.cli import app
from fastdigits.preprocess import Normalization


def _blobs(rng, n=90, classes=3):
    centres = rng.random((classes, 400)).astype(np.float32)
    y = rng.integers(0, classes, n)
    X = np.clip(centres[y] + 0.2 * rng.standard_normal((n, 400)), 0, 1).astype(np.float32)
    return X, np.array(["a", "b", "c"])[y]


@pytest.fixture(scope="module")
def data():
    return _blobs(np.random.default_rng(15))


@pytest.fixture(scope="module")
def ensemble(data):
    X, y = data
    return Ensemble(MLPClassifier((6,), max_iter=3, batch_size=16, random_state=4), n_members=3).fit(X, y)


def test_members_are_the_recipe_with_consecutive_seeds(ensemble, data):
    X, y = data
    assert [m.random_state for m in ensemble.members_] == [4, 5, 6]
    for member in ensemble.members_:
        alone = MLPClassifier((6,), max_iter=3, batch_size=16, random_state=member.random_state).fit(X, y)
        np.testing.assert_array_equal(member.params_, alone.params_)
    assert ensemble.classes_.tolist() == ["a", "b", "c"] and ensemble.n_features_in_ == 400
    assert [len(h) for h in ensemble.history_] == [3, 3, 3]


def test_probabilities_are_the_mean_of_the_members(ensemble, data):
    X, y = data
    members = np.stack([m.predict_proba(X) for m in ensemble.members_])
    proba = ensemble.predict_proba(X)
    np.testing.assert_allclose(proba, members.mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert (ensemble.predict(X) == ensemble.classes_[proba.argmax(1)]).all()
    assert ensemble.score(X, y) == np.mean(ensemble.predict(X) == y)
    # The members disagree somewhere, or the average would tell nothing new.
    assert not np.array_equal(members[0], members[1])


def test_one_member_is_the_plain_network(data):
    X, y = data
    plain = MLPClassifier((6,), max_iter=3, batch_size=16, random_state=9).fit(X, y)
    one = Ensemble(MLPClassifier((6,), max_iter=3, batch_size=16, random_state=9), n_members=1).fit(X, y)
    np.testing.assert_array_equal(one.members_[0].params_, plain.params_)
    np.testing.assert_array_equal(one.predict_proba(X), plain.predict_proba(X))


def test_sigmoid_members_are_normalised_before_averaging(data):
    X, y = data
    ens = Ensemble(MLPClassifier((5,), output="sigmoid", max_iter=2), n_members=2).fit(X, y)
    want = np.mean([m.predict_proba(X) for m in ens.members_], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), want, rtol=1e-6)


def test_pictures_go_through_the_shared_pipeline():
    images = [drawing.digit(c, size=64, stroke=1) for c in "01010101"]
    pipeline = Normalization(deskew=True)
    ens = Ensemble(MLPClassifier((4,), max_iter=2, preprocessing=pipeline), n_members=2).fit(images, [0, 1] * 4)
    assert ens.preprocessing == pipeline
    assert all(m.preprocessing == pipeline for m in ens.members_)
    rows = ens.prepare(images)
    np.testing.assert_array_equal(rows, ens.members_[1].prepare(images))
    np.testing.assert_array_equal(ens.predict_proba(images), ens.predict_proba(rows))
    with pytest.raises(InputError, match="batch of one"):
        ens.predict_proba(images[0])  # one bare picture, as a plain network refuses it


def test_save_load_round_trip(ensemble, data, tmp_path):
    X, _ = data
    ensemble.record_ = {"command": "made in a test"}
    path = ensemble.save(tmp_path / "ens")
    assert path.name == "ens.npz"
    back = load_model(path)
    assert isinstance(back, Ensemble) and len(back.members_) == 3
    np.testing.assert_array_equal(back.predict_proba(X), ensemble.predict_proba(X))
    for got, want in zip(back.members_, ensemble.members_):
        np.testing.assert_array_equal(got.params_, want.params_)
        assert got.random_state == want.random_state and got.history_ == want.history_
        assert got.params_.dtype == np.float32
    assert back.classes_.tolist() == ["a", "b", "c"] and back.record_ == {"command": "made in a test"}


def test_round_trip_through_bytes(ensemble, data):
    import io

    X, _ = data
    buffer = ensemble.save(io.BytesIO())
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as archive:
        assert json.loads(str(archive["meta"]))["version"] == 2
    back = load_model(io.BytesIO(buffer.getvalue()))
    assert isinstance(back, Ensemble) and len(back.members_) == 3
    assert np.array_equal(back.predict_proba(X), ensemble.predict_proba(X))


def test_file_layout_without_pickle(ensemble, tmp_path):
    path = save_model(ensemble, tmp_path / "ens.npz")
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
        names = set(archive.files)
    assert meta["format"] == "fastdigits-model" and meta["version"] == 2
    assert meta["classes"] == ["a", "b", "c"] and len(meta["members"]) == 3
    assert meta["members"][2]["params"]["random_state"] == 6 and meta["members"][0]["layer_sizes"] == [400, 6, 3]
    assert names == {"meta"} | {f"member{k}_{kind}_{l}" for k in range(3) for kind in ("weights", "biases")
                                for l in range(2)}


def test_a_single_network_is_still_written_as_version_1(data, tmp_path):
    X, y = data
    path = MLPClassifier((4,), max_iter=1).fit(X, y).save(tmp_path / "one")
    with np.load(path) as archive:
        assert json.loads(str(archive["meta"]))["version"] == 1 and "weights_0" in archive.files
    assert isinstance(load_model(path), MLPClassifier)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(path, **arrays)


def _meta(path, **changes):
    with np.load(path) as archive:
        meta = json.loads(str(archive["meta"]))
    meta.update(changes)
    return np.array(json.dumps(meta))


def _member_params(path, k, **changes):
    with np.load(path) as archive:
        meta = json.loads(str(archive["meta"]))
    meta["members"][k]["params"].update(changes)
    return np.array(json.dumps(meta))


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda p: _rewrite(p, member1_biases_0=None), "missing 'member1_biases_0'"),
        (lambda p: _rewrite(p, member2_weights_1=np.zeros((6, 4), np.float32)),
         r"member 2, layer 1 has weights \(6, 4\)"),
        (lambda p: _rewrite(p, member0_weights_0=np.full((400, 6), np.nan, np.float32)), "member 0, .*NaN"),
        (lambda p: _rewrite(p, meta=_meta(p, members=[])), "missing its list of members"),
        (lambda p: _rewrite(p, meta=_meta(p, members=None)), "missing its list of members"),
        (lambda p: _rewrite(p, meta=_meta(p, classes=None)), "missing 'classes'"),
        (lambda p: _rewrite(p, meta=_meta(p, version=3)), r"version 3; this fastdigits reads 1 and 2"),
        (lambda p: _rewrite(p, meta=_member_params(p, 1, preprocessing="scale")),
         "member 1 differs from member 0 in preprocessing"),
        (lambda p: _rewrite(p, meta=_member_params(p, 2, activation="swish")), "member 2, activation must be"),
    ],
)
def test_bad_ensemble_files_are_refused(ensemble, tmp_path, corrupt, match):
    path = save_model(ensemble, tmp_path / "ens.npz")
    corrupt(path)
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_from_members_checks_that_they_agree(data):
    X, y = data
    a = MLPClassifier((4,), max_iter=1).fit(X, y)
    with pytest.raises(InputError, match="at least one"):
        Ensemble.from_members([])
    with pytest.raises(InputError, match="member 1 is a str"):
        Ensemble.from_members([a, "b"])
    other = MLPClassifier((4,), max_iter=1).fit(X, np.where(y == "c", "d", y))
    with pytest.raises(InputError, match="member 1 differs from member 0 in classes"):
        Ensemble.from_members([a, other])
    wide = MLPClassifier((4,), max_iter=1, dtype="float64").fit(X, y)
    with pytest.raises(InputError, match="in dtype"):
        Ensemble.from_members([a, wide])
    mixed = Ensemble.from_members([a, MLPClassifier((7, 3), max_iter=1, random_state=2).fit(X, y)])
    assert mixed.predict_proba(X).shape == (len(X), 3)


def test_untrained_ensemble_and_bad_settings(data):
    X, y = data
    with pytest.raises(Exception, match="not fitted yet"):
        Ensemble().predict(X)
    for bad in (0, -1, "two"):
        with pytest.raises(InputError, match="n_members"):
            Ensemble(MLPClassifier((4,), max_iter=1), n_members=bad).fit(X, y)
    with pytest.raises(InputError, match="estimator must be an MLPClassifier"):
        Ensemble("mlp", n_members=2).fit(X, y)
    with pytest.raises(InputError, match="activation"):
        Ensemble(MLPClassifier((4,), activation="swish"), n_members=2).fit(X, y)


def test_progress_names_the_member_and_false_stops(data):
    X, y = data
    seen = []

    def callback(p):
        if p.record is None:
            return None
        seen.append((p.member, p.members, p.epoch))
        return False if (p.member, p.epoch) == (1, 0) else None

    ens = Ensemble(MLPClassifier((4,), max_iter=2), n_members=3).fit(X, y, callback=callback)
    assert seen == [(0, 3, 0), (0, 3, 1), (1, 3, 0)]
    assert [len(h) for h in ens.history_] == [2, 1]


def test_ctrl_c_keeps_the_members_trained_so_far(data):
    X, y = data

    def interrupt(p):
        if p.member == 1 and p.record is not None:
            raise KeyboardInterrupt

    ens = Ensemble(MLPClassifier((4,), max_iter=3), n_members=3)
    with pytest.raises(KeyboardInterrupt):
        ens.fit(X, y, callback=interrupt)
    assert [len(h) for h in ens.history_] == [3, 1]
    assert ens.predict_proba(X).shape == (len(X), 3)


def test_device_is_set_on_every_member(ensemble):
    assert ensemble.device == "cpu"
    ensemble.device = "cpu"
    assert {m.device for m in ensemble.members_} == {"cpu"}


def test_train_members_then_show_classify_and_evaluate(tmp_path):
    from PIL import Image

    root = tmp_path / "letters"
    rng = np.random.default_rng(0)
    for letter in "AB":
        (root / letter).mkdir(parents=True)
        for k in range(8):
            image = drawing.digit(letter, size=48, height=rng.uniform(0.5, 0.8), stroke=int(rng.integers(1, 3)))
            Image.fromarray(image).save(root / letter / f"{k}.png")
    runner = CliRunner()
    out = tmp_path / "ens.npz"
    result = runner.invoke(app, ["train", "--data", str(root), "--hidden", "8", "--epochs", "3", "--members", "2",
                                 "--seed", "5", "--outliers", "0.5", "--deskew", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 networks averaged" in result.stderr and "network 2/2, epoch   3:" in result.stderr
    assert "8 pictures of no class" in result.stderr  # half of the 16 training pictures
    model = load_model(out)
    assert isinstance(model, Ensemble) and [m.random_state for m in model.members_] == [5, 6]
    assert model.record_["members"] == 2 and model.record_["epochs_run"] == 6
    assert model.record_["outliers"] == 0.5 and model.preprocessing.deskew
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "2 x 400-8-2, probabilities averaged" in shown.stdout and "seeds 5, 6" in shown.stdout
    classified = runner.invoke(app, ["classify", str(root / "A"), "--model", str(out)])
    assert classified.exit_code == 0, classified.output
    assert classified.stdout.count("\n") == 9  # header and 8 rows
    evaluated = runner.invoke(app, ["evaluate", str(out), "--data", str(root), "--report", str(tmp_path / "r")])
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "r" / "hidden_units.png").exists()


def test_prepare_before_fit_is_the_recipes_pipeline():
    """Training rows are prepared by the ensemble before it has members
    (``fastdigits train --members`` does this)."""
    pictures = np.stack([drawing.digit(c, size=40) for c in "17"])
    recipe = MLPClassifier((6,), preprocessing=Normalization(box=16))
    rows = Ensemble(recipe, n_members=2).prepare(pictures)
    np.testing.assert_array_equal(rows, recipe.prepare(pictures))
    assert rows.shape == (2, 400) and rows.any()


def test_loss_is_the_cross_entropy_of_the_mean(ensemble, data):
    X, y = data
    proba = ensemble.predict_proba(X)
    rows = ensemble.members_[0]._encode(y, len(X))
    assert ensemble.loss(X, y) == pytest.approx(-np.log(proba[np.arange(len(X)), rows]).mean(), rel=1e-6)
    with pytest.raises(InputError, match="label"):
        ensemble.loss(X, np.full(len(X), "zz"))
