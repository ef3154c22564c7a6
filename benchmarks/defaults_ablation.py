"""Which defaults: each candidate setting cross-validated against today's, fold by fold.

What is measured
----------------
The estimators' training defaults, one change at a time, against the defaults
they replace (``batch_size=256, patience=10`` and, for the regressor, a
standardised target):

* **real tables** (``benchmarks.real_tables``: the CSVs of ``../shared/data``
  and scikit-learn's bundled sets), 5 folds (stratified for classification),
  the same folds for every candidate. Classification: balanced accuracy and
  PR-AUC (average precision; macro over classes for multiclass). Regression:
  R², MAE; the regression tables also get the reference points
  ``HistGradientBoostingRegressor()`` (also with ``loss="poisson"``), the
  regressor's Poisson loss on every table, log1p with Duan's smearing
  correction (:class:`SmearedLog1pRegressor`) and a plain Keras network on scaled
  inputs (``Dense(64, relu) -> Dense(32, relu) -> Dense(1)``, Adam, MSE on the
  raw target, batch 32, 100 epochs); the multiclass tables also get the
  decision rules of :func:`multiclass_candidates`;
* **default-path data** (``benchmarks.datasets.make_default_path_split``'s
  generator: ``make_classification(n, d, weights=[0.93], flip_y=0.01)``) at
  600 x 30, 3000 x 10 and 20000 x 20, 5 stratified folds: balanced accuracy,
  PR-AUC and fit time, the issue 19 sizes.

* **the binary threshold** (``--sections threshold``): on the binary real
  tables and the default-path data, the positive class's training share (the
  new default) against the threshold tuned on held-out rows it replaced
  (``benchmarks.threshold_rules``), tuning out of fold always, and 0.5;
* **the learning rate** (``--sections learning-rate``): on every real table
  and the default-path data, Adam's own 1e-3 (the rate before
  ``learning_rate="auto"``) against 2e-3 and 3e-3 (the new default).
* **the patience** (``--sections patience``): on every real table and the
  default-path data, ``patience="auto"``'s rule (10 epochs, or more until they
  hold 80 optimizer steps) against 7 epochs / 56 steps and 5 / 40
  (:class:`PatienceRule`).
* **numeric embeddings** (``--sections embeddings``, an experiment: asked for
  by name only, never part of the default run): on every real table and the
  default-path data, today's default against the same estimator whose
  ``"auto"`` preprocessor appends to each standardised numeric column a B-spline
  basis of it, knots at its training quantiles (:class:`NumericEmbedding`,
  :class:`QuantileSplines`): cubic with 6 knots, and piecewise linear (degree 1,
  the piecewise-linear encoding of Gorishniy et al. 2022) with 8 knots, on the
  columns of at least 10 distinct values, or of at least 3. The regressor's own
  ``"auto"`` embeddings are off in every row (``numeric_embeddings=None``).
* **the spline embeddings as shipped** (``--sections splines``, by name only: the
  page shows it with three seeds pooled, ``--from-json ... --pool``): on every real
  table and the default-path data, the ``"auto"`` preprocessor with and without
  its spline embeddings (scikit-learn's ``SplineTransformer``, see
  :mod:`safekeras.data.preprocessing`): on for the regressor's default, off for
  the classifier's, the other setting the candidate (``numeric_embeddings``).
* **the classifier's linear baseline** (``--sections logistic``, by name only and shown
  pooled over seeds, as the regressor's): the default classifier
  (``linear_baseline="auto"``: a logistic regression averaged with the network in
  logit space when the validation split prefers it) against the network alone
  (``linear_baseline=None``), on the real binary and multiclass tables.
* **the regressor's linear baseline** (``--sections baseline``, by name only and shown
  pooled over three seeds, like the splines): on every real regression table, the
  default regressor (``linear_baseline="auto"``: the network learns the scaled
  residual of a ``RidgeCV`` on its inputs) against the network learning the
  target itself (``linear_baseline=None``).
* **numeric scaling** (``--sections scaling``, an experiment): on every real
  table and the default-path data, the ``"auto"`` preprocessor's standardised
  numeric columns (today's) against RealMLP-TD's robust scaling with smooth
  clipping (:class:`~benchmarks.numeric_scaling.RobustSoftClip`) and
  scikit-learn's ``QuantileTransformer`` to a normal (:class:`NumericScaling`).
* **regularisation** (``--sections regularisation``, an experiment): on every
  real table and the default-path data, the default L2 penalty of 1e-4 against
  1e-3, 1e-5 and one over the training rows, and Keras's ``ReduceLROnPlateau``
  halving the rate after half the patience.
* **the width** (``--sections width``, an experiment): on every real table and
  the default-path data, the default MLP's hidden layers (64, 32) against
  (128, 64), (256, 128) and three layers of 256 (RealMLP-TD's shape).
* **refitting on every row** (``--sections refit``, an experiment, shown pooled over
  three seeds): on the real binary and multiclass tables and the default-path data at
  600 x 30 and 3000 x 10, the default classifier against the same fit followed by a
  second network trained on every row for the first's best epoch count, used alone or
  averaged with the first (:class:`~benchmarks.refit_on_all_rows.RefitOnAllRows`).
* **the ensemble's stop** (``--sections ensemble-stop``): on every real table,
  four networks trained together until the last one stops (the rule before)
  against until all but one have stopped, the last keeping its best epoch so
  far (:data:`safekeras.network.ensemble.MEMBERS_LEFT`): the regressor's
  default, and the classifier with ``ensemble_size=4``.

These sections fill their own blocks of the page (``defaults:<section>``:
``defaults:threshold``, ``defaults:learning-rate``, ``defaults:scaling``, ...), and
compare with the rule they replaced (or, for the patience and the experiments,
today's), marked ``(before)``.

Every candidate is compared with today's defaults by
``benchmarks.paired.compare_paired`` (corrected resampled paired t over the
folds): "win"/"loss" only when the interval clears 0. Fit times are the median
over folds in one process on a machine shared with other work: compare them
only within a table.

Run from the repository root::

    python benchmarks/defaults_ablation.py --docs docs/defaults.md       # ~60 min, 2 cores
    python benchmarks/defaults_ablation.py --quick                       # smoke run
    python benchmarks/defaults_ablation.py --sections regression --tasks diabetes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

if __package__ in (None, ""):  # run as a script: the `benchmarks.` imports need the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import fill_defaults, prepare_keras, progress

prepare_keras()

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone  # noqa: E402
from sklearn.compose import make_column_selector, make_column_transformer  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
)
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
    label_binarize,
)
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from benchmarks.multiclass_multipliers import HeldOutMultipliers  # noqa: E402
from benchmarks.numeric_scaling import RobustSoftClip  # noqa: E402
from benchmarks.paired import compare_paired  # noqa: E402
from benchmarks.real_tables import load_real_tasks  # noqa: E402
from benchmarks.refit_on_all_rows import RefitOnAllRows  # noqa: E402
from benchmarks.threshold_rules import HeldOutThreshold  # noqa: E402
from safekeras import SafeKerasClassifier, SafeKerasRegressor  # noqa: E402
from safekeras.data import preprocessing  # noqa: E402
from safekeras.network import budget, ensemble  # noqa: E402

SEED = 0
FOLDS = 5
DEFAULT_PATH_SIZES = ((600, 30), (3000, 10), (20000, 20))
TODAY = "today (batch 256, patience 10)"
# The rows the network trains on: the fold's training rows less the 15 % validation split.
TRAIN_SHARE = 0.85
PLAIN_KERAS = "plain Keras, scaled, batch 32, 100 epochs"
# 100 epochs of batch 32 in model.fit is 20 000+ optimizer steps from here on: minutes per fold
# on 2 shared cores. The reference is run on the tables below this size (--plain-keras-rows).
PLAIN_KERAS_ROWS = 5000


class PlainKerasRegressor(RegressorMixin, BaseEstimator):
    """A plain Keras regression network on scaled inputs, as a Keras tutorial trains it.

    ``Dense(64, relu) -> Dense(32, relu) -> Dense(1)``, Adam, MSE on the raw
    target, ``batch_size`` rows per step for ``epochs`` epochs, no early
    stopping; seeded through its initialisers, never globally. Numbers are
    imputed (median) and scaled, other columns one-hot encoded.
    """

    def __init__(self, epochs=100, batch_size=32, random_state=0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        import keras

        self.prep_ = make_column_transformer(
            (
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                make_column_selector(dtype_include="number"),
            ),
            (
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                make_column_selector(dtype_exclude="number"),
            ),
        )
        x = self.prep_.fit_transform(X).astype("float32")
        seed = int(self.random_state)
        init = keras.initializers.GlorotUniform
        self.model_ = keras.Sequential(
            [
                keras.Input(shape=(x.shape[1],)),
                keras.layers.Dense(64, activation="relu", kernel_initializer=init(seed)),
                keras.layers.Dense(32, activation="relu", kernel_initializer=init(seed + 1)),
                keras.layers.Dense(1, kernel_initializer=init(seed + 2)),
            ]
        )
        self.model_.compile(optimizer="adam", loss="mse")
        self.model_.fit(
            x, np.asarray(y, "float32"), epochs=self.epochs, batch_size=self.batch_size, verbose=0
        )
        return self

    def predict(self, X):
        x = self.prep_.transform(X).astype("float32")
        return self.model_.predict(x, batch_size=4096, verbose=0).ravel().astype(float)


class SmearedLog1pRegressor(RegressorMixin, BaseEstimator):
    """``target_transform="log1p"`` with Duan's smearing correction of the retransformation.

    A network trained on ``log(1 + y)`` predicts ``f(x)``, an estimate of
    E[log(1 + y) | x]; ``expm1(f(x))`` underestimates E[y | x]. Duan (1983):
    E[y | x] = E[exp(f(x) + r)] - 1 = ``(1 + expm1(f(x))) * mean(exp(r_i)) - 1``,
    the mean over the training rows' residuals ``r_i = log1p(y_i) - f(x_i)``.
    For non-negative targets (all of this benchmark's regression tables).
    """

    def __init__(self, random_state=SEED):
        self.random_state = random_state

    def fit(self, X, y):
        self.regressor_ = SafeKerasRegressor(
            target_transform="log1p", random_state=self.random_state
        )
        self.regressor_.fit(X, y)
        residuals = np.log1p(np.asarray(y, float)) - np.log1p(self.regressor_.predict(X))
        self.smearing_ = float(np.mean(np.exp(residuals)))
        for name in ("batch_size_", "patience_", "n_epochs_", "target_transform_"):
            setattr(self, name, getattr(self.regressor_, name))
        return self

    def predict(self, X):
        return (1.0 + self.regressor_.predict(X)) * self.smearing_ - 1.0


class _PatchedFit(BaseEstimator):
    """``estimator`` fitted while :meth:`_patched` holds, then used as it is.

    Subclasses patch a library rule for the duration of the fit only (restored
    after it, whatever the fit raises); the fitted estimator's "as run"
    attributes are copied so the report reads them as for any candidate.
    """

    _AS_RUN = ("batch_size_", "patience_", "n_epochs_", "target_transform_", "loss_")
    # Parameters set on the fitted clone, whatever ``estimator`` holds.
    _FIT_PARAMS: dict = {}

    def _patched(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).set_params(**self._FIT_PARAMS)
        with self._patched():
            self.estimator_.fit(X, y)
        for name in self._AS_RUN:
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


class PatienceRule(_PatchedFit):
    """``estimator`` fitted under another ``patience="auto"`` rule, then used as it is.

    The rule is :mod:`safekeras.network.budget`'s: ``min_patience`` epochs, or more
    until they hold ``patience_steps`` optimizer steps, and (``epochs_per_wait`` > 0)
    one epoch for every ``epochs_per_wait`` up to the best one. Its module constants
    (``MIN_PATIENCE``, ``PATIENCE_STEPS``, ``EPOCHS_PER_WAIT``) are patched for the
    duration of the fit only, and restored after it, whatever the fit raises;
    nothing else changes.
    """

    def __init__(self, estimator, min_patience=7, patience_steps=56, epochs_per_wait=5):
        self.estimator = estimator
        self.min_patience = min_patience
        self.patience_steps = patience_steps
        self.epochs_per_wait = epochs_per_wait

    def _patched(self):
        stack = contextlib.ExitStack()
        for name, value in (
            ("MIN_PATIENCE", self.min_patience),
            ("PATIENCE_STEPS", self.patience_steps),
            ("EPOCHS_PER_WAIT", self.epochs_per_wait),
        ):
            stack.enter_context(mock.patch.object(budget, name, value))
        return stack


class QuantileSplines(TransformerMixin, BaseEstimator):
    """B-spline bases of the numeric columns, knots at each column's training quantiles.

    A column of fewer than ``min_distinct`` distinct training values is left out
    (a binary column's basis is the column itself again). The knots are the
    column's quantiles at ``n_knots`` evenly spaced levels, repeats dropped, so a
    column with tied values gets fewer knots instead of an error; a column left
    with one knot is left out. Beyond the training range the basis is held
    constant (``extrapolation="constant"``): the value's linear trend stays with
    the standardised column that the basis is appended to.

    Parameters
    ----------
    degree : int, default=3
        The splines' degree; 1 is the piecewise-linear encoding.
    n_knots : int, default=6
        Quantile levels per column, 0 and 1 included.
    min_distinct : int, default=10
        Fewest distinct training values of a column that gets a basis.

    Attributes
    ----------
    columns_ : list of int
        Positions of the columns that have a basis, in output order.
    splines_ : list of SplineTransformer
        Each such column's fitted basis.
    n_features_in_ : int
    """

    def __init__(self, degree=3, n_knots=6, min_distinct=10):
        self.degree = degree
        self.n_knots = n_knots
        self.min_distinct = min_distinct

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.columns_, self.splines_ = [], []
        levels = np.linspace(0.0, 1.0, self.n_knots)
        for j, column in enumerate(X.T):
            if len(np.unique(column)) < self.min_distinct:
                continue
            knots = np.unique(np.quantile(column, levels))
            if len(knots) < 2:
                continue
            spline = SplineTransformer(
                degree=self.degree, knots=knots[:, None], extrapolation="constant"
            )
            self.splines_.append(spline.fit(column[:, None]))
            self.columns_.append(j)
        return self

    def transform(self, X):
        check_is_fitted(self, "splines_")
        X = np.asarray(X, dtype=np.float64)
        blocks = [s.transform(X[:, [j]]) for j, s in zip(self.columns_, self.splines_, strict=True)]
        return np.hstack(blocks) if blocks else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "splines_")
        names = (
            [f"x{j}" for j in range(self.n_features_in_)]
            if input_features is None
            else [str(name) for name in input_features]
        )
        return np.asarray(
            [
                f"{names[j]}_spline{k}"
                for j, spline in zip(self.columns_, self.splines_, strict=True)
                for k in range(spline.n_features_out_)
            ],
            dtype=object,
        )


class NumericEmbedding(_PatchedFit):
    """``estimator`` fitted with spline embeddings of its numeric columns, then used as it is.

    For the duration of the fit only (restored after it, whatever the fit
    raises), the ``"auto"`` preprocessor's numeric branch
    (``safekeras.data.preprocessing._numeric_pipeline``) gains a last step that
    keeps the standardised columns and appends their :class:`QuantileSplines`
    basis. The fitted preprocessor (``estimator_.preprocessor_``) carries the
    step, so ``predict`` applies the same embedding. The longer pipeline is not
    the one ``"auto"`` builds: prediction goes through scikit-learn, not the
    preprocessing plan, and sample weights would not weight its statistics
    (``fit`` takes none).

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        With ``preprocessor="auto"``.
    degree, n_knots, min_distinct : int
        Of :class:`QuantileSplines`.
    """

    # The regressor's own "auto" embeddings off: these embeddings replace them.
    _FIT_PARAMS = {"numeric_embeddings": None}

    def __init__(self, estimator, degree=3, n_knots=6, min_distinct=10):
        self.estimator = estimator
        self.degree = degree
        self.n_knots = n_knots
        self.min_distinct = min_distinct

    def _patched(self):
        today = preprocessing._numeric_pipeline
        splines = QuantileSplines(self.degree, self.n_knots, self.min_distinct)

        def embedded() -> Pipeline:
            union = FeatureUnion([("scaled", "passthrough"), ("splines", clone(splines))])
            return Pipeline([*today().steps, ("embed", union)])

        return mock.patch.object(preprocessing, "_numeric_pipeline", embedded)


def _rule_budget(n_fit_rows: int, *, max_batch: int) -> dict:
    """``batch_size`` and ``patience`` of the "auto" rule with another largest batch."""
    rows = int(n_fit_rows * TRAIN_SHARE)
    batch = budget.auto_batch_size(rows, max_batch=max_batch)
    return {"batch_size": batch, "patience": budget.auto_patience(rows, batch)}


def classification_candidates() -> dict:
    """name -> function(n_fit_rows) giving the unfitted estimator."""
    return {
        TODAY: lambda n: SafeKerasClassifier(batch_size=256, patience=10, random_state=SEED),
        "batch auto, patience auto (new default)": lambda n: SafeKerasClassifier(random_state=SEED),
        "rule with largest batch 1024": lambda n: SafeKerasClassifier(
            random_state=SEED, **_rule_budget(n, max_batch=1024)
        ),
        # Does the default dropout=0.1 earn its place? (issue 19: it is most of a step's cost)
        "dropout 0 (new default otherwise)": lambda n: SafeKerasClassifier(
            dropout=0.0, random_state=SEED
        ),
        "dropout 0.2 (new default otherwise)": lambda n: SafeKerasClassifier(
            dropout=0.2, random_state=SEED
        ),
    }


def multiclass_candidates() -> dict:
    """The multiclass decision rules beside the new default's prior-corrected argmax.

    ``threshold=None`` is the most probable class, the rule before the prior
    correction; ``class_weight="balanced"`` is the other route to balanced
    accuracy (it keeps the most probable class of the reweighted network); the
    last tunes the multipliers on held-out probabilities instead of taking them
    from the priors (``benchmarks.multiclass_multipliers``).
    """
    return {
        "multiclass argmax (before)": lambda n: SafeKerasClassifier(
            threshold=None, random_state=SEED
        ),
        "class_weight='balanced', argmax": lambda n: SafeKerasClassifier(
            class_weight="balanced", random_state=SEED
        ),
        "multipliers tuned on 5 out-of-fold fits": lambda n: HeldOutMultipliers(
            SafeKerasClassifier(random_state=SEED), random_state=SEED
        ),
    }


BEFORE = "(before)"


def threshold_candidates() -> dict:
    """The binary decision rules: the training share (the new default) against tuning it.

    The baseline, last in the name ``(before)``, is ``threshold_cv="auto"`` as it
    was: tuned on the validation split, or out of fold by 5 internal fits when that
    split holds under 20 rows of a class (``benchmarks.threshold_rules``).
    """
    return {
        "tuned on held-out rows " + BEFORE: lambda n: HeldOutThreshold(
            SafeKerasClassifier(random_state=SEED)
        ),
        "positive class's training share (new default)": lambda n: SafeKerasClassifier(
            random_state=SEED
        ),
        "always 5 internal folds": lambda n: SafeKerasClassifier(threshold_cv=5, random_state=SEED),
        "0.5": lambda n: SafeKerasClassifier(threshold=0.5, random_state=SEED),
    }


def learning_rate_candidates(kind: str) -> dict:
    """Adam's own rate (the rule before ``learning_rate="auto"``) against higher ones."""
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    return {
        "Adam's own, 1e-3 " + BEFORE: lambda n: estimator(learning_rate=None, random_state=SEED),
        "2e-3": lambda n: estimator(learning_rate=2e-3, random_state=SEED),
        "3e-3, learning_rate='auto' (new default)": lambda n: estimator(random_state=SEED),
    }


def dropout_candidates(kind: str) -> dict:
    """The default MLP's dropout of 0.1 (today's) against none and 0.2."""
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    return {
        "dropout 0.1 " + BEFORE: lambda n: estimator(dropout=0.1, random_state=SEED),
        "no dropout": lambda n: estimator(dropout=0.0, random_state=SEED),
        "dropout 0.2": lambda n: estimator(dropout=0.2, random_state=SEED),
    }


# Hidden layers measured against the default MLP's (64, 32): wider, and deeper as RealMLP's.
WIDTHS = ((128, 64), (256, 128), (256, 256, 256))


def width_candidates(kind: str) -> dict:
    """The default MLP's hidden layers, (64, 32), against wider and deeper ones."""
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    candidates = {"(64, 32) " + BEFORE: lambda n: estimator(random_state=SEED)}
    for sizes in WIDTHS:
        candidates[str(sizes)] = lambda n, h=sizes: estimator(
            hidden_layer_sizes=h, random_state=SEED
        )
    return candidates


# Members of the ensembles measured beside one network (the regressor's "auto" is the middle one).
ENSEMBLE_SIZES = (1, 4, 8)


def ensemble_candidates(kind: str) -> dict:
    """One network (the rule before; still the classifier's default) against several averaged.

    ``ensemble_size="auto"`` trains :data:`~safekeras.network.ensemble.AUTO_REGRESSION_SIZE`
    networks together for a regression target and one for classes.
    """
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    default = ensemble.AUTO_REGRESSION_SIZE if kind == "regression" else 1
    candidates = {}
    for size in ENSEMBLE_SIZES:
        label = "one network" if size == 1 else f"{size} networks averaged"
        if size == default:
            label += " (default)"
        if size == 1:
            label += " " + BEFORE  # the baseline every other row is paired with
        candidates[label] = lambda n, k=size: estimator(ensemble_size=k, random_state=SEED)
    return candidates


class MembersOnOneSplit(_PatchedFit):
    """``estimator`` fitted with its members all stopping on the fit's one validation split.

    The rule before cross-fitting (:data:`safekeras.network.ensemble.CROSS_FIT`):
    every member trains on the same rows, each in an order of its own, and
    none trains on the validation split. Patched for the fit only.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def _patched(self):
        return mock.patch.object(ensemble, "CROSS_FIT", False)


def cross_fit_candidates() -> dict:
    """The regressor's default ensemble, its members on one split (before) or cross-fitted."""
    label = f"{ensemble.AUTO_REGRESSION_SIZE} networks"
    return {
        f"{label}, one shared split {BEFORE}": lambda n: MembersOnOneSplit(
            SafeKerasRegressor(random_state=SEED)
        ),
        f"{label}, cross-fitted (default)": lambda n: SafeKerasRegressor(random_state=SEED),
    }


class MembersTrainToTheLast(_PatchedFit):
    """``estimator`` fitted with its members' stack training until its last member stops.

    The rule before :data:`safekeras.network.ensemble.MEMBERS_LEFT`: the stack ran
    until every member had stopped on its own held-out rows. Patched for the fit only.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def _patched(self):
        return mock.patch.object(ensemble, "MEMBERS_LEFT", 0)


def ensemble_stop_candidates(kind: str) -> dict:
    """Four members trained until the last stops (before), or until all but one have.

    The regressor's default ensemble; for classes, the classifier with
    ``ensemble_size`` :data:`~safekeras.network.ensemble.AUTO_REGRESSION_SIZE`
    (its default trains one network, which stops when it stops).
    """
    size = ensemble.AUTO_REGRESSION_SIZE
    if kind == "regression":
        estimator = SafeKerasRegressor
    else:

        def estimator(**params):
            return SafeKerasClassifier(ensemble_size=size, **params)

    kept = ensemble.MEMBERS_LEFT
    return {
        f"{size} networks, trained until the last stops {BEFORE}": lambda n: MembersTrainToTheLast(
            estimator(random_state=SEED)
        ),
        f"{size} networks, stopped when all but {kept} have (default)": lambda n: estimator(
            random_state=SEED
        ),
    }


# The waits measured, in epochs: the one before (10), the new default's (7) and a shorter one;
# their optimizer steps scale with the epochs, as PATIENCE_STEPS = MIN_PATIENCE * STEPS_PER_EPOCH.
PATIENCE_EPOCHS = (10, 7, 5)


def patience_candidates(kind: str) -> dict:
    """``patience="auto"``'s wait: fixed at 10 epochs (before), and waits that grow.

    The rule before: 10 epochs, or as many as hold 80 optimizer steps. A growing
    wait also waits one epoch for every :data:`~safekeras.network.budget.EPOCHS_PER_WAIT`
    epochs up to the best one; the new default grows from 7 epochs / 56 steps.
    Every candidate is the default estimator, ``patience="auto"``; only the rule
    that resolves it differs (:class:`PatienceRule`).
    """
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier

    def rule(epochs: int, per_wait: int):
        return lambda n: PatienceRule(
            estimator(random_state=SEED),
            min_patience=epochs,
            patience_steps=epochs * budget.STEPS_PER_EPOCH,
            epochs_per_wait=per_wait,
        )

    def wait(epochs: int) -> str:
        return f"{epochs} epochs / {epochs * budget.STEPS_PER_EPOCH} steps"

    per_wait = budget.EPOCHS_PER_WAIT
    grows = f"one more per {per_wait} epochs to the best"
    candidates = {f"{wait(10)}, fixed {BEFORE}": rule(10, 0)}
    for epochs in PATIENCE_EPOCHS:
        label = f"{wait(epochs)}, {grows}"
        if epochs == budget.MIN_PATIENCE:
            label += " (new default)"
        candidates[label] = rule(epochs, per_wait)
    return candidates


# (degree, knots, fewest distinct values of an embedded column) of each embedding tried.
EMBEDDINGS = ((3, 6, 10), (1, 8, 10), (1, 8, 3))


def embedding_candidates(kind: str) -> dict:
    """The default estimator without embeddings against it with spline embeddings of its numeric
    columns (the benchmark's :class:`QuantileSplines`; the regressor's own "auto" ones off)."""
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    candidates = {
        "no embedding " + BEFORE: lambda n: estimator(random_state=SEED, numeric_embeddings=None)
    }
    for degree, knots, distinct in EMBEDDINGS:
        shape = {1: "piecewise linear", 3: "cubic B-splines"}.get(degree, f"degree {degree}")
        name = f"{shape}, {knots} quantile knots, columns of >= {distinct} values"
        candidates[name] = lambda n, d=degree, k=knots, m=distinct: NumericEmbedding(
            estimator(random_state=SEED), degree=d, n_knots=k, min_distinct=m
        )
    return candidates


def baseline_candidates() -> dict:
    """The regressor's network learning the target itself, or a ridge's scaled residual.

    ``linear_baseline="auto"`` (the candidate) fits ``RidgeCV`` on the network's
    inputs bar the spline embeddings and trains the network on what it leaves
    (:mod:`safekeras.network.linear_baseline`); None (before) trains it on the
    transformed target. A Poisson fit (counts) has no baseline in either row.
    """
    return {
        "network alone " + BEFORE: lambda n: SafeKerasRegressor(
            random_state=SEED, linear_baseline=None
        ),
        "ridge baseline (new default)": lambda n: SafeKerasRegressor(random_state=SEED),
    }


def logistic_candidates() -> dict:
    """The classifier's network alone, or averaged with a logistic regression when it helps.

    ``linear_baseline="auto"`` (the candidate) fits ``LogisticRegression`` on the
    network's inputs and keeps the logit average when it lowers the validation
    split's log-loss (:mod:`safekeras.network.logistic_baseline`); ``"logistic"``
    keeps it everywhere; None (before) is the network alone.
    """
    return {
        "network alone " + BEFORE: lambda n: SafeKerasClassifier(
            random_state=SEED, linear_baseline=None
        ),
        "logistic average always": lambda n: SafeKerasClassifier(
            random_state=SEED, linear_baseline="logistic"
        ),
        "logistic average if better (new default)": lambda n: SafeKerasClassifier(
            random_state=SEED
        ),
    }


def refit_candidates() -> dict:
    """The default classifier, and the same fit refitted on every row (alone or averaged).

    See :mod:`benchmarks.refit_on_all_rows`: the second network trains on the
    validation split's rows too, for the first fit's best epoch count.
    """
    return {
        "default " + BEFORE: lambda n: SafeKerasClassifier(random_state=SEED),
        "refit on every row": lambda n: RefitOnAllRows(random_state=SEED),
        "early-stopped and refitted, averaged": lambda n: RefitOnAllRows(
            random_state=SEED, average=True
        ),
    }


def spline_candidates(kind: str) -> dict:
    """The ``"auto"`` preprocessor with and without its spline embeddings, as shipped.

    The regressor's default has them (the candidate; before: off), the
    classifier's does not (before; the candidate: on).
    """
    if kind == "regression":
        return {
            "standardised only " + BEFORE: lambda n: SafeKerasRegressor(
                random_state=SEED, numeric_embeddings=None
            ),
            "spline embeddings (new default)": lambda n: SafeKerasRegressor(random_state=SEED),
        }
    return {
        "standardised only, the default " + BEFORE: lambda n: SafeKerasClassifier(
            random_state=SEED
        ),
        "spline embeddings": lambda n: SafeKerasClassifier(
            random_state=SEED, numeric_embeddings="splines"
        ),
    }


class NumericScaling(_PatchedFit):
    """``estimator`` fitted with another scaler for its numeric columns, then used as it is.

    For the duration of the fit only (restored after it, whatever the fit
    raises), the ``"auto"`` preprocessor's numeric branch
    (``safekeras.data.preprocessing._numeric_pipeline``) has a clone of
    ``scaler`` where its ``StandardScaler`` was: the same three steps (floats,
    median imputation, scaling), so the pipeline's shape is unchanged. The
    fitted preprocessor carries the scaler, so ``predict`` scales the same way;
    it goes through scikit-learn rather than the preprocessing plan, which reads
    a ``StandardScaler`` only, and sample weights would not weight the scaler
    (``fit`` takes none).

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        With ``preprocessor="auto"``.
    scaler : transformer
        Fitted on the imputed numeric columns in place of ``StandardScaler()``.
    """

    def __init__(self, estimator, scaler):
        self.estimator = estimator
        self.scaler = scaler

    def _patched(self):
        today = preprocessing._numeric_pipeline
        scaler = self.scaler

        def rescaled() -> Pipeline:
            steps = today().steps
            return Pipeline([*steps[:-1], ("scale", clone(scaler))])

        return mock.patch.object(preprocessing, "_numeric_pipeline", rescaled)


def scaling_candidates(kind: str) -> dict:
    """The numeric columns standardised (today's) against two robust alternatives.

    RealMLP-TD's robust scaling with smooth clipping (:class:`RobustSoftClip`),
    which keeps a heavy tail from setting a column's scale, and scikit-learn's
    ``QuantileTransformer`` to a normal distribution, which ranks the values
    first (256 quantiles, all rows).
    """
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    quantiles = QuantileTransformer(
        n_quantiles=256, output_distribution="normal", subsample=None, random_state=SEED
    )
    return {
        "standardised, today's default " + BEFORE: lambda n: estimator(random_state=SEED),
        "robust scaling + smooth clipping (RealMLP-TD)": lambda n: NumericScaling(
            estimator(random_state=SEED), RobustSoftClip()
        ),
        "quantiles to a normal": lambda n: NumericScaling(estimator(random_state=SEED), quantiles),
    }


def _plateau_callbacks(n_fit_rows: int) -> list:
    """``ReduceLROnPlateau`` halving the rate after half the fit's ``patience="auto"`` epochs."""
    import keras

    wait = _rule_budget(n_fit_rows, max_batch=budget.MAX_BATCH)["patience"]
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(2, wait // 2)
        )
    ]


def regularisation_candidates(kind: str) -> dict:
    """The default L2 penalty of 1e-4 (today's) against others, and a learning-rate schedule.

    Fixed penalties ten times stronger and weaker; one that shrinks with the data
    (one over the training rows, as a prior's weight does against a likelihood of
    that many rows: about 8e-3 on 120 rows, 7e-5 on 13 600); and Keras's
    ``ReduceLROnPlateau`` halving Adam's rate whenever the validation loss has
    not improved for half the early-stopping patience (a callback, so the
    compiled engine runs epoch by epoch for it).
    """
    estimator = SafeKerasRegressor if kind == "regression" else SafeKerasClassifier
    return {
        "L2 1e-4, today's default " + BEFORE: lambda n: estimator(random_state=SEED),
        "L2 1e-3": lambda n: estimator(l2=1e-3, random_state=SEED),
        "L2 1e-5": lambda n: estimator(l2=1e-5, random_state=SEED),
        "L2 1 / training rows": lambda n: estimator(
            l2=1.0 / int(n * TRAIN_SHARE), random_state=SEED
        ),
        "rate halved on plateaus": lambda n: estimator(
            callbacks=_plateau_callbacks(n), random_state=SEED
        ),
    }


def regression_candidates(plain_keras: bool) -> dict:
    old = dict(batch_size=256, patience=10, random_state=SEED)
    candidates = {
        TODAY + ", standardised y": lambda n: SafeKerasRegressor(
            target_transform="standard", **old
        ),
        "budget auto, standardised y": lambda n: SafeKerasRegressor(
            target_transform="standard", random_state=SEED
        ),
        "budget auto, loss and target auto (new default)": lambda n: SafeKerasRegressor(
            random_state=SEED
        ),
        "Poisson loss, every table": lambda n: SafeKerasRegressor(
            loss="poisson", random_state=SEED
        ),
        "log1p y, smearing correction": lambda n: SmearedLog1pRegressor(),
        "dropout 0 (new default otherwise)": lambda n: SafeKerasRegressor(
            dropout=0.0, random_state=SEED
        ),
        "HistGradientBoostingRegressor()": lambda n: HistGradientBoostingRegressor(
            categorical_features="from_dtype", random_state=SEED
        ),
        "HistGradientBoostingRegressor(loss='poisson')": lambda n: HistGradientBoostingRegressor(
            loss="poisson", categorical_features="from_dtype", random_state=SEED
        ),
    }
    if plain_keras:
        candidates[PLAIN_KERAS] = lambda n: PlainKerasRegressor(random_state=SEED)
    return candidates


def _pr_auc(y, proba) -> float:
    if proba.shape[1] == 2:
        return float(average_precision_score(y, proba[:, 1]))
    classes = np.arange(proba.shape[1])
    return float(average_precision_score(label_binarize(y, classes=classes), proba))


def _score(kind: str, estimator, X_test, y_test) -> dict:
    if kind == "regression":
        predicted = estimator.predict(X_test)
        return {
            "r2": float(r2_score(y_test, predicted)),
            "mae": float(mean_absolute_error(y_test, predicted)),
        }
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_test, estimator.predict(X_test))),
        "pr_auc": _pr_auc(y_test, estimator.predict_proba(X_test)),
    }


