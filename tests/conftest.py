"""Markers that select the tests by Keras backend.

``core``
    Set on whole modules (``pytestmark = pytest.mark.core``): the estimators'
    behaviour (fit/predict/predict_proba, targets and heads, preprocessing,
    thresholds, imbalance, pickling, save/load, export, scikit-learn's checks),
    which must hold on every Keras backend. The subset that runs anywhere::

        KERAS_BACKEND=jax python -m pytest -m "core and not tensorflow_only"

``tensorflow_only(reason=...)``
    A test that needs the TensorFlow backend (string tensors, a file saved
    under TensorFlow). Under another backend it is skipped with its reason, so
    that the whole suite also runs there.
"""

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "core: the estimators' behaviour, which must hold on every Keras backend "
        "(KERAS_BACKEND=jax or torch: -m 'core and not tensorflow_only')",
    )
    config.addinivalue_line(
        "markers",
        "tensorflow_only(reason): needs the TensorFlow backend; skipped with the reason on others",
    )


def pytest_collection_modifyitems(config, items):
    tensorflow_only = [item for item in items if item.get_closest_marker("tensorflow_only")]
    if not tensorflow_only:
        return
    import keras  # the test modules have imported it already

    if keras.backend.backend() == "tensorflow":
        return
    for item in tensorflow_only:
        reason = item.get_closest_marker("tensorflow_only").kwargs.get("reason")
        item.add_marker(pytest.mark.skip(reason=reason or "needs the TensorFlow backend"))
