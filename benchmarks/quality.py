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
  for binary targets, ``threshold="auto"`` (tuned for balanced accuracy; out of
  fold by 5 internal fits when the validation split would hold fewer than 20
  rows of a class). No tuning by the benchmark.
* **naive Keras**: what the Keras tutorials write, wrapped in a minimal
  scikit-learn classifier (``NaiveKerasClassifier``) so that ``cross_validate``
  can run it: ``keras.utils.set_random_seed(seed)``, a ``Sequential`` MLP
  ``Dense(64, relu) -> Dense(32, relu)`` with a sigmoid head (binary,
  ``binary_crossentropy``) or a softmax head (multiclass,
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
  ``scikeras.wrappers.KerasClassifier(model=<builder>, loss=<as naive
  Keras>, optimizer="adam", epochs=--keras-epochs, batch_size=32, verbose=0,
  random_state=seed)`` after a ``StandardScaler``; the builder returns the
  naive network uncompiled and SciKeras compiles it. With ``random_state``
  set, SciKeras switches TensorFlow's op determinism on around its fit, and
  leaves it on for the whole process when nothing read TensorFlow's
  determinism flag before (TensorFlow caches the flag on first read, and
  SciKeras reads it after setting ``TF_DETERMINISTIC_OPS``). In this
  benchmark's process earlier fits have read it, so a fresh-process probe
  (``probe_scikeras``) measures the leak and what it does to a Keras fit
  that follows; should the flag still be left on in-process, the benchmark
  records it and switches it back off so that later contenders run as they
  would on their own.
* **MLP pipeline**: ``make_pipeline(StandardScaler(),
  MLPClassifier(early_stopping=True, random_state=seed))``, otherwise
  scikit-learn's defaults (one hidden layer of 100, ``max_iter=200``). Its
  early stopping watches validation *accuracy*, which on imbalanced data
  barely moves, so it may stop early (the epochs column).
* **MLP + tuned threshold**: ``TunedThresholdClassifierCV(<MLP pipeline>,
  scoring="balanced_accuracy")`` (5 internal fits and a refit). Binary data
  only: scikit-learn tunes no multiclass threshold.
* **HGB + tuned threshold**: ``TunedThresholdClassifierCV(
  HistGradientBoostingClassifier(categorical_features="from_dtype",
  random_state=seed), scoring="balanced_accuracy")``; on multiclass data, the
  plain ``HistGradientBoostingClassifier`` (argmax).

On the mixed-type DataFrame the peers cannot take strings or missing values,
so each is given the smallest encoding that lets it run: ``ColumnTransformer``
of ``SimpleImputer(strategy="median")`` on the numeric columns and
``SimpleImputer(strategy="most_frequent") + OneHotEncoder(handle_unknown=
"ignore")`` on the categorical ones, in front of its own steps (naive Keras
gets it without scaling, as the tutorial would). HistGradientBoosting takes
the frame as it is (``categorical_features="from_dtype"``, native missing
values); safekeras takes it as it is too.

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

Runtime: the full run (5 datasets, 5 folds, 7 contenders) took 184 and 216 s in
two runs on a 2-core CPU (same scores both times; peak RSS 1.4 GB); ``--quick``
(2 folds, 2 small datasets, 3 to 5 epochs) about 25 s, most of it TensorFlow's
start-up and the SciKeras probe.

Run from the repository root::

    python benchmarks/quality.py                        # all datasets, 5 folds
    python -m benchmarks.quality --quick                # smoke run
    python benchmarks/quality.py --datasets wine,mixed --markdown quality.md
    python -m benchmarks                                # report and plots into docs/
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_digits, load_wine, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    get_scorer,
)
from sklearn.model_selection import (
    StratifiedKFold,
    TunedThresholdClassifierCV,
    check_cv,
    cross_validate,
)
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler, label_binarize
from threadpoolctl import threadpool_limits

try:
    from benchmarks.imbalance import imbalanced_breast_cancer
    from benchmarks.overhead import describe_environment as overhead_environment
    from benchmarks.overhead import (
        finish_report,
        prepare_keras,
        quiet_tensorflow_logger,
    )
except ImportError:  # run as a script: benchmarks/ itself is on sys.path
    from imbalance import imbalanced_breast_cancer
    from overhead import describe_environment as overhead_environment
    from overhead import finish_report, prepare_keras, quiet_tensorflow_logger

POSITIVE = 1  # every binary dataset is coded so that the minority class is 1
HIDDEN_LAYER_SIZES = (64, 32)  # the naive and wrapped Keras networks: safekeras's default sizes
KERAS_BATCH_SIZE = 32  # Keras' own default, which the tutorials keep
TUNED_CV = 5  # TunedThresholdClassifierCV's default internal folds

DATASETS = ("breast-cancer", "wine", "digits", "synthetic", "mixed")
QUICK_DATASETS = ("breast-cancer", "wine")
BREAST_CANCER_COUNTS = {"benign": 357, "malignant": 40}  # 1:9, about 10 % positive

FULL = {
    "folds": 5,
    "epochs": None,  # None: SafeKerasClassifier's default (200, early stopping)
    "keras_epochs": 30,
    "mlp_max_iter": 200,
    "synthetic_rows": 4000,
    "mixed_rows": 3000,
}
QUICK = {
    "folds": 2,
    "epochs": 5,
    "keras_epochs": 3,
    "mlp_max_iter": 30,
    "synthetic_rows": 600,
    "mixed_rows": 600,
}

