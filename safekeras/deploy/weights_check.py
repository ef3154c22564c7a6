"""Checking a ``.keras`` archive's declared shapes against the weights it carries.

Keras builds every layer of a loaded model (allocating and initialising its
variables) before it reads a single weight, and it sizes those variables from
``config.json``. A 30 KB file declaring a ``Dense`` layer of 2**26 units makes
it allocate gigabytes. :func:`check_keras_archive` runs before Keras sees the
archive and refuses, from metadata alone:

* weights that could make h5py read outside the archive or allocate more than
  the file holds: external storage, virtual datasets, soft or external links,
  compression or other filters, datasets whose stored bytes are fewer than
  their declared size, and a total storage larger than the weights file;
* layers whose declared variable shapes (from each layer's config and
  ``build_config``) differ from the shapes stored for them, for the Keras
  layers that own weights (``Dense``, convolutions, ``Embedding``, the
  normalisations, the recurrent layers, ``MultiHeadAttention``, ``PReLU``);
* for any other layer, an integer in its config larger than the number of
  values the file stores, and input shapes whose size is absurd next to it;
* a vocabulary or other asset given as a file path (``StringLookup``,
  ``IntegerLookup``, ``TextVectorization``): Keras would read that local file
  into the model (CVE-2025-12058), and older Keras does so even in safe mode.

Nothing is built and no dataset value is read: only HDF5 metadata.
"""

from __future__ import annotations

import io
import math
import re

from ..exceptions import PersistenceError, UnsafeFileError

__all__ = ["check_keras_archive"]

# A weights file of a network holds a few objects per layer; far more is not Keras's.
_MAX_HDF5_OBJECTS = 100_000
# Config keys holding vocabularies or tokenizer assets: a string there is a file path
# that Keras (or keras_hub) opens. Lists, arrays and None are data and stay allowed.
_PATH_KEYS = frozenset({"vocabulary", "idf_weights", "merges", "proto", "vocabulary_file"})
# Integers that are not sizes (seeds may be any 32- or 64-bit value).
_NOT_SIZE_KEYS = frozenset({"seed", "shared_object_id"})
# An unmodelled layer may use config integers up to this even when the file stores
# fewer values (a weightless layer's pool size, number of tokens, ...).
_MIN_SIZE_BOUND = 1 << 16
# One sample flowing through a network may hold many more values than the network has
# weights (a small convolution over an image reuses each weight thousands of times),
# but not this many times more, nor more than the floor: beyond that it is not a model.
_SAMPLE_VALUES_PER_WEIGHT = 1 << 12
_MIN_SAMPLE_BOUND = 1 << 24

