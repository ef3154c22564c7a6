"""What one ``fit`` carries from step to step, and the transaction around it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ..data.schema import InputSchema
from ..data.targets import TargetSpec

__all__ = ["FitData", "Rows", "fit_transaction"]


@dataclass
class FitData:
    """What the data-reading step of ``fit`` learnt about ``X``, ``y`` and the weights."""

    X: object
    input_schema: InputSchema
    spec: TargetSpec
    y_encoded: np.ndarray
    target_attributes: dict
    declared_dtype: str | None
    weights: np.ndarray
    kept: np.ndarray  # rows with a positive weight


@dataclass
class Rows:
    """The training and validation rows as the network gets them."""

    x_train: np.ndarray
    y_train: np.ndarray
    w_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    w_val: np.ndarray | None  # as given: the threshold search reads these
    w_val_fit: np.ndarray | None  # with class weights: the validation loss reads these


@contextlib.contextmanager
def fit_transaction(estimator):
    """Leave the estimator's fitted state exactly as it was if ``fit`` raises."""
    before = {k: v for k, v in vars(estimator).items() if k.endswith("_")}
    try:
        yield
    except BaseException:
        for key in [k for k in vars(estimator) if k.endswith("_") and k not in before]:
            delattr(estimator, key)
        vars(estimator).update(before)
        raise
