"""What a fitted classifier answers: probabilities, labels and scores.

``predict_proba`` reads the network's outputs; ``predict`` and
``decision_function`` read them with the decision rule fitted in ``fit``
(``threshold_``, ``class_multipliers_``; see :mod:`~safekeras.decision.rule`).
"""

from __future__ import annotations

import numpy as np

from ..decision import rule

__all__ = ["ClassifierOutputs"]


class ClassifierOutputs:
    """``predict_proba``, ``predict`` and ``decision_function`` of ``SafeKerasClassifier``."""

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For binary targets too (two columns). For multilabel targets, the
            probability of each label being on (columns need not sum to 1).
        """
        outputs = self._network_outputs(X)  # raises NotFittedError first
        proba = rule.proba_from_outputs(self.target_type_, outputs)
        return self._finite_predictions(proba, "probabilities")

    def predict(self, X) -> np.ndarray:
        """Predict labels: ``predict_proba`` read with the decision threshold ``threshold_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Raw features, prepared as the rows given to ``fit`` were: the
            fitted preprocessing (``preprocessor_``) is applied here, so do not
            scale or encode them yourself unless you did for ``fit`` too.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels taken from ``classes_``, of their type (str, int, bool, ...).
            For a multilabel target, a 0/1 indicator matrix with one column per
            label.

        Raises
        ------
        NotFittedError
            If the estimator has not been fitted.
        InputError
            If ``X`` cannot be predicted from: other columns or another number of
            columns than in ``fit``, no rows, strings in a numeric column, infinite values.
        InputTypeError
            If ``X`` is a sparse matrix.
        DriftError
            With ``on_drift="raise"``, if ``X`` does not look like the training data
            (see ``on_drift``); with ``"warn"`` a :class:`~safekeras.DriftWarning` instead.

        See Also
        --------
        predict_proba : The probabilities the labels are read from.
        decision_function : Scores whose sign gives the binary prediction.

        Notes
        -----
        The threshold is not 0.5 unless ``threshold_`` is 0.5:

        * binary: ``pos_label_`` where its probability is at least ``threshold_``, the
          other class elsewhere. With ``threshold="auto"`` (the default) ``threshold_`` was
          tuned in ``fit`` on held-out probabilities to maximise ``threshold_scoring``; on
          imbalanced data it is often far below 0.5.
        * multilabel: each label is on where its probability is at least its
          entry of ``threshold_``.
        * multiclass: the class with the largest probability times its entry
          of ``class_multipliers_`` (the most probable class when they are ones).
        """
        proba = self.predict_proba(X)  # raises NotFittedError first
        return rule.predicted_labels(proba, self.target_type_, self.classes_, *self._rule())

    def decision_function(self, X) -> np.ndarray:
        """Confidence scores whose sign (binary) or argmax (multiclass) gives ``predict``.

        The decision threshold ``threshold_`` is built in, so these scores and
        ``predict`` always agree; scikit-learn's ranking metrics (``roc_auc``,
        ``average_precision``) accept them as they accept probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Raw features, prepared as for ``fit`` (see :meth:`predict`).

        Returns
        -------
        scores : ndarray of shape (n_samples,), (n_samples, n_classes) or (n_samples, n_labels)
            * binary, shape (n_samples,): ``logit(p) - logit(t)``, with ``p`` the probability
              of ``classes_[1]`` and ``t`` the threshold on it (``threshold_``, or ``1 -
              threshold_`` when ``pos_label_`` is ``classes_[0]``). Positive where ``predict``
              returns ``classes_[1]``, negative where it returns ``classes_[0]``, as
              scikit-learn expects whatever ``pos_label`` is; 0 on the threshold itself.
            * multiclass, shape (n_samples, n_classes): ``log(proba *
              class_multipliers_)``, one column per class in ``classes_`` order.
            * multilabel, shape (n_samples, n_labels): ``logit(p) -
              logit(threshold_)`` per label, positive where the label is on.

        Raises
        ------
        NotFittedError, InputError, InputTypeError, DriftError
            As :meth:`predict` raises them.

        See Also
        --------
        predict_proba : The probabilities, without the threshold.

        Notes
        -----
        The scores stay finite where float32 probabilities saturate at 0 or 1: probabilities
        are clipped to [1e-15, 1 - 1e-15] for the logit (logits within about +-34.5) and to
        1e-300 for the log (log-probabilities of at least about -690.8).
        """
        proba = self.predict_proba(X)  # raises NotFittedError first
        return rule.decision_scores(proba, self.target_type_, *self._rule())

    def _rule(self) -> tuple:
        """``threshold_``, the positive class's index (binary) and ``class_multipliers_``."""
        positive = self._pos_index() if self.target_type_ == "binary" else None
        # Files saved before class_multipliers_ existed predict the most probable class.
        return self.threshold_, positive, getattr(self, "class_multipliers_", None)

    def _pos_index(self) -> int:
        return rule.positive_index(self.classes_, self.pos_label_)
