"""Real tables for the quality benchmarks: the CSVs of ``../shared/data`` and bundled sets.

Each :class:`RealTask` is one prediction task on one table, as its README
suggests: the target column, what to drop (columns that leak the target), and
the kind of target. Tables come as pandas DataFrames with their string
categories and gaps as they are, so every contender meets them the way a user
would. A CSV that is absent is skipped by :func:`load_real_tasks`, which says
why; nothing is downloaded.

Binary targets are coded 1 for the minority (positive) class, as in
:mod:`benchmarks.datasets`; multiclass targets are coded 0..k-1 in sorted
order; regression targets are float.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

KINDS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class RealTask:
    """One task: a target on one real table.

    Attributes
    ----------
    name : str
        Short key, ``<table>-<target>``.
    kind : {"binary", "multiclass", "regression"}
    X : pandas.DataFrame
        The features, string categories and gaps left as they are.
    y : ndarray
        Integer labels (binary: 1 = minority) or float targets.
    source : str
        Where the table comes from, for the report.
    groups : ndarray or None
        For a panel (rows of one unit that share their features, e.g. a person's
        yearly rows): the unit of each row. Cross-validation then keeps a unit's
        rows on one side of a split (``GroupKFold``): shuffled folds would put its
        other rows in the training split, where a model can memorise them.
    """

    name: str
    kind: str
    X: pd.DataFrame
    y: np.ndarray
    source: str
    groups: np.ndarray | None = None

    @property
    def summary(self) -> str:
        rows, columns = self.X.shape
        categorical = sum(not pd.api.types.is_numeric_dtype(dtype) for dtype in self.X.dtypes)
        shape = f"{rows} x {columns} ({categorical} categorical)"
        if self.kind == "binary":
            return f"{shape}, {np.mean(self.y):.0%} positive"
        if self.kind == "multiclass":
            counts = np.bincount(self.y)
            return f"{shape}, {len(counts)} classes ({counts.min()} to {counts.max()} rows)"
        skew = pd.Series(self.y).skew()
        return f"{shape}, target skew {skew:.1f}"


# Panels: tables whose rows of one unit share their features. randhie holds 20 190 rows but
# 2 760 distinct feature rows (each person's yearly doctor visits); the person is not a
# column, so a unit is a distinct feature row (measured: the mean of a row's identical-feature
# siblings alone reaches R² 0.24 on shuffled folds, where every contender ties with grouped ones).
_PANELS = frozenset({"randhie"})

# (table, target, kind, columns to drop besides the target, how to make a binary target)
_CSV_TASKS = [
    ("college", "Private", "binary", (), None),
    ("college", "Grad.Rate", "regression", (), None),
    ("carseats", "Sales", "regression", (), None),
    ("carseats", "Sales", "binary", (), 8.0),  # Sales > 8, as in ISLP's lab
    ("wage", "wage", "regression", ("logwage",), None),
    ("wage", "health_ins", "binary", ("logwage", "wage"), None),
    ("wage", "education", "multiclass", ("logwage", "wage"), None),
    ("bikeshare", "bikers", "regression", ("casual", "registered"), None),
    ("anes96", "vote", "binary", (), None),
    ("anes96", "PID", "multiclass", ("vote",), None),
    ("randhie", "mdvis", "regression", (), None),
]


def _minority_coded(values: np.ndarray) -> np.ndarray:
    labels, counts = np.unique(values, return_counts=True)
    if len(labels) != 2:
        raise ValueError(f"a binary task needs two labels, got {len(labels)}")
    return (values == labels[np.argmin(counts)]).astype(int)


def _target(frame: pd.DataFrame, column: str, kind: str, cut) -> np.ndarray:
    values = frame[column].to_numpy()
    if kind == "regression":
        return values.astype(float)
    if cut is not None:
        values = values > cut
    if kind == "binary":
        return _minority_coded(values)
    return np.unique(values, return_inverse=True)[1].astype(int)


def _csv_task(table: str, target: str, kind: str, drop, cut) -> RealTask:
    frame = pd.read_csv(DATA_DIR / f"{table}.csv")
    suffix = target if cut is None else f"{target}>{cut:g}"
    X = frame.drop(columns=[target, *drop])
    return RealTask(
        name=f"{table}-{suffix}",
        kind=kind,
        X=X,
        y=_target(frame, target, kind, cut),
        source=f"../shared/data/{table}.csv",
        groups=feature_row_groups(X) if table in _PANELS else None,
    )


def feature_row_groups(X: pd.DataFrame) -> np.ndarray:
    """One group per distinct feature row of ``X`` (its index among the distinct rows)."""
    return X.groupby(list(X.columns), dropna=False, sort=False).ngroup().to_numpy()


def _bundled_tasks() -> list[RealTask]:
    cancer = load_breast_cancer(as_frame=True)
    wine = load_wine(as_frame=True)
    diabetes = load_diabetes(as_frame=True, scaled=False)
    return [
        RealTask(
            "breast_cancer",
            "binary",
            cancer.data,
            _minority_coded(cancer.target.to_numpy()),
            "sklearn.datasets.load_breast_cancer",
        ),
        RealTask(
            "wine", "multiclass", wine.data, wine.target.to_numpy(), "sklearn.datasets.load_wine"
        ),
        RealTask(
            "diabetes",
            "regression",
            diabetes.data,
            diabetes.target.to_numpy(dtype=float),
            "sklearn.datasets.load_diabetes",
        ),
    ]


def load_real_tasks(kinds=KINDS, names=None) -> tuple[list[RealTask], list[str]]:
    """The real tasks of the given kinds, and a line for each CSV that is absent.

    Parameters
    ----------
    kinds : iterable of str
        Which kinds of target to keep.
    names : iterable of str or None
        Keep only tasks with these names (None keeps all).

    Returns
    -------
    tasks : list of RealTask
    skipped : list of str
        "<table>: <why>" for each task whose CSV could not be read.
    """
    tasks, skipped = [], []
    for table, target, kind, drop, cut in _CSV_TASKS:
        if kind not in kinds:
            continue
        try:
            tasks.append(_csv_task(table, target, kind, drop, cut))
        except FileNotFoundError:
            skipped.append(f"{table}: {DATA_DIR / (table + '.csv')} is absent")
    tasks += [task for task in _bundled_tasks() if task.kind in kinds]
    if names is not None:
        wanted = set(names)
        tasks = [task for task in tasks if task.name in wanted]
    return tasks, skipped
