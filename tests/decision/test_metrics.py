"""safekeras.decision.metrics: every number is checked against the scikit-learn / imbalanced-learn
function computed directly, for binary, multiclass, string, bool and weighted targets."""

import dataclasses
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from imblearn.metrics import (
    classification_report_imbalanced,
    geometric_mean_score,
    sensitivity_specificity_support,
    specificity_score,
)
from sklearn.datasets import load_wine, make_classification
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GridSearchCV,
    TunedThresholdClassifierCV,
    cross_validate,
    train_test_split,
)
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize
from sklearn.svm import LinearSVC

import safekeras.decision.metrics
from safekeras.decision.imbalance_report import ImbalanceReport, imbalance_report
from safekeras.decision.metrics import imbalance_scoring
from safekeras.exceptions import TargetError

SCORING_KEYS = {
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "specificity",
    "geometric_mean",
    "average_precision",
    "roc_auc",
    "neg_brier_score",
}


@pytest.fixture(scope="module")
def binary():
    """A 9:1 problem hard enough that no metric is trivially 0 or 1."""
    X, y = make_classification(
        n_samples=400, weights=[0.9, 0.1], flip_y=0.05, class_sep=0.5, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    return X_train, X_test, y_train, y_test


@pytest.fixture(scope="module")
def binary_strings(binary):
    X_train, X_test, y_train, y_test = binary
    name = np.array(["ok", "fraud"])
    return X_train, X_test, name[y_train], name[y_test]


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(X_train, y_train)
    return clf, X_test, y_test


def check_against_sklearn(report, clf, X, y, pos_label=None, sample_weight=None):
    """Recompute every number of the report straight from scikit-learn / imblearn."""
    sw = sample_weight
    pred, proba = clf.predict(X), clf.predict_proba(X)
    classes = clf.classes_
    approx = pytest.approx
    assert report.classes == tuple(classes.tolist())
    assert report.n_samples == len(y)
    counts = [int(np.sum(y == c)) for c in classes]
    assert report.class_counts == tuple(counts)
    assert report.minority_share == approx(min(counts) / len(y))
    assert report.imbalance_ratio == approx(max(counts) / min(counts))
    assert report.accuracy == approx(accuracy_score(y, pred, sample_weight=sw))
    assert report.balanced_accuracy == approx(balanced_accuracy_score(y, pred, sample_weight=sw))
    assert report.geometric_mean == approx(geometric_mean_score(y, pred, sample_weight=sw))
    if len(classes) == 2:
        pos = pos_label if pos_label is not None else classes[1]
        col = list(classes).index(pos)
        kw = dict(pos_label=pos, sample_weight=sw, zero_division=0)
        assert report.target_type == "binary"
        assert report.pos_label == pos
        assert report.precision == approx(precision_score(y, pred, **kw))
        assert report.recall == approx(recall_score(y, pred, **kw))
        assert report.f1 == approx(f1_score(y, pred, **kw))
        neg = classes[1 - col]
        assert report.specificity == approx(recall_score(y, pred, **{**kw, "pos_label": neg}))
        assert report.average_precision == approx(
            average_precision_score(y == pos, proba[:, col], sample_weight=sw)
        )
        assert report.roc_auc == approx(roc_auc_score(y == pos, proba[:, col], sample_weight=sw))
        assert report.brier_score == approx(
            brier_score_loss(y == pos, proba[:, col], sample_weight=sw)
        )
    else:
        kw = dict(average="macro", sample_weight=sw, zero_division=0)
        assert report.target_type == "multiclass"
        assert report.pos_label is None
        assert report.precision == approx(precision_score(y, pred, **kw))
        assert report.recall == approx(recall_score(y, pred, **kw))
        assert report.f1 == approx(f1_score(y, pred, **kw))
        if sw is None:
            assert report.specificity == approx(specificity_score(y, pred, average="macro"))
        assert report.average_precision == approx(
            average_precision_score(label_binarize(y, classes=classes), proba, sample_weight=sw)
        )
        assert report.roc_auc == approx(
            roc_auc_score(y, proba, multi_class="ovr", average="macro", sample_weight=sw)
        )
        try:
            brier = brier_score_loss(y, proba, labels=classes, sample_weight=sw)
        except TypeError:  # scikit-learn < 1.7: no multiclass Brier score
            brier = None
        assert report.brier_score == (None if brier is None else approx(brier))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=classes, sample_weight=sw, zero_division=0
    )
    if sw is None:
        _, specificity, _ = sensitivity_specificity_support(y, pred, labels=classes)
        assert report.class_geometric_mean == approx(
            tuple(geometric_mean_score(y, pred, labels=classes, average=None))
        )
    else:
        # imblearn's specificity is wrong with sample_weight (imbalanced-learn #1180).
        mcm = multilabel_confusion_matrix(y, pred, labels=classes, sample_weight=sw)
        specificity = mcm[:, 0, 0] / (mcm[:, 0, 0] + mcm[:, 0, 1])
    assert report.class_precision == approx(tuple(precision))
    assert report.class_recall == approx(tuple(recall))
    assert report.class_f1 == approx(tuple(f1))
    assert report.class_specificity == approx(tuple(specificity))
    if len(classes) > 2:
        assert report.specificity == approx(np.mean(specificity))
    assert report.class_geometric_mean == approx(tuple(np.sqrt(recall * specificity)))
    assert report.class_support == approx(tuple(support))
    matrix = confusion_matrix(y, pred, labels=classes, sample_weight=sw)
    assert np.array_equal(np.array(report.confusion_matrix), matrix)
    assert report.weighted is (sw is not None)


