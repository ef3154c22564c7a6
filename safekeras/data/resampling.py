"""Class rebalancing on the training split: imbalanced-learn samplers and class weights.

Both act on the *training split only*, after the preprocessor was fitted on
it. The validation split (early stopping and threshold tuning) and everything
``predict`` sees keep the true class balance, so the validation loss, the tuned
threshold and the reported metrics describe the data the model will meet.

* ``class_weight`` is keyed by the caller's labels (``{"fraud": 10}``), never
  by encoded index, and becomes per-row weights multiplied with
  ``sample_weight``.
* ``sampler`` is any object with ``fit_resample`` (every imbalanced-learn
  sampler). It is cloned for each fit and gets the estimator's seed when its
  own ``random_state`` is unset. ``SMOTENC`` and ``SMOTEN`` need to know which
  columns are categorical: with ``preprocessor="auto"`` they resample each
  one-hot encoded feature as one categorical column and the result is one-hot
  encoded again, so no synthetic row ever holds half a category.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.base import clone
from sklearn.utils.class_weight import compute_class_weight

from ..exceptions import (
    InputError,
    ParameterError,
    SafeKerasWarning,
    TargetError,
    external_stacklevel,
)
from . import targets
from .input_validation import unequal_or_none
from .preprocessing import one_hot_blocks

__all__ = [
    "OneHotLayout",
    "check_chunk_class_weight",
    "check_rebalancing_applies",
    "class_counts",
    "class_weights",
    "encode_resampled",
    "rebalance",
    "resample",
    "resample_rows",
]


def check_chunk_class_weight(class_weight) -> None:
    """ParameterError for ``class_weight="balanced"`` in ``partial_fit``, which sees one chunk."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        raise ParameterError(
            "class_weight='balanced' is not supported by partial_fit: each call sees one "
            "chunk, whose class counts are not those of the data. Compute the weights once, "
            "e.g. dict(zip(classes, sklearn.utils.class_weight.compute_class_weight("
            "'balanced', classes=classes, y=y_all))), and pass them as class_weight."
        )


def check_rebalancing_applies(spec, sampler, class_weight) -> None:
    """TargetError when ``sampler`` or ``class_weight`` is set for a multilabel target."""
    if spec.target_type != "multilabel-indicator":
        return
    if sampler is not None:
        raise TargetError(
            f"sampler={type(sampler).__name__} cannot resample {spec.describe()}: "
            "imbalanced-learn samplers take one label per row. Use sample_weight, or "
            "fit one binary SafeKerasClassifier per label."
        )
    if class_weight is not None:
        raise TargetError(
            f"class_weight applies to binary and multiclass targets, not to "
            f"{spec.describe()}. Weight rows with sample_weight instead, e.g. "
            "sklearn.utils.class_weight.compute_sample_weight('balanced', Y)."
        )