def _categoricals_as_category(X):
    """HistGradientBoosting reads string columns only as pandas categories."""
    if not hasattr(X, "select_dtypes"):
        return X
    X = X.copy()
    for column in X.select_dtypes(exclude="number").columns:
        X[column] = X[column].astype("category")
    return X


def cross_validate_task(name, kind, X, y, candidates: dict) -> dict:
    """Per-fold scores and fit seconds of every candidate, on the same folds."""
    splitter = (KFold if kind == "regression" else StratifiedKFold)(
        FOLDS, shuffle=True, random_state=SEED
    )
    results = {c: {"fit_s": []} for c in candidates}
    take = (lambda A, i: A.iloc[i]) if hasattr(X, "iloc") else (lambda A, i: A[i])
    for fold, (train, test) in enumerate(splitter.split(X, y)):
        for candidate, make in candidates.items():
            estimator = make(len(train))
            X_fit = _categoricals_as_category(X) if "HistGradient" in candidate else X
            started = time.perf_counter()
            estimator.fit(take(X_fit, train), y[train])
            results[candidate]["fit_s"].append(time.perf_counter() - started)
            for metric, value in _score(kind, estimator, take(X_fit, test), y[test]).items():
                results[candidate].setdefault(metric, []).append(value)
            for attribute in (
                "batch_size_",
                "patience_",
                "n_epochs_",
                "target_transform_",
                "loss_",
            ):
                if hasattr(estimator, attribute):
                    results[candidate].setdefault(attribute, []).append(
                        getattr(estimator, attribute)
                    )
        progress(f"{name}: fold {fold + 1}/{FOLDS} done")
    return results


