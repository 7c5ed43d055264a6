"""Classifying pictures: answers per picture, blank pictures told apart."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import drawing
from fastdigits import InputError, classify_images, load_model
from fastdigits.classify import BLANK_FOLDER, NO_INK, Result, classify_files, sort_into


@pytest.fixture(scope="module")
def model():
    return load_model()


def _four() -> np.ndarray:
    return drawing.polyline(drawing.FOUR, size=280, width=12)


@pytest.mark.parametrize("kind", [*drawing.SURE_BLANK_KINDS, "noisy"])  # blank_page("noisy") reads blank
def test_a_picture_without_ink_gets_no_label_but_a_note(model, kind):
    blank = drawing.blank_page(kind)
    results = classify_images(model, [blank, _four()])
    answer, four = results
    fields = ("path", "label", "probability", "probabilities", "error", "note")
    assert [getattr(answer, f) for f in fields] == [None, None, None, None, None, NO_INK]  # no label, no error
    assert answer.ok and answer.blank
    assert four.label == 4 and not four.blank and four.note is None
    assert four.probabilities.shape == (10,) and four.probability == four.probabilities.max()


def test_results_holding_arrays_compare_without_raising(model):
    four, again = classify_images(model, [_four(), _four()])
    assert four == four and four != again  # by identity: field-wise == would compare arrays and raise
    np.testing.assert_array_equal(four.probabilities, again.probabilities)


def test_classify_images_takes_a_batch_array_and_refuses_a_bare_picture(model):
    batch = np.stack([drawing.blank_page("white"), _four()])
    assert [r.label for r in classify_images(model, batch)] == [None, 4]
    with pytest.raises(InputError, match=r"shape \(280, 280\).*img\[None\] or \[img\]"):
        classify_images(model, _four())


@pytest.mark.parametrize("none", [[], (), np.zeros((0, 28, 28), np.uint8)], ids=["list", "tuple", "array"])
def test_no_pictures_get_no_answers(model, none):
    assert classify_images(model, none) == []


@pytest.mark.parametrize("kind", [*drawing.SURE_BLANK_KINDS, "noisy"])  # blank_page("noisy") reads blank
def test_files_and_arrays_get_the_same_answer(model, kind, tmp_path):
    pictures = {"blank.png": drawing.blank_page(kind), "four.png": _four()}
    for name, image in pictures.items():
        Image.fromarray(image).save(tmp_path / name)
    from_files = list(classify_files(model, [tmp_path / name for name in pictures]))
    from_arrays = classify_images(model, list(pictures.values()))
    assert [(r.label, r.note, r.error) for r in from_files] == [(r.label, r.note, r.error) for r in from_arrays]
    assert from_files[0].blank and from_files[0].path == str(tmp_path / "blank.png")


def test_sort_into_puts_blank_pictures_in_their_own_folder(model, tmp_path):
    Image.fromarray(drawing.blank_page("white")).save(tmp_path / "white.png")
    Image.fromarray(_four()).save(tmp_path / "four.png")
    results = list(classify_files(model, [tmp_path / "white.png", tmp_path / "four.png"]))
    targets = [sort_into(r, tmp_path / "sorted") for r in results]
    assert targets == [tmp_path / "sorted" / BLANK_FOLDER / "white.png", tmp_path / "sorted" / "4" / "four.png"]
    with pytest.raises(InputError, match="only a file read fine"):
        sort_into(Result(str(tmp_path / "x.png"), error="x.png: not a readable image"), tmp_path / "sorted")


def test_class_names_become_safe_folder_names():
    from fastdigits.classify import folder_name

    assert folder_name("../../escaped_3") == ".._.._escaped_3"
    assert folder_name("/etc") == "_etc" and folder_name("a\\b") == "a_b" and folder_name("a\x00b") == "a_b"
    assert [folder_name(n) for n in ("", ".", "..", "con", "Nul.txt", "COM3")] == \
        ["_", "_.", "_..", "_con", "_Nul.txt", "_COM3"]
    assert folder_name(7) == "7" and folder_name("ok name") == "ok name"


def test_sort_into_never_writes_outside_its_folder(tmp_path):
    from fastdigits.classify import Result, sort_into

    (tmp_path / "in").mkdir()
    picture = tmp_path / "in" / "a.png"
    picture.write_bytes(b"not read here")
    sorted_dir = tmp_path / "deep" / "sorted"
    for label in ("../../escaped_3", "/abs", ".."):
        target = sort_into(Result(str(picture), label=label), sorted_dir)
        assert target.resolve().is_relative_to(sorted_dir.resolve()) and target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "in"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["sorted"]
    (sorted_dir / "out").symlink_to(tmp_path / "in")  # a link in the sort folder that leads out of it
    with pytest.raises(InputError, match="lies outside"):
        sort_into(Result(str(picture), label="out"), sorted_dir)


def test_names_are_what_results_and_errors_say(tmp_path):
    """A Dask worker opens absolute paths but reports the client's spelling."""
    from fastdigits.read import read_files

    one = np.full((40, 40), 255, np.uint8)
    one[8:32, 18:22] = 0
    Image.fromarray(one).save(tmp_path / "one.png")
    (tmp_path / "bad.png").write_text("not a picture")
    files = [tmp_path / "one.png", tmp_path / "bad.png", tmp_path / "gone.png"]
    names = ["scans/one.png", "scans/bad.png", "scans/gone.png"]
    model = load_model()
    for results in (list(classify_files(model, files, names=names, batch_size=2)),
                    list(read_files(files, model, names=names))):
        assert [r.path for r in results] == names
        assert results[0].error is None
        assert results[1].error.startswith("scans/bad.png: not a readable image")
        assert results[2].error == "scans/gone.png: no such file"
        assert all(str(tmp_path) not in (r.error or "") for r in results)
    with pytest.raises(InputError, match="2 names for 3 files"):
        list(classify_files(model, files, names=names[:2]))
    with pytest.raises(InputError, match="2 names for 3 files"):
        list(read_files(files, model, names=names[:2]))
