"""``threshold_cv``'s internal folds: stacked for the default MLP, clones otherwise, and said so."""

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedKFold

from safekeras import SafeKerasClassifier
from safekeras.decision import stacked_folds, threshold_fitting

pytestmark = pytest.mark.core

# f1 has no prior rule (balanced accuracy's), so threshold_cv="auto" tunes it out of fold.
FAST = dict(
    hidden_layer_sizes=(8,), epochs=8, learning_rate=0.01, random_state=0, threshold_scoring="f1"
)


@pytest.fixture(scope="module")
def rare_positives():
    # 45 positives: about 6 in a 15 % validation split, so threshold_cv="auto" folds.
    return make_classification(
        n_samples=300, n_features=6, n_informative=4, weights=[0.85], random_state=0
    )


def test_default_mlp_folds_train_as_one_stacked_fit(rare_positives, capsys):
    X, y = rare_positives
    clf = SafeKerasClassifier(verbose=1, **FAST).fit(X, y)
    search = clf.threshold_search_
    assert (search.n_folds, search.fold_training, search.fold_fits) == (5, "stacked", 1)
    assert search.n_samples == len(X)  # every row predicted once, out of fold
    assert "5 internal folds trained as one stacked network (1 fit)" in capsys.readouterr().out
    again = SafeKerasClassifier(**FAST).fit(X, y)
    assert again.threshold_ == clf.threshold_  # seeded: the same folds, weights and shuffles


def test_what_the_stack_cannot_train_fits_clones_and_says_why(rare_positives, capsys):
    X, y = rare_positives
    clf = SafeKerasClassifier(verbose=1, callbacks=[keras.callbacks.Callback()], **FAST)
    search = clf.fit(X, y).threshold_search_
    assert (search.n_folds, search.fold_training, search.fold_fits) == (5, "clones", 5)
    assert "5 internal folds trained one after the other (5 fits; not stacked: callbacks)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "params, reason",
    [
        (dict(model=lambda meta: None), "a user's model or builder"),
        (dict(engine="keras"), "engine='keras'"),
        (dict(loss="binary_focal_crossentropy"), "loss='binary_focal_crossentropy'"),
        (
            dict(optimizer=keras.optimizers.Lamb()),
            "optimizer Lamb is not one whose updates are elementwise",
        ),
        (dict(optimizer=keras.optimizers.Adam(global_clipnorm=1.0)), "global_clipnorm"),
    ],
)
def test_stack_obstacles_name_what_keeps_the_clones(params, reason):
    obstacles = stacked_folds.obstacles(SafeKerasClassifier(**params))
    assert any(reason in obstacle for obstacle in obstacles)
    assert stacked_folds.obstacles(SafeKerasClassifier()) == []


def fold_clone(**params):
    """A fold's estimator as ``cross_validated_thresholds`` configures it (its recipe)."""
    settings = {**FAST, "early_stopping": False, "batch_size": 16, **params}
    return SafeKerasClassifier(threshold=0.5, threshold_cv=None, on_drift="ignore", **settings)


