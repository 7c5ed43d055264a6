"""Ensembles: networks of one recipe, trained from different seeds, whose
class probabilities are averaged.

Independently seeded networks make partly different mistakes, so the mean
of their probabilities is right more often than any one of them.  An :class:`Ensemble` is used as an :class:`~fastdigits.MLPClassifier` is:
``predict``, ``predict_proba``, ``score``, ``prepare``, ``classes_``,
``preprocessing``, ``save`` and :func:`fastdigits.load_model`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .model import MLPClassifier
from .training import Progress

__all__ = ["Ensemble"]


class Ensemble:
    """Networks trained alike from different seeds, their probabilities averaged.

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
    costs one preparation and ``n_members`` forward passes.
    """

    def __init__(self, estimator: MLPClassifier | None = None, *, n_members: int = 3):
        self.estimator = estimator
        self.n_members = n_members

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters, as given to ``__init__``."""
        return {"estimator": self.estimator, "n_members": self.n_members}

    # ---------------------------------------------------------- members

    @classmethod
    def from_members(cls, members: Sequence[MLPClassifier]) -> Ensemble:
        """An ensemble of networks already trained (e.g. read from files).

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
        self._check_fitted()
        return self.members_[0].classes_

    @property
    def n_features_in_(self) -> int:
        self._check_fitted()
        return self.members_[0].n_features_in_

    @property
    def history_(self) -> list[list[dict]]:
        return [member.history_ for member in getattr(self, "members_", [])]

    @property
    def preprocessing(self):
        """The members' shared image pipeline (see :class:`MLPClassifier`)."""
        return self._source().preprocessing

    @property
    def device(self) -> str:
        """Where the members run; setting it sets every member's."""
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
        X,
        y,
        *,
        outliers=None,
        validation_data: tuple[Any, Any] | None = None,
        callback: Callable[[Progress], bool | None] | None = None,
    ) -> Ensemble:
        """Train ``n_members`` networks on (X, y), one after another.

        Parameters
        ----------
        X, y, outliers, validation_data
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
        try:
            n = int(self.n_members)
        except (TypeError, ValueError):
            raise InputError(f"n_members must be a whole number, got {self.n_members!r}") from None
        if n < 1:
            raise InputError(f"n_members must be at least 1, got {self.n_members!r}")
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
                member.fit(rows, y, outliers=outliers, validation_data=validation_data,
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

    def prepare(self, images, *, return_ink: bool = False):
        """What the networks see of ``images``: see :meth:`MLPClassifier.prepare`.

        Works before ``fit`` too (the training rows are prepared this way)."""
        return self._source().prepare(images, return_ink=return_ink)

    def predict_proba(self, X) -> np.ndarray:
        """The mean of the members' class probabilities.

        ``X``, the result and the errors as for
        :meth:`MLPClassifier.predict_proba`: (N, n_classes), columns in
        ``classes_`` order, each row summing to one.
        """
        self._check_fitted()
        rows = self.members_[0]._features(X)
        proba = self.members_[0]._probabilities(rows)
        for member in self.members_[1:]:
            proba += member._probabilities(rows)
        proba /= len(self.members_)
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable class of each picture or feature row (see
        :meth:`MLPClassifier.predict`)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y) -> float:
        """Accuracy, as :meth:`MLPClassifier.score` measures it."""
        proba = self.predict_proba(X)
        return float(np.mean(proba.argmax(axis=1) == self.members_[0]._encode(y, len(proba))))

    def loss(self, X, y) -> float:
        """Mean cross-entropy of the averaged probabilities on (X, y),
        -(1/m) sum_i log p_i[y_i] (probabilities clipped at 1e-15); no
        weight penalty.  ``X``, ``y`` and the errors as for :meth:`score`."""
        proba = self.predict_proba(X)
        yi = self.members_[0]._encode(y, len(proba))
        return float(-np.log(np.clip(proba[np.arange(len(yi)), yi], 1e-15, 1.0)).mean())

    def save(self, path) -> Any:
        """Write the ensemble to ``path`` (see :func:`fastdigits.persist.save_model`)."""
        from .persist import save_model

        return save_model(self, path)

    def __repr__(self) -> str:
        if not getattr(self, "members_", None):
            return f"Ensemble(untrained, n_members={self.n_members})"
        sizes = "-".join(map(str, self.members_[0].layer_sizes_))
        return f"Ensemble({len(self.members_)} x {sizes})"

