"""Building the network: the default MLP, a user's model, or a user's builder.

Whatever the source, the network that is trained is a *fresh* object whose
random initialisers and dropout layers carry explicit seeds drawn from the
estimator's ``random_state``: the user's model is never mutated, and no global
Keras, TensorFlow or Python random state is read or written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ..data.targets import Head, TargetSpec
from ..exceptions import ModelSpecError, ParameterError

__all__ = [
    "build_network",
    "check_input_shape",
    "check_layer_sizes",
    "declared_input_shape",
    "declared_input_width",
    "default_mlp",
    "embedding_input_dim",
    "glorot_layers",
    "inspect_head",
    "layer_sizes",
    "make_meta",
    "seed_stream",
]

_KNOWN_ACTIVATIONS = frozenset(
    {
        "sigmoid",
        "softmax",
        "linear",
        "relu",
        "tanh",
        "elu",
        "selu",
        "gelu",
        "softplus",
        "softsign",
        "swish",
        "silu",
        "exponential",
        "hard_sigmoid",
        "leaky_relu",
        "log_softmax",
    }
)


def make_meta(spec: TargetSpec, n_features: int, input_shape: tuple | None = None) -> dict:
    """The dictionary handed to a user's ``build(meta)`` callable.

    Keys
    ----
    n_features_in_ : int
        Width of the *preprocessed* input the network receives (for an
        N-dimensional ``X``, its second dimension ``X.shape[1]``).
    input_shape_ : tuple of int
        Shape of one preprocessed sample: ``(n_features_in_,)`` for a table,
        ``X.shape[1:]`` for images, series and token sequences; what
        ``keras.Input(shape=meta["input_shape_"])`` takes.
    n_outputs_ : int
        Output units the target needs.
    target_type_ : str
        As returned by :func:`sklearn.utils.multiclass.type_of_target`.
    classes_ : ndarray or None
        The class labels (None for regression).
    output_activation_ : str
        The activation the last layer needs ("sigmoid", "softmax" or "linear").
    loss_ : str
        The loss ``loss="auto"`` will use with that head.
    """
    return {
        "n_features_in_": int(n_features),
        "input_shape_": (int(n_features),) if input_shape is None else tuple(input_shape),
        "n_outputs_": spec.n_outputs,
        "target_type_": spec.target_type,
        "classes_": None if spec.classes is None else spec.classes.copy(),
        "output_activation_": spec.activation,
        "loss_": spec.loss,
    }


def build_network(
    model,
    *,
    meta: dict,
    spec: TargetSpec,
    hidden_layer_sizes,
    activation,
    dropout: float,
    l2: float,
    add_head: bool,
    seeds: Iterator[int],
):
    """Return a fresh, seeded, uncompiled Keras model for this fit.

    Parameters
    ----------
    model : None, keras.Model or callable
        None builds the default MLP; a Keras model is cloned (fresh weights,
        never mutated); a callable is called with ``meta`` and must return a
        Keras model.
    meta : dict
        See :func:`make_meta`.
    spec : TargetSpec
    hidden_layer_sizes, activation, dropout, l2
        The default MLP's architecture.
    add_head : bool
        Append the output layer the target needs to a user model.
    seeds : iterator of int
        Source of the explicit seeds given to every random layer.
    """
    import keras

    n_features = meta["n_features_in_"]
    if model is None:
        return default_mlp(
            n_features,
            n_outputs=spec.n_outputs,
            output_activation=spec.activation,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            l2=l2,
            seeds=seeds,
        )
    if isinstance(model, keras.Model):
        network = _clone_seeded(model, seeds)
    elif callable(model):
        built = model(dict(meta))
        if not isinstance(built, keras.Model):
            raise ModelSpecError(
                f"model(meta) returned {type(built).__name__}, not a keras.Model. The "
                "callable must build and return a Keras model, e.g. keras.Sequential([...])."
            )
        # Re-cloning gives the user's architecture seeded weights, whatever the
        # callable did (or did not do) about seeds.
        network = _clone_seeded(built, seeds)
    else:  # pragma: no cover - rejected by parameter validation
        raise ModelSpecError(f"model must be None, a keras.Model or a callable; got {model!r}.")
    if add_head:
        network = keras.Sequential(
            [
                keras.Input(shape=meta.get("input_shape_", (n_features,))),
                network,
                keras.layers.Dense(
                    spec.n_outputs,
                    activation=spec.activation,
                    kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                    name="safekeras_head",
                ),
            ]
        )
    return network


def inspect_head(network, x_probe: np.ndarray) -> Head:
    """Run the network on a few rows and report its output units and activation.

    The forward pass also checks that the network accepts the preprocessed
    input width and produces one 2-d output.
    """
    import keras

    try:
        outputs = network(x_probe, training=False)
    except Exception as exc:
        if x_probe.ndim > 2:
            raise ModelSpecError(
                f"The network cannot take samples of shape {tuple(x_probe.shape[1:])} (X.shape[1:],"
                f" channels last); its input declares {declared_input_shape(network)}. Build it "
                "for the data's shape, e.g. keras.Input(shape=X.shape[1:]) or in a callable "
                f"model(meta) using meta['input_shape_']. Keras said: {exc}"
            ) from exc
        expected = declared_input_width(network)
        detail = (
            f"the model expects {expected} input features"
            if expected is not None
            else "the model rejected the input"
        )
        raise ModelSpecError(
            f"The network cannot take the preprocessed data: {detail}, and the data has "
            f"{x_probe.shape[1]} columns after preprocessing (one-hot encoding adds "
            "columns). Build the model in a callable model(meta) using "
            "meta['n_features_in_'], or leave out the Input layer. "
            f"Keras said: {exc}"
        ) from exc
    if isinstance(outputs, (list, tuple, dict)):
        raise ModelSpecError(
            "The model has several outputs; safekeras trains networks with a single output "
            "tensor of shape (n_samples, n_outputs)."
        )
    values = keras.ops.convert_to_numpy(outputs)
    if values.ndim != 2:
        raise ModelSpecError(
            f"The model's output has shape {tuple(values.shape)}; safekeras needs a 2-d "
            "output of shape (n_samples, n_outputs). Add a Flatten or Dense layer."
        )
    units = int(values.shape[1])
    activation = _last_activation(network)
    if activation is None:
        activation = _activation_from_values(values)
    return Head(units=units, activation=activation)


def default_mlp(
    n_features: int,
    *,
    n_outputs: int,
    output_activation,
    hidden_layer_sizes,
    activation,
    dropout: float,
    l2: float,
    seeds: Iterator[int],
):
    """The default MLP, uncompiled: its hidden layers, then the output layer the target needs.

    Parameters
    ----------
    n_features : int
        Width of the preprocessed input.
    n_outputs : int
        Units of the output layer.
    output_activation : str or None
        Its activation (from the target type).
    hidden_layer_sizes : sequence of int
        Units of each hidden layer.
    activation : str
        Activation of the hidden layers.
    dropout : float
        Rate of the Dropout layer after each hidden layer (none when 0).
    l2 : float
        L2 penalty on the hidden layers' kernels (none when 0).
    seeds : iterator of int
        One seed is drawn per layer with random state, in layer order: each
        hidden layer's kernel, then its Dropout, and the output kernel last
        (:class:`~safekeras.network.deferred.MLPRecipe` draws them alike).

    Returns
    -------
    keras.Sequential
    """
    import keras

    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    # Fixed layer names: TensorFlow keeps about 35 KB per distinct variable name for the
    # life of the process, and Keras's automatic names ("dense_57") are new on every fit.
    layers = [keras.Input(shape=(n_features,), name="features")]
    for number, units in enumerate(hidden_layer_sizes, start=1):
        layers.append(
            keras.layers.Dense(
                int(units),
                activation=activation,
                kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                kernel_regularizer=regularizer,
                name=f"hidden_{number}",
            )
        )
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, seed=next(seeds), name=f"dropout_{number}"))
    layers.append(
        keras.layers.Dense(
            n_outputs,
            activation=output_activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
            name="output",
        )
    )
    return keras.Sequential(layers, name="safekeras_mlp")


def _clone_seeded(model, seeds):
    """Clone ``model`` with fresh weights, giving every unseeded random layer a seed."""
    import keras

    def clone_layer(layer):
        config = _with_seeds(layer.get_config(), seeds)
        return layer.__class__.from_config(config)

    try:
        return keras.models.clone_model(model, clone_function=clone_layer)
    except Exception as exc:
        raise ModelSpecError(
            f"The model ({type(model).__name__}) could not be cloned: {exc}. safekeras "
            "never trains the object you pass, only a clone; for a subclassed model "
            "without get_config/from_config, pass a callable model(meta) that builds a "
            "new one instead."
        ) from exc


def _with_seeds(config, seeds):
    """Copy of a layer config in which every ``"seed": None`` gets an explicit seed."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key == "seed" and value is None:
                out[key] = next(seeds)
            else:
                out[key] = _with_seeds(value, seeds)
        return out
    if isinstance(config, list):
        return [_with_seeds(value, seeds) for value in config]
    return config


