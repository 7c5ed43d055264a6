"""Ensembles: networks of one recipe, trained from different seeds, whose
class probabilities are averaged.

Independently seeded networks make partly different mistakes, so the mean
of their probabilities is right more often than any one of them.  An :class:`Ensemble` is used as an :class:`~fastdigits.MLPClassifier` is:
``predict``, ``predict_proba``, ``score``, ``prepare``, ``classes_``,
``preprocessing``, ``save`` and :func:`fastdigits.load_model`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from numpy.typing import ArrayLike

from . import persist
from .errors import InputError, ModelFileError
from ._sklearn import BaseEstimator, ClassifierMixin
from ._validation import Interval, sample_weight_of
from .model import MLPClassifier, log_in_place
from .training import Progress

if TYPE_CHECKING:  # pragma: no cover
    from .preprocess import Normalization

__all__ = ["Ensemble"]


class Ensemble(ClassifierMixin, BaseEstimator):
    """Networks trained alike from different seeds, their probabilities averaged.

    A scikit-learn estimator as :class:`MLPClassifier` is (``get_params``
    reaches into the recipe: ``estimator__alpha``).

    Parameters
    ----------
    estimator : MLPClassifier, optional
        The recipe of every member: its hyperparameters are copied, it is
        not fitted itself.  Default: ``MLPClassifier()``.
    n_members : int
        How many networks.  Member ``k`` is trained with seed
        ``estimator.random_state + k``: the first member is the network that
        ``estimator`` alone would give, and ``n_members=1`` is that network.

    Attributes
    ----------
    members_ : list of MLPClassifier
        The trained networks, in seed order.
    classes_ : numpy.ndarray, shape (n_classes,)
        Shared by every member.
    n_features_in_ : int
        Inputs of each network (400 for 20x20 frames).
    history_ : list of list of dict
        Each member's ``history_``.
    record_ : dict
        How the ensemble was made (the command line fills it; saved in
        model files).

    Notes
    -----
    Pictures are prepared once, by the members' shared ``preprocessing``,
    then each network's forward pass is run on the same rows: predicting
    costs one preparation and ``n_members`` forward passes.  Averaging
    independently trained networks is the classic ensemble of
    L. K. Hansen and P. Salamon, "Neural network ensembles", IEEE TPAMI
    12(10), 1990.

    Examples
    --------
    Networks already trained, averaged (the shipped model is an ensemble):

    >>> import numpy as np
    >>> from fastdigits import Ensemble, load_model
    >>> pair = Ensemble.from_members(load_model().members_[:2])
    >>> pair
    Ensemble(2 x 400-...-10)
    >>> one = np.full((28, 28), 255, np.uint8)
    >>> one[4:24, 12:16] = 0
    >>> pair.predict([one])
    array([1])

    Trained from one recipe (minutes on MNIST):

    >>> from fastdigits import MLPClassifier, load_mnist
    >>> d = load_mnist()                                                      # doctest: +SKIP
    >>> ensemble = Ensemble(MLPClassifier((256,), max_iter=8), n_members=3)
    >>> ensemble.fit(d.train_images, d.train_labels)                          # doctest: +SKIP
    Ensemble(3 x 400-256-10)
    """

    def __init__(self, estimator: MLPClassifier | None = None, *, n_members: int = 3):
        self.estimator = estimator
        self.n_members = n_members

    # ---------------------------------------------------------- members

    @classmethod
    def from_members(cls, members: Sequence[MLPClassifier]) -> Ensemble:
        """An ensemble of networks already trained (e.g. read from files).

        Parameters
        ----------
        members : sequence of MLPClassifier
            Trained networks with the same classes, inputs, dtype and
            preprocessing; kept, not copied.

        Returns
        -------
        Ensemble
            Trained; its ``estimator`` is a recipe with the first member's
            hyperparameters.

        Raises
        ------
        InputError
            If ``members`` is empty, or its networks are not trained or
            differ in classes, inputs, dtype or preprocessing.
        """
        from .preprocess import preprocessing_dict

        members = list(members)
        if not members:
            raise InputError("an ensemble needs at least one trained network, got none")
        for k, member in enumerate(members):
            if not isinstance(member, MLPClassifier):
                raise InputError(f"ensemble member {k} is a {type(member).__name__}, not an MLPClassifier")
            member._check_fitted()
        first = members[0]
        for k, member in enumerate(members[1:], 1):
            differs = [what for what, a, b in (
                ("classes", member.classes_.tolist(), first.classes_.tolist()),
                ("inputs", member.n_features_in_, first.n_features_in_),
                ("dtype", member.dtype, first.dtype),
                ("preprocessing", preprocessing_dict(member.preprocessing), preprocessing_dict(first.preprocessing)),
            ) if a != b]
            if differs:
                raise InputError(f"ensemble member {k} differs from member 0 in {', '.join(differs)}")
        ensemble = cls(MLPClassifier(**first.get_params(deep=False)), n_members=len(members))
        ensemble.members_ = members
        ensemble.record_ = {}
        return ensemble

    def _check_fitted(self) -> None:
        if not getattr(self, "members_", None):
            from .errors import NotFittedError

            raise NotFittedError("this Ensemble is not fitted yet: call fit with training data, "
                                 "or load a model file (fastdigits.load_model)")

    @property
    def classes_(self) -> np.ndarray:
        """The classes, shared by every member: (n_classes,) array."""
        self._check_fitted()
        return self.members_[0].classes_

    @property
    def n_features_in_(self) -> int:
        """Inputs of each network (400 for 20x20 frames)."""
        self._check_fitted()
        return self.members_[0].n_features_in_

    @property
    def history_(self) -> list[list[dict]]:
        """Each member's ``history_``: one dict per epoch, per member."""
        return [member.history_ for member in getattr(self, "members_", [])]

    @property
    def preprocessing(self) -> str | Normalization:
        """The members' shared image pipeline (see :class:`MLPClassifier`)."""
        return self._source().preprocessing

    @property
    def device(self) -> str:
        """Where the members run, "cpu" or "cuda"; setting it sets every member's."""
        return self._source().device

    @device.setter
    def device(self, value: str) -> None:
        for member in getattr(self, "members_", []):
            member.device = value

    def _template(self) -> MLPClassifier:
        return MLPClassifier() if self.estimator is None else self.estimator

    def _source(self) -> MLPClassifier:
        """The first member once trained, the recipe before."""
        return self.members_[0] if getattr(self, "members_", None) else self._template()

    # ---------------------------------------------------------- training

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        outliers: ArrayLike | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        callback: Callable[[Progress], bool | None] | None = None,
    ) -> Ensemble:
        """Train ``n_members`` networks on (X, y), one after another.

        Parameters
        ----------
        X, y, sample_weight, outliers, validation_data
            As for :meth:`MLPClassifier.fit`; pictures are prepared once
            for every member.
        callback : callable, optional
            Called as :meth:`MLPClassifier.fit` calls it, with
            ``Progress.member`` and ``Progress.members`` set; returning
            ``False`` stops the member training now at the end of its
            epoch, and the members after it are not trained.

        Returns
        -------
        self

        Raises
        ------
        InputError
            For a bad ``n_members`` or ``estimator``, and as
            :meth:`MLPClassifier.fit` raises for bad data or settings.

        Notes
        -----
        With a ``validation_fraction``, each member holds out its own split
        (its seed is ``seed + k``): the members' ``val_*`` figures are their
        own, and together they have seen every row.

        A ``KeyboardInterrupt`` keeps the members trained so far (the one
        interrupted too, if it finished an epoch) and is re-raised.
        """
        Interval(int, 1, None, "left").check("n_members", self.n_members)
        n = int(self.n_members)
        template = self._template()
        if not isinstance(template, MLPClassifier):
            raise InputError(f"estimator must be an MLPClassifier, got {type(template).__name__}")
        params = template.get_params(deep=False)
        seed = params["random_state"]
        members = [MLPClassifier(**{**params, "random_state": None if seed is None else int(seed) + k})
                   for k in range(n)]
        members[0]._validate_params()
        rows = members[0]._features_for_fit(X)  # pictures prepared once, for every member
        if validation_data is not None:
            Xv = members[0]._features(validation_data[0], "validation X", parallel_checks=False)
            validation_data = (Xv, validation_data[1])
        if outliers is not None:
            outliers = members[0]._features(outliers, "outliers", parallel_checks=False)
        self.members_, self.record_ = [], {}
        stop = []

        def report(progress: Progress):  # the member training now is the next one to be kept
            answer = callback(dataclasses.replace(progress, member=len(self.members_), members=n))
            if answer is False:
                stop.append(True)
            return answer

        for member in members:
            try:
                member.fit(rows, y, sample_weight, outliers=outliers, validation_data=validation_data,
                           callback=None if callback is None else report)
            except KeyboardInterrupt:
                if getattr(member, "history_", None):
                    self.members_.append(member)
                raise
            self.members_.append(member)
            if stop:
                break
        return self

    # --------------------------------------------------------- inference

    def prepare(self, images: ArrayLike, *, return_ink: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """What the networks see of ``images``: see :meth:`MLPClassifier.prepare`.

        Works before ``fit`` too (the training rows are prepared this way).

        Parameters
        ----------
        images : array_like (N, H, W), or a sequence of (H, W) arrays
            Grey pictures of any size; one picture is a batch of one.
        return_ink : bool
            Also return whether each picture has ink.

        Returns
        -------
        rows : numpy.ndarray of float32, shape (N, 400)
            The frames as rows, in [0, 1].
        ink : numpy.ndarray of bool, shape (N,)
            Only with ``return_ink``.

        Raises
        ------
        InputError
            For a bare 2-D array (one picture is ``[img]``).
        """
        return self._source().prepare(images, return_ink=return_ink)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """The mean of the members' class probabilities.

        Parameters
        ----------
        X : array_like
            Pictures (N, H, W) or a sequence of (H, W) arrays, or feature
            rows (N, n_features_in_), as for
            :meth:`MLPClassifier.predict_proba`.

        Returns
        -------
        numpy.ndarray, shape (N, n_classes)
            Columns in ``classes_`` order, each row summing to one.

        Raises
        ------
        NotFittedError
            If the ensemble is not trained.
        InputError
            For inputs :meth:`MLPClassifier.predict_proba` refuses.
        """
        self._check_fitted()
        rows = self.members_[0]._features(X)
        proba = self.members_[0]._probabilities(rows)
        for member in self.members_[1:]:
            proba += member._probabilities(rows)
        proba /= len(self.members_)
        return proba

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """The natural log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray, shape (N, n_classes)
            Columns in ``classes_`` order; ``-inf`` where a probability is 0.

        Examples
        --------
        >>> import numpy as np
        >>> from fastdigits import load_model
        >>> one = np.zeros((28, 28), np.uint8)
        >>> one[4:24, 12:16] = 255
        >>> int(np.argmax(load_model().predict_log_proba([one])))
        1
        """
        return log_in_place(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each picture or feature row.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray, shape (N,)
            Values of ``classes_``.
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy: the share of rows whose predicted class is ``y``.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.
        y : array_like, shape (N,)
            True labels, matched to ``classes_`` as
            :func:`fastdigits.metrics.class_indices` does ("3" is the
            class 3).
        sample_weight : array_like of float, shape (N,), optional
            Each row's weight in the share.

        Returns
        -------
        float
            In [0, 1].

        Raises
        ------
        InputError
            For a label that matches no class, naming it.
        """
        proba = self.predict_proba(X)
        right = proba.argmax(axis=1) == self.members_[0]._encode(y, len(proba))
        return float(np.average(right, weights=sample_weight_of(sample_weight, len(proba))))

    def loss(self, X: ArrayLike, y: ArrayLike, *, sample_weight: ArrayLike | None = None) -> float:
        """Mean cross-entropy of the averaged probabilities on (X, y).

        ``-(1/S) sum_i w_i log p_i[y_i]``, S = sum_i w_i, probabilities
        clipped at 1e-15; no weight penalty.

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.
        y : array_like, shape (N,)
            True labels, as for :meth:`score`.
        sample_weight : array_like of float, shape (N,), optional
            Each row's weight (None: 1 each).

        Returns
        -------
        float
            In nats, >= 0.

        Raises
        ------
        InputError
            For a label that matches no class, naming it.
        """
        proba = self.predict_proba(X)
        yi = self.members_[0]._encode(y, len(proba))
        ce = -np.log(np.clip(proba[np.arange(len(yi)), yi], 1e-15, 1.0))
        return float(np.average(ce, weights=sample_weight_of(sample_weight, len(yi))))

    def save(self, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
        """Write the trained ensemble to a model file, atomically (see :func:`fastdigits.save_model`).

        Parameters
        ----------
        path : str, path-like or binary file object
            The file; ``.npz`` is appended to a path if missing.  A file
            object (anything with ``write``, such as ``io.BytesIO()``) is
            written directly.

        Returns
        -------
        pathlib.Path or binary file object
            The path written, or the file object itself.

        Raises
        ------
        NotFittedError
            If the ensemble is not trained.
        OutputError
            If the file cannot be written there.
        """
        self._check_fitted()
        meta = {"version": persist.ENSEMBLE_VERSION, "classes": self.classes_.tolist(), "members": [],
                "record": getattr(self, "record_", {})}
        arrays = {}
        for k, member in enumerate(self.members_):
            entry, member_arrays = member._to_entry(k)
            meta["members"].append(entry)
            arrays.update(member_arrays)
        return persist.write_archive(path, meta, arrays)

    @classmethod
    def _from_archive(cls, path: Path | str, meta: dict, arrays: dict) -> Ensemble:
        """The ensemble of a model file of several networks."""
        entries = meta.get("members")
        if not isinstance(entries, list) or not entries:
            raise ModelFileError(f"{path}: incomplete model file (missing its list of members)")
        classes = meta.get("classes")
        members = [MLPClassifier._from_entry(path, entry, arrays, classes, k) for k, entry in enumerate(entries)]
        try:
            return cls.from_members(members)
        except InputError as exc:
            raise ModelFileError(f"{path}: inconsistent model file ({exc})") from None

    def __repr__(self) -> str:
        if not getattr(self, "members_", None):
            return f"Ensemble(untrained, n_members={self.n_members})"
        sizes = "-".join(map(str, self.members_[0].layer_sizes_))
        return f"Ensemble({len(self.members_)} x {sizes})"