def rebalance(
    spec, x_train, y_train, w_train, y_val, w_val, *, sampler, class_weight, one_hot_from, seeds
):
    """The training split resampled, and the weights training and validation then use.

    Parameters
    ----------
    spec : TargetSpec
        The fitted target (binary or multiclass when rebalancing is asked for).
    x_train, y_train, w_train : ndarray
        The preprocessed training rows, their encoded labels and weights.
    y_val, w_val : ndarray or None
        The validation split's encoded labels and weights (None: no split).
    sampler, class_weight
        The estimator's parameters (None: no resampling, no class weights).
    one_hot_from : transformer or None
        The fitted "auto" preprocessor, whose one-hot blocks SMOTENC/SMOTEN
        resample as one categorical column each; None for any other.
    seeds : iterator of int
        The fit's seed stream; one seed is drawn when ``sampler`` is set.

    Returns
    -------
    x_train, y_train, w_train, w_val
        The validation rows are never resampled; only their weights change,
        with ``class_weight``.
    """
    if sampler is not None:
        # Tensors and token ids (kept integer until the network's dtype): rows are picked.
        rows_only = x_train.ndim > 2 or x_train.dtype.kind in "iu"
        layout = None
        if one_hot_from is not None and not rows_only:
            blocks, names = one_hot_blocks(one_hot_from)
            layout = OneHotLayout(x_train.shape[1], blocks, names)
        resample_with = resample_rows if rows_only else resample
        x_train, y_labels, w_resampled = resample_with(
            sampler,
            x_train,
            spec.classes[y_train],
            unequal_or_none(w_train),
            seed=next(seeds),
            layout=layout,
        )
        y_train = encode_resampled(spec.classes, y_labels, type(sampler).__name__)
        w_train = np.ones(len(y_train)) if w_resampled is None else w_resampled
        targets.check_classes_present(spec, y_train, f"after {type(sampler).__name__}")
    per_class = class_weights(class_weight, spec.classes, y_train)
    if per_class is not None:
        w_train = w_train * per_class[y_train]
        if w_val is not None:
            # The validation loss measures what training optimises.
            w_val = w_val * per_class[y_val]
    return x_train, y_train, w_train, w_val


def encode_resampled(classes: np.ndarray, y_labels: np.ndarray, sampler_name: str) -> np.ndarray:
    """Labels returned by a sampler as indices into ``classes``."""
    encoded = np.searchsorted(classes, y_labels)
    known = classes[np.minimum(encoded, len(classes) - 1)] == y_labels
    if not np.all(known):
        raise TargetError(
            f"sampler {sampler_name} returned labels that are not among the classes "
            f"{classes.tolist()}; a sampler must only keep, repeat or synthesise rows of "
            "existing classes."
        )
    return encoded


def class_counts(spec, y_encoded) -> list[int]:
    """Rows of each class (binary), or of each label's positives and negatives (multilabel)."""
    if spec.target_type == "multilabel-indicator":
        positives = y_encoded.sum(axis=0)
        return [*positives.tolist(), *(len(y_encoded) - positives).tolist()]
    return np.bincount(y_encoded, minlength=spec.n_classes).tolist()


def class_weights(class_weight, classes: np.ndarray, y_train: np.ndarray) -> np.ndarray | None:
    """Weight of each class (in ``classes`` order), or None for no class weighting.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        ``"balanced"`` weights class ``c`` by ``n_samples / (n_classes *
        count(c))`` on ``y_train``; a dict maps labels to weights, classes
        left out weigh 1.
    classes : ndarray
        The sorted class labels.
    y_train : ndarray of int
        Encoded labels (indices into ``classes``) of the training split,
        after any resampling.

    Raises
    ------
    TargetError
        When a key is not one of the classes, or a weight is not a positive
        number.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):  # "balanced"; other strings are rejected earlier
        return compute_class_weight("balanced", classes=np.arange(len(classes)), y=y_train).astype(
            np.float64
        )
    weights = np.ones(len(classes))
    for label, weight in class_weight.items():
        matches = [i for i, c in enumerate(classes) if _same_label(c, label)]
        if not matches:
            raise TargetError(
                f"class_weight has the key {label!r} ({type(label).__name__}), which is not "
                f"one of the classes {classes.tolist()}. Key class_weight by the labels in y, "
                "as they appear there (not by their encoded position)."
            )
        if not isinstance(weight, Real) or isinstance(weight, bool) or not weight > 0:
            raise TargetError(
                f"class_weight[{label!r}] = {weight!r}: class weights must be positive "
                "numbers. Drop a class's rows instead of giving it weight 0."
            )
        weights[matches[0]] = float(weight)
    return weights


def _same_label(class_value, key) -> bool:
    # "1" must not match the class 1, nor 1 the class "1": labels compare as they are.
    if isinstance(class_value, str | np.str_) != isinstance(key, str | np.str_):
        return False
    return bool(class_value == key)


class OneHotLayout:
    """Where the one-hot blocks of categorical features sit in a feature matrix.

    Parameters
    ----------
    n_columns : int
        Width of the encoded matrix.
    blocks : list of (start, stop)
        Column range of each categorical feature's one-hot block.
    names : list
        The categorical features' original column names or positions.
    """

    def __init__(self, n_columns: int, blocks: list[tuple[int, int]], names: list):
        self.n_columns = n_columns
        self.blocks = blocks
        self.names = names
        in_block = np.zeros(n_columns, dtype=bool)
        for start, stop in blocks:
            in_block[start:stop] = True
        self.numeric = np.flatnonzero(~in_block)

    @property
    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in :meth:`collapse`'s output."""
        return list(range(len(self.numeric), len(self.numeric) + len(self.blocks)))

    def collapse(self, x: np.ndarray) -> np.ndarray:
        """Numeric columns, then one code column per categorical feature."""
        codes = [np.argmax(x[:, start:stop], axis=1) for start, stop in self.blocks]
        return np.column_stack([x[:, self.numeric], *codes]).astype(x.dtype, copy=False)

    def expand(self, z: np.ndarray, dtype) -> np.ndarray:
        """Invert :meth:`collapse`: codes back to one-hot blocks."""
        out = np.zeros((len(z), self.n_columns), dtype=dtype)
        out[:, self.numeric] = z[:, : len(self.numeric)]
        rows = np.arange(len(z))
        for j, (start, _stop) in enumerate(self.blocks):
            codes = np.rint(z[:, len(self.numeric) + j]).astype(np.intp)
            out[rows, start + codes] = 1
        return out