# --------------------------------------------------------------------------- report numbers


def test_binary_report_matches_sklearn(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    assert isinstance(report, ImbalanceReport)
    check_against_sklearn(report, clf, X_test, y_test)
    assert report.minority_class == 1
    # The point of the report: accuracy looks fine, minority recall does not.
    assert report.accuracy > 0.8 > report.balanced_accuracy
    assert report.threshold is None and report.threshold_source is None


def test_per_class_agrees_with_classification_report_imbalanced(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    expected = classification_report_imbalanced(
        y_test, clf.predict(X_test), output_dict=True, zero_division=0
    )
    for i, label in enumerate(report.classes):
        row = expected[str(label)]  # imblearn keys its dict by str(label)
        assert report.class_precision[i] == pytest.approx(row["pre"])
        assert report.class_recall[i] == pytest.approx(row["rec"])
        assert report.class_specificity[i] == pytest.approx(row["spe"])
        assert report.class_f1[i] == pytest.approx(row["f1"])
        assert report.class_geometric_mean[i] == pytest.approx(row["geo"])
        assert report.class_support[i] == row["sup"]


def test_multiclass_report_matches_sklearn(wine):
    clf, X, y = wine
    report = imbalance_report(clf, X, y)
    check_against_sklearn(report, clf, X, y)
    assert report.threshold is None
    assert "most probable class" in str(report)


def test_sample_weight_is_passed_to_every_metric(binary, wine):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    weights = np.where(y_test == 1, 5.0, 1.0)
    report = imbalance_report(clf, X_test, y_test, sample_weight=weights)
    check_against_sklearn(report, clf, X_test, y_test, sample_weight=weights)
    assert report.balanced_accuracy != imbalance_report(clf, X_test, y_test).accuracy
    clf, X, y = wine
    weights = np.arange(len(y)) % 3 + 1.0
    report = imbalance_report(clf, X, y, sample_weight=weights)
    check_against_sklearn(report, clf, X, y, sample_weight=weights)
    assert "weighted" in str(report)


def test_dummy_majority_classifier_is_exposed(binary):
    X_train, X_test, y_train, y_test = binary
    clf = DummyClassifier(strategy="most_frequent").fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    assert report.accuracy == pytest.approx(0.87)
    assert report.balanced_accuracy == 0.5
    assert report.recall == report.f1 == report.geometric_mean == 0.0
    assert report.roc_auc == 0.5


# --------------------------------------------------------------------------- thresholds


def test_threshold_dependent_metrics_come_from_predict(binary):
    X_train, X_test, y_train, y_test = binary
    default = imbalance_report(LogisticRegression().fit(X_train, y_train), X_test, y_test)
    fixed = FixedThresholdClassifier(LogisticRegression(), threshold=0.1).fit(X_train, y_train)
    report = imbalance_report(fixed, X_test, y_test)
    check_against_sklearn(report, fixed, X_test, y_test)
    assert report.recall > default.recall
    assert report.specificity < default.specificity
    assert report.roc_auc == pytest.approx(default.roc_auc)
    assert report.average_precision == pytest.approx(default.average_precision)
    assert report.brier_score == pytest.approx(default.brier_score)
    assert report.threshold == 0.1
    assert report.threshold_source == "FixedThresholdClassifier.threshold"
    assert "decision threshold: 0.1000" in str(report)


def test_fixed_threshold_auto_and_pos_label(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    clf = FixedThresholdClassifier(LogisticRegression(), pos_label="fraud").fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    # threshold="auto" is not a number: the report says the estimator's rule is used.
    assert report.threshold is None
    assert "not exposed" in str(report)
    assert report.pos_label == "fraud"


def test_tuned_threshold_is_read(binary):
    X_train, X_test, y_train, y_test = binary
    clf = TunedThresholdClassifierCV(LogisticRegression(), cv=3, thresholds=20)
    clf.fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    check_against_sklearn(report, clf, X_test, y_test)
    assert report.threshold == pytest.approx(clf.best_threshold_)
    assert report.threshold_source == "TunedThresholdClassifierCV.best_threshold_"


def test_pipeline_final_step_threshold_is_read(binary):
    X_train, X_test, y_train, y_test = binary
    clf = make_pipeline(
        StandardScaler(), FixedThresholdClassifier(LogisticRegression(), threshold=0.3)
    ).fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    assert report.estimator == "Pipeline"
    assert report.threshold == 0.3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_pipeline(binary):
    X_train, X_test, y_train, y_test = binary
    clf = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    clf.fit(X_train, y_train)
    check_against_sklearn(imbalance_report(clf, X_test, y_test), clf, X_test, y_test)


# --------------------------------------------------------------------------- labels


def test_string_labels_and_pos_label(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    clf = LogisticRegression().fit(X_train, y_train)
    default = imbalance_report(clf, X_test, y_test)
    # classes_ are sorted: "ok" is classes_[1], hence the default positive class.
    assert default.pos_label == "ok"
    check_against_sklearn(default, clf, X_test, y_test)
    assert "pos_label='fraud'" in str(default)  # the hint to score the minority class
    fraud = imbalance_report(clf, X_test, y_test, pos_label="fraud")
    check_against_sklearn(fraud, clf, X_test, y_test, pos_label="fraud")
    assert fraud.f1 != default.f1
    assert fraud.roc_auc == pytest.approx(default.roc_auc)  # ROC-AUC is symmetric
    assert "note:" not in str(fraud)


def test_bool_labels(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train.astype(bool))
    report = imbalance_report(clf, X_test, y_test.astype(bool))
    check_against_sklearn(report, clf, X_test, y_test.astype(bool))
    assert report.classes == (False, True)
    assert report.pos_label is True
    assert json.loads(json.dumps(report.to_dict()))["classes"] == [False, True]


def test_pos_label_not_a_class(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    clf = LogisticRegression().fit(X_train, y_train)
    with pytest.raises(TargetError, match=r"pos_label='spam' is not one of the classes.*fraud"):
        imbalance_report(clf, X_test, y_test, pos_label="spam")
    with pytest.raises(TargetError, match="not one of the classes"):
        imbalance_scoring(pos_label=1)["f1"](clf, X_test, y_test)


def test_pos_label_for_multiclass_is_an_error(wine):
    clf, X, y = wine
    with pytest.raises(TargetError, match="applies to binary targets"):
        imbalance_report(clf, X, y, pos_label=0)


# --------------------------------------------------------------------------- errors


def test_not_fitted():
    X, y = make_classification(random_state=0)
    with pytest.raises(NotFittedError):
        imbalance_report(LogisticRegression(), X, y)
    with pytest.raises(NotFittedError):
        imbalance_scoring()["roc_auc"](LogisticRegression(), X, y)


def test_unseen_and_missing_labels(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    clf = LogisticRegression().fit(X_train, y_train)
    y_bad = y_test.copy()
    y_bad[0] = "spam"
    with pytest.raises(TargetError, match=r"\['spam'\].*never saw"):
        imbalance_report(clf, X_test, y_bad)
    with pytest.raises(TargetError, match="never saw"):
        imbalance_report(clf, X_test, np.where(y_test == "ok", 0, 1))
    only_ok = y_test == "ok"
    with pytest.raises(TargetError, match=r"no samples of class\(es\) \['fraud'\]"):
        imbalance_report(clf, X_test[only_ok], y_test[only_ok])


def test_continuous_y_is_an_error(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    with pytest.raises(TargetError, match="continuous"):
        imbalance_report(clf, X_test, y_test + 0.5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_is_a_clear_error():
    X, Y = make_classification(random_state=0)[0], np.eye(3, dtype=int)[np.arange(100) % 3]
    Y[::4, 0] = 1
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, Y)
    with pytest.raises(TargetError, match=r"multilabel.*each label as its own binary problem"):
        imbalance_report(clf, X, Y)
    with pytest.raises(TargetError, match="multilabel"):
        imbalance_scoring()["f1"](clf, X, Y)


def test_classifier_without_predict_proba(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LinearSVC().fit(X_train, y_train)
    with pytest.raises(TypeError, match="CalibratedClassifierCV"):
        imbalance_report(clf, X_test, y_test)


def test_length_mismatch(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        imbalance_report(clf, X_test, y_test, sample_weight=np.ones(3))


# --------------------------------------------------------------------------- report object


def test_report_is_immutable_and_json_round_trips(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    clf = LogisticRegression().fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test, pos_label="fraud")
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.f1 = 1.0
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["classes"] == ["fraud", "ok"]
    assert as_dict["pos_label"] == "fraud"
    assert as_dict["confusion_matrix"] == confusion_matrix(y_test, clf.predict(X_test)).tolist()
    assert as_dict["balanced_accuracy"] == report.balanced_accuracy


def test_str_and_repr(binary_strings):
    X_train, X_test, y_train, y_test = binary_strings
    fixed = FixedThresholdClassifier(LogisticRegression(), threshold=0.25, pos_label="fraud")
    report = imbalance_report(fixed.fit(X_train, y_train), X_test, y_test)
    text = str(report)
    lines = text.splitlines()
    assert "decision threshold: 0.2500" in text
    assert "positive class: 'fraud'" in text
    assert "balanced_accuracy" in text and "average_precision" in text
    # The per-class table and the confusion matrix each have one row per class label.
    assert sum(line.startswith("fraud ") for line in lines) == 2
    assert sum(line.startswith("ok ") for line in lines) == 2
    matrix_header = lines[lines.index(next(x for x in lines if "confusion" in x)) + 1]
    assert matrix_header.split() == ["fraud", "ok"]
    assert "\n" not in repr(report) and len(repr(report)) < 200
    assert repr(report).startswith("ImbalanceReport(FixedThresholdClassifier, binary")


# --------------------------------------------------------------------------- scoring


def test_scoring_keys_and_values_equal_the_report(binary_strings, wine):
    X_train, X_test, y_train, y_test = binary_strings
    clf = LogisticRegression().fit(X_train, y_train)
    for pos_label in (None, "fraud"):
        scoring = imbalance_scoring(pos_label)
        assert set(scoring) == SCORING_KEYS
        report = imbalance_report(clf, X_test, y_test, pos_label=pos_label)
        for name, scorer in scoring.items():
            expected = -report.brier_score if name == "neg_brier_score" else getattr(report, name)
            assert scorer(clf, X_test, y_test) == pytest.approx(expected), name
    clf, X, y = wine
    report = imbalance_report(clf, X, y)
    for name, scorer in imbalance_scoring().items():
        expected = -report.brier_score if name == "neg_brier_score" else getattr(report, name)
        assert scorer(clf, X, y) == pytest.approx(expected), name


def test_cross_validate_with_string_labels(binary_strings):
    X_train, _, y_train, _ = binary_strings
    # sklearn's own "f1" scorer fails on string labels; these resolve the positive class.
    cv = cross_validate(
        LogisticRegression(),
        X_train,
        y_train,
        scoring=imbalance_scoring(),
        cv=3,
        error_score="raise",
    )
    for key in SCORING_KEYS:
        assert np.all(np.isfinite(cv[f"test_{key}"])), key


def test_cross_validate_multiclass_and_grid_search(wine):
    _, X, y = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05))
    cv = cross_validate(model, X, y, scoring=imbalance_scoring(), cv=3, error_score="raise")
    for key in SCORING_KEYS:
        assert np.all(np.isfinite(cv[f"test_{key}"])), key
    search = GridSearchCV(
        model,
        {"logisticregression__C": [0.01, 1.0]},
        scoring=imbalance_scoring(),
        refit="balanced_accuracy",
        cv=3,
        error_score="raise",
    ).fit(X, y)
    assert search.best_score_ == pytest.approx(
        search.cv_results_["mean_test_balanced_accuracy"][search.best_index_]
    )


def test_scorer_rejects_pos_label_for_multiclass(wine):
    clf, X, y = wine
    with pytest.raises(TargetError, match="applies to binary targets"):
        imbalance_scoring(pos_label=0)["f1"](clf, X, y)


def test_scorers_pickle(binary):
    X_train, X_test, y_train, y_test = binary
    clf = LogisticRegression().fit(X_train, y_train)
    scoring = imbalance_scoring(pos_label=1)
    restored = pickle.loads(pickle.dumps(scoring))  # n_jobs > 1 ships scorers to workers
    for name, scorer in scoring.items():
        assert restored[name](clf, X_test, y_test) == scorer(clf, X_test, y_test)
    assert "f1" in repr(scoring["f1"])


def test_multiclass_brier_guard_on_old_sklearn(wine, monkeypatch):
    clf, X, y = wine

    def brier_without_labels(y_true, y_proba, *, sample_weight=None, pos_label=None):
        return brier_score_loss(y_true, y_proba, sample_weight=sample_weight, pos_label=pos_label)

    # scikit-learn < 1.7: brier_score_loss has no labels= and rejects multiclass.
    monkeypatch.setattr(safekeras.decision.metrics, "brier_score_loss", brier_without_labels)
    report = imbalance_report(clf, X, y)
    assert report.brier_score is None
    assert "brier_score         n/a" in str(report)
    assert json.loads(json.dumps(report.to_dict()))["brier_score"] is None
    with pytest.raises(NotImplementedError, match=r"scikit-learn >= 1\.7"):
        imbalance_scoring()["neg_brier_score"](clf, X, y)


def test_import_does_not_load_keras():
    code = "import sys, safekeras.metrics; assert 'keras' not in sys.modules, 'keras imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- safekeras


# A threshold tuned on a tiny validation split may warn that it is noisy: not the point here.
@pytest.mark.filterwarnings("ignore:Decision threshold")
def test_safekeras_classifier_threshold_and_pos_label(binary_strings):
    from safekeras import SafeKerasClassifier

    X_train, X_test, y_train, y_test = binary_strings
    # pos_label="fraud" is classes_[0]: the report must read pos_label_, not classes_[1].
    clf = SafeKerasClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0, pos_label="fraud")
    clf.fit(X_train, y_train)
    report = imbalance_report(clf, X_test, y_test)
    assert report.threshold == clf.threshold_
    assert report.threshold_source == "SafeKerasClassifier.threshold_"
    assert report.pos_label == clf.pos_label_ == "fraud"
    check_against_sklearn(report, clf, X_test, y_test, pos_label=clf.pos_label_)
    assert f"decision threshold: {clf.threshold_:.4f}" in str(report)
