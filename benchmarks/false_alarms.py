"""False alarms and caught problems: ``ThresholdWarning``, ``DriftWarning`` and ``diagnose()``.

What is measured
----------------
A warning or finding that fires on a healthy default fit teaches users to ignore
it; one that stays quiet on a real problem is worse. This script counts both.

*Quiet* cases (every count should be 0):

* every dataset of ``benchmarks/quality.py`` (its own builders, imported), in
  ``StratifiedKFold(--folds, shuffle=True, random_state=--seed)``: a default
  ``SafeKerasClassifier(random_state=seed)`` per training fold; counted are the
  ``ThresholdWarning`` of its ``fit``, the findings of ``diagnose()`` and of
  ``diagnose(X_test, y_test)`` on the fold's test rows;
* README block 3 (``make_classification(1500, weights=[0.85, 0.15])``, a
  ``GridSearchCV`` of 4 settings x 3 folds at 40 epochs, then ``cross_validate``
  with 3 folds) and quickstart block 3 (600 rows, 2 settings x 3 folds at the
  default epochs, then ``cross_validate``): the warnings of every fit, the findings of
  ``diagnose`` on each cross-validated fold;
* ``explainers``: a default classifier on breast cancer, then
  ``permutation_importance`` and ``partial_dependence`` (6 features) on its
  held-out rows, and SHAP's KernelExplainer and PermutationExplainer on 20 of
  them when shap is installed: the ``DriftWarning`` they raise;
* ``class_weight={0: 1000, 1: 1e-4}``: scikit-learn's
  ``check_class_weight_classifiers`` data; the share of class-0 predictions must
  exceed 0.87 (the check's bar) with the default threshold, or it counts as an alarm.

*Caught* cases (each should alarm):

* ``few positives``: a threshold tuned on under 10 positives (``weights=[0.97]``,
  out of fold: every row) must warn;
* ``memorised noise``: random labels, a wide network, ``early_stopping=False``,
  default threshold: ``diagnose()`` without data must report overfitting (from
  the validation loss recorded on the split the threshold was tuned on), and with
  ``threshold=0.5`` too (nothing held out: "cannot tell");
* ``x255 batch``: the same classifier fed its held-out rows times 255 (the
  seeds' 0-255 pixels) at 1, 10 and 100 rows: each batch must warn;
* ``inverted labels``: breast cancer, ``diagnose(X_test, 1 - y_test)`` must
  report ``label_inversion``.

Run from the repository root::

    python benchmarks/false_alarms.py             # 5 folds, every dataset (about 3 minutes)
    python benchmarks/false_alarms.py --quick     # smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/false_alarms.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.false_alarms`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_breast_cancer, make_blobs, make_classification
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_validate,
    train_test_split,
)

from benchmarks import quality
from benchmarks.report import prepare_keras, quiet_tensorflow_logger

QUICK = {"folds": 2, "epochs": 5, "datasets": quality.QUICK_DATASETS, "search_epochs": 3}
FULL = {"folds": 5, "epochs": None, "datasets": quality.DATASETS, "search_epochs": None}


@dataclass
class Case:
    """The alarms one case raised, and whether it should have raised any."""

    name: str
    expect_alarm: bool
    fits: int = 0
    threshold_warnings: int = 0
    drift_warnings: int = 0
    findings: Counter = field(default_factory=Counter)  # diagnose() without data
    findings_given: Counter = field(default_factory=Counter)  # diagnose(X, y)
    note: str = ""
    seconds: float = 0.0

    @property
    def alarms(self) -> int:
        return (
            self.threshold_warnings
            + self.drift_warnings
            + sum(self.findings.values())
            + sum(self.findings_given.values())
        )

    @property
    def verdict(self) -> str:
        if self.expect_alarm:
            return "caught" if self.alarms else "MISSED"
        return "quiet" if self.alarms == 0 else "FALSE ALARM"

    def row(self) -> str:
        def names(counter):
            return ", ".join(f"{k} x{v}" for k, v in sorted(counter.items())) or "0"

        return (
            f"| {self.name} | {self.fits} | {self.threshold_warnings} | {self.drift_warnings} "
            f"| {names(self.findings)} "
            f"| {names(self.findings_given)} | {self.note} | {self.seconds:.0f} | {self.verdict} |"
        )


def _classifier(**params):
    from safekeras import SafeKerasClassifier

    return SafeKerasClassifier(**params)


def _count_warnings(record, name="ThresholdWarning") -> int:
    import safekeras

    category = getattr(safekeras, name)
    return sum(issubclass(item.category, category) for item in record)


def _cancer_split(args):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    params = {} if args.epochs is None else {"epochs": args.epochs}
    fitted = _classifier(random_state=args.seed, **params).fit(X_train, y_train)
    return fitted, X_train, X_test, y_test


def explainers_case(args) -> Case:
    """Inspection tools predict on rows built from real ones: no drift, no DriftWarning."""
    from sklearn.inspection import partial_dependence, permutation_importance

    case = Case("explainers (breast cancer, held-out rows)", expect_alarm=False, fits=1)
    fitted, X_train, X_test, y_test = _cancer_split(args)
    tools = ["permutation_importance", "partial_dependence x6"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        permutation_importance(fitted, X_test, y_test, n_repeats=5, random_state=0)
        for feature in range(6):
            partial_dependence(fitted, X_test, [feature], grid_resolution=20)
        try:
            import shap
        except ImportError:
            tools.append("shap not installed")
        else:
            explained = X_test[: 20 if not args.quick else 5]
            shap.KernelExplainer(fitted.predict_proba, X_train[:50]).shap_values(
                explained, nsamples=200, silent=True
            )
            shap.Explainer(fitted.predict_proba, X_train[:50], algorithm="permutation")(explained)
            tools.append(f"shap Kernel + Permutation on {len(explained)} rows")
    case.drift_warnings = _count_warnings(record, "DriftWarning")
    case.note = ", ".join(tools)
    return case


def pixels_case(args) -> Case:
    """The seeds' 0-255 batch: caught at 1, 10 and 100 rows."""
    case = Case("x255 batch at 1, 10, 100 rows (breast cancer)", expect_alarm=True, fits=1)
    fitted, _, X_test, _ = _cancer_split(args)
    caught = []
    for rows in (1, 10, 100):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fitted.predict_proba(X_test[:rows] * 255)
        caught.append(_count_warnings(record, "DriftWarning") > 0)
    case.drift_warnings = sum(caught)
    case.note = f"caught in {sum(caught)} of 3 batches"
    if not all(caught):  # every batch must be caught, not just one
        case.drift_warnings = 0
    return case


