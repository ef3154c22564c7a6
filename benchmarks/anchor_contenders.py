"""The anchors benchmark's contenders: safekeras's defaults and the strongest peers, one each.

Every contender is an :class:`Anchor`: a name and ``make(task, args)``, which returns a
fresh estimator for a :class:`benchmarks.real_tables.RealTask`, or raises
:class:`Unavailable` with the reason its row shows (a package that does not import, a kind
of target it does not handle). Peers are configured as their own documentation recommends;
those that cannot take a mixed DataFrame get ``careful_keras.careful_preprocessor`` in
front (median / most frequent imputation, standard scaling, one-hot encoding); safekeras
and HistGradientBoosting take the frame as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.model_selection import GridSearchCV, TunedThresholdClassifierCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from benchmarks.careful_keras import careful_preprocessor
from benchmarks.contenders import KERAS_BATCH_SIZE, TUNED_CV, build_tutorial_network
from benchmarks.contenders import make_careful_keras as make_careful_keras_pipeline
from benchmarks.real_tables import RealTask

SAFEKERAS = "safekeras default"
LINEAR = "tuned linear"
HGB = "tuned HGB"
MLP = "MLP default"
MLP_EARLY = "MLP early stopping"
CAREFUL_KERAS = "careful Keras"
SCIKERAS = "SciKeras"
REALMLP = "RealMLP-TD"
TABM = "TabM-D"

# HistGradientBoosting's search: learning rate x leaves, the two settings that set how much
# each boosting iteration learns (the number of iterations is left to its own early stopping
# above 10 000 rows). 4 candidates x 3 internal folds keep it cheap enough to run inside the
# threshold tuner's 5 fits; log-loss (classes) or R² chooses.
HGB_GRID = {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]}
HGB_SEARCH_CV = 3
RIDGE_ALPHAS = np.logspace(-3, 3, 13)


class Unavailable(Exception):
    """A contender that cannot run on a task here; the message is the reason its row shows."""


def _as_category(frame: pd.DataFrame) -> pd.DataFrame:
    """String columns as pandas ``category``, which ``categorical_features="from_dtype"`` reads."""
    columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.astype(dict.fromkeys(columns, "category"))


def tune_threshold(estimator, task: RealTask, args):
    """Binary: the threshold tuned for balanced accuracy out of fold; otherwise the estimator."""
    if task.kind != "binary":
        return estimator
    return TunedThresholdClassifierCV(
        estimator, scoring="balanced_accuracy", cv=TUNED_CV, random_state=args.seed
    )


def make_safekeras(task: RealTask, args):
    from safekeras import SafeKerasClassifier, SafeKerasRegressor

    params = {} if args.epochs is None else {"epochs": args.epochs}
    kind = SafeKerasRegressor if task.kind == "regression" else SafeKerasClassifier
    return kind(random_state=args.seed, **params)


def make_linear(task: RealTask, args):
    """``RidgeCV``, or ``LogisticRegressionCV`` (L2, C by log-loss) behind a tuned threshold."""
    if task.kind == "regression":
        return make_pipeline(careful_preprocessor(task.X), RidgeCV(alphas=RIDGE_ALPHAS))
    logistic = LogisticRegressionCV(
        l1_ratios=(0.0,),
        scoring="neg_log_loss",
        max_iter=1000,
        use_legacy_attributes=False,
    )
    return tune_threshold(make_pipeline(careful_preprocessor(task.X), logistic), task, args)


def make_hgb(task: RealTask, args):
    """HistGradientBoosting on the frame, a 4-candidate search, the threshold tuned on top."""
    regression = task.kind == "regression"
    kind = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    params = {} if args.hgb_max_iter is None else {"max_iter": args.hgb_max_iter}
    model = make_pipeline(
        FunctionTransformer(_as_category),
        kind(categorical_features="from_dtype", random_state=args.seed, **params),
    )
    grid = {f"{type(model[-1]).__name__.lower()}__{k}": v for k, v in HGB_GRID.items()}
    search = GridSearchCV(
        model, grid, cv=HGB_SEARCH_CV, scoring="r2" if regression else "neg_log_loss"
    )
    return tune_threshold(search, task, args)


def _mlp(task: RealTask, args, **params):
    kind = MLPRegressor if task.kind == "regression" else MLPClassifier
    limit = {} if args.mlp_max_iter is None else {"max_iter": args.mlp_max_iter}
    return make_pipeline(
        careful_preprocessor(task.X), kind(random_state=args.seed, **limit, **params)
    )


def make_mlp(task: RealTask, args):
    return _mlp(task, args)


def make_mlp_early(task: RealTask, args):
    return _mlp(task, args, early_stopping=True)


def make_careful_keras(task: RealTask, args):
    """The careful Keras pipeline, shared with quality.py (``contenders.make_careful_keras``)."""
    params = {} if args.epochs is None else {"epochs": args.epochs}
    return make_careful_keras_pipeline(
        task.X, regression=task.kind == "regression", random_state=args.seed, **params
    )


def build_scikeras_regressor(meta):
    """SciKeras's regression builder: the tutorial network with one linear output."""
    return build_tutorial_network(meta["n_features_in_"], 1, "linear")