def _last_activation(network) -> str | None:
    import keras

    layer = network.layers[-1] if network.layers else None
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    if layer is None:
        return None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    name = getattr(function, "__name__", None)
    return name if name in _KNOWN_ACTIVATIONS else None


def _activation_from_values(values: np.ndarray) -> str:
    """Infer a head's activation from its outputs when the layer does not name it."""
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        if values.shape[1] > 1 and np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
            return "softmax"
        return "sigmoid"
    return "linear"


def declared_input_width(network) -> int | None:
    """The feature count a network's (2-d) input declares; None when it declares none.

    Parameters
    ----------
    network : keras.Model
        A built network.

    Returns
    -------
    int or None
        The last dimension of its first input, when that input is 2-d and the
        dimension is known.
    """
    try:
        shape = network.inputs[0].shape
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    return int(shape[-1]) if len(shape) == 2 and shape[-1] is not None else None


def declared_input_shape(network) -> tuple | None:
    """The shape of one sample that a network's first input declares (None entries: any).

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    tuple or None
        ``network.inputs[0].shape[1:]``, or None when the network declares no input
        (a Sequential without ``keras.Input``, not built yet).
    """
    try:
        shape = network.inputs[0].shape
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    return tuple(None if d is None else int(d) for d in shape[1:])