def _take(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _diagnose_into(case: Case, fitted, X_test, y_test) -> None:
    case.findings.update(fitted.diagnose().pitfalls)
    case.findings_given.update(fitted.diagnose(X_test, y_test).pitfalls)


def dataset_case(dataset, args) -> Case:
    """Default fits on each training fold of one quality dataset."""
    case = Case(f"{dataset.name} ({args.folds}-fold CV)", expect_alarm=False)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    params = {} if args.epochs is None else {"epochs": args.epochs}
    for train, test in folds.split(np.zeros(len(dataset.y)), dataset.y):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fitted = _classifier(random_state=args.seed, **params).fit(
                _take(dataset.X, train), dataset.y[train]
            )
        case.fits += 1
        case.threshold_warnings += _count_warnings(record)
        _diagnose_into(case, fitted, _take(dataset.X, test), dataset.y[test])
    return case


def docs_block_case(name, n_samples, grid, epochs, args) -> Case:
    """A docs example: GridSearchCV, then cross_validate with every fold diagnosed."""
    case = Case(name, expect_alarm=False)
    epochs = args.search_epochs or epochs
    params = {"random_state": 0} if epochs is None else {"epochs": epochs, "random_state": 0}
    X, y = make_classification(n_samples=n_samples, weights=[0.85, 0.15], random_state=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        search = GridSearchCV(_classifier(**params), grid, scoring="average_precision", cv=3).fit(
            X, y
        )
        scores = cross_validate(
            _classifier(**params),
            X,
            y,
            cv=3,
            return_estimator=True,
            return_indices=True,
        )
    n_settings = len(search.cv_results_["params"])
    case.fits = n_settings * 3 + 1 + 3
    case.threshold_warnings = _count_warnings(record)
    for fitted, test in zip(scores["estimator"], scores["indices"]["test"], strict=True):
        _diagnose_into(case, fitted, X[test], y[test])
    case.note = f"{n_settings} settings x 3 folds + refit, then 3 CV folds"
    return case


def few_positives_case(args) -> Case:
    case = Case("few positives (F1 threshold tuned on < 10)", expect_alarm=True)
    X, y = make_classification(
        n_samples=300, n_features=5, weights=[0.97], flip_y=0, random_state=0
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        # F1 is tuned on held-out rows (balanced accuracy's threshold is the training share).
        fitted = _classifier(
            threshold_scoring="f1", epochs=args.epochs or 40, random_state=args.seed
        ).fit(X, y)
    case.fits = 1 + fitted.threshold_search_.n_folds
    case.threshold_warnings = _count_warnings(record)
    case.note = f"{int(y.sum())} positives, tuned on {fitted.threshold_search_.source}"
    return case


def memorised_case(args, threshold) -> Case:
    label = "default threshold" if threshold == "auto" else "threshold=0.5, nothing held out"
    case = Case(f"memorised noise ({label})", expect_alarm=True)
    rng = np.random.default_rng(args.seed)
    n_rows = 120 if args.quick else 300
    X, y = rng.normal(size=(n_rows, 20)), rng.integers(0, 2, n_rows)
    fitted = _classifier(
        hidden_layer_sizes=(256, 256),
        dropout=0.0,
        l2=0.0,
        learning_rate=0.01,
        batch_size=16,
        epochs=60 if args.quick else 150,
        early_stopping=False,
        threshold=threshold,
        threshold_cv=None,
        random_state=args.seed,
    ).fit(X, y)
    case.fits = 1
    case.findings.update(fitted.diagnose().pitfalls)
    case.note = f"train loss {fitted.history_['loss'][-1]:.2g}"
    return case


def inverted_case(args) -> Case:
    case = Case("inverted labels (breast cancer, 1 - y_test)", expect_alarm=True)
    fitted, _, X_test, y_test = _cancer_split(args)
    case.fits = 1
    case.findings_given.update(fitted.diagnose(X_test, 1 - y_test).pitfalls)
    return case


def class_weight_case(args) -> Case:
    """sklearn's check_class_weight_classifiers data: the weights must decide."""
    X, y = make_blobs(centers=2, random_state=0, cluster_std=20)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5, random_state=0)
    fitted = _classifier(class_weight={0: 1000, 1: 1e-4}, random_state=0).fit(X_train, y_train)
    share = float(np.mean(fitted.predict(X_test) == 0))
    case = Case("class_weight={0: 1000, 1: 1e-4}", expect_alarm=False, fits=1)
    case.note = f"class-0 share of predictions {share:.2f} (sklearn's bar: > 0.87)"
    if share <= 0.87:
        case.findings["class_weight undone"] += 1
    return case


def run(args) -> list[Case]:
    cases = []
    makers = [
        *(lambda d=d: dataset_case(d, args) for d in quality.load_datasets(_quality_args(args))),
        lambda: docs_block_case(
            "README block 3",
            1500,
            {"hidden_layer_sizes": [(32,), (64, 32)], "dropout": [0.0, 0.2]},
            40,
            args,
        ),
        lambda: docs_block_case(
            "quickstart block 3", 600, {"hidden_layer_sizes": [(16,), (32, 16)]}, None, args
        ),
        lambda: explainers_case(args),
        lambda: class_weight_case(args),
        lambda: few_positives_case(args),
        lambda: pixels_case(args),
        lambda: memorised_case(args, "auto"),
        lambda: memorised_case(args, 0.5),
        lambda: inverted_case(args),
    ]
    for make in makers:
        started = time.perf_counter()
        case = make()
        case.seconds = time.perf_counter() - started
        print(case.row(), flush=True)
        cases.append(case)
    return cases


def _quality_args(args) -> argparse.Namespace:
    sizes = quality.QUICK if args.quick else quality.FULL
    return argparse.Namespace(
        datasets=args.datasets,
        seed=args.seed,
        synthetic_rows=sizes["synthetic_rows"],
        mixed_rows=sizes["mixed_rows"],
    )


def report(cases: list[Case]) -> str:
    header = (
        "| case | fits | ThresholdWarning | DriftWarning | diagnose() findings "
        "| diagnose(X, y) findings | note | s | verdict |\n"
        "|---|---:|---:|---:|---|---|---|---:|---|"
    )
    quiet = [case for case in cases if not case.expect_alarm]
    caught = [case for case in cases if case.expect_alarm]
    false_alarms = sum(case.alarms for case in quiet)
    missed = sum(case.verdict == "MISSED" for case in caught)
    summary = (
        f"\nFalse alarms: {false_alarms} over {sum(c.fits for c in quiet)} fits of "
        f"{len(quiet)} quiet cases; problems caught: {len(caught) - missed} of {len(caught)}."
    )
    return "\n".join([header, *(case.row() for case in cases)]) + "\n" + summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 folds, 2 small datasets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    prepare_keras()
    with quiet_tensorflow_logger():
        cases = run(args)
    print(report(cases))
    quiet_ok = all(case.alarms == 0 for case in cases if not case.expect_alarm)
    caught_ok = all(case.alarms for case in cases if case.expect_alarm)
    return 0 if quiet_ok and caught_ok else 1


if __name__ == "__main__":
    sys.exit(main())