SAFEKERAS = "safekeras default"
NAIVE = "naive Keras"
KERAS_WRAPPER = "keras SKLearnClassifier"
SCIKERAS = "SciKeras KerasClassifier"
MLP = "MLP pipeline"
MLP_TUNED = "MLP + tuned threshold"
HGB = "HGB + tuned threshold"
# The headline table and plots compare these (the wrappers are in the per-dataset tables).
HEADLINE = (SAFEKERAS, NAIVE, MLP, MLP_TUNED, HGB)
METRICS = ("balanced_accuracy", "pr_auc", "f1", "brier")
METRIC_LABELS = {
    "balanced_accuracy": "balanced acc.",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "brier": "Brier",
}
HIGHER_IS_BETTER = {"balanced_accuracy": True, "pr_auc": True, "f1": True, "brier": False}


# -- setup ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the quality benchmark (shared with ``benchmarks/run.py``)."""
    parser.add_argument("--folds", type=int, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, folds and models (0)")
    parser.add_argument(
        "--epochs", type=int, help="max epochs of safekeras (default: its own, 200)"
    )
    parser.add_argument(
        "--keras-epochs",
        type=int,
        help="epochs of naive Keras, keras SKLearnClassifier and SciKeras (30)",
    )
    parser.add_argument("--mlp-max-iter", type=int, help="max_iter of the MLP pipelines (200)")
    parser.add_argument("--synthetic-rows", type=int, help="rows of 'synthetic' (4000)")
    parser.add_argument("--mixed-rows", type=int, help="rows of 'mixed' (3000)")
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
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.datasets is None:
        args.datasets = QUICK_DATASETS if args.quick else DATASETS
    else:
        args.datasets = tuple(name.strip() for name in args.datasets.split(",") if name.strip())
        unknown = sorted(set(args.datasets) - set(DATASETS))
        if unknown or not args.datasets:
            parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    for key in ("keras_epochs", "mlp_max_iter", "synthetic_rows", "mixed_rows"):
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
        description="Cross-validate a default SafeKerasClassifier against naive Keras, "
        "Keras wrappers, scikit-learn's MLP and HistGradientBoosting.",
    )
    add_arguments(parser)
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = parser.parse_args(argv)
    finish_arguments(parser, args)
    return args


def scikeras_status() -> tuple[str | None, str]:
    """SciKeras's version and ``""``, or None and why it cannot be used here."""
    try:
        import scikeras
        from scikeras.wrappers import KerasClassifier  # noqa: F401
    except ImportError as error:
        return None, f"not installed ({error})"
    except Exception as error:  # installed, but does not import with this Keras
        return None, f"does not import: {type(error).__name__}: {error}"
    return getattr(scikeras, "__version__", "?"), ""


