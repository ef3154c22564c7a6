"""Whether a loaded network fits the estimator saved beside it.

:func:`safekeras.persistence.load` checks each part of a file before anything
is deserialised (the container, the allow-lists, the declared shapes against
the stored weights). Each part can be well formed and still not belong with
the others: a ``model.keras`` whose output layer lost its sigmoid, whose
input takes another width than the preprocessing produces, or whose hidden
layers are not the ones the estimator's parameters build. Such a file would
load and then predict wrong (probabilities outside [0, 1]) or fail at the
first ``predict`` with Keras's own error. :func:`check_network_fits` refuses it
at load, with :class:`~safekeras.exceptions.PersistenceError`, once the
estimator and its network are both loaded and before either is returned.

It runs the checks ``fit`` runs on a network (the head against the target,
see :func:`safekeras.data.targets.resolve_output`) and, for the default MLP, compares
the network with the one the estimator's parameters build, layer by layer.
"""

from __future__ import annotations

import itertools
import json
import numbers

import numpy as np

from ..exceptions import ModelSpecError, PersistenceError
from ..network.variable_names import stable_variable_names

__all__ = ["check_decision_fits", "check_linear_baseline_fits", "check_network_fits"]

# Layer config keys that do not change what a fitted layer computes: names, seeds and
# initialisers only decide the weights a fit starts from.
_NOT_COMPUTED = frozenset({"name", "seed", "kernel_initializer", "bias_initializer"})
# Values in one input sample the load check runs the network on (a 4096 x 4096 RGB image).
_MAX_PROBE_VALUES = 4096 * 4096 * 3


def check_network_fits(estimator, where: str) -> None:
    """Refuse a loaded estimator whose network does not fit its other fitted parts.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        The estimator as loaded, with ``model_`` set to the loaded network.
    where : str
        The file's name, for messages.

    Raises
    ------
    PersistenceError
        If the network takes another input width than the fitted preprocessing
        produces, if its output layer contradicts the fitted target (units,
        activation, loss), or, for the default MLP, if its layers are not those
        that the estimator's parameters build.
    """
    from ..data.targets import describe_loss, resolve_output
    from ..network.architecture import declared_input_width, inspect_head

    network = estimator.model_
    if getattr(estimator, "input_kind_", "table") != "table":
        width, probe = None, _array_probe(estimator, network, where)
    else:
        width = declared_input_width(network)
        expected = _preprocessed_width(estimator)
        if width is None or (expected is not None and width != expected):
            raise PersistenceError(
                f"{where} is inconsistent: its network takes inputs of width {width}, but the "
                f"estimator's preprocessing produces {expected} features. The file was tampered "
                "with or corrupted."
            )
        probe = np.zeros((1, width))
    spec = estimator._target_spec_
    try:
        output = resolve_output(spec, inspect_head(network, probe), estimator.loss)
    except ModelSpecError as exc:
        raise PersistenceError(
            f"{where} is inconsistent: its network's output layer does not fit the target the "
            f"estimator was fitted on ({exc}). The file was tampered with or corrupted."
        ) from exc
    # Compared by name and from_logits: a loss object loaded from the file is a new object.
    implied, trained = describe_loss(output.loss), describe_loss(estimator.loss_)
    if implied != trained:
        raise PersistenceError(
            f"{where} is inconsistent: its network's output layer implies the loss "
            f"{_loss_text(implied)}, but the estimator was trained with {_loss_text(trained)}. "
            "The file was tampered with or corrupted."
        )
    if estimator.model is None:
        _check_default_layers(estimator, network, spec, width, where)


def check_linear_baseline_fits(estimator, where: str) -> None:
    """Refuse a loaded estimator whose linear baseline does not fit its network.

    The network step may hold a regressor's
    :class:`~safekeras.network.linear_baseline.LinearBaseline` (a ridge whose
    numbers ``predict`` adds to the network's outputs) or a classifier's
    :class:`~safekeras.network.logistic_baseline.LogisticBaseline` (a logistic
    regression averaged with its logits). Their numbers must be finite float
    arrays of the fitted shapes: one coefficient row per column read, inside
    the network's input width; one intercept (and, for the ridge, one positive
    scale) per network output. Anything else there, or one on the other kind
    of estimator, is refused.

    Raises
    ------
    PersistenceError
        If the baseline is not None and not such a ridge or logistic regression.
    """
    from sklearn.base import is_regressor

    from ..network.linear_baseline import LinearBaseline
    from ..network.logistic_baseline import LogisticBaseline

    baseline = estimator.pipeline_.named_steps["network"].linear_baseline
    if baseline is None:
        return
    width = _preprocessed_width(estimator)
    if type(baseline) is LinearBaseline and is_regressor(estimator):
        problem = _baseline_problem(baseline, width, getattr(estimator, "n_outputs_", None))
    elif type(baseline) is LogisticBaseline and not is_regressor(estimator):
        problem = _baseline_problem(
            baseline, width, _network_outputs(estimator, width), scaled=False
        )
    else:
        problem = (
            "expected None, a regressor's LinearBaseline or a classifier's LogisticBaseline, "
            f"got {type(baseline).__name__}"
        )
    if problem is not None:
        raise PersistenceError(
            f"{where} is inconsistent: its linear baseline, which predict combines with the "
            f"network's outputs, does not fit the network ({problem}). The file was tampered "
            "with or corrupted; re-fit the estimator and save it again."
        )


