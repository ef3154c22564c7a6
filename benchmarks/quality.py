"""Predictive quality: a default ``SafeKerasClassifier`` against what users write instead.

What is measured
----------------
Every contender is cross-validated with ``sklearn.model_selection.cross_validate``
on the same folds (``StratifiedKFold(--folds, shuffle=True, random_state=--seed)``),
one contender at a time, ``n_jobs=1``. ``cross_validate`` clones each contender
before every fold, as any scikit-learn search or pipeline does, so a wrapper
that loses its settings in ``clone`` is measured losing them.

Contenders (``CONTENDERS``; each is a function returning a fresh estimator for
a dataset, or None when it does not apply):

* **safekeras default**: ``SafeKerasClassifier(random_state=seed)`` with every
  default: the ``"auto"`` preprocessor (imputation, scaling, one-hot encoding
  of categories), the default MLP (``Dense(64) -> Dense(32)``, dropout 0.1,
  L2 1e-4), early stopping on a 15 % validation split (at most 200 epochs) and,
  for binary targets, ``threshold="auto"`` (for balanced accuracy, the positive
  class's share of the training rows: its Bayes rule, nothing tuned). No tuning
  by the benchmark.
* **careful Keras**: what a good Keras tutorial writes, built by
  ``contenders.make_careful_keras`` (``benchmarks/careful_keras.py``): median
  imputation and ``StandardScaler`` on the numbers, imputation and one-hot
  encoding of a DataFrame's other columns; ``Dense(64, relu) -> Dense(32,
  relu)`` with a sigmoid head and binary cross-entropy (binary) or a softmax
  head and sparse categorical cross-entropy; Adam, batch 32, at most 200 epochs
  (``--epochs`` caps it as it caps safekeras) with ``EarlyStopping(patience=10,
  restore_best_weights=True)`` on a stratified 20 % validation split;
  ``compute_class_weight("balanced")`` as per-row weights; threshold 0.5 /
  argmax. Seeded through its initialisers and a seeded ``tf.data`` shuffle, so
  it changes no global state.
* **Keras with pitfalls**: the "predict wrong" pitfalls safekeras prevents
  (``docs/pitfalls``), not a Keras tutorial (those scale their inputs),
  wrapped in a minimal scikit-learn classifier (``PitfallKerasClassifier``) so
  that ``cross_validate`` can run it: ``keras.utils.set_random_seed(seed)``, a
  ``Sequential`` MLP ``Dense(64, relu) -> Dense(32, relu)`` with a sigmoid head
  (binary, ``binary_crossentropy``) or a softmax head (multiclass,
  ``sparse_categorical_crossentropy``), Adam, ``model.fit(X, y,
  epochs=--keras-epochs, batch_size=32)``: no input scaling, no early
  stopping, no class weights; ``predict`` thresholds at 0.5 or takes the
  argmax. Labels are encoded with a ``LabelEncoder``. ``set_random_seed``
  changes global state, which the other contenders do not read: each seeds
  itself through ``random_state`` (or its builder).
* **keras SKLearnClassifier**: Keras' own wrapper,
  ``keras.wrappers.SKLearnClassifier(model=<builder>, model_kwargs={"seed":
  seed}, fit_kwargs={"epochs": --keras-epochs, "batch_size": 32, "verbose":
  0})`` after a ``StandardScaler``. It one-hot encodes the labels, so the
  builder returns the same MLP with a softmax head of one unit per class and
  ``categorical_crossentropy``; the builder seeds Keras. It has no
  ``predict_proba`` (PR-AUC and Brier are "n/a"), and its
  ``__sklearn_clone__`` does not pass ``fit_kwargs`` on: the epochs column
  shows what each cross-validation fold really trained.
* **SciKeras KerasClassifier** (when ``scikeras`` imports):
  ``scikeras.wrappers.KerasClassifier(model=<builder>, loss=<as Keras
  with pitfalls>, optimizer="adam", epochs=--keras-epochs, batch_size=32,
  verbose=0, random_state=seed)`` after a ``StandardScaler``; the builder returns
  the same network uncompiled and SciKeras compiles it. A seeded SciKeras fit
  can leave TensorFlow's op determinism on for the process: a fresh-process
  probe (``probe_scikeras``) measures that leak; should the flag be left on
  in-process, the benchmark records it and switches it back off.
* **MLP defaults**: ``make_pipeline(StandardScaler(),
  MLPClassifier(random_state=seed))``: scikit-learn's defaults (one hidden
  layer of 100, Adam, ``max_iter=200``, stops when the training loss stalls).
* **MLP early stopping**: the same with ``early_stopping=True``. Its early
  stopping watches validation *accuracy* on 10 % of the rows, which on small
  imbalanced data barely moves, so it may stop early (the epochs column).
* **MLP + tuned threshold**: ``TunedThresholdClassifierCV(<MLP early stopping>,
  scoring="balanced_accuracy")`` (5 internal fits and a refit). Binary data
  only: scikit-learn tunes no multiclass threshold.
* **HGB + tuned threshold**: ``TunedThresholdClassifierCV(
  HistGradientBoostingClassifier(categorical_features="from_dtype",
  random_state=seed), scoring="balanced_accuracy")``; on multiclass data, the
  plain ``HistGradientBoostingClassifier`` (argmax).
* **safekeras + user network** (``NETWORK_CONTENDERS``; images and sequences
  only): ``SafeKerasClassifier(model=<builder>, random_state=seed)``, every
  other setting at its default (``"auto"`` preprocessing is then the per-channel
  ``ChannelScaler``), on the N-d rows. On ``digits-images`` the builder returns
  ``Conv2D(16, 3, same) -> MaxPooling2D(2) -> Conv2D(32, 3, same) -> Flatten``
  and the head safekeras asks for; on ``sequences``, ``Conv1D(16, 5, same) ->
  Conv1D(16, 5, same) -> GlobalMaxPooling1D`` and the head. Every other
  contender gets the flat view of the same rows (``X.reshape(n, -1)``), on the
  same folds.

On the mixed-type DataFrame the peers cannot take strings or missing values,
so each is given the smallest encoding that lets it run: ``ColumnTransformer``
of ``SimpleImputer(strategy="median")`` on the numeric columns and
``SimpleImputer(strategy="most_frequent") + OneHotEncoder(handle_unknown=
"ignore")`` on the categorical ones, in front of its own steps (Keras with
pitfalls gets it without scaling); careful Keras encodes as described above.
HistGradientBoosting takes the frame as it is (``categorical_features=
"from_dtype"``, native missing values); safekeras takes it as it is too.

Datasets (all generated or bundled with scikit-learn; no download). Binary
datasets are coded so that the minority, positive class is 1:

``breast-cancer``
    ``load_breast_cancer`` relabelled 1 = malignant and made 1:9 with
    ``imblearn.datasets.make_imbalance`` (all 357 benign rows, 40 malignant).
``wine``
    ``load_wine``: 178 rows, 13 features, 3 classes.
``digits``
    ``load_digits``: 1797 rows, 64 pixel features (0 to 16), 10 classes.
``synthetic``
    ``make_classification(n_samples=--synthetic-rows, n_features=20,
    n_informative=6, weights=[0.95], flip_y=0.01)``: about 5 % positive.
``digits-images``
    ``load_digits`` as ``(1797, 8, 8, 1)`` images (pixels 0 to 16); the flat
    contenders get the same 64 pixels (so their scores equal ``digits``').
``sequences``
    ``--sequence-rows`` generated series of shape ``(n, 50, 1)``: Gaussian
    noise (sd 0.3) plus one ramp of width 10 and height 1 at a uniformly random
    position, rising slowly and dropping (class 1) or the mirror image (class
    0). Both classes hold the same values; only their order tells the class,
    wherever the ramp sits. Balanced: chance is 0.5 balanced accuracy.
``mixed``
    A generated pandas DataFrame (``--mixed-rows`` rows): 4 numeric columns
    (``age``, heavy-tailed ``income``, ``visits``, ``tenure``) with 5 to 10 %
    missing values and 3 categorical string columns (``region``, ``plan``,
    ``channel``; pandas ``category`` dtype, 3 % missing in ``region``); the
    label (about 10 % positive) is drawn from a logistic model of the numbers
    (log income) and the categories, with one step (tenure under 2 years) and
    one interaction (plan x channel): mostly smooth effects, which suit
    networks and linear models better than trees.

Metrics, computed by one scorer from each fitted fold's ``predict`` and
``predict_proba`` on the test rows:

* **balanced acc.**: ``balanced_accuracy_score`` (mean recall over classes).
* **PR-AUC**: ``average_precision_score`` of the positive-class probability;
  multiclass: the macro average over classes, one-vs-rest.
* **F1**: ``f1_score`` of the positive class; multiclass: macro average.
* **Brier**: ``brier_score_loss`` (lower is better); binary: the mean squared
  difference between the positive-class probability and the 0/1 label
  (0 to 1); multiclass: the mean over rows of the summed squared differences
  between the probability vector and the one-hot label (0 to 2). Multiclass
  probability rows are renormalised to sum to 1 first (float32 softmax
  rounding, which scikit-learn warns about).
Every win, tie and loss (each dataset's verdict, the headline, its summary) is
decided by one rule, :func:`benchmarks.paired.compare_paired`, whichever side is
safekeras: the mean of the per-fold differences must clear its 95 % corrected
resampled-t interval (Nadeau and Bengio, 2003), else it is a tie.

* **fit s/fold**: ``cross_validate``'s ``fit_time`` (wall clock; one process,
  contenders in turn, so sensitive to other load on the machine).
* **epochs/fold**: epochs (boosting iterations for HGB) of the final model a
  fold trained: ``n_epochs_``, the Keras history length, ``n_iter_``.
* **fits/fold**: models trained per fold (threshold tuning adds internal fits).

PR-AUC and Brier need probabilities: a contender without ``predict_proba``
shows "n/a". Each cell is the mean ± standard deviation over the folds.

scikit-learn's OpenMP and BLAS pools (HistGradientBoosting, MLPClassifier,
numpy) run at ``--threads`` (1) threads through ``threadpoolctl``;
TensorFlow's pools are left at their defaults. With two OpenMP threads next to
TensorFlow's pools on a busy 2-core machine, a HistGradientBoosting
cross-validation took 4 to 14 times as long as with one.

Runtime: the full run (7 datasets, 9 contenders, 5 folds) took 2168 s on a
2-core CPU shared with six other jobs (8.9 minutes of CPU time; careful Keras,
up to 200 epochs at batch 32, is the slowest contender); ``--quick`` (2 folds,
2 small datasets, 3 to 5 epochs) about 2 minutes there.

Run from the repository root::

    python benchmarks/quality.py                        # all datasets, 5 folds
    python -m benchmarks.quality --quick                # smoke run
    python benchmarks/quality.py --datasets wine,mixed --markdown quality.md
    python -m benchmarks                                # report and plots into docs/
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/quality.py`, Python puts benchmarks/ itself on sys.path, not the
# repository root that the `benchmarks.` imports below need; `python -m benchmarks.quality`
# (a package set) needs nothing.
if not __package__:
    _ROOT = str(Path(__file__).resolve().parents[1])
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)

import argparse
import contextlib
import datetime
import io
import platform
import time
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
)
from sklearn.model_selection import (
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import label_binarize
from threadpoolctl import threadpool_limits

from benchmarks.contenders import (
    CONTENDERS,
    NETWORK_CONTENDERS,
    TUNED_CV,
    Contender,
    make_pitfall_keras,
    make_safekeras,
    make_scikeras,
)
from benchmarks.datasets import (
    POSITIVE,
    Dataset,
    make_breast_cancer,
    make_digit_image_dataset,
    make_digits,
    make_mixed,
    make_sequences,
    make_synthetic,
    make_wine,
)
from benchmarks.quality_contract import (
    Contract,
    contract,
    disable_op_determinism,
    op_determinism_enabled,
    probe_scikeras,
    scikeras_status,
)
from benchmarks.quality_tables import DatasetResults, Result, Run, report
from benchmarks.report import describe_environment as environment_bullets
from benchmarks.report import fill_defaults, finish_report, prepare_keras, quiet_tensorflow_logger

DATASETS = ("breast-cancer", "wine", "digits", "synthetic", "mixed", "digits-images", "sequences")
QUICK_DATASETS = ("breast-cancer", "wine")

FULL = {
    "folds": 5,
    "epochs": None,  # None: SafeKerasClassifier's default (200, early stopping)
    "keras_epochs": 30,
    "mlp_max_iter": 200,
    "synthetic_rows": 4000,
    "mixed_rows": 3000,
    "sequence_rows": 2000,
}
QUICK = {
    "folds": 2,
    "epochs": 5,
    "keras_epochs": 3,
    "mlp_max_iter": 30,
    "synthetic_rows": 600,
    "mixed_rows": 600,
    "sequence_rows": 400,
}


# -- setup ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the quality benchmark (shared with ``benchmarks/run.py``)."""
    parser.add_argument("--folds", type=int, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, folds and models (0)")
    parser.add_argument(
        "--epochs",
        type=int,
        help="max epochs of safekeras and careful Keras (default: their own, 200)",
    )
    parser.add_argument(
        "--keras-epochs",
        type=int,
        help="epochs of Keras with pitfalls, keras SKLearnClassifier and SciKeras (30)",
    )
    parser.add_argument("--mlp-max-iter", type=int, help="max_iter of the MLP pipelines (200)")
    parser.add_argument("--synthetic-rows", type=int, help="rows of 'synthetic' (4000)")
    parser.add_argument("--mixed-rows", type=int, help="rows of 'mixed' (3000)")
    parser.add_argument("--sequence-rows", type=int, help="rows of 'sequences' (2000)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP and BLAS threads of the run (threadpoolctl; TensorFlow's pools are not "
        "affected); 0 leaves the libraries' defaults (default 1)",
    )
    parser.add_argument(
        "--datasets",
        help=f"comma-separated subset of {', '.join(DATASETS)} "
        f"(default all; --quick: {', '.join(QUICK_DATASETS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 folds, breast-cancer and wine, 3 Keras epochs, 5 safekeras epochs",
    )


def finish_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the ``--quick`` / full defaults (explicit flags win) and check the values."""
    fill_defaults(args, QUICK, FULL)  # explicit flags win
    if args.datasets is None:
        args.datasets = QUICK_DATASETS if args.quick else DATASETS
    else:
        args.datasets = tuple(name.strip() for name in args.datasets.split(",") if name.strip())
        unknown = sorted(set(args.datasets) - set(DATASETS))
        if unknown or not args.datasets:
            parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    for key in ("keras_epochs", "mlp_max_iter", "synthetic_rows", "mixed_rows", "sequence_rows"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be a positive integer")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if args.threads < 0:
        parser.error("--threads must be 0 (library defaults) or positive")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Cross-validate a default SafeKerasClassifier against careful Keras, "
        "Keras with pitfalls, Keras wrappers, scikit-learn's MLP and HistGradientBoosting.",
    )
    add_arguments(parser)
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = parser.parse_args(argv)
    finish_arguments(parser, args)
    return args


def describe_environment() -> str:
    """Versions, machine and date, as markdown bullets."""
    import imblearn
    import pandas

    extra = [("imbalanced-learn", imblearn.__version__), ("pandas", pandas.__version__)]
    version, reason = scikeras_status()
    extra.append(("scikeras", version or reason))
    return "\n".join(
        [
            environment_bullets(*extra),
            f"- machine: {cpu_model()}, {platform.system()} {platform.release()}",
            f"- date: {datetime.date.today().isoformat()}",
        ]
    )


def cpu_model() -> str:
    """The CPU's model name where the OS says it, else the processor field."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# -- datasets ------------------------------------------------------------------


def load_datasets(args: argparse.Namespace) -> list[Dataset]:
    makers = {
        "breast-cancer": lambda: make_breast_cancer(args.seed),
        "wine": lambda: make_wine(args.seed),
        "digits": lambda: make_digits(args.seed),
        "synthetic": lambda: make_synthetic(args.synthetic_rows, args.seed),
        "mixed": lambda: make_mixed(args.mixed_rows, args.seed),
        "digits-images": lambda: make_digit_image_dataset(args.seed),
        "sequences": lambda: make_sequences(args.sequence_rows, args.seed),
    }
    return [makers[name]() for name in args.datasets]


# -- scoring -------------------------------------------------------------------


def final_estimator(estimator):
    """The model at the end of pipelines and threshold tuners."""
    while True:
        if isinstance(estimator, Pipeline):
            estimator = estimator[-1]
        elif isinstance(estimator, TunedThresholdClassifierCV):
            # The refitted model once fitted; the template before (for is_classifier).
            estimator = getattr(estimator, "estimator_", estimator.estimator)
        else:
            return estimator


def epochs_trained(estimator) -> float:
    """Epochs (boosting iterations for HGB) the fitted final model trained; NaN if unknown."""
    model = final_estimator(estimator)
    for attribute in ("n_epochs_", "epochs_", "n_iter_"):
        if hasattr(model, attribute):
            return float(getattr(model, attribute))
    history = getattr(model, "history_", None)
    if history is not None:
        # keras' SKLearnClassifier keeps the History object, SciKeras a dict of lists.
        losses = history.history["loss"] if hasattr(history, "history") else history["loss"]
        return float(len(losses))
    return float("nan")


def models_trained(estimator) -> float:
    """Models one ``fit`` trained: threshold tuning adds internal fits."""
    if isinstance(estimator, TunedThresholdClassifierCV):
        return float(TUNED_CV + 1)
    model = final_estimator(estimator)
    search = getattr(model, "threshold_search_", None)
    if search is not None and not isinstance(search, list):
        return float(1 + search.n_folds)  # a threshold tuned out of fold
    return 1.0


def score(estimator, X, y) -> dict[str, float]:
    """Every metric of one fitted fold, from its ``predict`` and ``predict_proba``."""
    classes = list(estimator.classes_)
    predicted = estimator.predict(X)
    binary = len(classes) == 2
    scores = {
        "balanced_accuracy": balanced_accuracy_score(y, predicted),
        "f1": (
            f1_score(y, predicted, pos_label=POSITIVE, zero_division=0.0)
            if binary
            else f1_score(y, predicted, average="macro", zero_division=0.0)
        ),
        "pr_auc": float("nan"),
        "brier": float("nan"),
        "epochs": epochs_trained(estimator),
        "fits": models_trained(estimator),
    }
    if hasattr(estimator, "predict_proba"):  # keras' SKLearnClassifier has none
        proba = np.asarray(estimator.predict_proba(X), dtype=float)
        if binary:
            positive = proba[:, classes.index(POSITIVE)]
            scores["pr_auc"] = average_precision_score(y, positive, pos_label=POSITIVE)
            scores["brier"] = brier_score_loss(y, positive, pos_label=POSITIVE)
        else:
            # float32 softmax rows sum to 1 only up to rounding, which brier_score_loss warns of.
            proba = proba / proba.sum(axis=1, keepdims=True)
            onehot = label_binarize(y, classes=classes)
            scores["pr_auc"] = average_precision_score(onehot, proba, average="macro")
            scores["brier"] = brier_score_loss(y, proba, labels=classes)
    return {key: float(value) for key, value in scores.items()}


# -- cross-validation ----------------------------------------------------------


def run_contender(
    contender: Contender, dataset: Dataset, folds, args, *, inspect: bool = False
) -> tuple[Result, Contract | None]:
    """Cross-validate one contender on one dataset.

    Returns the result and, with ``inspect``, the contender's :class:`Contract`
    (measured on the estimator and the first fold's fitted model).
    """
    result = Result(contender.name, dataset.name)
    if contender.make is make_scikeras:
        version, reason = scikeras_status()
        if version is None:
            result.skipped = reason
            return result, None
    estimator = contender.make(dataset, args)
    if estimator is None:
        result.skipped = contender.not_applicable
        return result, None
    determinism_before = op_determinism_enabled()
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
        warnings.simplefilter("always")
        try:
            cv = cross_validate(
                estimator,
                dataset.tensor if contender.tensor else dataset.X,
                dataset.y,
                cv=folds,
                scoring=score,
                n_jobs=1,
                error_score="raise",
                return_estimator=inspect,
            )
        except Exception as error:  # a peer that cannot run here is a result, not a crash
            result.skipped = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
            cv = None
    result.printed = len(printed.getvalue())
    for warning in caught:
        name = warning.category.__name__
        result.warnings[name] += 1
        result.warning_examples.setdefault(name, " ".join(str(warning.message).split())[:160])
    if determinism_before is False and op_determinism_enabled():
        # A contender (SciKeras's random_state) left TensorFlow's op determinism on: record it,
        # then put the process back so that later contenders are not slowed down or broken.
        result.warnings["TensorFlow op determinism left on"] += 1
        disable_op_determinism()
    if cv is not None:
        result.scores = {
            key.removeprefix("test_"): np.asarray(values, dtype=float)
            for key, values in cv.items()
            if key.startswith("test_")
        }
        result.scores["fit_seconds"] = np.asarray(cv["fit_time"], dtype=float)
    terms = None
    if inspect and cv is not None:
        terms = contract(estimator, cv["estimator"][0], dataset)
    return result, terms


def warm_up(args) -> None:
    """Pay TensorFlow's one-time start-up costs before the first timed fit."""
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=args.seed)
    tiny = argparse.Namespace(**{**vars(args), "epochs": 1, "keras_epochs": 1})
    dataset = Dataset("warm-up", "", X, y)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for make in (make_safekeras, make_pitfall_keras):
            make(dataset, tiny).fit(X, y).predict_proba(X[:5])