def check_input_shape(network, sample_shape: tuple, kind: str) -> None:
    """ModelSpecError when a user network's declared input cannot take samples of ``sample_shape``.

    Parameters
    ----------
    network : keras.Model
        The built network (a clone of the user's, or what their callable built).
    sample_shape : tuple of int
        ``X.shape[1:]`` after preprocessing (which keeps the shape of tensors and tokens).
    kind : {"tensor", "tokens"}
        How ``fit`` reads ``X``, for the message.
    """
    declared = declared_input_shape(network)
    if declared is None:
        return  # built on first call: the probe forward pass checks it
    fits = len(declared) == len(sample_shape) and all(
        d is None or d == s for d, s in zip(declared, sample_shape, strict=True)
    )
    if not fits:
        what = "token sequences" if kind == "tokens" else "samples"
        raise ModelSpecError(
            f"The network's input takes samples of shape {declared}, but X holds {what} of "
            f"shape {tuple(sample_shape)} (X.shape[1:]; channels last). Declare "
            "keras.Input(shape=X.shape[1:]), or reshape X to the network's input shape."
        )


def embedding_input_dim(model) -> int | None:
    """``input_dim`` of the Embedding that a network's first weight-carrying layer is, or None.

    The layers are followed from the input (a Sequential's first layers, a
    functional model's layers in graph order, nested models entered):
    layers without weights (Input, Dropout, Masking, Reshape, ...) are
    skipped, and the first one that carries weights decides. A network that
    starts with an Embedding reads a 2-d integer ``X`` as token ids.
    """
    import keras

    weightless = (
        keras.layers.InputLayer,
        keras.layers.Dropout,
        keras.layers.Masking,
        keras.layers.Activation,
        keras.layers.Reshape,
        keras.layers.Flatten,
        keras.layers.Rescaling,
        keras.layers.Permute,
    )
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        if isinstance(layer, keras.Model):
            return embedding_input_dim(layer)
        if isinstance(layer, weightless) or (layer.built and not layer.weights):
            continue
        return None
    return None


def check_layer_sizes(hidden_layer_sizes) -> None:
    """ParameterError unless ``hidden_layer_sizes`` is a positive int or a sequence of them."""
    sizes = hidden_layer_sizes
    if isinstance(sizes, Integral):
        sizes = [sizes]
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ParameterError(
            "hidden_layer_sizes must be a positive integer or a sequence of positive integers "
            f"(units per hidden layer), e.g. 16 or (64, 32); got {hidden_layer_sizes!r}."
        )


def layer_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a sequence: an int (or NumPy integer) is one layer."""
    if isinstance(hidden_layer_sizes, Integral):
        return (int(hidden_layer_sizes),)
    return hidden_layer_sizes


@dataclass(frozen=True)
class GlorotLayer:
    """One Dense layer of the default MLP as its initial state is drawn.

    Attributes
    ----------
    fan_in, units : int
        The kernel's shape.
    limit : float
        Keras's ``GlorotUniform`` draws the kernel in ``[-limit, limit]``.
    kernel_seed : int
        Position of the kernel's seed among the network's seeds.
    dropout_seed : int or None
        Position of the seed of the Dropout layer after it (None: none).
    """

    fan_in: int
    units: int
    limit: float
    kernel_seed: int
    dropout_seed: int | None


def glorot_layers(n_features: int, widths, dropout: bool) -> list[GlorotLayer]:
    """The default MLP's Dense layers, in order, with where their seeds sit.

    The seeds are laid out as :func:`default_mlp` draws them: each hidden
    layer's kernel, then its Dropout's (when ``dropout``), the output kernel
    last. Each backend draws the kernels from these (see
    :mod:`~safekeras.network.deferred`).

    Parameters
    ----------
    n_features : int
        Width of the network's input.
    widths : sequence of int
        Units of every Dense layer, the output layer last.
    dropout : bool
        Whether a Dropout layer follows each hidden layer.

    Returns
    -------
    list of GlorotLayer
    """
    layers, position, fan_in = [], 0, int(n_features)
    for index, units in enumerate(widths):
        limit = math.sqrt(3.0 / max(1.0, (fan_in + units) / 2.0))
        dropout_seed = position + 1 if dropout and index < len(widths) - 1 else None
        layers.append(GlorotLayer(fan_in, int(units), limit, position, dropout_seed))
        position += 1 if dropout_seed is None else 2
        fan_in = int(units)
    return layers


def seed_stream(rng) -> Iterator[int]:
    """Endless stream of 31-bit seeds drawn from a local RandomState."""
    while True:
        yield int(rng.randint(0, 2**31 - 1))
