"""diagnose(): each pitfall fires on data built to trigger it and stays quiet on a healthy fit.

Fits are tiny (a few hundred rows, one small hidden layer, a high learning rate) and shared
by module-scoped fixtures; ``diagnose`` itself never refits.
"""

import copy
import dataclasses
import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import (
    load_breast_cancer,
    load_iris,
    make_classification,
    make_regression,
)
from sklearn.model_selection import train_test_split

from safekeras import (
    DriftError,
    DriftWarning,
    InputError,
    MissingDependencyError,
    NotFittedError,
    SafeKerasClassifier,
    SafeKerasRegressor,
    TargetError,
    diagnostics,
)
from safekeras.exceptions import DiagnosisError
from safekeras.inspection.plotting import DiagnosisDisplay
from safekeras.inspection.report import Diagnosis, Finding

pytestmark = pytest.mark.core

# Converges in a few dozen epochs and stops early: no finding on clean, balanced data.
FAST = dict(
    hidden_layer_sizes=(32,),
    batch_size=32,
    patience=5,
    learning_rate=3e-3,
    epochs=300,
    random_state=0,
)
# The threshold is tuned on the validation split: no internal cross-validation fits.
FAST_CLF = dict(FAST, threshold_cv=None)


def split(X, y, test_size=0.25):
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=400, n_features=8, n_informative=4, class_sep=1.5, random_state=0
    )
    return split(X, y)


@pytest.fixture(scope="module")
def healthy(blobs):
    X_train, X_test, y_train, y_test = blobs
    return SafeKerasClassifier(**FAST_CLF).fit(X_train, y_train), X_test, y_test