def run_sections(args, saved=lambda results: None) -> dict:
    """Raw per-fold results of every section asked for: {section: {task: {candidate: ...}}}.

    ``saved`` is called with the results so far after every task (a long run keeps what it did).
    """
    out = {}
    for section in args.sections:
        out[section] = {}
        for name, kind, X, y, candidates in _section_tasks(section, args):
            out[section][name] = cross_validate_task(name, kind, X, y, candidates)
            saved(out)
    return out


def _section_tasks(section: str, args):
    """(name, kind, X, y, candidates) of each task of ``section``."""
    if section == "regression":
        tasks, _ = load_real_tasks(("regression",), args.tasks)
        candidates = regression_candidates(args.plain_keras)
        small = {k: v for k, v in candidates.items() if k != PLAIN_KERAS}
        return [
            (t.name, t.kind, t.X, t.y, candidates if len(t.y) <= args.plain_keras_rows else small)
            for t in tasks
        ]
    if section == "cross-fit":
        tasks, _ = load_real_tasks(("regression",), args.tasks)
        return [(t.name, t.kind, t.X, t.y, cross_fit_candidates()) for t in tasks]
    if section == "baseline":
        tasks, _ = load_real_tasks(("regression",), args.tasks)
        return [(t.name, t.kind, t.X, t.y, baseline_candidates()) for t in tasks]
    if section == "logistic":
        tasks, _ = load_real_tasks(("binary", "multiclass"), args.tasks)
        real = [(t.name, t.kind, t.X, t.y, logistic_candidates()) for t in tasks]
        # The default-path generator's data too: clusters a linear model cannot separate.
        generated = [(name, "binary", X, y, logistic_candidates()) for name, X, y in _generated()]
        return real + ([] if args.tasks else generated)
    if section == "refit":
        tasks, _ = load_real_tasks(("binary", "multiclass"), args.tasks)
        real = [(t.name, t.kind, t.X, t.y, refit_candidates()) for t in tasks]
        generated = [(name, "binary", X, y, refit_candidates()) for name, X, y in _generated()]
        return real + ([] if args.tasks else generated)
    if section == "ensemble-stop":
        tasks, _ = load_real_tasks(("binary", "multiclass", "regression"), args.tasks)
        return [(t.name, t.kind, t.X, t.y, ensemble_stop_candidates(t.kind)) for t in tasks]
    if section in MIXED_SECTIONS:
        candidates = {
            "learning-rate": learning_rate_candidates,
            "patience": patience_candidates,
            "embeddings": embedding_candidates,
            "splines": spline_candidates,
            "dropout": dropout_candidates,
            "width": width_candidates,
            "ensemble": ensemble_candidates,
            "scaling": scaling_candidates,
            "regularisation": regularisation_candidates,
        }[section]
        tasks, _ = load_real_tasks(("binary", "multiclass", "regression"), args.tasks)
        real = [(t.name, t.kind, t.X, t.y, candidates(t.kind)) for t in tasks]
        return real + [
            (name, kind, X, y, candidates(kind))
            for name, kind, X, y, _ in _default_path_tasks(args)
        ]
    if section == "threshold":
        tasks, _ = load_real_tasks(("binary",), args.tasks)
        real = [(t.name, t.kind, t.X, t.y, threshold_candidates()) for t in tasks]
        return real + [
            (name, kind, X, y, threshold_candidates())
            for name, kind, X, y, _ in _default_path_tasks(args)
        ]
    if section == "classification":
        tasks, _ = load_real_tasks(("binary", "multiclass"), args.tasks)
        candidates = {
            k: v
            for k, v in classification_candidates().items()
            if "largest batch" not in k  # the real tables are small: the same as the default
        }
        extra = {"multiclass": multiclass_candidates()}
        return [(t.name, t.kind, t.X, t.y, {**candidates, **extra.get(t.kind, {})}) for t in tasks]
    return _default_path_tasks(args)


