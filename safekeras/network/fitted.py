"""The fitted network as the last step of the estimator's ``pipeline_``."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from ..deploy.network_bytes import model_from_bytes, model_to_bytes
from .inference import plan_forward
from .parallel import limit_worker_threads

__all__ = ["PREDICT_CHUNK", "FittedNetwork", "input_dtype", "row_chunks"]

# Rows per forward pass at predict time: large enough to amortise the call,
# small enough not to hold a second copy of a big batch.
PREDICT_CHUNK = 8192


def row_chunks(n_rows: int) -> list[slice]:
    """Row slices of at most PREDICT_CHUNK rows covering ``range(n_rows)`` (one if empty)."""
    starts = range(0, max(n_rows, 1), PREDICT_CHUNK)
    return [slice(start, start + PREDICT_CHUNK) for start in starts]


def input_dtype(model) -> str:
    """The dtype the network's first layer computes in ("float32" unless built otherwise)."""
    try:
        return str(model.inputs[0].dtype)
    except (AttributeError, IndexError, ValueError):
        return "float32"


class FittedNetwork(BaseEstimator):
    """A trained Keras network behind the scikit-learn ``predict`` interface.

    ``predict(X)`` returns the network's outputs as probabilities (or, for
    regression, standardised predictions) in float64, applying the output
    activation when the network was trained on logits. It is created by
    :class:`~safekeras.SafeKerasClassifier` and
    :class:`~safekeras.SafeKerasRegressor`; it is never fitted on its own.

    Parameters
    ----------
    logits_activation : {None, "sigmoid", "softmax"}
        Activation to apply to the outputs at predict time, for networks
        trained with ``from_logits=True``.

    Attributes
    ----------
    model_ : keras.Model
        The trained network.
    """

    def __init__(self, logits_activation=None):
        self.logits_activation = logits_activation

    @classmethod
    def from_trained(cls, model, logits_activation=None) -> FittedNetwork:
        """Wrap a network the estimator has just trained."""
        network = cls(logits_activation=logits_activation)
        network.model_ = model
        network._forward(model)  # planned now: predict never changes the object
        return network

    def fit(self, X, y=None, **fit_params):
        raise TypeError(
            "FittedNetwork is trained by its SafeKeras estimator; call fit on the estimator."
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def predict(self, X) -> np.ndarray:
        """Network outputs for ``X`` (already preprocessed), shape (n_samples, n_outputs)."""
        model = self.model_
        forward = self._forward(model)
        X = np.asarray(X, dtype=input_dtype(model))
        chunks = [np.asarray(forward(X[rows])) for rows in row_chunks(len(X))]
        outputs = np.concatenate(chunks).astype(np.float64, copy=False)
        if self.logits_activation == "sigmoid":
            outputs = 1.0 / (1.0 + np.exp(-outputs))
        elif self.logits_activation == "softmax":
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            outputs = shifted / shifted.sum(axis=1, keepdims=True)
        return outputs

    def _forward(self, model):
        """The fastest exact forward pass: numpy when the network allows it, else Keras.

        Planned once per network object; the plan reads the current weights on
        every call, so it never goes stale.
        """
        cached = self.__dict__.get("_forward_cache")
        if cached is None or cached[0] is not model:
            plan = plan_forward(model)
            cached = (model, plan if plan is not None else model.predict_on_batch)
            self._forward_cache = cached  # a tuple: threads see the old or the new one
        return cached[1]

    def __getstate__(self) -> dict:
        # A copy: on Python >= 3.11 the base implementation returns the live __dict__.
        state = dict(super().__getstate__())
        state.pop("_forward_cache", None)  # rebuilt on first use
        if "model_" in state:
            state["model_"] = model_to_bytes(state["model_"])
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "model_" in state:
            limit_worker_threads()  # unpickled in a search's worker: before TF starts
            state["model_"] = model_from_bytes(state["model_"])
        super().__setstate__(state)
        if "model_" in state:
            self._forward(self.model_)
