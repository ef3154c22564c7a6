"""The preprocessed rows of a fit (estimators/fit_rows.py)."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from safekeras import SafeKerasClassifier
from safekeras.estimators import fit_rows

pytestmark = pytest.mark.core

SMALL = dict(hidden_layer_sizes=(8,), epochs=6, batch_size=32, random_state=0, threshold_cv=None)


def _frame():
    rng = np.random.RandomState(0)
    n = 240
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": rng.randint(18, 90, n),
            "city": rng.choice(["paris", "oslo", "lima"], n),
        }
    )
    frame.loc[::7, "income"] = np.nan
    frame.loc[::9, "city"] = None
    y = ((frame["age"] > 50) ^ (frame["city"] == "oslo")).astype(int).to_numpy()
    return frame, y


def _through_sklearn(preprocessor, schema, kind):
    return (lambda X: X) if preprocessor is None else preprocessor.transform


@pytest.mark.parametrize("as_frame", [True, False])
def test_validation_rows_through_the_plan_train_as_through_sklearn(monkeypatch, as_frame):
    X, y = _frame()
    if not as_frame:
        X = X[["income", "age"]].to_numpy()
    planned = SafeKerasClassifier(**SMALL).fit(X, y)
    with monkeypatch.context() as patch:
        patch.setattr(fit_rows, "_transformer", _through_sklearn)
        reference = SafeKerasClassifier(**SMALL).fit(X, y)
    assert planned.history_ == reference.history_
    np.testing.assert_array_equal(planned.predict_proba(X), reference.predict_proba(X))


def test_a_users_preprocessor_transforms_its_own_validation_rows():
    X, y = _frame()
    X = X[["income", "age"]].fillna(0).to_numpy()
    seen = []

    class Recording(StandardScaler):
        def transform(self, X, copy=None):
            seen.append(len(X))
            return super().transform(X, copy=copy)

    SafeKerasClassifier(preprocessor=Recording(), **SMALL).fit(X, y)
    assert seen[:2] == [204, 36]  # the training rows, then the validation rows (15 %)


def test_parameter_checks_are_skipped_for_the_auto_preprocessor_only():
    X, y = _frame()
    assert not sklearn.get_config()["skip_parameter_validation"]
    SafeKerasClassifier(**SMALL).fit(X, y)
    assert not sklearn.get_config()["skip_parameter_validation"]  # restored
    invalid = ColumnTransformer([("scale", StandardScaler(), ["age"])], remainder="bogus")
    with pytest.raises(InvalidParameterError):
        SafeKerasClassifier(preprocessor=invalid, **SMALL).fit(X, y)