def make_scikeras(task: RealTask, args):
    """As :func:`benchmarks.contenders.make_scikeras`: the tutorial network, 30 epochs, batch 32."""
    try:
        from scikeras.wrappers import KerasClassifier, KerasRegressor
    except ImportError as error:
        raise Unavailable(f"scikeras does not import: {error}") from error
    from benchmarks.contenders import build_for_scikeras

    common = {
        "optimizer": "adam",
        "epochs": args.keras_epochs,
        "batch_size": KERAS_BATCH_SIZE,
        "verbose": 0,
        "random_state": args.seed,
    }
    if task.kind == "regression":
        model = KerasRegressor(model=build_scikeras_regressor, loss="mse", **common)
    else:
        loss = "binary_crossentropy" if task.kind == "binary" else "sparse_categorical_crossentropy"
        model = KerasClassifier(model=build_for_scikeras, loss=loss, **common)
    return make_pipeline(careful_preprocessor(task.X), model)


def _pytabkit(name: str, task: RealTask, args):
    """A pytabkit model at its defaults, on CPU, limited to ``--threads`` (or all) threads."""
    try:
        import pytabkit
    except ImportError as error:
        raise Unavailable(
            f"pytabkit does not import ({error}); run this contender in an environment of its "
            "own with torch (CPU) and pytabkit installed: torch and TensorFlow do not share "
            "one process (benchmarks/README.md)"
        ) from error
    kind = getattr(pytabkit, f"{name}_{'Regressor' if task.kind == 'regression' else 'Classifier'}")
    model = kind(random_state=args.seed, n_threads=args.threads or None, device="cpu", verbosity=0)
    return make_pipeline(FunctionTransformer(_as_category), model)


def make_realmlp(task: RealTask, args):
    return _pytabkit("RealMLP_TD", task, args)


def make_tabm(task: RealTask, args):
    return _pytabkit("TabM_D", task, args)


@dataclass(frozen=True)
class Anchor:
    """One row of the tables: a name and ``make(task, args)``."""

    name: str
    make: Callable[[RealTask, argparse.Namespace], object]
    description: str


ANCHORS = (
    Anchor(SAFEKERAS, make_safekeras, "`SafeKerasClassifier` / `SafeKerasRegressor`, defaults"),
    Anchor(
        LINEAR,
        make_linear,
        "binary: `TunedThresholdClassifierCV(LogisticRegressionCV, balanced_accuracy)`; "
        "multiclass: `LogisticRegressionCV`; regression: `RidgeCV` (13 alphas)",
    ),
    Anchor(
        HGB,
        make_hgb,
        "`HistGradientBoosting*` (categories from dtype) in `GridSearchCV` over learning_rate "
        "{0.05, 0.1} x max_leaf_nodes {15, 31} (cv 3); binary: threshold tuned on top",
    ),
    Anchor(MLP, make_mlp, "`MLPClassifier` / `MLPRegressor` at scikit-learn's defaults"),
    Anchor(MLP_EARLY, make_mlp_early, "the same with `early_stopping=True`"),
    Anchor(
        CAREFUL_KERAS,
        make_careful_keras,
        "Keras `Dense(64)-Dense(32)`, batch 32, early stopping (patience 10, best weights) on "
        "a 20 % split, balanced class weights, standardised regression target "
        "(`benchmarks.careful_keras`, shared with quality.py)",
    ),
    Anchor(
        SCIKERAS,
        make_scikeras,
        "SciKeras `KerasClassifier` / `KerasRegressor` of the tutorial network, `--keras-epochs` "
        "(30) epochs, batch 32, after the scaler and one-hot encoder",
    ),
    Anchor(REALMLP, make_realmlp, "pytabkit `RealMLP_TD_*` at its defaults (optional)"),
    Anchor(TABM, make_tabm, "pytabkit `TabM_D_*` at its defaults (optional)"),
)

QUICK_ANCHORS = (SAFEKERAS, LINEAR, HGB, MLP_EARLY)
