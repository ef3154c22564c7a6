"""The rows a fit trains and validates on: preprocessed as the network will read them.

The preprocessor is fitted on the training rows only (weighted as the loss
weights them) and applied unchanged to the validation rows, so that early
stopping and the threshold search see what ``predict`` will see. A fitted
``"auto"`` preprocessor applies through its
:class:`~safekeras.data.preprocessing_plan.PreprocessingPlan`, as at predict
time: the same operations as scikit-learn's, identical to the bit (tested),
without about 1 ms of the ``ColumnTransformer``'s own overhead per call.
"""

from __future__ import annotations

from sklearn.base import is_classifier

from ..data import row_twins
from ..data.preprocessing import fit_preprocessor, resolve_preprocessor, take_rows
from ..data.preprocessing_plan import PreprocessingPlan
from ..network import checks, training
from .fit_state import FitData, Rows

__all__ = ["keeps_twins_together", "split", "training_rows"]


def keeps_twins_together(estimator) -> bool:
    """Whether a fit holds out rows with identical features together: a regressor's table.

    The one rule for the validation split (:func:`split`) and the regressor's
    cross-fitted members (:func:`safekeras.network.ensemble.member_rows`); a
    classifier's split stays stratified by class.
    """
    return not is_classifier(estimator) and estimator._fit_kind() == "table"


def split(estimator, data: FitData, rng, holdout: bool):
    """Train and validation rows of ``data.X`` (zero weights excluded; None: no split).

    A table with a continuous target keeps rows with identical features on one
    side of the split (:mod:`safekeras.data.row_twins`); a class target's split
    is stratified, as before.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for ``validation_fraction`` and the kind of its inputs.
    data : FitData
        The fit's validated data.
    rng : numpy.random.RandomState
        Draws the split.
    holdout : bool
        Whether to hold out a validation split at all.

    Returns
    -------
    train_idx : ndarray of int
    val_idx : ndarray of int or None
    """
    twins = None
    if holdout and keeps_twins_together(estimator):
        twins = row_twins.twin_groups(take_rows(data.X, data.kept))
    return training.split_rows(
        data.spec,
        data.y_encoded,
        data.kept,
        rng,
        fraction=estimator.validation_fraction,
        holdout=holdout,
        twins=twins,
    )


def training_rows(estimator, data: FitData, train_idx, val_idx, resume: bool, kind: str):
    """The preprocessor (fitted on the training rows, or kept) and the rows it gives.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        Read for ``preprocessor`` (a first fit) or ``preprocessor_`` (a continued one).
    data : FitData
        The fit's validated data.
    train_idx, val_idx : ndarray of int or None
        Rows of ``data.X`` that train, and that validate (None: no split).
    resume : bool
        Whether the fit continues a fitted one, whose preprocessing is frozen.
    kind : {"table", "tensor", "tokens"}
        How the fit reads ``X``.

    Returns
    -------
    preprocessor : transformer or None
    rows : Rows
    """
    weights, y_encoded = data.weights, data.y_encoded
    X_train = take_rows(data.X, train_idx)
    if resume:
        preprocessor = estimator.preprocessor_  # frozen: the network learnt its scale
        transform = _transformer(preprocessor, data.input_schema, kind)
        x_train = transform(X_train)
    else:
        preprocessor = resolve_preprocessor(
            estimator.preprocessor, X_train, kind, _numeric_splines(estimator)
        )
        x_train = (
            X_train
            if preprocessor is None
            else fit_preprocessor(preprocessor, X_train, weights[train_idx])
        )
        transform = None  # planned only if validation rows need it
    tokens = kind == "tokens"  # ids stay integers: an Embedding reads codes
    x_val = None
    if val_idx is not None:
        transform = transform or _transformer(preprocessor, data.input_schema, kind)
        x_val = checks.as_network_input(transform(take_rows(data.X, val_idx)), keep_integers=tokens)
    w_val = None if val_idx is None else weights[val_idx]
    rows = Rows(
        x_train=checks.as_network_input(x_train, keep_integers=tokens),
        y_train=y_encoded[train_idx],
        w_train=weights[train_idx],
        x_val=x_val,
        y_val=None if val_idx is None else y_encoded[val_idx],
        w_val=w_val,
        w_val_fit=w_val,
    )
    return preprocessor, rows


def _numeric_splines(estimator) -> bool:
    """Whether ``preprocessor="auto"`` appends spline embeddings (``numeric_embeddings``)."""
    if estimator.numeric_embeddings is None:
        return False
    if estimator.numeric_embeddings == "splines":
        return True
    # "auto": the embeddings belong to the default network's design (measured with it); a
    # network of the user's keeps the input width it was written for.
    return estimator._auto_numeric_splines and estimator.model is None


def _transformer(preprocessor, schema, kind: str):
    """``preprocessor.transform``, as its plan where it has one (the identity for None)."""
    if preprocessor is None:
        return lambda X: X
    plan = PreprocessingPlan.for_input(preprocessor, schema, kind)
    if plan is None:
        return preprocessor.transform
    return lambda X: plan.transform(schema.decode(X))
