"""The safekeras types a saved file may hold, by qualified name, in one place.

The deploy stage names these types instead of importing them: the estimators
call into this stage (``save``, ``to_keras``), so importing them back here would
close an import circle. ``tests/deploy/test_persistence.py`` checks that every name
resolves to the class or function it names, and that together they are exactly
the safekeras types the skops payload of a fitted classifier and regressor
holds; a type that moves makes that test fail until its name here follows it.
"""

from __future__ import annotations

__all__ = [
    "ESTIMATOR_TYPES",
    "LEGACY_TYPES",
    "SAFEKERAS_TYPES",
    "is_estimator",
    "qualified_name",
]

#: The public estimators, the only objects ``save`` stores and ``load`` returns.
ESTIMATOR_TYPES = (
    "safekeras.estimators.classifier.SafeKerasClassifier",
    "safekeras.estimators.regressor.SafeKerasRegressor",
)

#: Every safekeras type a fitted estimator's skops payload holds (skops's allow-list).
SAFEKERAS_TYPES = (
    *ESTIMATOR_TYPES,
    "safekeras.network.fitted.FittedNetwork",
    "safekeras.network.linear_baseline.LinearBaseline",  # the regressor's linear_baseline_
    "safekeras.network.logistic_baseline.LogisticBaseline",  # the classifier's
    "safekeras.data.schema.InputSchema",
    "safekeras.data.schema.ColumnProfile",
    # Images, series and token ids (input_kind_ "tensor" and "tokens").
    "safekeras.data.tensor_schema.TensorSchema",
    "safekeras.data.tensor_schema.TokenSchema",
    "safekeras.data.channel_scaling.ChannelScaler",
    "safekeras.data.targets.TargetSpec",
    "safekeras.data.target_transforms.TargetTransformer",  # the regressor's target_scaler_
    "safekeras.inspection.profile.TrainingProfile",
    "safekeras.decision.thresholds.ThresholdSearch",
    # The "auto" preprocessor's FunctionTransformer functions.
    "safekeras.data.preprocessing._as_float",
    "safekeras.data.preprocessing.as_categories",
)

#: The same types as development builds named them before the module layout changed:
#: the flat layout, then the first stage layout for types that moved again. A file
#: naming one predates the layout; loading refuses it and asks for a new save.
LEGACY_TYPES = frozenset(
    {
        "safekeras.estimators.SafeKerasClassifier",
        "safekeras.estimators.SafeKerasRegressor",
        "safekeras.network.FittedNetwork",
        "safekeras.schema.InputSchema",
        "safekeras.schema.ColumnProfile",
        "safekeras.targets.TargetSpec",
        "safekeras.diagnostics.TrainingProfile",
        "safekeras.thresholds.ThresholdSearch",
        "safekeras.preprocessing._as_float",
        "safekeras.preprocessing.as_categories",
        "safekeras.inspection.diagnostics.TrainingProfile",
    }
)


def qualified_name(obj) -> str:
    """``"module.QualName"``: how skops and the allow-lists name a class or function."""
    return f"{obj.__module__}.{obj.__qualname__}"


def is_estimator(obj) -> bool:
    """Whether ``obj`` is a safekeras estimator (or an instance of a subclass of one).

    ``isinstance`` by name: the classes are named, not imported (see the module
    docstring).
    """
    return any(qualified_name(cls) in ESTIMATOR_TYPES for cls in type(obj).__mro__)
