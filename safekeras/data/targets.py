"""What the target asks of the network: output units, activation, loss, encoding.

The type of ``y`` (scikit-learn's :func:`~sklearn.utils.multiclass.type_of_target`)
decides the output head and the loss, so that the classic mismatches (a linear
output with binary cross-entropy, sigmoid over exclusive classes, softmax over
one unit, labels encoded one way and read the other) cannot happen silently:

========================  =====================  ===================================
target type               head                   loss (``loss="auto"``)
========================  =====================  ===================================
binary                    1 unit, sigmoid        binary cross-entropy
binary (user head)        2 units, softmax       sparse categorical cross-entropy
multiclass (K classes)    K units, softmax       sparse categorical cross-entropy
multilabel (L labels)     L units, sigmoid       binary cross-entropy
continuous (T targets)    T units, linear        mean squared error on standardised y
========================  =====================  ===================================
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array

from ..exceptions import ModelSpecError, TargetError, external_stacklevel

__all__ = [
    "Head",
    "OutputSpec",
    "TargetSpec",
    "classification_target",
    "describe_loss",
    "encode_known_target",
    "regression_target",
    "resolve_output",
]

_CLASSIFICATION_TYPES = ("binary", "multiclass", "multilabel-indicator")

# Canonical Keras loss names by family. Aliases are normalised by `describe_loss`.
_BINARY_LOSSES = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
_SPARSE_LOSSES = frozenset({"sparse_categorical_crossentropy"})
_ONE_HOT_LOSSES = frozenset(
    {"categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence"}
)
_CLASSIFICATION_LOSSES = (
    _BINARY_LOSSES
    | _SPARSE_LOSSES
    | _ONE_HOT_LOSSES
    | {
        "hinge",
        "squared_hinge",
        "categorical_hinge",
    }
)
_REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "huber",
        "log_cosh",
        "poisson",
    }
)
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "logcosh": "log_cosh",
    "huber_loss": "huber",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "bce": "binary_crossentropy",
    "binary_cross_entropy": "binary_crossentropy",
    "categorical_cross_entropy": "categorical_crossentropy",
    "sparse_categorical_cross_entropy": "sparse_categorical_crossentropy",
}


@dataclass(frozen=True)
class TargetSpec:
    """What a target of a given type needs from the network.

    Attributes
    ----------
    target_type : str
        ``"binary"``, ``"multiclass"``, ``"multilabel-indicator"``,
        ``"continuous"`` or ``"continuous-multioutput"``.
    classes : ndarray or None
        Sorted class labels (label indices for multilabel); None for regression.
    n_outputs : int
        Number of output units of the default head.
    activation : str
        Activation of the default head.
    loss : str
        Loss chosen by ``loss="auto"`` for the default head.
    y_ndim : int
        Dimensionality of ``y`` as given, so predictions come back in that shape.
    """

    target_type: str
    classes: np.ndarray | None
    n_outputs: int
    activation: str
    loss: str
    y_ndim: int = 1

    @property
    def is_classification(self) -> bool:
        return self.target_type in _CLASSIFICATION_TYPES

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def describe(self) -> str:
        """A short phrase naming the target, for error messages."""
        if self.target_type == "binary":
            return f"a binary target (classes {self.classes.tolist()})"
        if self.target_type == "multiclass":
            return f"a multiclass target with {self.n_classes} classes"
        if self.target_type == "multilabel-indicator":
            return f"a multilabel target with {self.n_classes} labels"
        if self.n_outputs == 1:
            return "a continuous target"
        return f"a continuous target with {self.n_outputs} outputs"


@dataclass(frozen=True)
class Head:
    """The observed last layer of a network: number of units and activation name."""

    units: int
    activation: str


@dataclass(frozen=True)
class OutputSpec:
    """How a checked head is trained and read.

    Attributes
    ----------
    loss : str or object
        The loss to compile with.
    y_encoding : {"column", "index", "one_hot", "indicator", "standardised"}
        How the encoded target is fed to the network.
    logits : bool
        True when the head is linear and the loss works on logits
        (``from_logits=True``); the activation is then applied at predict time.
    activation : str
        The activation that turns the head's output into probabilities (or
        ``"linear"`` for regression).
    """

    loss: object
    y_encoding: str
    logits: bool
    activation: str


def classification_target(y) -> tuple[TargetSpec, np.ndarray]:
    """Validate a classification target and encode it.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Class labels of any sortable dtype (str, int, bool, object), or a
        multilabel indicator matrix.

    Returns
    -------
    spec : TargetSpec
    y_encoded : ndarray
        Class indices into ``spec.classes`` (shape ``(n_samples,)``), or the
        0/1 indicator matrix for multilabel targets.

    Raises
    ------
    TargetError
        For missing values, continuous or multiclass-multioutput targets, a
        single class, or labels of mixed types.
    """
    y = _as_target_array(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=external_stacklevel(),
        )
        y = y.ravel()
    _check_no_missing_labels(y)
    try:
        target_type = type_of_target(y, input_name="y")
        encoder = LabelEncoder() if y.ndim == 1 else None
        y_encoded = None if encoder is None else encoder.fit_transform(y)  # one pass over y
    except TypeError as exc:
        raise TargetError(
            "y mixes label types that cannot be sorted (e.g. strings and numbers): "
            f"{exc}. Convert all labels to one type, e.g. y.astype(str)."
        ) from exc

    if target_type in ("continuous", "continuous-multioutput"):
        raise TargetError(
            f"Unknown label type: {target_type!r}. y holds continuous values, which a "
            "classifier cannot learn as classes. Use SafeKerasRegressor for a continuous "
            "target, or bin y into classes first."
        )
    if target_type == "multilabel-indicator":
        y_encoded = y.astype(np.int64)
        n_labels = y_encoded.shape[1]
        spec = TargetSpec(
            target_type=target_type,
            classes=np.arange(n_labels),
            n_outputs=n_labels,
            activation="sigmoid",
            loss="binary_crossentropy",
            y_ndim=2,
        )
        return spec, y_encoded
    if target_type not in ("binary", "multiclass"):
        raise TargetError(
            f"Unknown label type: {target_type!r}. SafeKerasClassifier learns binary, "
            "multiclass and multilabel-indicator targets; fit one estimator per output for "
            "a multiclass-multioutput target."
        )

    classes = encoder.classes_
    if len(classes) < 2:
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
        raise TargetError(
            f"y has only one class ({only!r}); a classifier needs at least two "
            "classes to learn from. Check how y was built or filtered."
        )
    if len(classes) == 2:
        spec = TargetSpec("binary", classes, 1, "sigmoid", "binary_crossentropy")
    else:
        spec = TargetSpec(
            "multiclass", classes, len(classes), "softmax", "sparse_categorical_crossentropy"
        )
    return spec, y_encoded


def check_classes_present(spec: TargetSpec, y_encoded: np.ndarray, where: str) -> None:
    """Raise if fewer than two classes remain in ``y_encoded`` (e.g. after weighting)."""
    if spec.target_type == "multilabel-indicator":
        return
    present = np.unique(y_encoded)
    if len(present) < 2:
        raise TargetError(
            f"Only one class ({spec.classes[present[0]]!r}) remains {where}; a classifier "
            "needs samples of at least two classes. Check sample_weight and y."
        )


def regression_target(y) -> tuple[TargetSpec, np.ndarray]:
    """Validate a regression target.

    Returns
    -------
    spec : TargetSpec
    y : ndarray of shape (n_samples, n_targets), float64
    """
    y = _as_target_array(y)
    try:
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    except ValueError as exc:
        raise TargetError(f"{exc} Remove or impute those rows before fitting.") from exc
    y_ndim = y.ndim
    y2d = y.reshape(-1, 1) if y.ndim == 1 else y
    n_targets = y2d.shape[1]
    spec = TargetSpec(
        target_type="continuous" if n_targets == 1 and y_ndim == 1 else "continuous-multioutput",
        classes=None,
        n_outputs=n_targets,
        activation="linear",
        loss="mean_squared_error",
        y_ndim=y_ndim,
    )
    return spec, y2d


def encode_known_target(spec: TargetSpec, y, where: str) -> np.ndarray:
    """Encode ``y`` with a target already fitted: the same classes, labels or outputs.

    Used when training continues (``warm_start``, ``partial_fit``): the network
    was built for ``spec``, so ``y`` may hold fewer classes than ``spec`` (a
    chunk of the data), but no label, label column or output it does not know.

    Parameters
    ----------
    spec : TargetSpec
        The target the estimator was fitted on.
    y : array-like
        The new target values.
    where : str
        What continues ("warm_start=True", "partial_fit"), for messages.

    Returns
    -------
    y_encoded : ndarray
        Class indices, the indicator matrix, or the 2-d float target, as
        :func:`classification_target` and :func:`regression_target` encode them.

    Raises
    ------
    TargetError
        Unknown classes, a different number of labels or outputs, or a target
        of another kind.
    """
    if not spec.is_classification:
        new_spec, y_encoded = regression_target(y)
        if new_spec.n_outputs != spec.n_outputs or new_spec.y_ndim != spec.y_ndim:
            raise TargetError(
                f"{where}: the network was fitted on {spec.describe()} (y with "
                f"{spec.y_ndim} dimension(s)), but y now has shape {np.shape(y)}. Pass y "
                "shaped as in the first fit."
            )
        return y_encoded
    y = _as_target_array(y)
    if spec.target_type == "multilabel-indicator":
        indicator = y.ndim == 2 and y.shape[1] == spec.n_classes and np.isin(y, (0, 1)).all()
        if not indicator:
            raise TargetError(
                f"{where}: the network was fitted on {spec.describe()}, so y must be a 0/1 "
                f"indicator matrix with {spec.n_classes} columns; got shape {y.shape}."
            )
        return y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise TargetError(
            f"{where}: the network was fitted on {spec.describe()}, so y must hold one label "
            f"per row; got shape {y.shape}."
        )
    _check_no_missing_labels(y)
    try:
        labels, y_encoded = np.unique(y, return_inverse=True)
        known = np.isin(labels, spec.classes)
    except TypeError as exc:
        raise TargetError(
            f"{where}: y's labels cannot be compared with the fitted classes "
            f"{spec.classes.tolist()}: {exc}. Pass labels of the same type as in the first fit."
        ) from exc
    if not known.all():
        raise TargetError(
            f"{where}: y holds label(s) {labels[~known].tolist()} that are not among the "
            f"classes the network was fitted on, {spec.classes.tolist()}. A continued fit "
            "cannot add classes: pass every class up front (partial_fit(..., classes=...)) or "
            "refit from scratch."
        )
    return np.searchsorted(spec.classes, labels)[y_encoded.ravel()]


def describe_loss(loss) -> tuple[str | None, bool]:
    """Return the canonical name of a Keras loss (None if unknown) and its ``from_logits``."""
    from_logits = False
    if isinstance(loss, str):
        name = loss
    else:
        config = loss.get_config() if hasattr(loss, "get_config") else {}
        from_logits = bool(config.get("from_logits", False))
        name = getattr(loss, "name", None)
        if not isinstance(name, str):
            name = getattr(loss, "__name__", None) or _snake_case(type(loss).__name__)
    name = _snake_case(name).lower()
    name = _ALIASES.get(name, name)
    if name in _CLASSIFICATION_LOSSES or name in _REGRESSION_LOSSES:
        return name, from_logits
    return None, from_logits


def resolve_output(spec: TargetSpec, head: Head, loss) -> OutputSpec:
    """Check a network head against the target and choose the loss and encoding.

    Parameters
    ----------
    spec : TargetSpec
    head : Head
        Units and activation of the network's last layer.
    loss : "auto", str or keras loss
        The requested loss.

    Returns
    -------
    OutputSpec

    Raises
    ------
    TargetError
        When the loss contradicts the target type.
    ModelSpecError
        When the head contradicts the target type or the loss.
    """
    name, from_logits = (None, False) if loss == "auto" else describe_loss(loss)
    if spec.is_classification:
        return _resolve_classification(spec, head, loss, name, from_logits)
    return _resolve_regression(spec, head, loss, name)


def _resolve_classification(spec, head, loss, name, from_logits) -> OutputSpec:
    if name in _REGRESSION_LOSSES:
        raise TargetError(
            f"loss={name!r} is a regression loss, but y is {spec.describe()}. A "
            "classifier needs a cross-entropy loss: use loss='auto' "
            f"({_default_loss_for(spec, head)})."
        )
    multilabel = spec.target_type == "multilabel-indicator"
    softmax_head = head.units > 1 and not multilabel
    expected_units = spec.n_outputs
    if spec.target_type == "binary" and head.units == 2:
        expected_units = 2
    if head.units != expected_units:
        raise ModelSpecError(
            f"y is {spec.describe()} but the model's last layer has {head.units} "
            f"unit(s) with {head.activation}; {_expected_head(spec)}. Fix the last layer, "
            "pass model=None for the default network, or add_head=True to append the "
            "right output layer."
        )
    expected_activation = "softmax" if softmax_head else "sigmoid"

    if name is not None:
        wants_binary = name in _BINARY_LOSSES
        if softmax_head and wants_binary:
            raise TargetError(
                f"loss={name!r} treats every output as an independent yes/no and needs a "
                f"binary or multilabel target, but y is {spec.describe()}. Use loss='auto' "
                "(sparse_categorical_crossentropy over a softmax head)."
            )
        if not softmax_head and name in _SPARSE_LOSSES | _ONE_HOT_LOSSES:
            raise TargetError(
                f"loss={name!r} needs one softmax unit per class, but y is "
                f"{spec.describe()} and the head has {head.units} sigmoid unit(s). Use "
                "loss='auto' (binary_crossentropy)."
            )

    logits = _check_activation(spec, head, expected_activation, name, from_logits)
    if loss == "auto":
        loss = "sparse_categorical_crossentropy" if softmax_head else "binary_crossentropy"
        name = loss
    if multilabel:
        encoding = "indicator"
    elif softmax_head:
        encoding = "one_hot" if name in _ONE_HOT_LOSSES else "index"
    else:
        encoding = "column"
    return OutputSpec(loss=loss, y_encoding=encoding, logits=logits, activation=expected_activation)


def _check_activation(spec, head, expected, loss_name, from_logits) -> bool:
    """Return True when the head emits logits; raise when the activation is wrong."""
    activation = head.activation
    if activation == expected:
        if from_logits:
            raise ModelSpecError(
                f"The model's last layer already applies {activation}, but the loss has "
                f"from_logits=True, so {activation} would be applied twice. Drop "
                "from_logits=True or make the last layer linear."
            )
        return False
    if activation == "linear":
        if from_logits:
            return True
        loss_text = f"loss={loss_name!r}" if loss_name else "a probabilistic loss"
        raise ModelSpecError(
            f"The model's last layer is linear, but y is {spec.describe()} and "
            f"{loss_text} needs probabilities: a linear output is unbounded, so it is "
            f"neither a probability nor a class. Use activation='{expected}' on the last "
            "layer, or a loss with from_logits=True."
        )
    if activation == "sigmoid" and expected == "softmax":
        raise ModelSpecError(
            f"The model's last layer uses sigmoid with {head.units} units, but y is "
            f"{spec.describe()} whose classes exclude each other: sigmoid scores do not "
            f"sum to 1. Use softmax with {head.units} units, or pass model=None."
        )
    if activation == "softmax" and expected == "sigmoid":
        if head.units == 1:
            raise ModelSpecError(
                f"The model's last layer is softmax over 1 unit, which always outputs "
                f"1.0, but y is {spec.describe()}. Use sigmoid with 1 unit (or softmax "
                "with 2 units), or pass model=None."
            )
        raise ModelSpecError(
            f"The model's last layer uses softmax, which makes the labels compete, but y "
            f"is {spec.describe()} where several labels can be on at once. Use sigmoid "
            f"with {head.units} units, or pass model=None."
        )
    raise ModelSpecError(
        f"The model's last layer uses {activation}, but y is {spec.describe()}; "
        f"{_expected_head(spec)}."
    )


def _resolve_regression(spec, head, loss, name) -> OutputSpec:
    if name in _CLASSIFICATION_LOSSES:
        raise TargetError(
            f"loss={name!r} is a classification loss, but y is {spec.describe()}. Use "
            "loss='auto' (mean_squared_error) or another regression loss, or "
            "SafeKerasClassifier if y holds classes."
        )
    if head.units != spec.n_outputs:
        raise ModelSpecError(
            f"y is {spec.describe()} but the model's last layer has {head.units} unit(s); "
            f"{_expected_head(spec)}. Fix the last layer, pass model=None, or "
            "add_head=True."
        )
    if loss == "auto":  # the spec's: mean squared error, or the Poisson deviance of counts
        loss = name = spec.loss
    # The Poisson deviance compares positive means with y: the log link, an exponential head.
    expected = "exponential" if name == "poisson" else "linear"
    if head.activation != expected:
        raise ModelSpecError(_regression_head_problem(head.activation, expected, name))
    return OutputSpec(
        loss=loss,
        y_encoding="scaled" if expected == "exponential" else "standardised",
        logits=False,
        activation=expected,
    )


def _regression_head_problem(activation: str, expected: str, name) -> str:
    if expected == "exponential":
        return (
            f"The model's last layer uses {activation}, but loss='poisson' needs positive "
            "outputs (the expected count, through the log link): use "
            "activation='exponential' on the last layer, or pass model=None."
        )
    loss_text = f"loss={name!r}" if name else "a custom loss"
    return (
        f"The model's last layer uses {activation}, but SafeKerasRegressor with "
        f"{loss_text} standardises y (zero mean, unit variance) so the "
        "output must be able to take any real value: use a linear last layer, or pass "
        "model=None (an exponential last layer goes with loss='poisson')."
    )


def _expected_head(spec: TargetSpec) -> str:
    if spec.target_type == "binary":
        return "it needs 1 unit with sigmoid (or 2 units with softmax)"
    if spec.target_type == "multiclass":
        return f"it needs {spec.n_classes} units with softmax"
    if spec.target_type == "multilabel-indicator":
        return f"it needs {spec.n_classes} units with sigmoid"
    return f"it needs {spec.n_outputs} linear unit(s)"


def _default_loss_for(spec: TargetSpec, head: Head) -> str:
    if spec.target_type == "binary" and head.units == 2:
        return "sparse_categorical_crossentropy"
    return spec.loss


def _as_target_array(y) -> np.ndarray:
    if hasattr(y, "toarray") or type(y).__module__.startswith("scipy.sparse"):
        raise TargetError("A sparse y is not supported; pass a dense array (y.toarray()).")
    y = np.asarray(y)
    if y.ndim == 0 or y.ndim > 2:
        raise TargetError(f"y must be 1-d or 2-d; got an array of shape {y.shape}.")
    return y


def _check_no_missing_labels(y: np.ndarray) -> None:
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            kind = "NaN" if np.isnan(y).any() else "infinity"
            raise TargetError(
                f"Input y contains {kind}. Drop the unlabelled rows (or impute their "
                "labels) before fitting."
            )
    elif y.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in y.flat])
        if missing.any():
            raise TargetError(
                f"Input y contains {int(missing.sum())} missing label(s) (None or NaN). "
                "Drop the unlabelled rows before fitting."
            )


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