def resample(sampler, x, y, sample_weight, *, seed: int, layout: OneHotLayout | None = None):
    """Apply a clone of ``sampler`` to the training split.

    Parameters
    ----------
    sampler : object with ``fit_resample``
        The user's sampler, never modified.
    x : ndarray
        Preprocessed training features.
    y : ndarray
        Training labels, as the caller wrote them (so a sampler's
        ``sampling_strategy`` dict keyed by label works).
    sample_weight : ndarray or None
        Training weights; they follow the rows the sampler keeps or repeats
        (its ``sample_indices_``). A sampler that synthesises rows cannot carry
        unequal weights, which is an error.
    seed : int
        ``random_state`` for a sampler whose own is None.
    layout : OneHotLayout or None
        The auto preprocessor's one-hot blocks, for SMOTENC/SMOTEN.

    Returns
    -------
    x, y, sample_weight : the resampled training split.
    """
    sampler = clone(sampler)
    params = sampler.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        sampler.set_params(random_state=seed)
    name = type(sampler).__name__

    categorical = _categorical_mode(sampler)
    use_layout = categorical is not None and layout is not None and layout.blocks
    if use_layout:
        if categorical == "SMOTEN" and len(layout.numeric):
            raise InputError(
                "SMOTEN resamples categorical features only, but X also has numeric "
                "columns. Use SMOTENC for mixed numeric and categorical data."
            )
        if categorical == "SMOTENC":
            sampler.set_params(categorical_features=layout.categorical_positions)
        x_in = layout.collapse(x)
    else:
        if layout is not None and layout.blocks and _interpolates(sampler):
            warnings.warn(
                f"{name} interpolates between rows, so the one-hot columns of the categorical "
                f"features {layout.names} get fractional values no real row has. Use "
                "imblearn.over_sampling.SMOTENC, which safekeras points at those features "
                "automatically.",
                SafeKerasWarning,
                stacklevel=external_stacklevel(),
            )
        x_in = x

    x_out, y_out = _fit_resample(sampler, x_in, y)

    x_out = np.asarray(x_out)
    if use_layout:
        x_out = layout.expand(x_out, x.dtype)
    weights_out = None
    if sample_weight is not None:
        indices = getattr(sampler, "sample_indices_", None)
        if indices is None:
            raise InputError(
                f"sampler {name} creates synthetic rows, which have no sample_weight. Use "
                "equal sample weights with it, or a sampler that keeps original rows "
                "(RandomOverSampler, RandomUnderSampler, ...), or class_weight instead."
            )
        weights_out = sample_weight[indices]
    return x_out, np.asarray(y_out), weights_out


