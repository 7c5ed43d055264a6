"""Hyperparameter constraints (fastdigits/_validation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fastdigits import InputError
from fastdigits._validation import Choice, Interval


def test_choice_takes_its_values_and_numpys_and_names_the_rest():
    Choice(("relu", "tanh")).check("activation", np.str_("relu"))
    Choice((False, True)).check("nesterovs_momentum", np.True_)
    with pytest.raises(InputError, match=r"activation must be one of 'relu', 'tanh'; got 'swish'"):
        Choice(("relu", "tanh")).check("activation", "swish")
    with pytest.raises(InputError, match="got 1"):
        Choice((False, True)).check("nesterovs_momentum", 1)  # a bool is asked for


@pytest.mark.parametrize("value", [1, np.int64(7), 10**6])
def test_interval_of_ints_takes_whole_numbers(value):
    Interval(int, 1, None, "left").check("max_iter", value)


@pytest.mark.parametrize("value, words", [
    (0, r"max_iter must be a whole number in \[1, inf\); got 0"),
    (2.5, "whole number"), (True, "whole number"), ("10", "whole number"), (None, "got None"),
])
def test_interval_of_ints_refuses_and_says_what_it_takes(value, words):
    with pytest.raises(InputError, match=words):
        Interval(int, 1, None, "left").check("max_iter", value)


def test_interval_ends_open_or_closed_and_none():
    Interval(float, 0, 1, "both").check("momentum", 1.0)
    Interval(float, 0, 1, "left").check("beta_1", 0)
    with pytest.raises(InputError, match=r"in \[0, 1\)"):
        Interval(float, 0, 1, "left").check("beta_1", 1.0)
    with pytest.raises(InputError, match=r"in \(0, inf\)"):
        Interval(float, 0, None, "neither").check("epsilon", 0.0)
    with pytest.raises(InputError, match="finite"):
        Interval(float, 0, None, "left").check("alpha", float("nan"))
    Interval(int, 1, None, "left", none=True).check("n_iter_no_change", None)


def test_a_whole_number_too_large_for_a_float_is_checked_not_crashed_on():
    Interval(int, 1, None, "left").check("max_iter", 10**400)
    with pytest.raises(InputError, match=r"in \[1, 10\)"):
        Interval(int, 1, 10, "left").check("batch_size", 10**400)


def test_scikit_learns_spellings_are_answered_with_fastdigits_own():
    from fastdigits import MLPClassifier

    X, y = np.zeros((4, 3)), [0, 1, 0, 1]
    for settings, words in [(dict(activation="logistic"), "'logistic' is 'sigmoid' here"),
                            (dict(batch_size="auto"), "give a number"),
                            (dict(learning_rate="adaptive"), "'cosine' and 'exponential'"),
                            (dict(random_state=np.random.RandomState(0)), "a seed, not a numpy RandomState"),
                            (dict(alpha=np.float64(-1.0)), r"got -1\.0$")]:
        with pytest.raises(InputError, match=words):
            MLPClassifier(**settings).fit(X, y)