def _generated(sizes=((600, 30), (3000, 10))):
    """``(name, X, y)`` of the default-path generator at the smaller issue 19 sizes."""
    return [(f"{rows}x{features}", *_default_path_data(rows, features)) for rows, features in sizes]


def _default_path_data(rows: int, features: int):
    return make_classification(
        n_samples=rows, n_features=features, weights=[0.93], flip_y=0.01, random_state=SEED
    )


def _default_path_tasks(args):
    """The default-path data of every ``--sizes``, with the budget candidates."""
    tasks = []
    for rows, features in args.sizes:
        X, y = _default_path_data(rows, features)
        candidates = classification_candidates()
        if budget.auto_batch_size(int(rows * 0.8 * TRAIN_SHARE)) < budget.MAX_BATCH:
            # Below MAX_BATCH the other largest batches resolve to the default's own batch.
            candidates = {k: v for k, v in candidates.items() if "largest batch" not in k}
        tasks.append((f"{rows}x{features}", "binary", X, y, candidates))
    return tasks


# -- the report ------------------------------------------------------------------------------

_METRICS = {
    "regression": (("r2", "R²", True), ("mae", "MAE", False)),
    "classification": (("balanced_accuracy", "bal. acc.", True), ("pr_auc", "PR-AUC", True)),
}


