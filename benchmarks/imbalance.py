"""Imbalanced binary classification: safekeras's defaults against what users write by hand.

What is measured
----------------
Stratified k-fold cross-validation (``StratifiedKFold(--folds, shuffle=True,
random_state=--seed)``; the same folds for every arm) on two datasets in which
the positive class is the minority:

``synthetic``
    ``make_classification(n_samples=4000, n_features=20, n_informative=6,
    weights=[0.95, 0.05], flip_y=0.01, random_state=seed)``; class 1 (about
    5 %) is the positive class.
``breast-cancer``
    ``load_breast_cancer`` made 1:20 with ``imblearn.datasets.make_imbalance``:
    all 357 benign rows are kept and the malignant rows are subsampled to 18
    (``random_state=seed``). scikit-learn codes malignant as 0; it is relabelled
    to **1 = malignant** (the minority, positive class) and 0 = benign before
    anything is fitted, so every arm and every metric sees the minority as 1.
    Each test fold holds only 3 or 4 malignant rows, so this dataset shows
    how the arms behave when positives are scarce; expect large fold-to-fold
    variation.

Every arm is fitted on the fold's training rows only and scored on its test
rows:

* **safekeras default**: ``SafeKerasClassifier(random_state=seed)``:
  preprocessing fitted on the training split, early stopping, and
  ``threshold="auto"``, which for balanced accuracy is the positive class's
  share of the training rows (its Bayes rule; nothing is tuned). One network
  fit.
* **raw Keras @0.5**: a careful but naive user: ``StandardScaler`` fitted on
  the training fold, then the same architecture as safekeras's default MLP
  (``Dense(64, relu) -> Dropout(0.1) -> Dense(32, relu) -> Dropout(0.1) ->
  Dense(1, sigmoid)``, L2 ``1e-4`` on the hidden kernels), Adam,
  ``binary_crossentropy``, batch 256, ``--raw-epochs`` epochs, no early
  stopping, ``predict_proba > 0.5``. It is seeded with seeded Glorot-uniform
  initialisers and ``Dropout(seed=...)`` rather than
  ``keras.utils.set_random_seed``, which would change global state for the
  other arms; the data are passed as numpy arrays with ``shuffle=True``, whose
  shuffling draws on TensorFlow's global generator, so this arm varies
  slightly from run to run (the others are deterministic for a given seed).
* **safekeras class_weight="balanced", threshold=0.5**: class weighting
  instead of threshold tuning.
* **safekeras SMOTE, threshold=0.5**: ``sampler=SMOTE()``, applied to the
  training split only (its ``random_state`` follows the estimator's).
* **MLP + TunedThresholdClassifierCV**: scikit-learn's own recipe,
  ``TunedThresholdClassifierCV(make_pipeline(StandardScaler(),
  MLPClassifier(hidden_layer_sizes=(64, 32), early_stopping=True,
  max_iter=200, random_state=seed)), scoring="balanced_accuracy", cv=5,
  random_state=seed)``: 5 internal fits to tune the threshold plus one refit
  on the whole training fold, i.e. 6 network fits per fold.
* **MLP @0.5 (reference)**: the same scikit-learn pipeline without threshold
  tuning.

How to read the tables
----------------------
One table per dataset, one row per arm; each cell is the mean ± standard
deviation (``ddof=1``) over the folds:

* **balanced acc.**: ``balanced_accuracy_score`` of ``predict``: the mean of
  the recalls of both classes (0.5 = chance, whatever the imbalance). This is
  what ``threshold="auto"`` and the tuned MLP maximise.
* **F1**: ``f1_score`` of the positive class (``zero_division=0``: a fold with
  no predicted positive scores 0).
* **PR-AUC**: ``average_precision_score`` of the positive-class probability;
  it does not depend on the threshold, so it compares the networks' ranking
  alone. A random ranking scores the prevalence (about 0.05).
* **Brier**: ``brier_score_loss`` of the positive-class probability (lower is
  better): calibration plus sharpness. Class weights and SMOTE inflate the
  positive probabilities and so worsen it on purpose.
* **threshold**: the decision threshold applied (fixed 0.5, or the tuned one).
* **fit s/fold**: mean wall-clock seconds of ``fit`` (preprocessing included,
  prediction excluded); one process, arms run one after another, so it is
  sensitive to other load on the machine.
* **fits/fold**: networks trained per fold.
* **ThresholdWarnings**: number of :class:`safekeras.exceptions.ThresholdWarning`
  emitted by ``fit`` over all folds (the validation split held few positives
  or the tuned threshold moved many predictions); they are counted, not
  printed. Other warnings raised while an arm fits or predicts (e.g.
  scikit-learn's ``ConvergenceWarning``) are counted by category under the
  table.

Below each table a one-line verdict, computed from the numbers, compares
safekeras default with raw Keras @0.5 and with the tuned MLP; the ± there is
the standard deviation of the per-fold paired differences (same folds), and
"ahead in k/n folds" counts the folds where safekeras default scored higher.

Runtime: the full default run (both datasets, 5 folds, 6 arms) took about
2.5 minutes on a 2-core CPU (about 145 s wall clock, with other work running).

Run from the repository root::

    python benchmarks/imbalance.py                       # both datasets, 5 folds
    python -m benchmarks.imbalance --quick               # smoke run: 2 folds, tiny sizes
    python benchmarks/imbalance.py --datasets synthetic --markdown imbalance.md
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/imbalance.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.imbalance`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
)
from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# The raw Keras arm is the speed benchmarks' hand-written copy of the default safekeras MLP.
from benchmarks.contenders import BATCH_SIZE, HIDDEN_LAYER_SIZES, TUNED_CV, build_raw_model
from benchmarks.datasets import (
    POSITIVE,
    ArrayDataset,
    make_imbalance_breast_cancer,
    make_imbalance_synthetic,
)
from benchmarks.report import (
    describe_environment,
    fill_defaults,
    finish_report,
    prepare_keras,
    quiet_tensorflow_logger,
)

DATASETS = ("synthetic", "breast-cancer")

FULL = {"folds": 5, "rows": 4000, "epochs": 200, "raw_epochs": 50, "mlp_max_iter": 200}
QUICK = {"folds": 2, "rows": 1200, "epochs": 5, "raw_epochs": 5, "mlp_max_iter": 20}

ARM_DEFAULT = "safekeras default"
ARM_RAW = "raw Keras @0.5"
ARM_TUNED = "MLP + TunedThresholdClassifierCV"


# -- setup ---------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Cross-validate safekeras's imbalance handling against raw Keras and "
        "scikit-learn's tuned-threshold MLP.",
    )
    parser.add_argument("--folds", type=int, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, folds and arms (0)")
    parser.add_argument(
        "--raw-epochs", type=int, help="epochs of the raw Keras arm, no early stopping (50)"
    )
    parser.add_argument("--epochs", type=int, help="max epochs of the safekeras arms (200)")
    parser.add_argument("--rows", type=int, help="rows of the synthetic dataset (4000)")
    parser.add_argument(
        "--datasets",
        choices=["both", *DATASETS],
        default="both",
        help="which dataset(s) to run (default both)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 folds, 1200 synthetic rows, 5 epochs, MLP max_iter 20",
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables to PATH")
    args = parser.parse_args(argv)
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    for key in ("rows", "epochs", "raw_epochs"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    return args


def load_datasets(args: argparse.Namespace) -> list[ArrayDataset]:
    names = DATASETS if args.datasets == "both" else (args.datasets,)
    makers = {
        "synthetic": lambda: make_imbalance_synthetic(args.rows, args.seed),
        "breast-cancer": lambda: make_imbalance_breast_cancer(args.seed),
    }
    return [makers[name]() for name in names]


# -- the arms ------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    """What an arm leaves behind after ``fit``: enough to score the test rows."""

    proba: Callable[[np.ndarray], np.ndarray]  # probability of the positive class
    predict: Callable[[np.ndarray], np.ndarray]
    threshold: float
    n_fits: int  # networks trained


@dataclass(frozen=True)
class Arm:
    name: str
    fit: Callable[[np.ndarray, np.ndarray, argparse.Namespace], Fitted]


def fit_safekeras(X, y, args, **params) -> Fitted:
    from safekeras import SafeKerasClassifier

    clf = SafeKerasClassifier(epochs=args.epochs, random_state=args.seed, **params).fit(X, y)
    column = list(clf.classes_).index(POSITIVE)
    return Fitted(
        proba=lambda X: clf.predict_proba(X)[:, column],
        predict=clf.predict,
        threshold=float(clf.threshold_),
        # A tuned threshold (another scoring, an explicit threshold_cv) may add internal fits.
        n_fits=1 + (clf.threshold_search_.n_folds if clf.threshold_search_ else 0),
    )


def fit_raw_keras(X, y, args) -> Fitted:
    scaler = StandardScaler()
    x = scaler.fit_transform(X).astype(np.float32)
    model = build_raw_model(x.shape[1], args.seed)
    model.fit(
        x,
        y.astype(np.float32),
        epochs=args.raw_epochs,
        batch_size=BATCH_SIZE,
        shuffle=True,
        verbose=0,
    )

    def proba(X):
        return model.predict(scaler.transform(X).astype(np.float32), verbose=0).ravel()

    return Fitted(
        proba=proba,
        predict=lambda X: (proba(X) > 0.5).astype(int),
        threshold=0.5,
        n_fits=1,
    )


def make_mlp(args):
    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=HIDDEN_LAYER_SIZES,
            early_stopping=True,
            max_iter=args.mlp_max_iter,
            random_state=args.seed,
        ),
    )


def fit_tuned_mlp(X, y, args) -> Fitted:
    tuned = TunedThresholdClassifierCV(
        make_mlp(args), scoring="balanced_accuracy", cv=TUNED_CV, random_state=args.seed
    ).fit(X, y)
    column = list(tuned.classes_).index(POSITIVE)
    return Fitted(
        proba=lambda X: tuned.predict_proba(X)[:, column],
        predict=tuned.predict,
        threshold=float(tuned.best_threshold_),
        n_fits=TUNED_CV + int(bool(tuned.refit)),
    )


def fit_mlp(X, y, args) -> Fitted:
    mlp = make_mlp(args).fit(X, y)
    column = list(mlp.classes_).index(POSITIVE)
    return Fitted(
        proba=lambda X: mlp.predict_proba(X)[:, column],
        predict=mlp.predict,
        threshold=0.5,
        n_fits=1,
    )


def make_arms() -> list[Arm]:
    from imblearn.over_sampling import SMOTE

    return [
        Arm(ARM_DEFAULT, fit_safekeras),
        Arm(ARM_RAW, fit_raw_keras),
        Arm(
            'safekeras class_weight="balanced", threshold=0.5',
            lambda X, y, args: fit_safekeras(X, y, args, class_weight="balanced", threshold=0.5),
        ),
        Arm(
            "safekeras SMOTE, threshold=0.5",
            lambda X, y, args: fit_safekeras(X, y, args, sampler=SMOTE(), threshold=0.5),
        ),
        Arm(ARM_TUNED, fit_tuned_mlp),
        Arm("MLP @0.5 (reference)", fit_mlp),
    ]


# -- cross-validation ----------------------------------------------------------

METRICS = ("balanced_accuracy", "f1", "pr_auc", "brier", "threshold", "fit_seconds")


@dataclass
class ArmResult:
    name: str
    scores: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    fits: list[int] = field(default_factory=list)  # networks trained, per fold
    threshold_warnings: int = 0
    other_warnings: Counter = field(default_factory=Counter)

    @property
    def n_fits(self) -> float:
        return statistics.fmean(self.fits)

    def mean(self, metric: str) -> float:
        return statistics.fmean(self.scores[metric])

    def std(self, metric: str) -> float:
        values = self.scores[metric]
        return statistics.stdev(values) if len(values) > 1 else 0.0


def score_fold(result: ArmResult, arm: Arm, args, X_train, y_train, X_test, y_test) -> None:
    from safekeras.exceptions import ThresholdWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fitted = arm.fit(X_train, y_train, args)
        fit_seconds = time.perf_counter() - start
        proba = np.asarray(fitted.proba(X_test), dtype=float)
        predicted = np.asarray(fitted.predict(X_test))
    for warning in caught:
        if issubclass(warning.category, ThresholdWarning):
            result.threshold_warnings += 1
        else:
            result.other_warnings[warning.category.__name__] += 1
    result.fits.append(fitted.n_fits)
    for metric, value in (
        ("balanced_accuracy", balanced_accuracy_score(y_test, predicted)),
        ("f1", f1_score(y_test, predicted, pos_label=POSITIVE, zero_division=0.0)),
        ("pr_auc", average_precision_score(y_test, proba, pos_label=POSITIVE)),
        ("brier", brier_score_loss(y_test, proba, pos_label=POSITIVE)),
        ("threshold", fitted.threshold),
        ("fit_seconds", fit_seconds),
    ):
        result.scores[metric].append(float(value))


def cross_validate(dataset: ArrayDataset, arms: list[Arm], args) -> list[ArmResult]:
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    results = [ArmResult(arm.name) for arm in arms]
    for train, test in folds.split(dataset.X, dataset.y):
        for arm, result in zip(arms, results, strict=True):
            score_fold(
                result,
                arm,
                args,
                dataset.X[train],
                dataset.y[train],
                dataset.X[test],
                dataset.y[test],
            )
    return results


def warm_up(arms: list[Arm], args) -> None:
    """Pay TensorFlow's one-time start-up costs before any timed fit."""
    X, y = make_classification(n_samples=300, weights=[0.8, 0.2], random_state=args.seed)
    tiny = argparse.Namespace(**{**vars(args), "epochs": 1, "raw_epochs": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for arm in arms:
            if arm.name in (ARM_DEFAULT, ARM_RAW):
                fitted = arm.fit(X, y, tiny)
                fitted.proba(X[:5])


# -- report --------------------------------------------------------------------


def mean_std(result: ArmResult, metric: str, digits: int = 3) -> str:
    return f"{result.mean(metric):.{digits}f} ± {result.std(metric):.{digits}f}"


def format_table(results: list[ArmResult]) -> str:
    lines = [
        "| arm | balanced acc. | F1 | PR-AUC | Brier | threshold | fit s/fold | fits/fold "
        "| ThresholdWarnings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {mean_std(r, 'balanced_accuracy')} | {mean_std(r, 'f1')} "
            f"| {mean_std(r, 'pr_auc')} | {mean_std(r, 'brier')} | {mean_std(r, 'threshold', 2)} "
            f"| {r.mean('fit_seconds'):.2f} | {r.n_fits:g} | {r.threshold_warnings} |"
        )
    return "\n".join(lines)


def paired(a: ArmResult, b: ArmResult, metric: str) -> str:
    diffs = [x - y for x, y in zip(a.scores[metric], b.scores[metric], strict=True)]
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    ahead = sum(d > 0 for d in diffs)
    return f"{statistics.fmean(diffs):+.3f} ± {spread:.3f} (ahead in {ahead}/{len(diffs)} folds)"


def verdict(results: list[ArmResult]) -> str:
    by_name = {r.name: r for r in results}
    default, raw, tuned = by_name[ARM_DEFAULT], by_name[ARM_RAW], by_name[ARM_TUNED]
    fits = f"{default.n_fits / tuned.n_fits:.2g}"
    time_ratio = default.mean("fit_seconds") / tuned.mean("fit_seconds")
    best = max(results, key=lambda r: r.mean("balanced_accuracy"))
    return (
        f"**Verdict**: {ARM_DEFAULT} vs {ARM_RAW}: balanced accuracy "
        f"{paired(default, raw, 'balanced_accuracy')}, F1 {paired(default, raw, 'f1')}; "
        f"vs tuned MLP: balanced accuracy {paired(default, tuned, 'balanced_accuracy')} "
        f"at {fits}x its network fits ({time_ratio:.2f}x its fit time). "
        f"Best mean balanced accuracy: {best.name} ({best.mean('balanced_accuracy'):.3f})."
    )


def format_notes(results: list[ArmResult]) -> str:
    notes = []
    for r in results:
        if r.other_warnings:
            counts = ", ".join(f"{n} {name}" for name, n in sorted(r.other_warnings.items()))
            notes.append(f"{r.name}: {counts}")
    return "Other warnings (count over folds): " + ("; ".join(notes) if notes else "none") + "."


def report_dataset(dataset: ArrayDataset, results: list[ArmResult], args) -> str:
    positives = int(np.sum(dataset.y == POSITIVE))
    return "\n".join(
        [
            f"## {dataset.name}\n",
            f"{dataset.description}: {len(dataset.y)} rows x {dataset.X.shape[1]} features, "
            f"{positives} positive ({positives / len(dataset.y):.1%}); "
            f"StratifiedKFold({args.folds}, shuffle=True, random_state={args.seed}), "
            "mean ± std over folds.\n",
            format_table(results),
            "",
            verdict(results),
            "",
            format_notes(results),
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    import imblearn

    started = time.perf_counter()
    header = "\n".join(
        [
            "# safekeras on imbalanced binary data: cross-validated comparison\n",
            describe_environment(("imbalanced-learn", imblearn.__version__)),
            f"- safekeras arms: max {args.epochs} epochs (early stopping); raw Keras: "
            f"{args.raw_epochs} epochs; MLP max_iter {args.mlp_max_iter}; seed {args.seed}\n",
        ]
    )
    print(header, flush=True)
    arms = make_arms()
    with quiet_tensorflow_logger():
        warm_up(arms, args)
        sections = []
        for dataset in load_datasets(args):
            section = report_dataset(dataset, cross_validate(dataset, arms, args), args)
            print(section + "\n", flush=True)
            sections.append(section)
    quick_note = "Quick run: a smoke test only; the numbers say nothing about the arms."
    return finish_report([header, *sections], started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
