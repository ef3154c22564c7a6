"""The scikit-learn contract of SafeKerasClassifier and SafeKerasRegressor.

Every check of :func:`sklearn.utils.estimator_checks.estimator_checks_generator`
runs with zero expected failures. A few checks compare two fits or two
prediction paths at ``rtol=1e-7``; as scikit-learn does for MLPClassifier's
sample-weight check (``solver="lbfgs"``), those get an estimator configured for
exact arithmetic: a float64 network, full-batch steps, no dropout, no early
stopping, and no preprocessing; the sample-weight check runs a second time with
the ``"auto"`` preprocessor, whose statistics are weighted. One check states
decisions at a 0.5 threshold and gets it (see ``HALF_THRESHOLD_CHECKS``);
``check_class_weight_classifiers`` runs on the defaults, since an explicit
``class_weight`` keeps ``threshold="auto"`` at 0.5. On a backend that computes float64
networks in float32 (JAX without jax_enable_x64, torch) the check that compares
two fits at rtol=1e-7 is skipped, saying why.
"""

import keras
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import estimator_checks_generator

from safekeras import SafeKerasClassifier, SafeKerasRegressor

pytestmark = pytest.mark.core

FAST = dict(
    hidden_layer_sizes=(32,),
    epochs=30,
    batch_size=32,
    learning_rate=0.01,
    dropout=0.0,
    random_state=0,
)


def float64_mlp(meta):
    """A small float64 network: exact enough for checks that compare at rtol=1e-7."""
    return keras.Sequential(
        [
            keras.Input(shape=(meta["n_features_in_"],), dtype="float64"),
            keras.layers.Dense(16, activation="tanh", dtype="float64"),
            keras.layers.Dense(
                meta["n_outputs_"], activation=meta["output_activation_"], dtype="float64"
            ),
        ]
    )


EXACT = dict(
    model=float64_mlp,
    preprocessor=None,
    early_stopping=False,
    batch_size=4096,
    epochs=20,
    learning_rate=0.01,
    random_state=0,
)

# Checks that compare two fits or two prediction paths at rtol=1e-7.
EXACT_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data",
    "check_methods_subset_invariance",
    "check_methods_sample_order_invariance",
}


# check_classifier_multioutput asserts predict == round(predict_proba) for multilabel targets,
# i.e. a threshold of 0.5; threshold="auto" tunes one per label on purpose (tested in
# tests/decision/test_thresholds.py), so that check gets the 0.5 it states.
HALF_THRESHOLD_CHECKS = {"check_classifier_multioutput"}


def _float64_arithmetic():
    """Whether a float64 network computes in float64 on this Keras backend.

    Not on JAX without jax_enable_x64 (float64 arrays become float32), nor on torch, where
    Keras's matmul gives float64 operands a float32 result type (keras.backend.result_type).
    """
    x = keras.ops.ones((1, 1), dtype="float64")
    return keras.backend.standardize_dtype(keras.ops.matmul(x, x).dtype) == "float64"


# Checks that compare two fits at rtol=1e-7, which float32 arithmetic cannot meet.
FLOAT64_FIT_CHECKS = {"check_sample_weight_equivalence_on_dense_data"}


def _checks(estimator_class):
    default = estimator_class(**FAST)
    exact = estimator_class(**EXACT)
    float64 = _float64_arithmetic()
    for estimator, check in estimator_checks_generator(default, legacy=True, mark="skip"):
        name = getattr(check, "func", check).__name__
        marks = ()
        if name in EXACT_CHECKS:
            estimator = exact
        elif name in HALF_THRESHOLD_CHECKS:
            estimator = clone(default).set_params(threshold=None)  # 0.5, any target type
        if name in FLOAT64_FIT_CHECKS and not float64:
            reason = (
                f"compares two fits at rtol=1e-7, but float64 networks compute in float32 on "
                f"{keras.backend.backend()} here (JAX: set JAX_ENABLE_X64=1; torch: Keras's matmul)"
            )
            marks = (pytest.mark.skip(reason=reason),)
        yield pytest.param(estimator, check, id=f"{estimator_class.__name__}-{name}", marks=marks)
        if name == "check_sample_weight_equivalence_on_dense_data":
            # Again with the "auto" preprocessor: its medians, means and scales are weighted.
            auto = clone(exact).set_params(preprocessor="auto")
            yield pytest.param(
                auto, check, id=f"{estimator_class.__name__}-{name}-auto", marks=marks
            )


@pytest.mark.parametrize(
    "estimator, check", [*_checks(SafeKerasClassifier), *_checks(SafeKerasRegressor)]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