def _network_outputs(estimator, width: int | None) -> int:
    """The units of the (checked) network's output layer: one per logit it averages with."""
    from ..network.architecture import declared_input_width, inspect_head

    network = estimator.model_
    probe = np.zeros((1, width if width is not None else declared_input_width(network)))
    return inspect_head(network, probe).units


def _baseline_problem(baseline, width, n_outputs, *, scaled: bool = True) -> str | None:
    """What is wrong with a loaded baseline's numbers, or None."""
    state = vars(baseline)
    names = ("coef_", "intercept_", "scale_") if scaled else ("coef_", "intercept_")
    arrays = {name: state.get(name) for name in names}
    for name, value in arrays.items():
        if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
            return f"{name} is not a float64 array"
        if not np.isfinite(value).all():
            return f"{name} holds NaN or infinite values"
    columns = state.get("columns")
    columns = np.arange(width or 0) if columns is None else np.asarray(columns)
    coef, intercept = arrays["coef_"], arrays["intercept_"]
    if (
        columns.ndim != 1
        or columns.dtype.kind not in "iu"
        or len(np.unique(columns)) != len(columns)
    ):
        return "its columns are not distinct integer indices"
    if width is not None and (len(columns) and (columns.min() < 0 or columns.max() >= width)):
        return f"its columns lie outside the network's {width} inputs"
    if width is not None and state.get("n_features_in_") != width:
        return f"it was fitted on {state.get('n_features_in_')} inputs, the network takes {width}"
    shapes_fit = (
        coef.shape == (len(columns), len(intercept))
        and intercept.ndim == 1
        and (n_outputs is None or len(intercept) == n_outputs)
    )
    shown = f"coef_ {coef.shape}, intercept_ {intercept.shape}"
    if not scaled:
        return None if shapes_fit else shown
    scale = arrays["scale_"]
    if not (shapes_fit and scale.shape == intercept.shape):
        return f"{shown}, scale_ {scale.shape}"
    if not (scale > 0).all():
        return "scale_ holds values that are not positive"
    return None


def check_decision_fits(estimator, where: str) -> None:
    """Refuse a loaded classifier whose multiclass decision rule is not one ``fit`` gives.

    ``class_multipliers_`` decides every multiclass ``predict``: it must hold
    one positive finite float per class, all ones (the most probable class)
    or one over class shares summing to one (the prior-corrected rule); a
    binary or multilabel classifier holds None. A file written before the
    attribute existed has none and predicts the most probable class, as it
    did when saved.

    Raises
    ------
    PersistenceError
        If ``class_multipliers_`` does not fit ``classes_`` and the target.
    """
    from ..decision.rule import check_multipliers

    if "class_multipliers_" not in vars(estimator):
        return
    multipliers = estimator.class_multipliers_
    if getattr(estimator, "target_type_", None) == "multiclass":
        problem = check_multipliers(multipliers, len(estimator.classes_))
    else:
        problem = None if multipliers is None else f"expected None, got {multipliers!r}"
    if problem is not None:
        raise PersistenceError(
            f"{where} is inconsistent: its class_multipliers_, the multiclass decision rule, "
            f"do not fit the {len(getattr(estimator, 'classes_', []))} classes the estimator "
            f"was fitted on ({problem}). The file was tampered with or corrupted; re-fit "
            "the estimator and save it again."
        )