def describe_environment() -> str:
    """Versions, machine and date, as markdown bullets."""
    import imblearn
    import pandas

    extra = [("imbalanced-learn", imblearn.__version__), ("pandas", pandas.__version__)]
    version, reason = scikeras_status()
    extra.append(("scikeras", version or reason))
    return "\n".join(
        [
            overhead_environment(*extra),
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


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset.

    Attributes
    ----------
    name : str
        Its key in ``DATASETS``.
    description : str
        How it was made, for the report.
    X : ndarray or pandas.DataFrame
    y : ndarray
        Integer labels; for binary data 1 is the minority, positive class.
    mixed : bool
        Whether ``X`` is a DataFrame with categorical and missing values, for
        which the peers need an encoder.
    """

    name: str
    description: str
    X: object
    y: np.ndarray
    mixed: bool = False

    @property
    def binary(self) -> bool:
        return len(np.unique(self.y)) == 2

    @property
    def summary(self) -> str:
        rows, columns = self.X.shape
        if self.binary:
            positives = int(np.sum(self.y == POSITIVE))
            labels = f"{positives} positive ({positives / rows:.1%})"
        else:
            counts = np.bincount(self.y)
            labels = f"{len(counts)} classes ({counts.min()} to {counts.max()} rows each)"
        return f"{rows} rows x {columns} columns, {labels}"


def make_breast_cancer(seed: int) -> Dataset:
    X, y = imbalanced_breast_cancer(BREAST_CANCER_COUNTS, seed)
    return Dataset(
        "breast-cancer",
        "load_breast_cancer relabelled 1 = malignant, made 1:9 with make_imbalance("
        f"{BREAST_CANCER_COUNTS['benign']} benign, {BREAST_CANCER_COUNTS['malignant']} "
        f"malignant, random_state={seed})",
        X,
        y,
    )


def make_wine(seed: int) -> Dataset:
    X, y = load_wine(return_X_y=True)
    return Dataset("wine", "load_wine (multiclass)", X, y)


def make_digits(seed: int) -> Dataset:
    X, y = load_digits(return_X_y=True)
    return Dataset("digits", "load_digits, pixels 0 to 16 (multiclass)", X, y)


def make_synthetic(rows: int, seed: int) -> Dataset:
    X, y = make_classification(
        n_samples=rows,
        n_features=20,
        n_informative=6,
        weights=[0.95],
        flip_y=0.01,
        random_state=seed,
    )
    return Dataset(
        "synthetic",
        f"make_classification(n_samples={rows}, n_features=20, n_informative=6, "
        f"weights=[0.95], flip_y=0.01, random_state={seed})",
        X,
        y,
    )


def make_mixed(rows: int, seed: int) -> Dataset:
    """A customer-like DataFrame: numbers on different scales, string categories, gaps."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    regions = np.array(["north", "south", "east", "west", "centre", "coast", "hills", "islands"])
    region_shares = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.06, 0.04, 0.03])
    plans = np.array(["basic", "plus", "pro"])
    channels = np.array(["web", "store", "phone", "partner"])
    age = rng.normal(45, 12, rows).clip(18, 90).round()
    income = rng.lognormal(10.5, 0.7, rows)  # heavy right tail: thousands to millions
    visits = rng.poisson(3, rows).astype(float)
    tenure = rng.uniform(0, 20, rows)
    region = rng.choice(len(regions), rows, p=region_shares)
    plan = rng.choice(len(plans), rows, p=[0.6, 0.3, 0.1])
    channel = rng.choice(len(channels), rows, p=[0.5, 0.25, 0.15, 0.1])
    # The signal mixes numbers (on their natural scales) and categories, mostly smooth
    # (logistic in age, log income, visits, tenure) plus a step (the first two years of
    # tenure) and an interaction (plan "pro" bought through a partner), which trees find
    # easily; the intercept keeps about 10 % positive.
    logit = -4.8 + 2.0 * (
        0.035 * (age - 45)
        - 0.6 * (np.log(income) - 10.5)
        + 0.25 * (visits - 3)
        - 0.08 * (tenure - 10)
        + 0.5 * (tenure < 2)
        + np.array([0.0, 0.3, -0.2, 0.2, 0.0, 1.2, -0.5, 1.5])[region]
        + np.array([0.0, 0.5, 1.3])[plan]
        + np.array([0.0, -0.4, 0.6, 0.9])[channel]
        + 1.0 * ((plan == 2) & (channel == 3))
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "visits": visits,
            "tenure": tenure,
            "region": pd.Categorical(regions[region], categories=regions),
            "plan": pd.Categorical(plans[plan], categories=plans),
            "channel": pd.Categorical(channels[channel], categories=channels),
        }
    )
    for column, share in (("age", 0.05), ("income", 0.10), ("visits", 0.05), ("region", 0.03)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return Dataset(
        "mixed",
        f"generated DataFrame ({rows} rows, seed {seed}): age, income (lognormal), visits, "
        "tenure, and string categories region (8), plan (3), channel (4) as pandas "
        "'category' dtype; 5 to 10 % missing in age, income, visits, 3 % in region",
        frame,
        y,
        mixed=True,
    )


def load_datasets(args: argparse.Namespace) -> list[Dataset]:
    makers = {
        "breast-cancer": lambda: make_breast_cancer(args.seed),
        "wine": lambda: make_wine(args.seed),
        "digits": lambda: make_digits(args.seed),
        "synthetic": lambda: make_synthetic(args.synthetic_rows, args.seed),
        "mixed": lambda: make_mixed(args.mixed_rows, args.seed),
    }
    return [makers[name]() for name in args.datasets]


# -- the naive Keras classifier --------------------------------------------------


def build_tutorial_network(n_features: int, n_outputs: int, activation: str):
    """``Input -> Dense(64, relu) -> Dense(32, relu) -> Dense(n_outputs, activation)``."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            *(keras.layers.Dense(units, activation="relu") for units in HIDDEN_LAYER_SIZES),
            keras.layers.Dense(n_outputs, activation=activation),
        ]
    )


class NaiveKerasClassifier(ClassifierMixin, BaseEstimator):
    """The tutorial's Keras model, made cross-validatable and nothing more.

    Parameters
    ----------
    epochs : int, default=30
        Epochs of ``model.fit``; no early stopping.
    batch_size : int, default=32
        Keras' default.
    random_state : int, default=0
        Passed to ``keras.utils.set_random_seed`` before the network is built,
        as the Keras reproducibility recipe does (it seeds Python, numpy and
        the backend globally).

    Attributes
    ----------
    classes_ : ndarray
        The labels, from a ``LabelEncoder``.
    model_ : keras.Model
        The trained network.
    epochs_ : int
        Epochs trained.
    """

    def __init__(self, epochs=30, batch_size=KERAS_BATCH_SIZE, random_state=0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        import keras

        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        target = self.encoder_.transform(y)
        binary = len(self.classes_) == 2
        keras.utils.set_random_seed(self.random_state)
        model = build_tutorial_network(
            np.shape(X)[1],
            1 if binary else len(self.classes_),
            "sigmoid" if binary else "softmax",
        )
        model.compile(
            optimizer="adam",
            loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        )
        # No scaling, no validation split, no class weights: the tutorial's fit.
        history = model.fit(
            np.asarray(X, dtype=np.float32),
            target,
            epochs=self.epochs,
            batch_size=self.batch_size,
            verbose=0,
        )
        self.model_ = model
        self.epochs_ = len(history.history["loss"])
        return self

    def predict_proba(self, X):
        output = self.model_.predict(np.asarray(X, dtype=np.float32), verbose=0)
        if output.shape[1] == 1:
            return np.hstack([1.0 - output, output])
        return output

    def predict(self, X):
        # argmax of [1 - p, p] is the tutorial's "p > 0.5".
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# -- the Keras wrappers' builders ----------------------------------------------


def build_for_keras_wrapper(X, y, seed=0):
    """Builder for ``keras.wrappers.SKLearnClassifier``, which one-hot encodes ``y``."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_tutorial_network(X.shape[1], y.shape[1], "softmax")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def build_for_scikeras(meta):
    """Builder for SciKeras: the naive network, left for SciKeras to compile."""
    n_classes = meta["n_classes_"]
    binary = n_classes == 2
    return build_tutorial_network(
        meta["n_features_in_"], 1 if binary else n_classes, "sigmoid" if binary else "softmax"
    )


def op_determinism_enabled() -> bool | None:
    """Whether TensorFlow's op determinism is on (None when TensorFlow is not the backend)."""
    try:
        from tensorflow.python.framework import config
    except ImportError:
        return None
    return bool(config.is_op_determinism_enabled())


def disable_op_determinism() -> None:
    from tensorflow.python.framework import config

    config.disable_op_determinism()


# What a seeded SciKeras fit leaves behind, run in a fresh interpreter: TensorFlow caches its
# op-determinism flag on first use, so the leak shows only where SciKeras's fit is the first
# TensorFlow code to use randomness (in this benchmark's process, earlier fits have already
# read the flag and it does not show).
SCIKERAS_PROBE = """
import json
import numpy as np
import keras
from scikeras.wrappers import KerasClassifier
from tensorflow.python.framework import config

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (X[:, 0] > 0).astype(int)

def network(meta=None):
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")]
    )

def attempt(fit):
    try:
        fit()
        return "ran"
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"

def keras_fit():
    model = network()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(X, y, epochs=1, verbose=0)

KerasClassifier(network, loss="binary_crossentropy", epochs=1, verbose=0, random_state=0).fit(X, y)
found = {"left_on": bool(config.is_op_determinism_enabled()), "keras_fit": attempt(keras_fit)}
from safekeras import SafeKerasClassifier
found["safekeras_fit"] = attempt(
    lambda: SafeKerasClassifier(epochs=1, threshold=0.5, random_state=0).fit(X, y)
)
print(json.dumps(found))
"""


def probe_scikeras() -> dict:
    """Run ``SCIKERAS_PROBE`` in a fresh interpreter.

    Returns
    -------
    dict
        ``left_on`` (TensorFlow's op determinism after one seeded SciKeras fit),
        ``keras_fit`` and ``safekeras_fit`` (``"ran"`` or the error of a plain
        Keras fit and a seeded safekeras fit after it); or ``error`` when the
        probe itself failed.
    """
    import json
    import os
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCIKERAS_PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


# -- contenders ----------------------------------------------------------------


def encoder(dataset: Dataset):
    """The smallest encoding that lets a peer take the mixed frame; None for numeric data."""
    if not dataset.mixed:
        return None
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            (
                "numbers",
                SimpleImputer(strategy="median"),
                make_column_selector(dtype_include="number"),
            ),
            ("categories", categories, make_column_selector(dtype_include="category")),
        ]
    )


