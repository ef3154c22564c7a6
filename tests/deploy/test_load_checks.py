"""``safekeras.deploy.load_checks``: a loaded network must fit the estimator saved beside it.

Each file here passes every check of its own parts (allow-list, declared shapes, digests
rewritten as an attacker would) and differs from a saved file only in ``model.keras``'s
config: a head that lost its sigmoid, a hidden layer that lost its activation, a layer
removed, an input width changed. Each loaded and then predicted wrong (or raised Keras's
error at the first predict) before the check; each is refused at load now.
"""

import json
import warnings

import numpy as np
import pytest
from file_edits import members_of, with_members, zip_bytes
from sklearn.datasets import make_classification, make_regression

from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.deploy.persistence import load
from safekeras.exceptions import PersistenceError

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0, threshold_cv=None)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ThresholdWarning on purposely tiny data
        estimator = SafeKerasClassifier(**FAST).fit(X, y)
    path = tmp_path_factory.mktemp("saved") / "clf.safekeras"
    estimator.save(path)
    return path.read_bytes(), X, estimator.predict_proba(X)


def _edited(saved_bytes, edit):
    """The saved file with ``edit(config)`` applied to model.keras's config.json."""
    network = members_of(members_of(saved_bytes)["model.keras"])
    config = json.loads(network["config.json"])
    edit(config["config"]["layers"])
    network["config.json"] = json.dumps(config).encode()
    return with_members(saved_bytes, {"model.keras": zip_bytes(network)})


def _dense(layers, name):
    return next(layer for layer in layers if layer["config"].get("name") == name)["config"]


def _drop_dropout(layers):
    layers[:] = [layer for layer in layers if layer["class_name"] != "Dropout"]


EDITS = {
    "output activation removed": (
        lambda layers: _dense(layers, "output").pop("activation"),
        r"output layer does not fit the target",
    ),
    "output softmax over one unit": (
        lambda layers: _dense(layers, "output").update(activation="softmax"),
        r"output layer does not fit the target",
    ),
    "hidden activation removed": (
        lambda layers: _dense(layers, "hidden_1").update(activation="linear"),
        r"not the default MLP .*layer 1 differs",
    ),
    "dropout layer removed": (_drop_dropout, r"not the default MLP"),
}


@pytest.mark.parametrize("case", EDITS)
def test_network_that_does_not_fit_its_estimator_is_refused(case, saved, tmp_path):
    data, _, _ = saved
    edit, pattern = EDITS[case]
    path = tmp_path / "edited.safekeras"
    path.write_bytes(_edited(data, edit))
    with pytest.raises(PersistenceError, match=pattern) as refused:
        load(path)
    assert "tampered with or corrupted" in str(refused.value)


def test_network_of_another_input_width_is_refused(saved, tmp_path):
    """A whole network, consistent in itself, fitted on 7 columns beside a 6-column estimator."""
    data, X, _ = saved
    wider = np.column_stack([X, X[:, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = SafeKerasClassifier(**FAST).fit(wider, (X[:, 0] > 0).astype(int))
    other_path = tmp_path / "wider.safekeras"
    other.save(other_path)
    swapped = members_of(other_path.read_bytes())["model.keras"]
    path = tmp_path / "swapped.safekeras"
    path.write_bytes(with_members(data, {"model.keras": swapped}))
    with pytest.raises(PersistenceError, match=r"inputs of width 7, but .* produces 6 features"):
        load(path)


def test_unedited_file_still_loads_and_predicts_identically(saved, tmp_path):
    data, X, expected = saved
    path = tmp_path / "same.safekeras"
    path.write_bytes(_edited(data, lambda layers: None))  # re-zipped, digests rewritten
    np.testing.assert_array_equal(load(path).predict_proba(X), expected)


@pytest.mark.parametrize(
    "estimator",
    [
        SafeKerasRegressor(hidden_layer_sizes=16, epochs=3, random_state=0),
        SafeKerasClassifier(
            hidden_layer_sizes=(8, 4),
            dropout=0.0,
            l2=0.0,
            **{k: v for k, v in FAST.items() if k != "hidden_layer_sizes"},
        ),
    ],
)
def test_default_networks_of_other_parameters_fit_their_estimators(estimator, tmp_path):
    if isinstance(estimator, SafeKerasRegressor):
        X, y = make_regression(n_samples=120, n_features=5, random_state=0)
    else:
        X, y = make_classification(
            n_samples=150, n_features=5, n_classes=3, n_informative=3, random_state=0
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    path = tmp_path / "other.safekeras"
    estimator.save(path)
    np.testing.assert_array_equal(load(path).predict(X), estimator.predict(X))


@pytest.mark.parametrize(
    "tamper",
    [
        dict(ensemble_size_=10**6),
        dict(ensemble_size_=0),
        dict(ensemble_size_="2"),
        dict(ensemble_size_=1),
        dict(hidden_layer_sizes=(10**7, 10**7)),
        dict(hidden_layer_sizes=("eight",)),
    ],
    ids=lambda tamper: "-".join(f"{k}={v!r}" for k, v in tamper.items()),
)
def test_tampered_network_sizes_are_refused_before_any_network_is_built(
    tamper, tmp_path, monkeypatch
):
    # The check compares the file's network with the one the parameters build: it must not
    # build a huge one (10**6 networks, layers of 10**7 units) to find out that they differ.
    X, y = make_regression(n_samples=80, n_features=4, random_state=0)
    estimator = SafeKerasRegressor(hidden_layer_sizes=(8,), ensemble_size=2, epochs=2).fit(X, y)
    vars(estimator).update(tamper)
    path = tmp_path / "tampered.safekeras"
    estimator.save(path)
    built = []
    monkeypatch.setattr(SafeKerasRegressor, "_build_network", lambda *args: built.append(args))
    with pytest.raises(PersistenceError, match="inconsistent"):
        load(path)
    assert not built
