"""Package-level guarantees: lazy imports, public names, the exception hierarchy."""

import ast
import importlib
import subprocess
import sys

import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

import safekeras
from safekeras import exceptions

HEAVY_MODULES = ("tensorflow", "keras", "jax", "torch", "sklearn", "imblearn", "scipy", "pandas")


def _modules_loaded_by(statement: str) -> list[str]:
    code = f"import sys; {statement}; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return sorted(ast.literal_eval(result.stdout.strip()))


def test_import_loads_no_heavy_library():
    # import safekeras stays in milliseconds: every public name is loaded on first use.
    assert _modules_loaded_by("import safekeras") == []
    assert _modules_loaded_by("import safekeras; safekeras.__version__") == []


def test_exceptions_load_without_tensorflow():
    loaded = _modules_loaded_by("from safekeras import SafeKerasClassifier, PersistenceError")
    assert "sklearn" in loaded
    assert not {"tensorflow", "keras", "jax", "torch", "imblearn"} & set(loaded)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        safekeras.Nope  # noqa: B018


def test_dir_lists_the_public_names():
    assert set(safekeras.__all__) <= set(dir(safekeras))


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
        (exceptions.PersistenceError, ValueError),
        (exceptions.UnsafeFileError, exceptions.PersistenceError),
        (exceptions.ExportError, ValueError),
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


def test_every_public_name_has_a_lazy_source():
    lazy = set(safekeras._EXPORTS) | set(safekeras._SUBMODULES) | {"__version__"}
    assert lazy == set(safekeras.__all__)
    for name, module in safekeras._EXPORTS.items():
        assert getattr(safekeras, name) is getattr(
            importlib.import_module(f"safekeras.{module}"), name
        )


def test_warnings_from_deep_inside_fit_point_at_the_callers_line():
    import warnings

    import numpy as np

    from safekeras import DriftWarning, ThresholdWarning

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 3)), np.array([0] * 50 + [1] * 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Tuned on the 9 rows of the validation split (no internal folds): a ThresholdWarning.
        clf = safekeras.SafeKerasClassifier(epochs=2, threshold_cv=None, random_state=0).fit(X, y)
        clf.predict(X[:1] * 1000)  # DriftWarning
    ours = [w for w in caught if issubclass(w.category, (ThresholdWarning, DriftWarning))]
    assert {w.category for w in ours} == {ThresholdWarning, DriftWarning}
    assert all(w.filename == __file__ for w in ours), [(w.filename, w.lineno) for w in ours]