def _array_probe(estimator, network, where: str) -> np.ndarray:
    """One all-zero sample of the recorded input shape, once it matches the network's input.

    For an estimator fitted on a tensor or token ids (``input_kind_``): the
    preprocessing keeps the sample shape, so the network must declare the
    shape ``fit`` recorded (None: any size along that axis), and the default
    MLP, which ``fit`` never builds for them, must not be the network.
    """
    from ..network.architecture import declared_input_shape

    kind = estimator.input_kind_
    shape = getattr(estimator, "_input_shape_", None)
    declared = declared_input_shape(network)
    valid = (
        kind in ("tensor", "tokens")
        and estimator.model is not None
        and isinstance(shape, tuple)
        and all(isinstance(d, int) and d > 0 for d in shape)
        and (len(shape) == 1) == (kind == "tokens")
        and declared is not None
        and len(declared) == len(shape)
        and all(d is None or d == s for d, s in zip(declared, shape, strict=True))
    )
    # A probe larger than any sample a network is fitted on is a crafted shape.
    if not valid or int(np.prod(shape, dtype=np.float64)) > _MAX_PROBE_VALUES:
        raise PersistenceError(
            f"{where} is inconsistent: the estimator was fitted on {kind!r} input of sample "
            f"shape {shape!r}, but its network takes samples of shape {declared} (or no "
            "network of its own was given). The file was tampered with or corrupted."
        )
    return np.zeros((1, *shape), dtype=np.float32)


def _loss_text(described) -> str:
    name, from_logits = described
    return f"{name or 'a custom loss'}{' from logits' if from_logits else ''}"


def _preprocessed_width(estimator) -> int | None:
    """Features the fitted preprocessing hands the network; None when it cannot say."""
    preprocessor = estimator.preprocessor_
    if preprocessor is None:
        return estimator.n_features_in_
    plan = estimator._preprocessing_plan()
    if plan is not None:
        return plan.n_features_out
    try:
        return len(preprocessor.get_feature_names_out())
    except Exception:  # a user's transformer need not name its outputs: nothing to compare
        return None


def _check_default_layers(estimator, network, spec, width: int, where: str) -> None:
    """The default MLP: the loaded layers must be those the parameters build.

    The weights they would hold are counted first, and nothing is built unless
    the file's network holds as many: a tampered ``hidden_layer_sizes`` or
    ``ensemble_size_`` must not make the check itself build a huge network.
    """
    size = getattr(estimator, "ensemble_size_", 1)  # files from before: one network
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise PersistenceError(
            f"{where} is inconsistent: ensemble_size_={size!r} is not a number of networks. "
            "The file was tampered with or corrupted."
        )
    size = int(size)
    try:
        expected_weights = _default_mlp_weights(estimator, width, spec.n_outputs, size)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(
            f"{where} is inconsistent: hidden_layer_sizes={estimator.hidden_layer_sizes!r} does "
            "not name layer widths. The file was tampered with or corrupted."
        ) from exc
    if expected_weights != network.count_params():
        raise PersistenceError(
            f"{where} is inconsistent: its network holds {network.count_params()} weights, but the "
            f"default MLP the estimator's parameters build ({size} network(s) of "
            f"hidden_layer_sizes={estimator.hidden_layer_sizes!r}) holds {expected_weights}. "
            "The file was tampered with or corrupted."
        )
    with stable_variable_names():  # a load per request must not grow memory
        expected = estimator._build_network(spec, np.zeros((1, width)), itertools.count(), size)
    got, wanted = _signature(network), _signature(expected)
    if got != wanted:
        differing = next(
            (
                number
                for number, (a, b) in enumerate(itertools.zip_longest(got, wanted), start=1)
                if a != b
            ),
            None,
        )
        raise PersistenceError(
            f"{where} is inconsistent: its network is not the default MLP the estimator's "
            f"parameters build (layer {differing} differs: {_describe(got, differing)} in the "
            f"file, {_describe(wanted, differing)} expected). The file was tampered with or "
            "corrupted."
        )


def _default_mlp_weights(estimator, width: int, n_outputs: int, size: int) -> int:
    """Weights (kernels and biases) of ``size`` default MLPs kept as one wide network."""
    from ..network.ensemble import wide_layer_sizes

    hidden = wide_layer_sizes(estimator.hidden_layer_sizes, size)
    units = [width, *hidden, n_outputs]
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(units))


def _signature(network) -> list:
    """Each layer's class and the config entries that decide what it computes."""
    return [
        (
            type(layer).__name__,
            json.dumps(
                {k: v for k, v in layer.get_config().items() if k not in _NOT_COMPUTED},
                sort_keys=True,
                default=str,
            ),
        )
        for layer in network.layers
    ]


def _describe(signature: list, number: int | None) -> str:
    if number is None or number > len(signature):
        return "no layer"
    name, config = signature[number - 1]
    return f"{name} {config}"