def cross_validate_all(args, progress: Callable[[str], None] = print) -> Run:
    """Run every contender on every dataset of ``args``; ``progress`` gets a line per step."""
    started = time.perf_counter()
    environment = describe_environment()
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    contracts: dict[str, Contract] = {}
    printed: Counter = Counter()
    runs = []
    probe = None
    if scikeras_status()[0] is not None:
        probe = probe_scikeras()
        progress(f"  SciKeras side effects in a fresh process: {probe}")
    # Two spin-waiting OpenMP threads next to TensorFlow's pools made HistGradientBoosting 4 to
    # 14 times slower on a busy 2-core machine than one: one thread gives steadier timings.
    limits = threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    with quiet_tensorflow_logger(), limits:
        warm_up(args)
        for dataset in load_datasets(args):
            dataset_started = time.perf_counter()
            results = []
            networks = NETWORK_CONTENDERS if dataset.tensor is not None else ()
            for contender in (*CONTENDERS, *networks):
                contender_started = time.perf_counter()
                # The contract table measures the flat contenders on flat data only.
                inspect = not contender.tensor and contender.name not in contracts
                result, terms = run_contender(contender, dataset, folds, args, inspect=inspect)
                results.append(result)
                printed[contender.name] += result.printed
                if terms is not None:
                    contracts[contender.name] = terms
                progress(
                    f"  {dataset.name}: {contender.name}: "
                    f"{time.perf_counter() - contender_started:.1f} s"
                    + (f" ({result.skipped})" if result.skipped else "")
                )
            runs.append(DatasetResults(dataset, results, time.perf_counter() - dataset_started))
    return Run(
        args,
        environment,
        runs,
        contracts,
        dict(printed),
        probe,
        time.perf_counter() - started,
    )


# -- report --------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    """Run the benchmark, print the report and return it (markdown)."""
    started = time.perf_counter()
    print("# safekeras predictive quality\n", flush=True)
    result = cross_validate_all(args, progress=lambda line: print(line, flush=True))
    sections = report(result)
    print("\n\n".join(sections) + "\n", flush=True)
    quick_note = "Quick run: a smoke test only; the numbers say nothing about the contenders."
    return finish_report(sections, started, quick_note, args)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_keras()
    run(args)


if __name__ == "__main__":
    sys.exit(main())
