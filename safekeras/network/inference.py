"""Predicting with numpy for networks made of standard dense layers.

Every Keras entry point costs far more than a small network's arithmetic:
``model.predict`` about 56 ms per call, ``predict_on_batch`` about 0.3 ms plus
a ``tf.function`` traced (and kept in memory) for every new model. For the
networks tabular data gets (the default MLP, or a user's ``Sequential`` of
``Dense``, ``Dropout``, ``BatchNormalization`` ...) the forward pass is a few
matrix products, which numpy runs in microseconds for one row and as fast as
Keras for ten thousand.

:func:`plan_forward` turns such a network into a :class:`ForwardPlan`: the
list of its layers' inference-time operations. The plan holds *no copy* of
the weights: each call reads the layers' current variables, so a network
changed after ``fit`` (e.g. fine-tuned by the user) is predicted as it is now.
Anything the plan does not know (another layer type, a custom activation,
mixed precision, quantised or LoRA layers, a functional graph, an accelerator
where the network's weights live) makes :func:`plan_forward` return None and
the caller uses Keras. A new plan is also checked against Keras on a probe
batch before it is used, and dropped if the two disagree.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engine.shared import keep_recent, without_names_and_seeds

__all__ = ["ForwardPlan", "as_numpy", "plan_forward", "sigmoid", "softmax"]

# Agreement asked of the numpy plan with Keras on the probe batch (float32 arithmetic).
_PROBE_RTOL = 1e-4
_PROBE_ATOL = 1e-5
_PROBE_ROWS = 16
# Architectures whose plan agreed with Keras on the probe in this process. A plan's steps
# follow from the layers' kinds and settings, never from the weights, so one check per
# architecture suffices: the probe is an eager Keras call, about 1.5 ms of every fit.
_AGREED_SIZE = 64
_agreed: OrderedDict = OrderedDict()
_agreed_lock = threading.Lock()


def sigmoid(x):
    """The logistic function of ``x``, in its dtype."""
    # exp overflows for very negative inputs; the limit (0) is the right answer.
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype, copy=False)


def softmax(x):
    """The softmax of ``x`` over its last axis."""
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _elu(x, alpha=1.0):
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _gelu(x):
    from scipy.special import erf

    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

# Keras activation name -> its inference-time numpy equivalent. Each may overwrite its
# argument: they are applied to buffers the plan has just allocated (see _Step).
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "relu6": lambda x: np.clip(x, 0, 6, out=x),
    "leaky_relu": lambda x: np.where(x >= 0, x, np.float32(0.2) * x).astype(x.dtype, copy=False),
    "elu": _elu,
    "selu": lambda x: (_SELU_SCALE * _elu(x, _SELU_ALPHA)).astype(x.dtype, copy=False),
    "sigmoid": sigmoid,
    "tanh": lambda x: np.tanh(x, out=x),
    "softmax": softmax,
    "log_softmax": _log_softmax,
    "softplus": lambda x: np.logaddexp(np.zeros((), x.dtype), x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * sigmoid(x),
    "gelu": _gelu,
    "exponential": np.exp,
}

# Layers that are the identity at inference time.
_IDENTITY_LAYERS = (
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
    "Identity",
    "InputLayer",
)


@dataclass(frozen=True)
class _Step:
    """One layer's inference-time operation and the variables it reads.

    ``apply(x, *weights)`` must not write into ``x`` (the first step gets the
    caller's array); it may write into arrays it allocates, which is why the
    activations work in place: on ten thousand rows, allocating a new array
    for the bias and for the activation triples the time of a dense layer.
    """

    apply: Callable[..., np.ndarray]
    variables: tuple


class ForwardPlan:
    """A network's forward pass in numpy, reading the network's current weights.

    Built by :func:`plan_forward`; call it with a 2-d array in the network's
    input dtype.
    """

    def __init__(self, steps, dtype):
        self._steps = tuple(steps)
        self._dtype = np.dtype(dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        values = np.asarray(x, dtype=self._dtype)
        for step in self._steps:
            weights = [as_numpy(variable.value) for variable in step.variables]
            values = step.apply(values, *weights)
        return values

    def reading(self, variables, arrays) -> ForwardPlan:
        """This plan with each of ``variables`` replaced by the array at its position in ``arrays``.

        For a network whose trained weights are held as arrays before its
        Keras object exists (:mod:`~safekeras.network.deferred`): the plan of
        another network of the same layout, reading these arrays instead.

        Parameters
        ----------
        variables : list of keras.Variable
            Every variable the plan's steps read, among others.
        arrays : list of ndarray
            One array per entry of ``variables``, same order.

        Returns
        -------
        ForwardPlan
            The new plan; this one is unchanged.
        """
        position = {id(variable): index for index, variable in enumerate(variables)}
        steps = [
            _Step(step.apply, tuple(_Held(arrays[position[id(v)]]) for v in step.variables))
            for step in self._steps
        ]
        return ForwardPlan(steps, self._dtype)


@dataclass(frozen=True)
class _Held:
    """An array where a plan reads a variable's ``value``."""

    value: np.ndarray


def as_numpy(value) -> np.ndarray:
    """A backend tensor (a variable's value, a network's output) as a numpy array.

    Not ``variable.numpy()`` nor ``keras.ops.convert_to_numpy``: on JAX and
    torch both call ``np.array`` on a Keras variable or a torch tensor, whose
    ``__array__`` takes no ``copy`` keyword (a DeprecationWarning under numpy
    2), and torch refuses a tensor that requires grad.
    """
    detach = getattr(value, "detach", None)
    if detach is not None:  # torch (on the CPU: plan_forward checks _weights_on_cpu)
        return detach().numpy()
    if type(value).__module__.startswith("tensorflow"):
        # ``np.asarray`` goes through ``__array__``, which reads a variable with two eager
        # ops and parses numpy's version a dozen times: about 38 us a weight, against 16 us
        # for one read. A 1-row predict reads every weight of the network.
        if hasattr(value, "read_value"):  # a tf.Variable
            value = value.value()
        return value.numpy()
    return np.asarray(value)


def plan_forward(model) -> ForwardPlan | None:
    """A :class:`ForwardPlan` for ``model``, or None when Keras must predict.

    Parameters
    ----------
    model : keras.Model
        A built network.

    Returns
    -------
    ForwardPlan or None
        None for anything but a CPU-resident ``Sequential`` of supported
        layers in float32/float64, or when the plan and Keras disagree on a
        probe batch.
    """
    import keras

    if not isinstance(model, keras.Sequential) or not _weights_on_cpu():
        return None
    try:
        dtype = np.dtype(str(model.inputs[0].dtype))
        width = model.inputs[0].shape[-1]
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    if len(model.inputs[0].shape) != 2 or width is None or dtype.kind != "f":
        return None
    steps = []
    for layer in model.layers:
        if getattr(layer.dtype_policy, "compute_dtype", None) != dtype.name:
            return None  # mixed precision or a cast: Keras's own rounding
        step = _step_for(layer, keras)
        if step is None:
            return None
        if step.apply is not None:
            steps.append(step)
    plan = ForwardPlan(steps, dtype)
    key = _architecture_key(model)
    with _agreed_lock:
        if key is not None and key in _agreed:
            _agreed.move_to_end(key)
            return plan
    if not _agrees_with_keras(plan, model, width, dtype):
        return None
    if key is not None:
        with _agreed_lock:
            keep_recent(_agreed, key, None, _AGREED_SIZE)
    return plan


def _step_for(layer, keras) -> _Step | None:
    name = type(layer).__name__
    if type(layer).__module__.split(".")[0] != "keras":
        return None  # a subclass may override call()
    if name in _IDENTITY_LAYERS:
        return _Step(None, ())
    if name == "Dense":
        return _dense_step(layer, keras)
    if name == "Activation":
        activation = _activation(layer.activation, keras)
        return None if activation is None else _Step(lambda x: activation(x.copy()), ())
    if name == "ReLU" and _is_plain_relu(layer):
        return _Step(lambda x: np.maximum(x, 0), ())
    if name == "LeakyReLU":
        slope = np.float32(layer.negative_slope)
        return _Step(lambda x: np.where(x >= 0, x, slope * x).astype(x.dtype, copy=False), ())
    if name == "Softmax" and layer.axis in (-1, 1):
        return _Step(softmax, ())
    if name == "BatchNormalization":
        return _batch_norm_step(layer)
    if name == "LayerNormalization":
        return _layer_norm_step(layer)
    return None


def _dense_step(layer, keras) -> _Step | None:
    if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
        return None
    if len(layer.kernel.shape) != 2:
        return None
    activation = _activation(layer.activation, keras)
    if activation is None:
        return None
    if layer.bias is None:
        return _Step(lambda x, kernel: activation(x @ kernel), (layer.kernel,))

    def apply(x, kernel, bias):
        out = x @ kernel
        out += bias
        return activation(out)

    return _Step(apply, (layer.kernel, layer.bias))


def _batch_norm_step(layer) -> _Step | None:
    if layer.axis not in (-1, 1):
        return None
    epsilon = layer.epsilon
    variables = [layer.moving_mean, layer.moving_variance]
    has_scale, has_center = layer.gamma is not None, layer.beta is not None
    variables += [layer.gamma] if has_scale else []
    variables += [layer.beta] if has_center else []

    def apply(x, mean, variance, *affine):
        inverse = 1.0 / np.sqrt(variance + np.asarray(epsilon, variance.dtype))
        gamma = affine[0] if has_scale else 1
        beta = affine[-1] if has_center else 0
        inverse = inverse * gamma
        return x * inverse + (beta - mean * inverse)

    return _Step(apply, tuple(variables))


def _layer_norm_step(layer) -> _Step | None:
    if getattr(layer, "rms_scaling", False) or list(np.atleast_1d(layer.axis)) not in ([-1], [1]):
        return None
    epsilon = layer.epsilon
    has_scale, has_center = layer.gamma is not None, layer.beta is not None
    variables = ([layer.gamma] if has_scale else []) + ([layer.beta] if has_center else [])

    def apply(x, *affine):
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        out = (x - mean) / np.sqrt(variance + np.asarray(epsilon, x.dtype))
        if has_scale:
            out = out * affine[0]
        if has_center:
            out = out + affine[-1]
        return out

    return _Step(apply, tuple(variables))


def _is_plain_relu(layer) -> bool:
    return layer.max_value is None and not layer.negative_slope and not layer.threshold


def _activation(function, keras) -> Callable | None:
    """The numpy version of a Keras activation function, if it is one we know exactly."""
    name = getattr(function, "__name__", None)
    if name == "swish":
        name = "silu"
    if name not in _ACTIVATIONS:
        return None
    try:
        is_keras_own = keras.activations.get(name) is function
    except (ValueError, TypeError):
        return None
    return _ACTIVATIONS[name] if is_keras_own else None


def _architecture_key(model) -> str | None:
    """The layers' kinds and settings (names and seeds left out), or None if unreadable."""
    try:
        config = without_names_and_seeds(model.get_config())
        return json.dumps([type(model).__qualname__, config], sort_keys=True, default=repr)
    except (NotImplementedError, TypeError, ValueError):
        return None


def _agrees_with_keras(plan: ForwardPlan, model, width: int, dtype: np.dtype) -> bool:
    # An eager call: no tf.function is traced (and kept) for the check.
    probe = np.random.default_rng(0).normal(size=(_PROBE_ROWS, width)).astype(dtype)
    try:
        expected = as_numpy(model(probe, training=False))
        got = plan(probe)
    except Exception:
        return False
    return got.shape == expected.shape and bool(
        np.allclose(got, expected, rtol=_PROBE_RTOL, atol=_PROBE_ATOL)
    )


@functools.cache
def _weights_on_cpu() -> bool:
    """Whether the Keras backend keeps variables on the CPU (no accelerator visible)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_logical_devices("GPU")
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    if backend == "torch":
        import torch

        return not torch.cuda.is_available()
    return False