def _baseline_name(candidates) -> str:
    """Today's defaults, or (in the threshold section) the rule marked ``(before)``."""
    today = [c for c in candidates if c.startswith(TODAY)]
    return today[0] if today else next(c for c in candidates if c.endswith(BEFORE))


def _settings(result: dict) -> str:
    parts = []
    for attribute, label in (("batch_size_", "batch"), ("patience_", "patience")):
        values = sorted(set(result.get(attribute, [])))
        if values:
            parts.append(f"{label} {'/'.join(map(str, values))}")
    if result.get("n_epochs_"):
        parts.append(f"epochs {statistics.median(result['n_epochs_']):.0f}")
    transforms = sorted(set(result.get("target_transform_", [])))
    if transforms:
        parts.append("y " + "/".join(transforms))
    auto_losses = {"mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy"}
    losses = sorted(set(result.get("loss_", [])) - auto_losses)
    if losses:  # the regressor's Poisson deviance, where it ran
        parts.append("loss " + "/".join(losses))
    return ", ".join(parts)


def task_table(task: str, results: dict, metrics) -> str:
    name = _baseline_name(results)
    baseline, versus = results[name], "today" if name.startswith(TODAY) else "before"
    header = " | ".join(f"{label} | Δ {label} vs {versus}" for _, label, _ in metrics)
    lines = [
        f"**{task}**",
        "",
        f"| candidate | {header} | fit time (median) | as run |",
        "|---|" + "---:|---:|" * len(metrics) + "---:|---|",
    ]
    for candidate, result in results.items():
        cells = []
        for key, _, higher in metrics:
            cells.append(f"{np.mean(result[key]):.3f}")
            if result is baseline:
                cells.append("—")
            else:
                cells.append(
                    str(compare_paired(result[key], baseline[key], higher_is_better=higher))
                )
        fit = statistics.median(result["fit_s"])
        lines.append(f"| {candidate} | {' | '.join(cells)} | {fit:.2f} s | {_settings(result)} |")
    return "\n".join(lines)