def test_stacked_folds_fit_each_fold_as_its_clone_would_up_to_training(rare_positives):
    X, y = rare_positives
    kept = np.arange(len(X))
    data = stacked_folds.FoldData(X, y, None, kept)
    train = kept[: len(X) * 4 // 5]
    prepared = stacked_folds._prepare(fold_clone(), *stacked_folds._fold_rows(data, train))
    clone_fit = fold_clone(epochs=1, learning_rate=1e-12).fit(X[train], y[train])
    # Every row trains (no split), with the clone's preprocessing and initial weights.
    assert len(prepared.rows.x_train) == len(train)
    np.testing.assert_allclose(
        prepared.preprocessed(X[:5], "float32"), clone_fit.preprocessor_.transform(X[:5])
    )
    for mine, own in zip(prepared.weights, clone_fit.model_.get_weights(), strict=True):
        np.testing.assert_allclose(mine, own, atol=1e-6)  # one step of lr 1e-12 moved nothing


def test_a_stacked_folds_held_out_probabilities_are_its_clones(rare_positives):
    X, y = rare_positives
    kept = np.arange(len(X))
    data = stacked_folds.FoldData(X, y, None, kept)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    # Without dropout: in a stack, the folds draw their masks from one layer per depth.
    clones = [fold_clone(dropout=0.0, random_state=seed) for seed in range(3)]
    together = stacked_folds.fit_stacked(clones, data, folds, "binary")
    # The stack shuffles with fold 0's seed, so fold 0 (whose clone shuffles alike:
    # the folds hold 200 rows each, no padding) takes its clone's very steps.
    train, test = folds[0]
    alone = fold_clone(dropout=0.0, random_state=0).fit(X[train], y[train])
    np.testing.assert_allclose(together[0], alone.predict_proba(X[test]), rtol=1e-4, atol=1e-5)
    for (_, test), proba in zip(folds, together, strict=True):
        assert proba.shape == (len(test), 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_stacked_folds_average_with_a_logistic_regression_as_their_clones_do(rare_positives):
    X, y = rare_positives
    kept = np.arange(len(X))
    data = stacked_folds.FoldData(X, y, None, kept)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    settings = dict(dropout=0.0, linear_baseline="logistic")
    clones = [fold_clone(random_state=seed, **settings) for seed in range(3)]
    together = stacked_folds.fit_stacked(clones, data, folds, "binary")
    train, test = folds[0]
    alone = fold_clone(random_state=0, **settings).fit(X[train], y[train])
    assert alone.linear_baseline_ is not None
    np.testing.assert_allclose(together[0], alone.predict_proba(X[test]), rtol=1e-4, atol=1e-5)


def test_the_folds_average_exactly_when_the_network_kept_its_baseline(rare_positives, monkeypatch):
    X, y = rare_positives
    averaged = []
    real = stacked_folds._averaged
    monkeypatch.setattr(stacked_folds, "_averaged", lambda *args: averaged.append(1) or real(*args))
    for choice, folds_averaging in (("logistic", 5), (None, 0)):
        averaged.clear()
        clf = SafeKerasClassifier(linear_baseline=choice, **FAST).fit(X, y)
        assert clf.threshold_search_.n_folds == 5  # tuned out of fold
        assert (clf.linear_baseline_ is not None) is (choice == "logistic")
        assert len(averaged) == folds_averaging


def test_the_folds_train_for_the_epochs_the_network_kept(rare_positives, monkeypatch):
    X, y = rare_positives
    seen = []
    original = stacked_folds.fit_stacked

    def spy(fold_estimators, *args):
        seen.append(
            {(fold.epochs, fold.batch_size, fold.early_stopping) for fold in fold_estimators}
        )
        return original(fold_estimators, *args)

    monkeypatch.setattr(stacked_folds, "fit_stacked", spy)
    clf = SafeKerasClassifier(**{**FAST, "epochs": 200, "learning_rate": 0.05, "patience": 3}).fit(
        X, y
    )
    assert clf.best_epoch_ < clf.n_epochs_  # it stopped early, and kept an earlier epoch
    assert seen == [{(clf.best_epoch_, clf.batch_size_, False)}]


@pytest.mark.filterwarnings("ignore::safekeras.exceptions.ThresholdWarning")  # 7 positives
def test_no_internal_folds_leave_the_search_as_it_was(rare_positives):
    X, y = rare_positives
    search = SafeKerasClassifier(threshold_cv=None, **FAST).fit(X, y).threshold_search_
    assert (search.n_folds, search.fold_training, search.fold_fits) == (0, "", 0)


def test_switching_stacking_off_fits_clones(rare_positives, monkeypatch):
    X, y = rare_positives
    monkeypatch.setattr(threshold_fitting, "STACK_FOLDS", False)
    search = SafeKerasClassifier(**FAST).fit(X, y).threshold_search_
    assert (search.fold_training, search.fold_fits) == ("clones", 5)


@pytest.mark.filterwarnings("ignore::safekeras.exceptions.ThresholdWarning")
def test_multilabel_folds_are_stacked_with_one_threshold_per_label():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=150, n_features=5, n_classes=3, random_state=0)
    clf = SafeKerasClassifier(threshold_cv=3, **FAST).fit(X, Y)
    assert [(s.fold_training, s.fold_fits, s.n_folds) for s in clf.threshold_search_] == [
        ("stacked", 1, 3)
    ] * 3
    assert clf.threshold_.shape == (3,) and all(
        s.n_samples == len(X) for s in clf.threshold_search_
    )


def test_folds_whose_one_hot_widths_differ_are_stacked(rare_positives):
    pd = pytest.importorskip("pandas")
    X, y = rare_positives
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    # A category held by one row: the folds that do not train on it encode one column fewer.
    frame["city"] = ["oslo"] * (len(frame) - 1) + ["paris"]
    clf = SafeKerasClassifier(**FAST).fit(frame, y)
    assert clf.threshold_search_.fold_training == "stacked"
    assert clf.threshold_search_.n_samples == len(frame)