@pytest.fixture(scope="module")
def noise():
    """Features and labels without any relation between them."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 20)), rng.integers(0, 2, 200)


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def only(diagnosis, pitfall) -> Finding:
    findings = diagnosis.by_pitfall(pitfall)
    assert len(findings) == 1, diagnosis
    return findings[0]


# -- a healthy fit -----------------------------------------------------------------------


def test_healthy_fit_has_no_findings(healthy, blobs):
    clf, X_test, y_test = healthy
    diagnosis = clf.diagnose(X_test, y_test)
    assert isinstance(diagnosis, Diagnosis)
    assert diagnosis.findings == ()
    assert diagnosis.pitfalls == ()
    assert "No problems found" in str(diagnosis)
    summary = diagnosis.summary
    assert summary["best_epoch"] == clf.best_epoch_ < summary["n_epochs"] == clf.n_epochs_
    assert summary["baseline_loss"] == pytest.approx(np.log(2), abs=0.01)
    assert summary["class_counts"] == np.bincount(blobs[2]).tolist()
    assert summary["threshold"] == clf.threshold_
    assert summary["threshold_source"].startswith("tuned on the validation split")
    assert summary["balanced_accuracy"] > 0.9
    assert summary["roc_auc"] > 0.95
    assert summary["given_rows"] == len(y_test)
    assert summary["given_drift_findings"] == 0


def test_without_data_only_training_checks_run(healthy):
    clf, _, _ = healthy
    diagnosis = clf.diagnose()
    assert diagnosis.findings == ()
    assert "given_rows" not in diagnosis.summary
    assert "balanced_accuracy" not in diagnosis.summary
    assert diagnosis.summary["train_loss_best"] == clf.history_["loss"][clf.best_epoch_ - 1]


def test_diagnose_changes_nothing(healthy):
    clf, X_test, y_test = healthy
    params = clf.get_params()
    fitted = dict(vars(clf))
    X_before, y_before = X_test.copy(), y_test.copy()
    clf.diagnose(X_test * 16, 1 - y_test)
    assert clf.get_params() == params
    assert vars(clf).keys() == fitted.keys()
    assert all(vars(clf)[key] is value for key, value in fitted.items())
    np.testing.assert_array_equal(X_test, X_before)
    np.testing.assert_array_equal(y_test, y_before)


def test_diagnose_is_the_module_function(healthy):
    clf, X_test, y_test = healthy
    by_method = clf.diagnose(X_test, y_test).to_dict()
    assert diagnostics.diagnose(clf, X_test, y_test).to_dict() == by_method


# -- overfitting -------------------------------------------------------------------------


@pytest.mark.slow
def test_overfitting_from_rising_validation_loss(noise):
    X, y = noise
    clf = SafeKerasClassifier(
        hidden_layer_sizes=(256, 256),
        dropout=0.0,
        l2=0.0,
        learning_rate=0.01,
        batch_size=16,
        patience=20,
        epochs=100,
        threshold=0.5,
        random_state=0,
    ).fit(X, y)
    # Early stopping restored the epoch of the lowest validation loss: the rise after it is
    # how early stopping found that epoch, not a problem of the model in use.
    assert clf.best_epoch_ < clf.n_epochs_
    assert "overfitting" not in clf.diagnose().pitfalls
    # As if the last epoch's weights predicted (no early stopping, validation loss recorded).
    last = copy.copy(clf)
    last.best_epoch_, last.early_stopping = clf.n_epochs_, False
    finding = only(last.diagnose(), "overfitting")
    evidence = finding.evidence
    assert evidence["best_epoch"] == evidence["n_epochs"] == clf.n_epochs_
    assert evidence["val_loss_rise"] >= diagnostics.VAL_RISE
    assert evidence["val_loss_final"] > evidence["val_loss_min"]
    assert "validation loss rose" in finding.title
    assert f"at epoch {clf.n_epochs_}, whose weights predict" in finding.title
    assert "set early_stopping=True" in finding.fix
    assert "dropout is 0: try 0.3" in finding.fix
    assert "l2 is 0: try 0.0001" in finding.fix
    assert "hidden_layer_sizes is (256, 256): try (128, 128)" in finding.fix


@pytest.mark.slow
def test_overfitting_from_the_loss_on_held_out_data(noise):
    X, y = noise
    clf = SafeKerasClassifier(
        hidden_layer_sizes=(256, 256),
        dropout=0.0,
        l2=0.0,
        learning_rate=0.01,
        batch_size=16,
        epochs=30,
        early_stopping=False,
        threshold=0.5,
        random_state=0,
    ).fit(X[:150], y[:150])
    finding = only(clf.diagnose(X[150:], y[150:]), "overfitting")
    evidence = finding.evidence
    surely = evidence["given_loss"] - diagnostics.NOISE_Z * evidence["given_loss_se"]
    assert surely >= diagnostics.GAP_RATIO * evidence["train_loss_best"]
    assert surely - evidence["train_loss_best"] >= diagnostics.GAP_SHARE * evidence["baseline_loss"]
    assert "loss on the 50 rows given" in finding.title
    assert "set early_stopping=True" in finding.fix


MEMORISE = dict(
    hidden_layer_sizes=(256, 256),
    dropout=0.0,
    l2=0.0,
    learning_rate=0.01,
    batch_size=16,
    epochs=60,
    early_stopping=False,
    threshold_cv=None,
    random_state=0,
)


@pytest.mark.slow
def test_memorised_noise_is_found_without_data(noise):
    # No early stopping, but the split held out for the threshold records its loss.
    X, y = noise
    clf = SafeKerasClassifier(**MEMORISE).fit(X, y)
    assert len(clf.history_["val_loss"]) == clf.n_epochs_ == clf.best_epoch_ == 60
    finding = only(clf.diagnose(), "overfitting")
    evidence = finding.evidence
    assert evidence["train_loss_best"] < 0.01 * evidence["baseline_loss"]
    assert evidence["val_loss_final"] > 2 * max(evidence["baseline_loss"], evidence["val_loss_min"])
    assert finding.title.startswith("validation loss rose")
    assert "set early_stopping=True" in finding.fix


@pytest.mark.slow
def test_memorised_noise_is_found_from_the_out_of_fold_rows(noise):
    # threshold_cv=3 and no early stopping: no validation split, so no val_loss; the
    # out-of-fold rows the threshold was tuned on were held out from their fold's network.
    X, y = noise
    clf = SafeKerasClassifier(**{**MEMORISE, "threshold_cv": 3}).fit(X, y)
    assert "val_loss" not in clf.history_
    finding = only(clf.diagnose(), "overfitting")
    evidence = finding.evidence
    assert evidence["train_loss_best"] < 0.01 * evidence["baseline_loss"]
    surely = evidence["held_out_loss"] - diagnostics.NOISE_Z * evidence["held_out_loss_se"]
    assert surely >= diagnostics.GAP_RATIO * evidence["train_loss_best"]
    assert evidence["held_out_source"].startswith("out-of-fold predictions of 3 internal fits")
    assert "200 held-out rows the threshold was tuned on" in finding.title
    assert "set early_stopping=True" in finding.fix


@pytest.mark.slow
def test_memorised_noise_with_nothing_held_out_cannot_tell(noise):
    X, y = noise
    clf = SafeKerasClassifier(**{**MEMORISE, "threshold": 0.5}).fit(X, y)
    assert clf.threshold_search_ is None and "val_loss" not in clf.history_
    finding = only(clf.diagnose(), "overfitting")
    assert finding.title.startswith("cannot tell whether the network generalises")
    assert finding.evidence["train_baseline_ratio"] < diagnostics.MEMORISED_SHARE
    assert "estimator.diagnose(X_test, y_test)" in finding.fix
    # Held-out rows answer the question: the loss on them is the evidence.
    rng = np.random.default_rng(1)
    X_new, y_new = rng.normal(size=(100, 20)), rng.integers(0, 2, 100)
    given = only(clf.diagnose(X_new, y_new), "overfitting")
    assert not given.title.startswith("cannot tell")


# -- underfitting ------------------------------------------------------------------------


def test_underfitting():
    # Noise again, but enough rows that the outcome does not hang on the initial weights (each
    # backend draws its own): training only shrinks them, so the validation loss falls on
    # every backend, and balanced accuracy on 1000 rows stays within CHANCE_MARGIN of 0.5.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 20)), rng.integers(0, 2, 3000)
    clf = SafeKerasClassifier(
        hidden_layer_sizes=(), learning_rate=1e-5, epochs=2, threshold=0.5, random_state=0
    ).fit(X[:2000], y[:2000])
    finding = only(clf.diagnose(X[2000:], y[2000:]), "underfitting")
    evidence = finding.evidence
    assert evidence["train_baseline_ratio"] >= diagnostics.BASELINE_SHARE
    assert evidence["balanced_accuracy"] <= 0.5 + diagnostics.CHANCE_MARGIN
    assert evidence["best_epoch"] == evidence["n_epochs"] == evidence["epochs"] == 2
    # At this learning rate the validation loss barely moves: checked, but no "still falling".
    assert "val_loss_recent_fall" in evidence
    assert "still falling" not in finding.title
    assert "hidden_layer_sizes is () (a linear model): try (64, 32)" in finding.fix
    assert "learning_rate is 1e-05: try 0.001" in finding.fix
    assert "X carries little information about y" in finding.fix


@pytest.mark.parametrize(
    "params, advice",
    [
        ({}, "learning_rate is 'auto' (0.003): try 0.009"),
        ({"learning_rate": None}, "learning_rate is None (the optimizer's own, 1e-3 for Adam)"),
        ({"optimizer": "sgd"}, "learning_rate is 'auto' (the optimizer's own, 1e-3 for Adam)"),
        ({"learning_rate": 0.02}, None),  # already high: a higher rate tends to diverge
    ],
)
def test_the_learning_rate_advice_names_the_rate_the_fit_used(params, advice):
    from safekeras.inspection.underfitting import _strengthen

    steps = [step for step in _strengthen(SafeKerasClassifier(**params)) if "learning_rate" in step]
    assert steps == ([] if advice is None else [s for s in steps if s.startswith(advice)])
    assert (advice is None) == (not steps)


def test_underfitting_when_epochs_run_out_while_the_loss_falls(blobs):
    X_train, X_test, y_train, y_test = blobs
    clf = SafeKerasClassifier(**{**FAST_CLF, "epochs": 8}).fit(X_train, y_train)
    finding = only(clf.diagnose(X_test, y_test), "underfitting")
    evidence = finding.evidence
    assert evidence["best_epoch"] == evidence["n_epochs"] == evidence["epochs"] == 8
    assert evidence["val_loss_recent_fall"] > 0
    assert "still falling at the last of epochs=8" in finding.title
    assert "epochs is 8: try 16" in finding.fix


# -- imbalance ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Decision threshold:safekeras.ThresholdWarning")
def test_imbalance():
    X, y = make_classification(
        n_samples=500, n_features=8, n_informative=4, weights=[0.88], random_state=0
    )
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.3)
    # The default tunes the threshold for balanced accuracy: imbalance is then handled.
    tuned = SafeKerasClassifier(**FAST_CLF).fit(X_train, y_train)
    assert tuned.diagnose(X_test, y_test).pitfalls == ()
    weighted = SafeKerasClassifier(**FAST_CLF, class_weight="balanced").fit(X_train, y_train)
    assert "imbalance" not in weighted.diagnose(X_test, y_test).pitfalls
    clf = SafeKerasClassifier(**FAST_CLF, threshold=0.5).fit(X_train, y_train)
    diagnosis = clf.diagnose(X_test, y_test)
    assert diagnosis.pitfalls == ("imbalance",)  # the minority class is the positive one
    finding = only(diagnosis, "imbalance")
    evidence = finding.evidence
    assert evidence["minority_class"] == 1
    assert evidence["class_counts"] == np.bincount(y_train).tolist()
    assert evidence["minority_share"] == pytest.approx(np.mean(y_train))
    assert evidence["minority_share"] < diagnostics.MINORITY_SHARE
    assert evidence["accuracy"] > evidence["balanced_accuracy"]
    assert "accuracy" in finding.title and "balanced accuracy" in finding.title
    assert "threshold is fixed at 0.5: threshold='auto' tunes it" in finding.fix
    assert "class_weight='balanced'" in finding.fix
    assert "imbalance_report" in finding.fix


# -- threshold ---------------------------------------------------------------------------


def test_fixed_threshold_far_off(blobs):
    X_train, X_test, y_train, y_test = blobs
    clf = SafeKerasClassifier(threshold=0.97, **FAST).fit(X_train, y_train)
    diagnosis = clf.diagnose(X_test, y_test)
    assert diagnosis.pitfalls == ("threshold",)
    finding = only(diagnosis, "threshold")
    evidence = finding.evidence
    assert evidence["threshold"] == 0.97
    assert evidence["threshold_source"] == "fixed"
    assert evidence["scoring"] == "balanced_accuracy"
    assert evidence["best_score_in_sample"] >= (
        evidence["score_at_threshold"] + diagnostics.THRESHOLD_MARGIN
    )
    assert evidence["n_positive"] == evidence["n_negative"] == 50
    assert "in-sample" in finding.title
    assert "threshold='auto'" in finding.fix


def test_tuned_threshold_worse_than_half(healthy):
    clf, X_test, y_test = healthy
    # As if the validation split had put the threshold far off.
    off = copy.copy(clf)
    off.threshold_ = 0.02
    finding = only(off.diagnose(X_test, y_test), "threshold")
    evidence = finding.evidence
    assert evidence["score_at_threshold"] <= (
        evidence["score_at_0.5"] - diagnostics.THRESHOLD_MARGIN
    )
    assert "below 0.5" in finding.title
    assert "threshold_cv=5" in finding.fix


# -- label inversion ---------------------------------------------------------------------


def test_flipped_binary_labels(healthy):
    clf, X_test, y_test = healthy
    diagnosis = clf.diagnose(X_test, 1 - y_test)
    # The loss and balanced accuracy follow from the flip: they are not blamed on the fit.
    assert diagnosis.pitfalls == ("label_inversion",)
    finding = only(diagnosis, "label_inversion")
    assert finding.evidence["roc_auc"] < diagnostics.INVERTED_AUC
    assert finding.evidence["pos_label"] == 1
    assert "opposite to y" in finding.title
    assert "encoded opposite to fit" in finding.fix


def test_permuted_multiclass_labels():
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.4)
    clf = SafeKerasClassifier(**dict(FAST, learning_rate=0.01)).fit(X_train, y_train)
    assert clf.diagnose(X_test, y_test).findings == ()
    diagnosis = clf.diagnose(X_test, np.array([1, 0, 2])[y_test])
    assert diagnosis.pitfalls == ("label_inversion",)
    finding = only(diagnosis, "label_inversion")
    evidence = finding.evidence
    assert evidence["relabelled_accuracy"] >= evidence["accuracy"] + diagnostics.RELABEL_GAIN
    assert sorted(map(tuple, evidence["relabelling"])) == [(0, 1), (1, 0)]
    assert "look permuted" in finding.title


def test_labels_fit_never_saw(healthy):
    clf, X_test, y_test = healthy
    diagnosis = clf.diagnose(X_test, np.where(y_test == 1, "yes", "no"))
    finding = only(diagnosis, "label_inversion")
    assert finding.evidence["unknown_labels"] == ["no", "yes"]
    assert finding.evidence["n_rows_unknown"] == len(y_test)
    assert "never saw" in finding.title
    assert "Encode y as it was encoded for fit" in finding.fix
    assert "balanced_accuracy" not in diagnosis.summary


@pytest.mark.filterwarnings("ignore:Decision threshold:safekeras.ThresholdWarning")
def test_positive_class_is_the_majority():
    X, y = make_classification(
        n_samples=400, n_features=8, n_informative=4, weights=[0.15], random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    labels = np.where(y == 1, "ok", "fraud")  # "ok" sorts last: the default positive class
    X_train, X_test, y_train, y_test = split(frame, labels)
    clf = SafeKerasClassifier(**FAST_CLF).fit(X_train, y_train)
    diagnosis = clf.diagnose(X_test, y_test)
    assert diagnosis.pitfalls == ("label_inversion",)
    finding = only(diagnosis, "label_inversion")
    assert finding.evidence["pos_label"] == "ok"
    assert finding.evidence["pos_label_share"] >= diagnostics.MAJORITY_SHARE
    assert finding.evidence["minority_class"] == "fraud"
    assert "To find the rare class 'fraud', pass pos_label='fraud'." in finding.fix
    # Naming the positive class says it is intended.
    chosen = copy.copy(clf)
    chosen.pos_label = "ok"
    assert chosen.diagnose(X_test, y_test).findings == ()


def test_a_majority_positive_class_that_is_not_rare_is_no_finding():
    # load_breast_cancer: 63 % benign, class 1. Either class is fine to score.
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X, y)
    clf = SafeKerasClassifier(**FAST_CLF).fit(X_train, y_train)
    assert np.mean(y_train) > 0.6
    assert clf.diagnose(X_test, y_test).pitfalls == ()
    assert clf.diagnose().pitfalls == ()


def test_problems_and_pitfalls_count_alike(healthy):
    clf, X_test, y_test = healthy
    # Opposite predictions and a rare negative class: two signs of one pitfall.
    off = copy.copy(clf)
    off._training_profile_ = dataclasses.replace(clf._training_profile_, class_counts=(30, 270))
    diagnosis = off.diagnose(X_test, 1 - y_test)
    assert diagnosis.pitfalls == ("label_inversion",)
    finding = only(diagnosis, "label_inversion")
    assert "opposite to y" in finding.title and "is the majority" in finding.title
    assert str(diagnosis).startswith("Diagnosis of SafeKerasClassifier: 1 problem(s) found")


# -- drift -------------------------------------------------------------------------------


def test_drift_is_a_finding_not_a_warning(healthy):
    clf, X_test, y_test = healthy
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        diagnosis = clf.diagnose(X_test * 16, y_test)
    # Drifted rows explain any loss: the checks that compare predictions with y stay quiet.
    assert diagnosis.pitfalls == ("drift",)
    finding = only(diagnosis, "drift")
    assert finding.evidence["n_rows"] == len(X_test)
    assert finding.evidence["kinds"] == ["range"]
    assert "times larger than in training" in finding.evidence["messages"][0]
    assert "do not look like the training data" in finding.title
    assert "were skipped" in finding.fix
    assert diagnosis.summary["given_drift_findings"] == 1


def test_drift_does_not_raise_with_on_drift_raise(healthy):
    clf, X_test, _ = healthy
    strict = copy.copy(clf)
    strict.on_drift = "raise"
    assert strict.diagnose(X_test * 16).pitfalls == ("drift",)
    assert strict.on_drift == "raise"
    with pytest.raises(DriftError):
        strict.predict(X_test * 16)


def test_structural_problems_in_X_still_raise(healthy):
    clf, X_test, _ = healthy
    with pytest.raises(InputError):
        clf.diagnose(X_test[:, :3])


# -- other targets -----------------------------------------------------------------------


def test_regressor():
    X, y = make_regression(n_samples=300, n_features=8, n_informative=4, noise=10, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    reg = SafeKerasRegressor(**FAST).fit(X_train, y_train)
    diagnosis = reg.diagnose(X_test, y_test)
    assert diagnosis.findings == ()
    assert diagnosis.summary["r2"] > 0.9
    # The network learnt the ridge's residual: the mean's loss is counted in its units.
    baseline = reg.linear_baseline_
    assert diagnosis.summary["baseline_loss"] == pytest.approx(1.0 / baseline.scale_[0] ** 2)
    assert diagnosis.summary["baseline_loss"] > 10  # a nearly linear target: a small residual
    assert "classes" not in diagnosis.summary and "threshold" not in diagnosis.summary
    plain = SafeKerasRegressor(**FAST, linear_baseline=None).fit(X_train, y_train)
    diagnosis = plain.diagnose(X_test, y_test)
    assert diagnosis.findings == ()
    assert diagnosis.summary["baseline_loss"] == 1.0


def test_regressor_underfitting(noise):
    X, _ = noise
    target = np.random.default_rng(1).normal(size=len(X))
    reg = SafeKerasRegressor(**FAST).fit(X[:150], target[:150])
    diagnosis = reg.diagnose(X[150:], target[150:])
    finding = only(diagnosis, "underfitting")
    assert finding.evidence["r2"] <= diagnostics.MIN_R2
    assert "R^2" in finding.title
    assert set(diagnosis.pitfalls) <= {"overfitting", "underfitting"}


def test_multilabel(blobs):
    X_train, X_test, y_train, y_test = blobs
    Y_train = np.column_stack([y_train, 1 - y_train])
    clf = SafeKerasClassifier(threshold=0.5, **FAST).fit(X_train, Y_train)
    diagnosis = clf.diagnose(X_test, np.column_stack([y_test, 1 - y_test]))
    assert diagnosis.findings == ()
    assert diagnosis.summary["threshold"] == [0.5, 0.5]
    assert diagnosis.summary["accuracy"] > 0.8
    with pytest.raises(TargetError, match="indicator matrix of 2 columns"):
        clf.diagnose(X_test, y_test)


# -- errors ------------------------------------------------------------------------------


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SafeKerasClassifier().diagnose()
    with pytest.raises(NotFittedError):
        diagnostics.diagnose(SafeKerasRegressor())


def test_y_without_X(healthy):
    clf, _, y_test = healthy
    with pytest.raises(InputError, match="y without X"):
        clf.diagnose(y=y_test)


def test_y_of_the_wrong_length(healthy):
    clf, X_test, y_test = healthy
    with pytest.raises(TargetError, match="X has 100 rows but y has 99"):
        clf.diagnose(X_test, y_test[:-1])


def test_missing_labels(healthy):
    clf, X_test, y_test = healthy
    y = y_test.astype(float)
    y[0] = np.nan
    with pytest.raises(TargetError, match="missing label"):
        clf.diagnose(X_test, y)


def test_unknown_pitfall(healthy):
    clf, _, _ = healthy
    with pytest.raises(DiagnosisError, match="Unknown pitfall"):
        clf.diagnose().by_pitfall("overfit")


# -- report ------------------------------------------------------------------------------


def test_report_and_dict(healthy):
    clf, X_test, y_test = healthy
    diagnosis = clf.diagnose(X_test * 16, 1 - y_test)
    report = str(diagnosis)
    assert report.startswith("Diagnosis of SafeKerasClassifier: 1 problem(s) found")
    assert "1. [drift]" in report and "fix: " in report
    assert "Summary" in report and "best_epoch" in report
    assert "[drift]" in str(diagnosis.findings[0])
    data = diagnosis.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["pitfalls"] == ["drift"]
    assert data["findings"][0]["evidence"]["kinds"] == ["range"]
    assert repr(diagnosis) == "Diagnosis(SafeKerasClassifier, pitfalls=('drift',))"


def test_dict_of_a_regressor_is_json(noise):
    X, y = noise
    reg = SafeKerasRegressor(**dict(FAST, epochs=3)).fit(X, y.astype(float))
    data = reg.diagnose(X, y).to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data


# -- plots -------------------------------------------------------------------------------


def test_plot_with_data(healthy, pyplot):
    clf, X_test, y_test = healthy
    display = clf.diagnose(X_test, y_test).plot()
    assert isinstance(display, DiagnosisDisplay)
    assert display.panels == ("learning_curves", "precision_recall", "threshold")
    assert display.axes_.shape == (3,)
    assert display.figure_ is display.axes_[0].figure
    curves, pr, scores = display.axes_
    assert len(curves.get_lines()) == 4  # training, validation, kept epoch, baseline
    assert curves.get_lines()[2].get_xdata()[0] == clf.best_epoch_
    assert "threshold_" in " ".join(t.get_text() for t in pr.get_legend().get_texts())
    assert scores.get_ylabel() == "balanced_accuracy"


def test_plot_without_data_uses_the_threshold_search(healthy, pyplot):
    clf, _, _ = healthy
    display = DiagnosisDisplay.from_estimator(clf)
    assert display.panels == ("learning_curves", "threshold")
    np.testing.assert_array_equal(
        display.axes_[1].get_lines()[0].get_xdata(), clf.threshold_search_.thresholds
    )


def test_plot_on_given_axes(healthy, pyplot):
    clf, _, _ = healthy
    diagnosis = clf.diagnose()
    _, axes = pyplot.subplots(1, 2)
    display = diagnosis.plot(axes=axes)
    assert list(display.axes_) == list(axes)
    with pytest.raises(DiagnosisError, match="Got 1 Axes for 2 panel"):
        diagnosis.plot(axes=[axes[0]])


def test_plot_of_a_regressor_has_learning_curves_only(noise, pyplot):
    X, y = noise
    reg = SafeKerasRegressor(**dict(FAST, epochs=3)).fit(X, y.astype(float))
    assert reg.diagnose().plot().panels == ("learning_curves",)


def test_plot_without_matplotlib(healthy, monkeypatch):
    clf, _, _ = healthy
    diagnosis = clf.diagnose()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "safekeras\[plot\]"'):
        diagnosis.plot()
    with pytest.raises(ImportError):
        diagnosis.plot()
    assert "Summary" in str(diagnosis)  # the report needs no matplotlib
