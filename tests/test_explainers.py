"""Explainers and inspection tools send batches that are not drift (issue 20).

SHAP's KernelExplainer and PermutationExplainer, partial dependence and
permutation importance predict on rows built from real ones: the explained
row's values copied into many rows, background rows repeated, one column held
at a grid value. Such a batch is dominated by repeated values; it must raise
no DriftWarning, while the real problems (a unit change, the 0-255 pitfall)
still do. The batches are built here without shap; a test with the real
explainers runs when shap is installed.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.model_selection import train_test_split

from safekeras import DriftWarning, SafeKerasClassifier
from safekeras.data.schema import InputSchema

pytestmark = pytest.mark.core


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _generated():
    X, y = make_classification(600, 12, n_informative=6, random_state=0)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _mixed():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.integers(18, 90, n).astype(float),
            "score": rng.normal(0, 1, n),
            "city": rng.choice(["paris", "oslo", "rome", None], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    y = (frame["score"] + (frame["city"] == "oslo")).gt(0.5).astype(int).to_numpy()
    return train_test_split(frame, y, test_size=0.3, random_state=0, stratify=y)


DATASETS = {"cancer": _cancer, "generated": _generated, "mixed": _mixed}


def _take(X, rows):
    return X.iloc[rows].reset_index(drop=True) if hasattr(X, "iloc") else X[rows]


def kernel_batches(background, explained, n_coalitions=30, seed=0):
    """KernelExplainer's batches: per explained row, each coalition of columns takes the
    row's values, the others each background row's; one batch per explained row."""
    rng = np.random.default_rng(seed)
    n_bg, n_cols = background.shape
    for i in range(explained.shape[0]):
        keep = rng.uniform(0.1, 0.9, (n_coalitions, 1))
        masks = rng.random((n_coalitions, n_cols)) < keep
        batch = _take(background, np.tile(np.arange(n_bg), n_coalitions))
        row = _take(explained, np.full(len(batch), i))
        yield _where(np.repeat(masks, n_bg, axis=0), row, batch)


def permutation_batches(background, explained, seed=0):
    """PermutationExplainer's batches: the background with the explained row's columns
    switched in one at a time, in a random order."""
    rng = np.random.default_rng(seed)
    n_bg, n_cols = background.shape
    for i in range(explained.shape[0]):
        masks = np.zeros((n_cols, n_cols), dtype=bool)
        for step, j in enumerate(rng.permutation(n_cols)):
            masks[step:, j] = True
        batch = _take(background, np.tile(np.arange(n_bg), n_cols))
        row = _take(explained, np.full(len(batch), i))
        yield _where(np.repeat(masks, n_bg, axis=0), row, batch)


def _where(mask, row, batch):
    if hasattr(batch, "iloc"):
        return batch.mask(pd.DataFrame(mask, columns=batch.columns), row)
    return np.where(mask, row, batch)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("batches", [kernel_batches, permutation_batches])
def test_shap_style_masked_batches_raise_no_drift(name, batches):
    X_train, X_test, _, _ = DATASETS[name]()
    schema = InputSchema.from_training(X_train)
    background = _take(X_train, np.arange(50))
    # Rows with a missing value are left out: copied into most rows, the gap reads as a column
    # emptied upstream (the "missing" check, which values alone cannot tell from a copied gap).
    complete = np.flatnonzero(~pd.isna(np.asarray(X_test, dtype=object)).any(axis=1))[:20]
    reports = [schema.check(batch) for batch in batches(background, _take(X_test, complete))]
    assert [str(report) for report in reports if report] == []


@pytest.mark.parametrize("name", DATASETS)
def test_partial_dependence_grids_raise_no_drift(name):
    X_train, X_test, _, _ = DATASETS[name]()
    schema = InputSchema.from_training(X_train)
    alarms = []
    for column in [p.name for p in schema.columns if p.kind == "numeric"]:
        values = X_train[column] if hasattr(X_train, "iloc") else X_train[:, column]
        for value in np.nanquantile(values, np.linspace(0.05, 0.95, 10)):
            batch = X_test.copy()
            if hasattr(batch, "iloc"):
                batch[column] = value
            else:
                batch[:, column] = value
            alarms += [str(schema.check(batch))] if schema.check(batch) else []
    assert alarms == []


@pytest.mark.parametrize("size", [1, 10, 100])
def test_unit_changes_are_still_caught(size):
    X_train, X_test, _, _ = _cancer()
    schema = InputSchema.from_training(X_train)
    assert schema.check(X_test[:size] * 255).findings[0].kind == "range"
    # Trained on 0-255 pixel intensities, fed 0-1: inside the range, the spread 255 times smaller.
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (500, 4))
    schema = InputSchema.from_training(pixels)
    fed = rng.uniform(0, 255, (max(size, 30), 4)) / 255
    report = schema.check(fed)
    assert sorted(report.columns) == [0, 1, 2, 3]
    assert {f.kind for f in report.findings} <= {"range", "spread"}


def test_a_narrow_batch_where_the_training_data_is_not_a_unit_change():
    # Rows of one sub-population: a tenth of the spread, far from where a rescale would put it.
    rng = np.random.default_rng(0)
    schema = InputSchema.from_training(rng.uniform(0, 255, (500, 1)))
    assert not schema.check(rng.uniform(200, 210, (100, 1)))
    assert schema.check(rng.uniform(0, 1, (100, 1)))  # the same spread at 0: divided by 255


def test_one_value_copied_beyond_the_range_counts_once():
    rng = np.random.default_rng(0)
    schema = InputSchema.from_training(rng.uniform(0, 1, (500, 2)))
    batch = rng.uniform(0, 1, (40, 2))
    batch[:30, 0] = 1.01  # the explained row, just beyond the maximum, in 30 of 40 rows
    assert not schema.check(batch)
    batch[:30, 0] = rng.uniform(1.0, 1.5, 30)  # thirty different values beyond: drift
    assert schema.check(batch).findings[0].columns == (0,)


def _drift_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if issubclass(w.category, DriftWarning)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cancer", "mixed"])
def test_inspection_tools_raise_no_drift_warning(name):
    X_train, X_test, y_train, y_test = DATASETS[name]()
    clf = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0)
    clf.fit(X_train, y_train)
    # Not "income": its grid from a column with missing values is all NaN in scikit-learn 1.9,
    # a batch with that column emptied, which the "missing" check rightly reports.
    features = [0, 3] if name == "cancer" else ["age", "score"]
    assert (
        _drift_warnings(
            lambda: permutation_importance(clf, X_test, y_test, n_repeats=3, random_state=0)
        )
        == []
    )
    for feature in features:
        assert _drift_warnings(lambda f=feature: partial_dependence(clf, X_test, [f])) == []


@pytest.mark.slow
def test_shap_explainers_raise_no_drift_warning():
    shap = pytest.importorskip("shap")
    X_train, X_test, y_train, _ = _cancer()
    clf = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0)
    clf.fit(X_train, y_train)
    background = X_train[:20]
    kernel = shap.KernelExplainer(clf.predict_proba, background)
    permutation = shap.Explainer(clf.predict_proba, background, algorithm="permutation")
    assert _drift_warnings(lambda: kernel.shap_values(X_test[:5], nsamples=100, silent=True)) == []
    assert _drift_warnings(lambda: permutation(X_test[:5])) == []