def pipeline(dataset: Dataset, *steps):
    """``make_pipeline(<encoder if needed>, *steps)``, or the estimator alone."""
    steps = [step for step in (encoder(dataset), *steps) if step is not None]
    return steps[0] if len(steps) == 1 else make_pipeline(*steps)


def make_safekeras(dataset: Dataset, args):
    from safekeras import SafeKerasClassifier

    params = {} if args.epochs is None else {"epochs": args.epochs}
    return SafeKerasClassifier(random_state=args.seed, **params)


def make_naive(dataset: Dataset, args):
    return pipeline(dataset, NaiveKerasClassifier(epochs=args.keras_epochs, random_state=args.seed))


def make_keras_wrapper(dataset: Dataset, args):
    from keras.wrappers import SKLearnClassifier

    return pipeline(
        dataset,
        StandardScaler(),
        SKLearnClassifier(
            model=build_for_keras_wrapper,
            model_kwargs={"seed": args.seed},
            fit_kwargs={
                "epochs": args.keras_epochs,
                "batch_size": KERAS_BATCH_SIZE,
                "verbose": 0,
            },
        ),
    )


def make_scikeras(dataset: Dataset, args):
    from scikeras.wrappers import KerasClassifier

    return pipeline(
        dataset,
        StandardScaler(),
        KerasClassifier(
            model=build_for_scikeras,
            loss="binary_crossentropy" if dataset.binary else "sparse_categorical_crossentropy",
            optimizer="adam",
            epochs=args.keras_epochs,
            batch_size=KERAS_BATCH_SIZE,
            verbose=0,
            random_state=args.seed,
        ),
    )


def make_mlp(dataset: Dataset, args):
    return pipeline(
        dataset,
        StandardScaler(),
        MLPClassifier(early_stopping=True, max_iter=args.mlp_max_iter, random_state=args.seed),
    )


def make_mlp_tuned(dataset: Dataset, args):
    if not dataset.binary:
        return None  # TunedThresholdClassifierCV is binary only
    return TunedThresholdClassifierCV(
        make_mlp(dataset, args), scoring="balanced_accuracy", cv=TUNED_CV
    )


def make_hgb(dataset: Dataset, args):
    hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=args.seed)
    if not dataset.binary:
        return hgb  # no threshold to tune: argmax
    return TunedThresholdClassifierCV(hgb, scoring="balanced_accuracy", cv=TUNED_CV)


