"""The fitted network as the last step of the estimator's ``pipeline_``."""

from __future__ import annotations

import threading

import numpy as np
from sklearn.base import BaseEstimator

from ..deploy.network_bytes import model_from_bytes, model_to_bytes
from .deferred import DeferredNetwork
from .inference import plan_forward, sigmoid, softmax
from .parallel import limit_worker_threads

__all__ = ["PREDICT_CHUNK", "FittedNetwork", "input_dtype", "row_chunks"]

# Rows per forward pass at predict time: large enough to amortise the call,
# small enough not to hold a second copy of a big batch.
PREDICT_CHUNK = 8192
# Builds deferred networks one at a time, so that concurrent first reads build one network.
_build_lock = threading.RLock()


def row_chunks(n_rows: int) -> list[slice]:
    """Row slices of at most PREDICT_CHUNK rows covering ``range(n_rows)`` (one if empty)."""
    starts = range(0, max(n_rows, 1), PREDICT_CHUNK)
    return [slice(start, start + PREDICT_CHUNK) for start in starts]


def input_dtype(model) -> str:
    """The dtype the network's first layer computes in ("float32" unless built otherwise)."""
    if isinstance(model, DeferredNetwork):
        return model.dtype
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
    linear_baseline : LinearBaseline, LogisticBaseline or None, default=None
        A regressor's fitted ridge whose residual the network learnt
        (:mod:`~safekeras.network.linear_baseline`), or a classifier's
        logistic regression averaged with it
        (:mod:`~safekeras.network.logistic_baseline`): ``predict`` returns
        ``linear_baseline.combine(X, outputs)``, the transformed target or
        the averaged probabilities.

    Attributes
    ----------
    model_ : keras.Model
        The trained network. A default MLP trained without being built
        (:mod:`~safekeras.network.deferred`) is built when this is first
        read; ``predict`` does not need it.
    """

    def __init__(self, logits_activation=None, linear_baseline=None):
        self.logits_activation = logits_activation
        self.linear_baseline = linear_baseline

    @classmethod
    def from_trained(cls, model, logits_activation=None, linear_baseline=None) -> FittedNetwork:
        """Wrap a network the estimator has just trained.

        Parameters
        ----------
        model : keras.Model or DeferredNetwork
            The trained network; a deferred one that was built is read as its
            Keras network.
        logits_activation : {None, "sigmoid", "softmax"}, default=None
        linear_baseline : LinearBaseline, LogisticBaseline or None, default=None

        Returns
        -------
        FittedNetwork
        """
        network = cls(logits_activation=logits_activation, linear_baseline=linear_baseline)
        if isinstance(model, DeferredNetwork) and model.model is not None:
            model = model.model
        if isinstance(model, DeferredNetwork):
            network._deferred = model  # model_ is built when first read (__getattr__)
            return network
        network.model_ = model
        network._forward(model)  # planned now: predict never changes the object
        return network

    def without_activation(self) -> FittedNetwork:
        """The same trained network, its outputs read as they are (logits stay logits).

        Without the linear baseline too: the outputs are what the network was
        trained to give.

        Returns
        -------
        FittedNetwork
        """
        model, deferred = self._model_or_deferred()
        return FittedNetwork.from_trained(model if model is not None else deferred)

    def without_baseline(self) -> FittedNetwork:
        """The same trained network, its activation applied, without the linear baseline.

        Returns
        -------
        FittedNetwork
        """
        model, deferred = self._model_or_deferred()
        return FittedNetwork.from_trained(
            model if model is not None else deferred, logits_activation=self.logits_activation
        )

    def fit(self, X, y=None, **fit_params):
        raise TypeError(
            "FittedNetwork is trained by its SafeKeras estimator; call fit on the estimator."
        )

    def __sklearn_is_fitted__(self) -> bool:
        return "model_" in self.__dict__ or "_deferred" in self.__dict__

    def __getattr__(self, name):
        # Only for attributes not set: model_ of a deferred network, built once, on first read.
        deferred = self.__dict__.get("_deferred") if name == "model_" else None
        if deferred is None:
            if name == "model_" and "model_" in self.__dict__:  # built by another thread
                return self.__dict__["model_"]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with _build_lock:
            if "model_" not in self.__dict__:
                self.__dict__["model_"] = deferred.build_model()
                # The network holds it all now (and predicts: it may be changed). A predict
                # that read neither is sent to model_ (see _forward_and_dtype).
                self.__dict__.pop("_deferred", None)
        return self.__dict__["model_"]

    def input_dtype(self) -> str:
        """The dtype ``predict`` feeds the network (see :func:`input_dtype`)."""
        return self._forward_and_dtype()[1]

    def compute_dtype(self) -> str:
        """The dtype the network computes in (its input dtype unless mixed precision)."""
        model, deferred = self._model_or_deferred()
        if model is None:
            return deferred.dtype
        return getattr(model, "compute_dtype", None) or input_dtype(model)

    def predict(self, X) -> np.ndarray:
        """Network outputs for ``X`` (already preprocessed), shape (n_samples, n_outputs)."""
        forward, dtype = self._forward_and_dtype()
        X = np.asarray(X, dtype=dtype)
        chunks = [np.asarray(forward(X[rows])) for rows in row_chunks(len(X))]
        outputs = np.concatenate(chunks).astype(np.float64, copy=False)
        if self.logits_activation == "sigmoid":
            outputs = sigmoid(outputs)
        elif self.logits_activation == "softmax":
            outputs = softmax(outputs)
        if self.linear_baseline is not None:
            outputs = self.linear_baseline.combine(X, outputs)
        return outputs

    def _forward_and_dtype(self):
        """The forward pass and its input dtype: the Keras network's once built, else the plan's."""
        model, deferred = self._model_or_deferred()
        if model is None:
            return deferred.forward, deferred.dtype
        return self._forward(model), input_dtype(model)

    def _model_or_deferred(self):
        """``(model_, None)`` once built, else ``(None, the deferred network)``.

        Read in this order, so that a network built by another thread meanwhile
        is found (it is set before the deferred one is dropped).
        """
        deferred = self.__dict__.get("_deferred")
        model = self.__dict__.get("model_")
        if model is None and deferred is None:
            model = self.model_  # AttributeError when not fitted, as before
        return (model, None) if model is not None else (None, deferred)

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
        if "_deferred" in self.__dict__:
            self.model_  # noqa: B018 - pickled as the Keras network, as before (built here)
        state = dict(super().__getstate__())
        state.pop("_deferred", None)  # the built network holds all of it
        state.pop("_forward_cache", None)  # rebuilt on first use
        if "model_" in state:
            state["model_"] = model_to_bytes(state["model_"])
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state.setdefault("linear_baseline", None)  # saved before the estimators had one
        if "model_" in state:
            limit_worker_threads()  # unpickled in a search's worker: before TF starts
            state["model_"] = model_from_bytes(state["model_"])
        super().__setstate__(state)
        if "model_" in state:
            self._forward(self.model_)