def resample_rows(sampler, x, y, sample_weight, *, seed: int, layout=None):
    """:func:`resample` for images, series and token ids: the sampler may only pick rows.

    The sampler sees a 2-d view of the rows (one row per sample) and must
    report the rows it kept or repeated (``sample_indices_``, as
    ``RandomOverSampler`` and ``RandomUnderSampler`` do); the samples are
    then taken whole, ``x[sample_indices_]``, with their shape and dtype.
    A sampler that synthesises rows (SMOTE and its kin) would interpolate
    pixels between images, or token ids between codes: it is refused.

    Parameters
    ----------
    sampler : object with ``fit_resample``
    x : ndarray of shape (n_samples, ...)
        Preprocessed training samples (a tensor, or integer token ids).
    y : ndarray
        Training labels, as the caller wrote them.
    sample_weight : ndarray or None
        Training weights; they follow the rows picked.
    seed : int
        ``random_state`` for a sampler whose own is None.
    layout : None
        Unused: one-hot blocks exist only in tables.

    Returns
    -------
    x, y, sample_weight : the resampled training split.

    Raises
    ------
    ParameterError
        The sampler synthesises rows (no ``sample_indices_``).
    """
    name = type(sampler).__name__
    what = "token id sequences" if x.ndim == 2 else f"samples of shape {x.shape[1:]}"
    advice = (
        f"sampler={name} synthesises rows, which for {what} would mean interpolating "
        f"{'token ids' if x.ndim == 2 else 'values between samples'}. Use "
        "imblearn.over_sampling.RandomOverSampler or RandomUnderSampler (they repeat or drop "
        "whole samples), or class_weight='balanced'."
    )
    if _interpolates(sampler) or _categorical_mode(sampler) is not None:
        raise ParameterError(advice)
    flat = x.reshape(len(x), -1)  # a view: the sampler sees rows, never a copy of the images
    fitted = clone(sampler)
    params = fitted.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        fitted.set_params(random_state=seed)
    _, y_out = _fit_resample(fitted, flat, y)
    indices = getattr(fitted, "sample_indices_", None)
    if indices is None:
        raise ParameterError(advice)
    weights_out = None if sample_weight is None else sample_weight[indices]
    return x[indices], np.asarray(y_out), weights_out


def _fit_resample(sampler, x, y):
    """``sampler.fit_resample(x, y)``; its ValueError as an InputError naming the class counts."""
    try:
        return sampler.fit_resample(x, y)
    except ValueError as exc:
        labels, counts = np.unique(y, return_counts=True)
        raise InputError(
            f"sampler {type(sampler).__name__} failed on the training split ({len(y)} rows, "
            f"class counts {dict(zip(labels.tolist(), counts.tolist(), strict=True))}): {exc} "
            "Adjust the sampler (e.g. k_neighbors below the smallest class count) or pass more "
            "data."
        ) from exc


def _categorical_mode(sampler) -> str | None:
    from imblearn.over_sampling import SMOTEN, SMOTENC

    if isinstance(sampler, SMOTENC):
        return "SMOTENC"
    if isinstance(sampler, SMOTEN):
        return "SMOTEN"
    return None


def _interpolates(sampler) -> bool:
    from imblearn.combine import SMOTEENN, SMOTETomek
    from imblearn.over_sampling import ADASYN, SMOTE, SVMSMOTE, BorderlineSMOTE, KMeansSMOTE

    return isinstance(
        sampler, ADASYN | SMOTE | SVMSMOTE | BorderlineSMOTE | KMeansSMOTE | SMOTEENN | SMOTETomek
    )