@dataclass(frozen=True)
class Contender:
    """One line of the tables.

    Attributes
    ----------
    name : str
    make : callable
        ``make(dataset, args)`` returns a fresh estimator, or None where the
        contender does not apply (the table says why: ``not_applicable``).
    not_applicable : str
        Shown where ``make`` returns None.
    """

    name: str
    make: Callable[[Dataset, argparse.Namespace], object]
    not_applicable: str = "n/a"


CONTENDERS = (
    Contender(SAFEKERAS, make_safekeras),
    Contender(NAIVE, make_naive),
    Contender(KERAS_WRAPPER, make_keras_wrapper),
    Contender(SCIKERAS, make_scikeras),
    Contender(MLP, make_mlp),
    Contender(MLP_TUNED, make_mlp_tuned, "n/a (binary only)"),
    Contender(HGB, make_hgb),
)


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
        return float(1 + search.n_folds)  # threshold_cv="auto" tuned out of fold
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


@dataclass
class Result:
    """One contender on one dataset.

    Attributes
    ----------
    contender, dataset : str
    scores : dict of str to ndarray
        Per-fold values of every key ``score`` returns, plus ``fit_seconds``.
    skipped : str or None
        Why there are no scores: not applicable, not installed, or the error.
    warnings : Counter
        Warnings raised during the cross-validation, by category name.
    printed : int
        Characters the contender wrote to stdout during the cross-validation.
    """

    contender: str
    dataset: str
    scores: dict = field(default_factory=dict)
    skipped: str | None = None
    warnings: Counter = field(default_factory=Counter)
    warning_examples: dict = field(default_factory=dict)  # category name -> first message
    printed: int = 0

    def values(self, metric: str) -> np.ndarray:
        return np.asarray(self.scores.get(metric, []), dtype=float)

    def available(self, metric: str) -> bool:
        values = self.values(metric)
        return self.skipped is None and values.size > 0 and not np.isnan(values).all()

    def mean(self, metric: str) -> float:
        return float(np.mean(self.values(metric))) if self.available(metric) else float("nan")

    def std(self, metric: str) -> float:
        values = self.values(metric)
        return float(np.std(values, ddof=1)) if self.available(metric) and values.size > 1 else 0.0


@dataclass(frozen=True)
class Contract:
    """What scikit-learn sees of a contender, measured on one dataset's estimator."""

    is_classifier: bool
    has_predict_proba: bool
    lost_in_clone: tuple[str, ...]  # parameters whose value ``clone`` did not keep
    splitter: str  # what ``cross_validate(cv=5)`` would split with
    stock_scorer: str  # scikit-learn's own "average_precision" scorer on a fitted fold


def leaf_params(estimator) -> dict:
    return {
        key: value
        for key, value in estimator.get_params(deep=True).items()
        if not hasattr(value, "get_params")  # nested estimators are compared through their own
    }


def plain(value) -> bool:
    """Whether ``value`` is data that ``==`` compares (numbers, strings, containers of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(item) for item in value)
    if isinstance(value, dict):
        return all(plain(item) for item in value.values())
    return False


def stock_scorer(fitted, X, y) -> str:
    """What ``get_scorer("average_precision")`` makes of a fitted contender."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            value = get_scorer("average_precision")(fitted, X, y)
        except Exception as error:
            return f"fails ({type(error).__name__})"
    return "works" if np.isfinite(value) else "fails (nan)"


def contract(estimator, fitted, dataset: Dataset) -> Contract:
    """What scikit-learn sees of ``estimator`` (unfitted) and ``fitted`` (one fold's model)."""
    before, after = leaf_params(estimator), leaf_params(clone(estimator))
    lost = []
    for key, value in before.items():
        kept = after.get(key)
        if plain(value):
            same = key in after and kept == value
        else:  # objects (functions, column selectors) may be copied by clone: only None is lost
            same = kept is not None
        if not same:
            lost.append(key.rsplit("__", 1)[-1])
    classifier = is_classifier(estimator)
    return Contract(
        is_classifier=classifier,
        has_predict_proba=hasattr(estimator, "predict_proba"),
        lost_in_clone=tuple(lost),
        splitter=type(check_cv(5, dataset.y, classifier=classifier)).__name__,
        stock_scorer=stock_scorer(fitted, dataset.X, dataset.y),
    )


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
                dataset.X,
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


@dataclass
class DatasetResults:
    dataset: Dataset
    results: list[Result]
    seconds: float

    def by_name(self) -> dict[str, Result]:
        return {result.contender: result for result in self.results}


@dataclass
class Run:
    """Everything one benchmark run measured."""

    args: argparse.Namespace
    environment: str
    datasets: list[DatasetResults]
    contracts: dict[str, Contract]
    printed: dict[str, int]  # characters written to stdout per contender, over all datasets
    scikeras_probe: dict | None = None  # probe_scikeras(), when SciKeras is installed
    seconds: float = 0.0


def warm_up(args) -> None:
    """Pay TensorFlow's one-time start-up costs before the first timed fit."""
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=args.seed)
    tiny = argparse.Namespace(**{**vars(args), "epochs": 1, "keras_epochs": 1})
    dataset = Dataset("warm-up", "", X, y)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for make in (make_safekeras, make_naive):
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
            for contender in CONTENDERS:
                contender_started = time.perf_counter()
                result, terms = run_contender(
                    contender, dataset, folds, args, inspect=contender.name not in contracts
                )
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


