"""Package-level guarantees: lazy imports, public names, the exception hierarchy."""

import subprocess
import sys

import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

import safekeras
from safekeras import exceptions


def test_import_does_not_load_tensorflow_or_keras():
    code = (
        "import sys, safekeras; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_are_exported():
    for name in safekeras.__all__:
        assert hasattr(safekeras, name), name
    assert safekeras.__version__


@pytest.mark.parametrize(
    "error, parent",
    [
        (exceptions.TargetError, ValueError),
        (exceptions.ModelSpecError, ValueError),
        (exceptions.InputError, ValueError),
        (exceptions.InputTypeError, TypeError),
        (exceptions.DriftError, exceptions.InputError),
        (exceptions.MissingDependencyError, ImportError),
        (exceptions.NotFittedError, SklearnNotFittedError),
        (exceptions.TrainingError, RuntimeError),
    ],
)
def test_errors_subclass_safekeras_and_the_matching_builtin(error, parent):
    assert issubclass(error, exceptions.SafeKerasError) and issubclass(error, parent)


def test_unfitted_estimator_raises_safekeras_not_fitted_error():
    import numpy as np

    for estimator in (safekeras.SafeKerasClassifier(), safekeras.SafeKerasRegressor()):
        with pytest.raises(exceptions.NotFittedError, match="not fitted yet"):
            estimator.predict(np.zeros((1, 2)))


def test_invalid_parameters_raise_safekeras_errors():
    import numpy as np

    X, y = np.zeros((10, 2)), [0, 1] * 5
    with pytest.raises(exceptions.SafeKerasError, match="dropout"):
        safekeras.SafeKerasClassifier(dropout=1.5).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        safekeras.SafeKerasClassifier(hidden_layer_sizes=(8, 0)).fit(X, y)
    with pytest.raises(ValueError, match="threshold"):
        safekeras.SafeKerasClassifier(threshold=1.0).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        dict(sampler=object()),  # no fit_resample
        dict(class_weight="auto"),
        dict(threshold="best"),
        dict(threshold_cv=1),
        dict(on_drift="error"),
    ],
)
def test_invalid_rebalancing_and_threshold_parameters(params):
    import numpy as np

    with pytest.raises(exceptions.SafeKerasError, match=next(iter(params))):
        safekeras.SafeKerasClassifier(**params).fit(np.zeros((10, 2)), [0, 1] * 5)


def test_warnings_subclass_safekeras_warning():
    for warning in (
        exceptions.ThresholdWarning,
        exceptions.ValidationSplitWarning,
        exceptions.DriftWarning,
    ):
        assert issubclass(warning, exceptions.SafeKerasWarning)
        assert issubclass(warning, UserWarning)