def tally(section_results: dict, metrics) -> str:
    """Wins / ties / losses of every candidate against today's, over the section's tasks."""
    counts = {}
    for results in section_results.values():
        baseline = results[_baseline_name(results)]
        for candidate, result in results.items():
            if result is baseline:
                continue
            for key, label, higher in metrics:
                verdict = compare_paired(result[key], baseline[key], higher_is_better=higher)
                row = counts.setdefault(candidate, {}).setdefault(label, [0, 0, 0])
                row[("win", "tie", "loss").index(verdict.verdict)] += 1
    baselines = {_baseline_name(results) for results in section_results.values()}
    versus = "today" if any(name.startswith(TODAY) for name in baselines) else "before"
    lines = [f"| candidate vs {versus} | " + " | ".join(f"{m[1]} W/T/L" for m in metrics) + " |"]
    lines.append("|---|" + "---:|" * len(metrics))
    for candidate, by_metric in counts.items():
        cells = ["{}/{}/{}".format(*by_metric.get(label, [0, 0, 0])) for _, label, _ in metrics]
        lines.append(f"| {candidate} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(raw: dict) -> str:
    titles = {
        "regression": "## Regression: real tables",
        "classification": "## Classification: real tables",
        "default-path": "## Classification: default-path data (issue 19 sizes)",
        "threshold": "## The binary threshold: the training share against tuning it",
        "learning-rate": "## The learning rate: Adam's own against higher ones",
        "patience": "## The patience: a fixed wait against waits that grow with the best epoch",
        "embeddings": "## Numeric embeddings: spline bases appended to the scaled columns",
        "splines": '## Spline embeddings in the "auto" preprocessor: with and without',
        "dropout": "## Dropout: the default MLP's 0.1 against none and 0.2",
        "width": "## Width: the default MLP's (64, 32) against wider and deeper layers",
        "ensemble": "## Ensembles: one network against 4 and 8 averaged",
        "cross-fit": "## The regressor's members: one shared split against cross-fitted",
        "baseline": "## The regressor's linear baseline: the network alone, or on a residual",
        "logistic": "## The classifier's linear baseline: the network alone, or averaged",
        "ensemble-stop": "## Ensembles: trained until the last member stops, or all but one",
        "scaling": "## Numeric scaling: standardised, robust with smooth clipping, or quantiles",
        "regularisation": "## Regularisation: the L2 penalty, and the rate halved on plateaus",
        "refit": "## Refitting: the early-stopped network, or a second one on every row",
    }
    sections = []
    for section, tasks in raw.items():
        parts = [titles[section]]
        for kind, subset in _by_metrics(section, tasks).items():
            metrics = _METRICS[kind]
            parts.append(tally(subset, metrics))
            parts += [task_table(task, results, metrics) for task, results in subset.items()]
        sections.append("\n\n".join(parts))
    return "\n\n".join(sections)


# Sections run on the tables of both kinds.
MIXED_SECTIONS = (
    "learning-rate",
    "patience",
    "embeddings",
    "splines",
    "dropout",
    "width",
    "ensemble",
    "ensemble-stop",
    "scaling",
    "regularisation",
)


def _by_metrics(section: str, tasks: dict) -> dict:
    """The section's tasks grouped by the metrics they report: "classification", "regression".

    A section mixing both (the learning rate's, the patience's, the embeddings') is told
    apart by its tasks' scores.
    """
    if section not in MIXED_SECTIONS:
        kind = (
            "regression" if section in ("regression", "cross-fit", "baseline") else "classification"
        )
        return {kind: tasks}
    groups = {}
    for task, results in tasks.items():
        kind = "regression" if "r2" in next(iter(results.values())) else "classification"
        groups.setdefault(kind, {})[task] = results
    return groups


SECTIONS = (
    "regression",
    "classification",
    "default-path",
    "threshold",
    "learning-rate",
    "patience",
    "embeddings",
    "splines",
    "dropout",
    "width",
    "ensemble",
    "cross-fit",
    "ensemble-stop",
    "scaling",
    "regularisation",
    "baseline",
    "logistic",
    "refit",
)
# Sections of candidates that are no default yet: run only when asked for by name.
EXPERIMENTS = ("embeddings", "dropout", "width", "scaling", "regularisation", "refit")
# Sections whose page block holds several seeds pooled (--from-json ... --pool): run only when
# asked for by name, so that a default run does not replace them with one seed's tables.
POOLED = ("splines", "baseline", "logistic")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=None,
        help=f"default: all but the experiments ({', '.join(EXPERIMENTS)}) and the sections "
        f"the page shows pooled over seeds ({', '.join(POOLED)})",
    )
    parser.add_argument("--tasks", nargs="+", default=None, help="real task names to keep")
    parser.add_argument(
        "--seed",
        type=int,
        default=SEED,
        help="seed of the folds, the estimators and the generated data (default 0)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=lambda text: tuple(int(v) for v in text.split("x")),
        default=None,
        help="default-path sizes as ROWSxFEATURES",
    )
    parser.add_argument("--no-plain-keras", dest="plain_keras", action="store_false")
    parser.add_argument(
        "--plain-keras-rows",
        type=int,
        default=PLAIN_KERAS_ROWS,
        help="run the plain Keras reference on regression tables of at most this many rows",
    )
    parser.add_argument("--quick", action="store_true", help="one small task per section")
    parser.add_argument("--json", type=Path, default=None, help="write the per-fold results")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, help="only render")
    parser.add_argument(
        "--pool",
        action="store_true",
        help="with --from-json: files of the same sections run at other --seed values, their "
        "folds pooled per table (15 paired folds from 3 seeds) instead of the last file kept",
    )
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="a page whose text between the defaults:tables markers (defaults:<section> "
        "for the threshold, learning-rate, patience, embeddings, dropout, width, ensemble, "
        "cross-fit, ensemble-stop, scaling, regularisation, splines and baseline sections) the "
        "tables replace",
    )
    args = parser.parse_args(argv)
    sections = [section for section in SECTIONS if section not in EXPERIMENTS + POOLED]
    fill_defaults(
        args,
        quick={"sections": sections, "tasks": ["diabetes", "wine"], "sizes": [(600, 30)]},
        full={"sections": sections, "sizes": list(DEFAULT_PATH_SIZES)},
    )
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    global SEED
    SEED = args.seed  # read by the candidates, the folds and the generated data
    if args.from_json:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.from_json]
        raw = pooled(runs) if args.pool else {}
        for run in [] if args.pool else runs:
            raw.update(run)
    else:
        if args.docs:  # before the run, not after an hour of it
            check_markers(args.docs, _docs_blocks(dict.fromkeys(args.sections)))

        def saved(results):
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=_json_default), "utf-8")

        raw = run_sections(args, saved)
    report = render(raw)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n", encoding="utf-8")
    if args.docs:
        for name, part in _docs_blocks(raw).items():
            write_between_markers(args.docs, render(part), name)
    return report