_MODELS = frozenset({"Sequential", "Functional"})
# Keras layers that own no variables: their config sizes nothing Keras allocates at load.
_WEIGHTLESS = frozenset(
    {
        "Activation", "ActivityRegularization", "Add", "AlphaDropout", "Average",
        "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "CategoryEncoding",
        "CenterCrop", "Concatenate", "Cropping1D", "Cropping2D", "Cropping3D",
        "Discretization", "Dot", "Dropout", "ELU", "Flatten", "GaussianDropout",
        "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
        "GlobalMaxPooling3D", "Hashing", "Identity", "InputLayer", "IntegerLookup",
        "LeakyReLU", "Masking", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Maximum",
        "Minimum", "Multiply", "Permute", "ReLU", "RepeatVector", "Rescaling", "Reshape",
        "Resizing", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "StringLookup", "Subtract", "TextVectorization", "UpSampling1D", "UpSampling2D",
        "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    }
)  # fmt: skip


def check_keras_archive(config: dict, weights: bytes, where: str) -> None:
    """Refuse a ``.keras`` archive whose config declares more than its weights carry.

    Call it before Keras loads the archive: Keras allocates every variable the
    config declares before reading any weight, and h5py follows external
    storage and links in the weights file.

    Parameters
    ----------
    config : dict
        The parsed ``config.json`` of the archive.
    weights : bytes
        The bytes of the archive's ``model.weights.h5``.
    where : str
        A name for the archive in messages (e.g. ``"model.keras in model.skk"``).

    Raises
    ------
    UnsafeFileError
        If loading could read local files (external storage or links in the
        weights, a vocabulary file path) or allocate far more memory than the
        file holds (a layer declaring more parameters than are stored, a
        dataset without its data, compressed data, absurd sizes).
    PersistenceError
        If the weights are not a readable HDF5 file, or a layer's declared
        shapes do not match the stored ones (a corrupt or tampered file).
    """
    if not isinstance(config, dict):
        raise PersistenceError(f"config.json of {where} is corrupt: it is not a JSON object.")
    _refuse_file_paths(config, where)
    stored = _stored_shapes(weights, where)
    carried = sum(math.prod(shape) for shape in stored.values())
    for entry, path in _leaf_layers(config, ""):
        _check_layer(entry, path, stored, carried, where)


# -- the weights file -------------------------------------------------------------------------


def _stored_shapes(weights: bytes, where: str) -> dict:
    """Path -> shape of every dataset in the weights file, refusing unsafe storage."""
    import h5py

    try:
        handle = h5py.File(io.BytesIO(weights), "r")
    except (OSError, ValueError) as exc:
        raise PersistenceError(
            f"The weights of {where} are not a readable HDF5 file ({exc}). The file is "
            "truncated or corrupt; save the model again."
        ) from exc
    with handle:
        shapes, storage = {}, 0
        seen = set()
        stack = [("", handle)]
        while stack:
            prefix, group = stack.pop()
            for name in group:
                path = f"{prefix}{name}"
                obj = _hard_linked(group, name, path, where)
                key = _object_key(obj)
                if key in seen:
                    raise UnsafeFileError(
                        f"The weights of {where} link {path!r} to an object stored elsewhere in "
                        "the file; Keras never writes shared objects, and counting them twice "
                        "would hide how much data the file really holds."
                    )
                seen.add(key)
                if len(seen) > _MAX_HDF5_OBJECTS:
                    raise UnsafeFileError(
                        f"The weights of {where} hold more than {_MAX_HDF5_OBJECTS} HDF5 objects; "
                        "that is no Keras weights file."
                    )
                if isinstance(obj, h5py.Group):
                    stack.append((f"{path}/", obj))
                elif isinstance(obj, h5py.Dataset):
                    shapes[path] = _checked_dataset(obj, path, where)
                    storage += obj.id.get_storage_size()
        if storage > len(weights):
            raise UnsafeFileError(
                f"The weights of {where} declare {storage} bytes of stored data in a "
                f"{len(weights)}-byte file; the HDF5 metadata was forged."
            )
        return shapes


def _hard_linked(group, name: str, path: str, where: str):
    import h5py

    link = group.get(name, getlink=True)
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        raise UnsafeFileError(
            f"The weights of {where} hold a {type(link).__name__} at {path!r}: h5py would "
            "follow it to another object or another file on this machine. Keras never writes "
            "links; the file was crafted."
        )
    try:
        return group[name]
    except (KeyError, OSError, ValueError) as exc:
        raise PersistenceError(f"The weights of {where} are corrupt at {path!r} ({exc}).") from exc


def _object_key(obj) -> tuple:
    import h5py

    info = h5py.h5o.get_info(obj.id)
    return (info.fileno, getattr(info, "token", None) or getattr(info, "addr", None))


def _checked_dataset(dataset, path: str, where: str) -> tuple:
    """The dataset's shape, once its data is known to lie, uncompressed, in this file."""
    place = f"dataset {path!r} in the weights of {where}"
    if dataset.external:
        raise UnsafeFileError(
            f"The {place} stores its data in external files {dataset.external}: loading it "
            "would read those files from this machine (CVE-2026-1669). The file was crafted."
        )
    if dataset.is_virtual:
        raise UnsafeFileError(
            f"The {place} is a virtual dataset mapping data from other files; loading it "
            "could read files from this machine. The file was crafted."
        )
    if dataset.dtype.kind not in "biuf" or dataset.shape is None:
        raise PersistenceError(
            f"The {place} holds {dataset.dtype} values, not numbers; Keras weights are numeric."
        )
    if dataset.id.get_create_plist().get_nfilters():
        raise UnsafeFileError(
            f"The {place} is compressed or filtered; Keras writes weights uncompressed, and "
            "compressed data can expand far beyond the file's size. Save the model again."
        )
    stored = dataset.id.get_storage_size()
    if stored < dataset.nbytes:
        raise UnsafeFileError(
            f"The {place} declares shape {dataset.shape} ({dataset.nbytes} bytes) but stores "
            f"only {stored} bytes: loading it would allocate memory for data the file does not "
            "hold (CVE-2026-0897 pattern). The file was crafted or truncated."
        )
    return tuple(int(size) for size in dataset.shape)


# -- vocabulary files -------------------------------------------------------------------------


def _refuse_file_paths(config, where: str) -> None:
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            layer = _layer_name(node)
            settings = node.get("config") if isinstance(node.get("config"), dict) else {}
            for key in _PATH_KEYS & settings.keys():
                if isinstance(settings[key], str):
                    raise UnsafeFileError(
                        f"{where}: layer {layer!r} ({node.get('class_name')}) takes its {key} "
                        f"from the file {settings[key]!r}; loading would read that file from "
                        "this machine (CVE-2025-12058). safekeras loads vocabularies only "
                        "inline: build the layer with the vocabulary as a list before saving."
                    )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# -- walking the model's layers ---------------------------------------------------------------


def _leaf_layers(entry: dict, path: str):
    """(layer entry, weights path) for every layer that is not a Sequential/Functional model.

    Keras stores a model's layers under ``<model path>/layers/<snake_case class name>``,
    numbered ``_1``, ``_2``, ... among layers of the same class, in ``model.layers`` order.
    """
    settings = entry.get("config")
    layers = settings.get("layers") if isinstance(settings, dict) else None
    if entry.get("class_name") not in _MODELS or not isinstance(layers, list):
        yield entry, path
        return
    used: dict = {}
    for layer in layers:
        if not isinstance(layer, dict):
            raise PersistenceError(f"A model config lists {layer!r} as a layer; it is corrupt.")
        module = layer.get("module")
        if isinstance(module, str) and module.startswith("keras.src.ops."):
            continue  # Keras operations in a functional graph are not layers and own nothing.
        name = _snake_case(str(layer.get("class_name")))
        used[name] = used.get(name, -1) + 1
        unique = name if used[name] == 0 else f"{name}_{used[name]}"
        yield from _leaf_layers(layer, f"{path}layers/{unique}/")


def _snake_case(name: str) -> str:
    # Keras's own rule (keras.src.utils.naming.to_snake_case), which names weight groups.
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _layer_name(entry: dict) -> str:
    settings = entry.get("config")
    name = settings.get("name") if isinstance(settings, dict) else None
    return str(name if name is not None else entry.get("class_name"))


# -- one layer --------------------------------------------------------------------------------


def _check_layer(entry: dict, path: str, stored: dict, carried: int, where: str) -> None:
    class_name = entry.get("class_name")
    settings = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    layer = f"layer {_layer_name(entry)!r} ({class_name})"
    _check_sample_sizes(entry, layer, carried, where)
    if class_name in _WEIGHTLESS:
        return
    expected = _expected_shapes(entry, layer, where) if _plain_dtype(settings) else None
    if expected is None:
        _bound_integers(entry, layer, max(carried, _MIN_SIZE_BOUND), where)
        return
    found = sorted(shape for name, shape in stored.items() if name.startswith(path))
    if sorted(expected) == found:
        return
    declared = sum(math.prod(shape) for shape in expected)
    message = (
        f"{where}: {layer} declares variables of shapes {sorted(expected)} "
        f"({declared} values) but the weights file stores {found} for it"
    )
    if declared > sum(math.prod(shape) for shape in found):
        raise UnsafeFileError(
            f"{message}. Keras would allocate the declared variables before reading any "
            "weight; a config declaring more than the file carries was crafted to exhaust "
            "memory."
        )
    raise PersistenceError(f"{message}. The file is corrupt or was tampered with.")


def _plain_dtype(settings: dict) -> bool:
    """Whether the layer keeps float variables of the modelled shapes (not quantised, no LoRA)."""
    if settings.get("quantization_config") is not None or settings.get("lora_rank"):
        return False
    dtype = settings.get("dtype")
    return not isinstance(dtype, dict) or dtype.get("class_name") == "DTypePolicy"


def _check_sample_sizes(entry: dict, layer: str, carried: int, where: str) -> None:
    """Refuse input shapes whose one sample is absurdly large next to the stored weights."""
    bound = max(carried * _SAMPLE_VALUES_PER_WEIGHT, _MIN_SAMPLE_BOUND)
    settings = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    candidates = [settings.get(key) for key in ("batch_shape", "batch_input_shape", "shape")]
    candidates += [settings.get("build_input_shape"), entry.get("build_config")]
    for shape in _shapes_in(candidates):
        values = math.prod(size for size in shape[1:] if size is not None)
        if values > bound:
            raise UnsafeFileError(
                f"{where}: {layer} declares inputs of shape {shape}, {values} values per "
                f"sample, for a network whose weights file stores {carried} values; no model "
                "is built that way, and Keras would size buffers from it. The file was crafted."
            )


def _shapes_in(node) -> list:
    """Every list of int/None (a shape with its batch axis) nested in ``node``."""
    if isinstance(node, dict):
        return [shape for value in node.values() for shape in _shapes_in(value)]
    if isinstance(node, (list, tuple)):
        if node and all(_is_size(size) or size is None for size in node):
            return [list(node)]
        return [shape for value in node for shape in _shapes_in(value)]
    return []


def _bound_integers(entry: dict, layer: str, bound: int, where: str) -> None:
    stack = [(entry.get("config"), "config"), (entry.get("build_config"), "build_config")]
    while stack:
        node, key = stack.pop()
        if isinstance(node, dict):
            stack.extend(
                (value, name) for name, value in node.items() if name not in _NOT_SIZE_KEYS
            )
        elif isinstance(node, list):
            stack.extend((value, key) for value in node)
        elif _is_size(node) and abs(node) > bound:
            raise UnsafeFileError(
                f"{where}: {layer} sets {key} to {node}, more than the {bound} values its "
                "weights file stores; safekeras cannot tell what Keras would allocate for it, "
                "so it refuses sizes the file does not back."
            )


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the variables Keras creates for a layer --------------------------------------------------


class _NoInputShape(Exception):
    """The layer's build_config holds no usable input shape."""


def _expected_shapes(entry: dict, layer: str, where: str) -> list | None:
    """The shapes of the variables Keras builds for the layer, or None if not modelled."""
    model = _SHAPE_MODELS.get(entry.get("class_name"))
    if model is None:
        return None
    settings = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    try:
        shapes = [tuple(shape) for shape in model(settings, entry.get("build_config"))]
    except _Unmodelled:
        return None
    except _NoInputShape:
        raise UnsafeFileError(
            f"{where}: {layer} owns weights but has no build_config input shape; Keras writes "
            "one for every built layer, and without it Keras would size the layer's variables "
            "from shapes the file does not state. The file was crafted or corrupted."
        ) from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise PersistenceError(
            f"{where}: the config of {layer} is corrupt ({type(exc).__name__}: {exc})."
        ) from exc
    if not all(_is_size(size) and size >= 0 for shape in shapes for size in shape):
        raise PersistenceError(
            f"{where}: {layer} declares variables of shapes {shapes}, which are not sizes; the "
            "file is corrupt."
        )
    return shapes


def _input_shape(build, key: str = "input_shape") -> list:
    shape = build.get(key) if isinstance(build, dict) else None
    if not isinstance(shape, list) or not shape:
        raise _NoInputShape
    return shape


def _bias(settings: dict, size) -> list:
    return [(size,)] if settings.get("use_bias", True) else []


def _channels(settings: dict, shape: list):
    return shape[1] if settings.get("data_format") == "channels_first" else shape[-1]


def _axes_shape(axis, shape: list) -> tuple:
    axes = [axis] if _is_size(axis) else list(axis)
    return tuple(shape[index] for index in axes)


def _dense(settings, build):
    units = settings["units"]
    return [(_input_shape(build)[-1], units), *_bias(settings, units)]


def _conv(settings, build):
    channels = _channels(settings, _input_shape(build))
    groups = settings.get("groups", 1)
    if channels % groups:
        raise ValueError(f"{channels} input channels do not split into {groups} groups")
    filters = settings["filters"]
    return [(*settings["kernel_size"], channels // groups, filters), *_bias(settings, filters)]


def _conv_transpose(settings, build):
    channels = _channels(settings, _input_shape(build))
    filters = settings["filters"]
    return [(*settings["kernel_size"], filters, channels), *_bias(settings, filters)]


def _depthwise(settings, build):
    channels = _channels(settings, _input_shape(build))
    multiplier = settings["depth_multiplier"]
    kernel = (*settings["kernel_size"], channels, multiplier)
    return [kernel, *_bias(settings, channels * multiplier)]


def _separable(settings, build):
    channels = _channels(settings, _input_shape(build))
    multiplier, filters = settings["depth_multiplier"], settings["filters"]
    kernel_size = tuple(settings["kernel_size"])
    pointwise = (*(1,) * len(kernel_size), channels * multiplier, filters)
    return [(*kernel_size, channels, multiplier), pointwise, *_bias(settings, filters)]


def _embedding(settings, build):
    return [(settings["input_dim"], settings["output_dim"])]


def _batch_normalization(settings, build):
    if settings.get("renorm"):
        raise _Unmodelled
    shape = _axes_shape(settings.get("axis", -1), _input_shape(build))
    count = 2 + bool(settings.get("scale", True)) + bool(settings.get("center", True))
    return [shape] * count


def _layer_normalization(settings, build):
    shape = _axes_shape(settings.get("axis", -1), _input_shape(build))
    rms = settings.get("rms_scaling", False)
    gamma = bool(settings.get("scale", True) or rms)
    beta = bool(settings.get("center", True) and not rms)
    return [shape] * (gamma + beta)


def _group_normalization(settings, build):
    shape = _axes_shape(settings.get("axis", -1), _input_shape(build))
    return [shape] * (bool(settings.get("scale", True)) + bool(settings.get("center", True)))


def _normalization(settings, build):
    if settings.get("mean") is not None:
        return []  # given as constants in the config, not variables
    axis = settings.get("axis", -1)
    shape = _axes_shape(() if axis is None else axis, _input_shape(build))
    return [shape, shape, ()]


def _prelu(settings, build):
    shape = list(_input_shape(build)[1:])
    for axis in settings.get("shared_axes") or ():
        shape[axis - 1] = 1
    return [tuple(shape)]


def _recurrent(gates: int):
    def shapes(settings, build):
        units, inputs = settings["units"], _input_shape(build)[-1]
        bias = [(2, gates * units)] if gates == 3 and settings.get("reset_after", True) else []
        bias = bias or [(gates * units,)]
        return [(inputs, gates * units), (units, gates * units)] + (
            bias if settings.get("use_bias", True) else []
        )

    return shapes


def _bidirectional(settings, build):
    forward = settings["layer"]
    backward = settings.get("backward_layer") or forward
    shapes = []
    for inner in (forward, backward):
        model = _SHAPE_MODELS.get(inner.get("class_name"))
        if model is None or not _plain_dtype(inner["config"]):
            raise _Unmodelled
        shapes += model(inner["config"], build)
    return shapes


def _multi_head_attention(settings, build):
    shapes = build.get("shapes_dict") if isinstance(build, dict) else None
    query = _input_shape(shapes, "query_shape")
    value = _input_shape(shapes, "value_shape")
    key = shapes.get("key_shape") or value
    heads, key_dim = settings["num_heads"], settings["key_dim"]
    value_dim = settings.get("value_dim") or key_dim
    output = settings.get("output_shape")
    output = [query[-1]] if output is None else [output] if _is_size(output) else list(output)
    kernels = [
        (query[-1], heads, key_dim),
        (key[-1], heads, key_dim),
        (value[-1], heads, value_dim),
        (heads, value_dim, *output),
    ]
    biases = [(heads, key_dim), (heads, key_dim), (heads, value_dim), tuple(output)]
    if settings.get("use_gate"):
        kernels.append((query[-1], heads, value_dim))
        biases.append((heads, value_dim))
    return kernels + (biases if settings.get("use_bias", True) else [])


class _Unmodelled(Exception):
    """A variant of a modelled layer whose variables are not modelled (e.g. renorm)."""


_SHAPE_MODELS = {
    "Dense": _dense,
    "Conv1D": _conv,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "Conv1DTranspose": _conv_transpose,
    "Conv2DTranspose": _conv_transpose,
    "Conv3DTranspose": _conv_transpose,
    "DepthwiseConv1D": _depthwise,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable,
    "SeparableConv2D": _separable,
    "Embedding": _embedding,
    "BatchNormalization": _batch_normalization,
    "LayerNormalization": _layer_normalization,
    "GroupNormalization": _group_normalization,
    "Normalization": _normalization,
    "PReLU": _prelu,
    "SimpleRNN": _recurrent(1),
    "GRU": _recurrent(3),
    "LSTM": _recurrent(4),
    "Bidirectional": _bidirectional,
    "MultiHeadAttention": _multi_head_attention,
}