def mean_std(result: Result, metric: str, digits: int = 3) -> str:
    if result.skipped:
        return "-"
    if not result.available(metric):
        return "n/a"
    return f"{result.mean(metric):.{digits}f} ± {result.std(metric):.{digits}f}"


def best_names(results: list[Result], metric: str) -> set[str]:
    """Contenders with the best mean of ``metric`` (ties included)."""
    scored = [r for r in results if r.available(metric)]
    if not scored:
        return set()
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    best = max(sign * round(r.mean(metric), 3) for r in scored)
    return {r.contender for r in scored if sign * round(r.mean(metric), 3) == best}


def format_dataset_table(results: list[Result]) -> str:
    lines = [
        "| contender | balanced acc. | PR-AUC | F1 | Brier | fit s/fold | epochs/fold "
        "| fits/fold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best = {metric: best_names(results, metric) for metric in METRICS}
    for r in results:
        if r.skipped:
            lines.append(f"| {r.contender} | {r.skipped} | | | | | | |")
            continue
        cells = []
        for metric in METRICS:
            cell = mean_std(r, metric)
            cells.append(f"**{cell}**" if r.contender in best[metric] else cell)
        lines.append(
            f"| {r.contender} | {' | '.join(cells)} | {r.mean('fit_seconds'):.2f} "
            f"| {r.mean('epochs'):.3g} | {r.mean('fits'):g} |"
        )
    return "\n".join(lines)


def paired(a: Result, b: Result, metric: str) -> str:
    """``mean ± std of the per-fold differences a - b (ahead in k/n folds)``."""
    diffs = a.values(metric) - b.values(metric)
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    ahead = int(np.sum(diffs > 0))
    return f"{np.mean(diffs):+.3f} ± {spread:.3f} (ahead in {ahead}/{len(diffs)} folds)"


def dataset_verdict(results: list[Result]) -> str:
    """Safekeras against each headline peer, as paired per-fold differences."""
    by_name = {r.contender: r for r in results}
    safe = by_name[SAFEKERAS]
    if safe.skipped:
        return f"**Verdict**: {SAFEKERAS} did not run ({safe.skipped})."
    parts = []
    for peer in HEADLINE[1:]:
        other = by_name.get(peer)
        if other is None or other.skipped:
            continue
        metrics = [
            f"{METRIC_LABELS[metric]} {paired(safe, other, metric)}"
            for metric in ("balanced_accuracy", "pr_auc")
            if other.available(metric)
        ]
        parts.append(f"vs {peer}: " + ", ".join(metrics))
    winners = "; ".join(
        f"best {METRIC_LABELS[metric]}: {', '.join(sorted(best_names(results, metric)))}"
        for metric in ("balanced_accuracy", "pr_auc")
    )
    return f"**Verdict** ({SAFEKERAS} minus peer, per fold): " + "; ".join(parts) + f". {winners}."


def format_warnings(results: list[Result]) -> str:
    notes = []
    for r in results:
        if r.warnings:
            counts = ", ".join(
                f"{n} {name}"
                + (f' ("{r.warning_examples[name]}")' if name in r.warning_examples else "")
                for name, n in sorted(r.warnings.items())
            )
            notes.append(f"{r.contender}: {counts}")
    return (
        "Warnings during cross-validation (count over folds): "
        + ("; ".join(notes) if notes else "none")
        + "."
    )


def report_dataset(entry: DatasetResults, args) -> str:
    dataset = entry.dataset
    return "\n".join(
        [
            f"### {dataset.name}\n",
            f"{dataset.description}: {dataset.summary}. "
            f"StratifiedKFold({args.folds}, shuffle=True, random_state={args.seed}); "
            f"mean ± std over folds; best mean in bold. Took {entry.seconds:.0f} s.\n",
            format_dataset_table(entry.results),
            "",
            dataset_verdict(entry.results),
            "",
            format_warnings(entry.results),
        ]
    )


def headline_table(run: Run) -> str:
    """Per dataset, balanced accuracy and PR-AUC of the headline contenders (best in bold)."""
    lines = [
        "| dataset | metric | " + " | ".join(HEADLINE) + " |",
        "|---|---|" + "---:|" * len(HEADLINE),
    ]
    for entry in run.datasets:
        by_name = entry.by_name()
        results = [by_name[name] for name in HEADLINE]
        for metric in ("balanced_accuracy", "pr_auc"):
            best = best_names(results, metric)
            cells = []
            for r in results:
                if r.skipped:
                    cell = "n/a"
                elif not r.available(metric):
                    cell = "n/a"
                else:
                    cell = f"{r.mean(metric):.3f}"
                    if r.contender in best:
                        cell = f"**{cell}**"
                cells.append(cell)
            lines.append(
                f"| {entry.dataset.name} | {METRIC_LABELS[metric]} | {' | '.join(cells)} |"
            )
    return "\n".join(lines)


def compare(run: Run, peer: str, metric: str) -> tuple[list[str], list[str]]:
    """Datasets where safekeras's mean beat / did not beat ``peer``'s on ``metric``."""
    wins, losses = [], []
    for entry in run.datasets:
        by_name = entry.by_name()
        safe, other = by_name[SAFEKERAS], by_name[peer]
        if not (safe.available(metric) and other.available(metric)):
            continue
        (wins if safe.mean(metric) > other.mean(metric) else losses).append(entry.dataset.name)
    return wins, losses


def summary(run: Run) -> str:
    """Computed reading of the headline: who beat whom, on which datasets, by how much."""
    lines = []
    for peer in HEADLINE[1:]:
        parts = []
        for metric in ("balanced_accuracy", "pr_auc"):
            wins, losses = compare(run, peer, metric)
            total = len(wins) + len(losses)
            if total == 0:
                continue
            behind = f" (behind on {', '.join(losses)})" if losses else ""
            parts.append(f"{METRIC_LABELS[metric]} on {len(wins)} of {total} datasets{behind}")
        if parts:
            lines.append(f"- {SAFEKERAS} beat {peer} on " + "; ".join(parts) + ".")
    ahead = []
    for entry in run.datasets:
        by_name = entry.by_name()
        safe, hgb = by_name[SAFEKERAS], by_name[HGB]
        for metric in ("balanced_accuracy", "pr_auc"):
            if safe.available(metric) and hgb.available(metric):
                if hgb.mean(metric) > safe.mean(metric):
                    diffs = hgb.values(metric) - safe.values(metric)
                    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                    verdict = "clear" if np.mean(diffs) > spread else "within the fold spread"
                    ahead.append(
                        f"{entry.dataset.name} {METRIC_LABELS[metric]} "
                        f"{hgb.mean(metric):.3f} vs {safe.mean(metric):.3f} ({verdict}: per fold "
                        f"{paired(hgb, safe, metric)})"
                    )
    if ahead:
        lines.append(f"- {HGB} beat {SAFEKERAS} on: " + "; ".join(ahead) + ".")
    else:
        lines.append(f"- {HGB} did not beat {SAFEKERAS} on any dataset's mean.")
    return "\n".join(lines)


def peer_notes(run: Run) -> str:
    """What the Keras wrappers did, measured in this run."""
    lines = []
    for name in (KERAS_WRAPPER, SCIKERAS):
        results = [entry.by_name()[name] for entry in run.datasets]
        ran = [r for r in results if not r.skipped]
        if not ran:
            reasons = sorted({r.skipped for r in results})
            lines.append(f"- **{name}**: did not run ({'; '.join(reasons)}).")
            continue
        epochs = sorted({float(e) for r in ran for e in r.values("epochs")})
        facts = [
            f"trained {', '.join(f'{e:g}' for e in epochs)} epoch(s) per fold "
            f"(asked for {run.args.keras_epochs})"
        ]
        terms = run.contracts.get(name)
        if terms is not None:
            if terms.lost_in_clone:
                facts.append(
                    f"`clone` dropped {', '.join(terms.lost_in_clone)}, so every fold trained with "
                    "`model.fit`'s defaults (the epochs above, progress bars on), and its scores "
                    "above are that network's"
                )
            if not terms.has_predict_proba:
                facts.append("no `predict_proba`, so no PR-AUC or Brier score")
            if not terms.is_classifier:
                facts.append(
                    f"scikit-learn does not see a classifier: `cv=5` means {terms.splitter}, "
                    f'and the `"average_precision"` scorer {terms.stock_scorer}'
                )
        if run.printed.get(name):
            facts.append(f"wrote {run.printed[name]} characters of progress output to stdout")
        leaked = sum(r.warnings.get("TensorFlow op determinism left on", 0) for r in ran)
        if leaked:
            facts.append(
                f"left TensorFlow's op determinism switched on after {leaked} of {len(ran)} "
                "cross-validations (switched back off by the benchmark)"
            )
        if name == SCIKERAS and run.scikeras_probe:
            facts.append(probe_note(run.scikeras_probe))
        lines.append(f"- **{name}**: " + "; ".join(facts) + ".")
    return "\n".join(lines)


def probe_note(probe: dict) -> str:
    if "error" in probe:
        return f"the fresh-process probe failed ({probe['error']})"
    if not probe.get("left_on"):
        return "in a fresh process, a seeded fit left TensorFlow's op determinism off"
    return (
        "in a fresh process where its seeded fit is the first TensorFlow code to use "
        "randomness, `random_state` left TensorFlow's op determinism switched on for the "
        f"process: a plain Keras `model.fit` afterwards gave {probe.get('keras_fit')!r}, "
        f"a seeded safekeras fit {probe.get('safekeras_fit')!r}"
    )


def contract_table(run: Run) -> str:
    lines = [
        "| contender | `is_classifier` | `cross_validate(cv=5)` splits with "
        '| `predict_proba` | scorer `"average_precision"` | parameters `clone` dropped '
        "| stdout characters during CV |",
        "|---|---|---|---|---|---|---:|",
    ]

    def flag(ok: bool, text: str | None = None) -> str:
        """``text`` (default yes/no), in bold where scikit-learn's contract is broken."""
        text = text if text is not None else ("yes" if ok else "no")
        return text if ok else f"**{text}**"

    for contender in CONTENDERS:
        terms = run.contracts.get(contender.name)
        if terms is None:
            continue
        printed = run.printed.get(contender.name, 0)
        lines.append(
            f"| {contender.name} | {flag(terms.is_classifier)} "
            f"| {flag(terms.splitter == 'StratifiedKFold', terms.splitter)} "
            f"| {flag(terms.has_predict_proba)} "
            f"| {flag(terms.stock_scorer == 'works', terms.stock_scorer)} "
            f"| {flag(not terms.lost_in_clone, ', '.join(terms.lost_in_clone) or 'none')} "
            f"| {flag(printed == 0, str(printed))} |"
        )
    return "\n".join(lines)


def settings_line(args) -> str:
    epochs = "its default (200, early stopping)" if args.epochs is None else f"max {args.epochs}"
    threads = (
        f"OpenMP/BLAS limited to {args.threads} thread(s) (TensorFlow's pools left alone)"
        if args.threads
        else "OpenMP/BLAS threads at the libraries' defaults"
    )
    return (
        f"- {args.folds} folds, seed {args.seed}; safekeras epochs: {epochs}; naive Keras and the "
        f"Keras wrappers: {args.keras_epochs} epochs, batch {KERAS_BATCH_SIZE}; MLP max_iter "
        f"{args.mlp_max_iter}; {threads}; datasets: {', '.join(args.datasets)}"
    )


CONTENDER_ROWS = (
    (
        SAFEKERAS,
        '`SafeKerasClassifier(random_state=0)`, every default: `"auto"` preprocessing, '
        'MLP (64, 32), early stopping, binary `threshold="auto"` (balanced accuracy)',
        "takes the data as it is",
    ),
    (
        NAIVE,
        "the Keras tutorial: `set_random_seed`, `Sequential` Dense(64, 32) + sigmoid/softmax, "
        "Adam, `fit(epochs=30, batch_size=32)`, threshold 0.5 / argmax",
        "no scaling",
    ),
    (
        KERAS_WRAPPER,
        "`keras.wrappers.SKLearnClassifier(model=<same network, softmax head>, "
        'fit_kwargs={"epochs": 30, "batch_size": 32, "verbose": 0})`',
        "`StandardScaler`",
    ),
    (
        SCIKERAS,
        "`scikeras.wrappers.KerasClassifier(<same network>, loss=<same>, epochs=30, "
        "batch_size=32, random_state=0)`",
        "`StandardScaler`",
    ),
    (
        MLP,
        "`MLPClassifier(early_stopping=True, random_state=0)`, otherwise defaults",
        "`StandardScaler`",
    ),
    (
        MLP_TUNED,
        '`TunedThresholdClassifierCV(<MLP pipeline>, scoring="balanced_accuracy")`; binary only',
        "`StandardScaler`",
    ),
    (
        HGB,
        "`TunedThresholdClassifierCV(HistGradientBoostingClassifier(categorical_features="
        '"from_dtype", random_state=0), scoring="balanced_accuracy")`; multiclass: the plain HGB',
        "takes the data as it is",
    ),
)


def contenders_table() -> str:
    lines = ["| contender | what it is | its input |", "|---|---|---|"]
    lines += [f"| {name} | {what} | {inputs} |" for name, what, inputs in CONTENDER_ROWS]
    return "\n".join(lines)


def report(run: Run) -> list[str]:
    """The markdown report, one block per section (header, headline, datasets, notes)."""
    args = run.args
    header = "\n".join(
        [
            "## Predictive quality: cross-validated comparison\n",
            run.environment,
            settings_line(args) + "\n",
        ]
    )
    headline = "\n".join(
        [
            "### Headline\n",
            "Mean over folds; best of these five in bold (the Keras wrappers are in each "
            "dataset's table). On multiclass data (wine, digits) there is no threshold to tune: "
            '"HGB + tuned threshold" is the plain HistGradientBoostingClassifier there, and '
            "the tuned MLP does not apply. A difference smaller than the spread of its per-fold "
            "differences (the ± in each dataset's verdict) is not a difference.\n",
            headline_table(run),
            "",
            summary(run),
        ]
    )
    notes = "\n".join(
        [
            "### What scikit-learn sees of each contender\n",
            "Measured on the first dataset each contender ran on: `sklearn.base.is_classifier` "
            "of the estimator, which decides the splitter that `cross_validate(cv=5)` and "
            "`GridSearchCV(cv=5)` use (stratified only for classifiers) and how scikit-learn's "
            'scorers read probabilities; what the stock `"average_precision"` scorer made of '
            "the first fold's fitted model; whether `predict_proba` exists; the parameters "
            "`sklearn.base.clone` (which every search and cross-validation calls) did not keep; "
            "and characters printed to stdout over all cross-validations. The tables above "
            "avoid the first two problems: explicit `StratifiedKFold` folds and a scorer that "
            "calls `predict_proba` itself.\n",
            contract_table(run),
            "",
            peer_notes(run),
        ]
    )
    contenders = "\n".join(
        [
            "### Contenders\n",
            contenders_table(),
            "",
            "On the mixed-type DataFrame every peer except HGB gets, in front of its own "
            "steps, the smallest encoder that lets it run: a `ColumnTransformer` of "
            '`SimpleImputer(strategy="median")` on the numbers and `SimpleImputer(strategy='
            '"most_frequent")` + `OneHotEncoder(handle_unknown="ignore")` on the categories. '
            "PR-AUC is macro one-vs-rest on multiclass data; F1 is the positive class's "
            "(macro on multiclass); Brier is the mean squared error of the positive-class "
            "probability (binary, 0 to 1) or of the probability vector against the one-hot "
            "label, summed over classes (multiclass, 0 to 2); lower is better. PR-AUC and Brier "
            "need `predict_proba`: n/a without it.",
        ]
    )
    sections = [header, headline, contenders]
    sections += [report_dataset(entry, args) for entry in run.datasets]
    sections.append(notes)
    return sections


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