def pooled(runs: list[dict]) -> dict:
    """The per-fold results of several runs of the same sections, folds appended run by run.

    Each run's folds are paired within the run (the same folds for every
    candidate), so appending keeps every pair; the paired rule then judges all
    of them together, as one repeated cross-validation. A task or candidate
    missing from a run contributes that run's folds nowhere.
    """
    out: dict = {}
    for run in runs:
        for section, tasks in run.items():
            for task, candidates in tasks.items():
                for candidate, result in candidates.items():
                    into = out.setdefault(section, {}).setdefault(task, {})
                    into = into.setdefault(candidate, {})
                    for key, values in result.items():
                        into[key] = [*into.get(key, []), *values]
    return out


DOCS_START, DOCS_END = "<!-- defaults:tables:start -->", "<!-- defaults:tables:end -->"
# Sections whose tables fill their own block of the page (defaults:<section>).
OWN_BLOCKS = tuple(
    section
    for section in SECTIONS
    if section not in ("regression", "classification", "default-path")
)


def _docs_blocks(raw: dict) -> dict:
    """The sections run, by the page block they fill: their own, else "tables"."""
    blocks = {}
    for section, tasks in raw.items():
        block = section if section in OWN_BLOCKS else "tables"
        blocks.setdefault(block, {})[section] = tasks
    return blocks


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- defaults:{name}:start -->", f"<!-- defaults:{name}:end -->"


def check_markers(path: Path, names) -> None:
    """Stop, saying which, if ``path`` lacks the ``defaults:<name>`` markers of any of ``names``."""
    text = path.read_text(encoding="utf-8")
    for name in names:
        start_marker, end_marker = _markers(name)
        start, end = text.find(start_marker), text.find(end_marker)
        if start < 0 or end < start:
            raise SystemExit(
                f"{path} has no {start_marker} ... {end_marker} markers: add them where the "
                f"{name} tables go, or leave --docs out and render later with --from-json"
            )


def write_between_markers(path: Path, block: str, name: str = "tables") -> None:
    """Replace the text of ``path`` between its ``defaults:<name>`` markers with ``block``."""
    check_markers(path, [name])
    start_marker, end_marker = _markers(name)
    text = path.read_text(encoding="utf-8")
    start, end = text.find(start_marker), text.find(end_marker)
    head, tail = text[: start + len(start_marker)], text[end:]
    path.write_text(f"{head}\n{block}\n{tail}", encoding="utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
