"""Saving a fitted estimator to one file and loading it back, safely.

Two ways to persist an estimator
--------------------------------
* ``pickle`` / ``joblib`` / ``cloudpickle``: the estimator pickles its network
  as a ``.keras`` archive (:func:`model_to_bytes`) and reloads it with Keras's
  safe mode on (:func:`model_from_bytes`); Keras's own pickle support would
  reload with ``safe_mode=False``. Unpickling runs code by design, so pickles
  are for files you made yourself or fully trust.
* :func:`save` / :func:`load`: one file that loading never runs code from.

The file format
---------------
A zip archive (format ``"safekeras.estimator"``, version :data:`FORMAT_VERSION`)
with these members, in this order:

``manifest.json``
    Format name and version, the estimator's class, the members, and the
    versions of safekeras, scikit-learn, Keras, the Keras backend, NumPy, skops
    and Python that wrote the file.
``model.keras``
    The fitted network (``estimator.model_``) as a plain Keras ``.keras``
    archive: unzip it and ``keras.saving.load_model`` opens it on its own.
``estimator.skops``
    The rest of the fitted estimator (preprocessor, target encoding, input
    schema, decision threshold, parameters) in the skops format, with the
    network replaced by a placeholder that :func:`load` resolves to the model it
    loaded from ``model.keras``.
``keras/<attribute>.keras``, ``keras/<attribute>.json``
    Only for estimators whose parameters or fitted attributes hold Keras
    objects (``model=`` a ``keras.Model``, ``optimizer=`` or ``loss=`` Keras
    instances and the ``loss_`` they give, ``activation=`` a Keras function): a
    ``.keras`` archive or a Keras JSON config, checked and loaded like
    ``model.keras``.

Writes are atomic: the file is written under a temporary name in the target's
folder and moved over the target with :func:`os.replace`, so an error or an
interruption leaves any previous file intact and removes the temporary file.

Threat model
------------
:func:`load` assumes the file may come from an attacker and refuses it, with
:class:`~safekeras.exceptions.UnsafeFileError`, before anything in it is
deserialised when it could make the loader run code. Keras's ``safe_mode``
alone has been bypassed repeatedly, so the Keras side is checked by safekeras
first, by name, without importing or calling anything the file names:

* CVE-2024-3660: Lambda layers carry marshalled Python bytecode. ``Lambda``,
  ``__lambda__`` entries, the other code-carrying layers (``TFSMLayer``,
  ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``) and Keras operations
  that run Python callables (``Map``, ``Scan``, ``WhileLoop``, ...) are always
  refused, whatever ``trusted=`` says.
* CVE-2025-1550: a ``config.json`` may name any module and function
  (``"module": "os"``, ``"class_name": "system"``). Every ``module`` /
  ``class_name`` / ``registered_name`` / function reference in the config must
  be on an allow-list built from the installed Keras's public API (layers,
  initializers, regularizers, constraints, activations, optimizers and their
  schedules, losses, metrics, dtype policies, quantizers, models and Keras's
  own operations). References outside Keras and its ``keras_hub`` /
  ``keras_cv`` / ``keras_nlp`` family (``os.system``, ``builtins.exec``) are
  always refused; custom objects registered with
  ``keras.saving.register_keras_serializable`` load only when named in
  ``trusted=``.
* CVE-2025-8747: a config can call ``keras.config.enable_unsafe_deserialization``
  to switch safe mode off mid-load. Only modelling objects are on the
  allow-list; ``keras.config``, ``keras.saving``, ``keras.utils``,
  ``keras.backend`` and the ``get``/``serialize``/``deserialize`` helpers never
  are.
* CVE-2025-9905: Keras ignores ``safe_mode`` for HDF5 models. HDF5 data (the
  ``\\x89HDF`` signature, or an ``.h5`` member other than a ``.keras``
  archive's weights) is refused, here and in :func:`model_from_bytes`.
* Keras older than :data:`MIN_KERAS_VERSION` lacks those fixes: :func:`load`
  refuses to run under it.

The skops payload is checked with :func:`skops.io.get_untrusted_types` against
the types a fitted safekeras estimator contains (safekeras's own classes, the
scikit-learn parts skops trusts, the functions of the ``"auto"``
preprocessor, NumPy dtypes, imbalanced-learn samplers) plus ``trusted=``. Only
then does Keras load the network (``safe_mode=True, compile=False``) and skops
load the rest. A foreign, truncated or corrupt file raises
:class:`~safekeras.exceptions.PersistenceError`; nothing is returned
half-loaded. Files written by other library versions load with a
:class:`~safekeras.exceptions.VersionMismatchWarning`.

Loading does not protect against code already on the loader's machine (a
custom layer you register and trust runs as written), and HDF5 weights inside
a ``.keras`` archive are read as data by h5py.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import importlib
import inspect
import io
import json
import os
import platform
import re
import secrets
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass

from .exceptions import (
    MissingDependencyError,
    NotFittedError,
    ParameterError,
    PersistenceError,
    UnsafeFileError,
    VersionMismatchWarning,
    external_stacklevel,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MIN_KERAS_VERSION",
    "load",
    "model_from_bytes",
    "model_to_bytes",
    "save",
]

#: ``format`` in the manifest of every file :func:`save` writes.
FORMAT_NAME = "safekeras.estimator"
#: Version of the file layout; :func:`load` reads this version and older ones.
FORMAT_VERSION = 1
#: Oldest Keras with the safe-mode fixes for CVE-2025-1550 and CVE-2025-8747.
MIN_KERAS_VERSION = (3, 11)

MANIFEST = "manifest.json"
MODEL = "model.keras"
ESTIMATOR = "estimator.skops"
_KERAS_FOLDER = "keras/"

# What the skops payload holds in place of the network (see _Session).
_MODEL_TOKEN = b"safekeras-persistence:model.keras"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A manifest is a few hundred bytes; anything near this is not ours.
_MAX_MANIFEST_BYTES = 1 << 20
# Members that would inflate this much (and past the floor) are decompression bombs.
_MAX_EXPANSION = 200
_EXPANSION_FLOOR_BYTES = 64 << 20
# Windows opens files in text mode unless told otherwise.
_O_BINARY = getattr(os, "O_BINARY", 0)

# Packages whose version, when it differs from the one that saved the file, can change
# predictions or the loaded objects; Python and skops are recorded but not compared.
_COMPARED_VERSIONS = ("safekeras", "scikit-learn", "keras", "numpy")

# Members a Keras ``.keras`` archive may hold (besides files under ``assets/``).
_KERAS_MEMBERS = frozenset(
    {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
)

# Keras layers whose config carries code or loads code from elsewhere: bytecode
# (CVE-2024-3660), a TensorFlow SavedModel, a pickled torch module, JAX/Flax callables.
_DENIED_CLASSES = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
# Keras operations that take Python callables (control flow, custom gradients).
_DENIED_OPERATIONS = frozenset(
    {
        "AssociativeScan",
        "Cond",
        "CustomGradient",
        "ForiLoop",
        "Map",
        "Scan",
        "Switch",
        "VectorizedMap",
        "WhileLoop",
    }
)
# Config markers Keras turns into code.
_DENIED_MARKERS = frozenset({"__lambda__", "__typespec__"})
# Config markers Keras turns into plain data (tensors, arrays, bytes, slices).
_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
)
# Named in refusals because each has been used to switch safe mode off (CVE-2025-8747).
_DENIED_FUNCTIONS = frozenset({"enable_unsafe_deserialization"})
# Keras namespaces with no modelling objects (configuration, file and registry helpers).
_NON_MODELLING_MODULES = frozenset({"keras.config", "keras.saving", "keras.utils", "keras.backend"})
# Packages Keras imports classes from by module name; a user may trust their classes.
_KERAS_FAMILY = frozenset({"keras_hub", "keras_cv", "keras_nlp"})
# Keras's public namespaces whose classes a model config may name.
_KERAS_CLASS_MODULES = (
    "keras",
    "keras.layers",
    "keras.models",
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.activations",
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.losses",
    "keras.metrics",
    "keras.dtype_policies",
    "keras.quantizers",
)
# Keras's public namespaces whose functions a model config may name.
_KERAS_FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics")
# Where Keras looks up a function saved as {"module": "builtins", "class_name": "function"}
# (Keras keeps these in an unordered set, so every match must be allowed).
_KERAS_BUILTIN_FUNCTION_MODULES = (
    "activations",
    "constraints",
    "initializers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
)
# Public helpers that look objects up rather than compute; never modelling objects.
_LOOKUP_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})

# imbalanced-learn namespaces whose samplers an estimator's ``sampler`` may hold.
_IMBLEARN_MODULES = ("imblearn.under_sampling", "imblearn.over_sampling", "imblearn.combine")


# -- the network inside pickles and inside save/load ---------------------------------------


class _Session:
    """What :func:`save` or :func:`load` is doing while skops walks the estimator.

    ``FittedNetwork`` pickles its network through :func:`model_to_bytes` and
    restores it through :func:`model_from_bytes`. While a session is active
    those two exchange the network for :data:`_MODEL_TOKEN` (saving) and the
    token for the network already checked and loaded from ``model.keras``
    (loading), so the skops payload never carries a network of its own.
    """

    def __init__(self, mode: str, model):
        self.mode = mode
        self.model = model
        self.resolved = False


_SESSION: contextvars.ContextVar[_Session | None] = contextvars.ContextVar(
    "safekeras_persistence_session", default=None
)


def model_to_bytes(model) -> bytes:
    """Serialise a Keras model to the bytes of a ``.keras`` archive.

    Used by pickling (``FittedNetwork.__getstate__``). During :func:`save` it
    returns a placeholder instead: the network is stored once, as ``model.keras``.
    """
    session = _SESSION.get()
    if session is not None and session.mode == "save":
        if model is not session.model:
            raise PersistenceError(
                "The estimator holds a second Keras network besides model_ (e.g. inside a "
                "custom transformer); safekeras.save stores one network per file. Use pickle "
                "or joblib for such estimators."
            )
        return _MODEL_TOKEN
    return _keras_archive(model)


def model_from_bytes(data: bytes):
    """Load a Keras model from ``.keras`` bytes with Keras's safe mode on.

    Used by unpickling (``FittedNetwork.__setstate__``); HDF5 data is refused
    because Keras ignores ``safe_mode`` for it (CVE-2025-9905). During
    :func:`load` only the placeholder written by :func:`save` is accepted, and
    it resolves to the network loaded from ``model.keras``.
    """
    session = _SESSION.get()
    if session is not None and session.mode == "load":
        if bytes(data) != _MODEL_TOKEN:
            raise UnsafeFileError(
                f"{ESTIMATOR} carries a Keras network of its own instead of the placeholder "
                f"for {MODEL}; a safekeras file stores its network only as {MODEL}, where it "
                "is checked. The file was not written by safekeras.save or was tampered with."
            )
        session.resolved = True
        return session.model
    data = bytes(data)
    _refuse_hdf5(data, "the pickled network")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise PersistenceError(
            "The pickled network is not a Keras .keras archive (truncated or corrupt data)."
        )
    return _load_keras_model(data, "the pickled network")


def _keras_archive(model) -> bytes:
    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def _load_keras_model(data: bytes, where: str):
    import keras

    # Keras only opens a .keras archive from a real file with that suffix.
    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise PersistenceError(
                f"Keras could not load {where}: {exc}. If it uses custom layers or functions, "
                "import the module that registers them (keras.saving.register_keras_serializable) "
                "before loading."
            ) from exc


# -- save ------------------------------------------------------------------------------------


def save(estimator, path) -> None:
    """Save a fitted estimator to one file that :func:`load` reads without running code.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor
        A fitted estimator. It is not modified.
    path : str or os.PathLike
        Destination file; any existing file is replaced atomically (an error
        midway leaves it untouched and leaves no temporary file behind).

    Raises
    ------
    NotFittedError
        If the estimator has not been fitted.
    PersistenceError
        If the estimator is not a safekeras estimator, or holds something the
        format cannot store (a Lambda layer, a lambda or locally defined
        function, a second network).
    """
    from .estimators import SafeKerasClassifier, SafeKerasRegressor

    if not isinstance(estimator, (SafeKerasClassifier, SafeKerasRegressor)):
        raise PersistenceError(
            "safekeras.save stores SafeKerasClassifier and SafeKerasRegressor estimators; got "
            f"{type(estimator).__name__}. Use skops.io or joblib for other objects."
        )
    if not estimator.__sklearn_is_fitted__():
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet; call fit before save."
        )
    path = os.fspath(path)
    import keras

    skops_io = _skops_io()
    model = estimator.model_
    members = [(MODEL, _saved_keras_archive(model, "model_"), zipfile.ZIP_STORED)]
    _refuse_denied_keras(members[0][1], f"{MODEL} (the fitted network)")

    # Parameters and fitted attributes holding Keras objects (model=, optimizer=, loss=,
    # loss_, activation=): skops cannot store them, so each becomes a Keras member that load
    # checks like model.keras.
    keras_members = {}
    for name, value in sorted(vars(estimator).items()):
        kind = None if name == "model_" else _keras_kind(value, keras)
        if kind == "model":
            member = f"{_KERAS_FOLDER}{name}.keras"
            data = _saved_keras_archive(value, name)
            _refuse_denied_keras(data, f"the {name!r} attribute")
        elif kind == "config":
            member = f"{_KERAS_FOLDER}{name}.json"
            try:
                config = keras.saving.serialize_keras_object(value)
                data = json.dumps(config).encode("utf-8")
            except Exception as exc:
                raise PersistenceError(
                    f"Cannot save the {name!r} attribute ({value!r}): Keras cannot serialise "
                    f"it ({exc})."
                ) from exc
            _refuse_denied_problems(_keras_config_problems(config, frozenset()), repr(name))
        else:
            continue
        keras_members[name] = member
        members.append((member, data, zipfile.ZIP_DEFLATED))

    # The skops payload gets a copy without those Keras objects; copying goes through
    # __getstate__/__setstate__, so the copy shares the fitted parts and the original is
    # left as it was.
    shadow = copy.copy(estimator)
    for name in keras_members:
        setattr(shadow, name, None)
    session_token = _SESSION.set(_Session("save", model))
    try:
        payload = skops_io.dumps(shadow, compression=zipfile.ZIP_DEFLATED)
    except PersistenceError:
        raise
    except Exception as exc:
        raise PersistenceError(
            f"Cannot save this {type(estimator).__name__}: skops cannot serialise one of its "
            f"parts ({type(exc).__name__}: {exc}). Use pickle or joblib (trusted files only)."
        ) from exc
    finally:
        _SESSION.reset(session_token)
    _refuse_unloadable_types(payload)
    members.insert(1, (ESTIMATOR, payload, zipfile.ZIP_STORED))

    manifest = _manifest(estimator, keras_members, keras)
    members.insert(
        0, (MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"), zipfile.ZIP_DEFLATED)
    )
    _atomic_write(path, members)


def _skops_io():
    try:
        import skops.io
    except ImportError as exc:
        raise MissingDependencyError(
            "safekeras.save and safekeras.load need skops to store the scikit-learn parts "
            "safely: pip install skops"
        ) from exc
    return skops.io


def _saved_keras_archive(model, name: str) -> bytes:
    try:
        return _keras_archive(model)
    except Exception as exc:
        raise PersistenceError(
            f"Keras cannot save the {name!r} attribute ({type(model).__name__}): {exc}. A "
            "subclassed model needs get_config/from_config; or pass a function that builds "
            "the model as model=."
        ) from exc


def _keras_kind(value, keras) -> str | None:
    """How an attribute value is stored: "model" (.keras), "config" (JSON) or None (skops)."""
    if isinstance(value, keras.Model):
        return "model"
    keras_bases = (
        keras.layers.Layer,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.initializers.Initializer,
        keras.regularizers.Regularizer,
        keras.constraints.Constraint,
    )
    if isinstance(value, keras_bases):
        return "config"
    if inspect.isfunction(value) and _defined_in_keras(value):
        return "config"
    return None


def _manifest(estimator, keras_members: dict, keras) -> dict:
    import numpy
    import sklearn
    import skops

    from . import __version__

    backend = keras.backend.backend()
    versions = {
        "safekeras": __version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "skops": skops.__version__,
        "python": platform.python_version(),
    }
    backend_version = _backend_version(backend)
    if backend_version is not None:
        versions[backend] = backend_version
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator": _qualified_name(type(estimator)),
        "members": {"model": MODEL, "estimator": ESTIMATOR},
        "keras_objects": keras_members,
        "backend": backend,
        "versions": versions,
    }


def _backend_version(backend: str) -> str | None:
    module = sys.modules.get(backend)
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as distribution_version

            version = distribution_version(backend)
        except Exception:
            return None
    return str(version)


def _atomic_write(path: str, members: list) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    # A hidden name in the same folder (os.replace is atomic only within one file system);
    # O_EXCL so two writers never share it, mode 0o666 so the umask applies as for open().
    temporary = os.path.join(
        folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.safekeras-tmp"
    )
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                for name, data, compression in members:
                    archive.writestr(name, data, compress_type=compression)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        # Interrupts included: the previous file is untouched, the temporary one goes.
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _refuse_denied_keras(data: bytes, where: str) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        config = json.loads(archive.read("config.json"))
    _refuse_denied_problems(_keras_config_problems(config, frozenset()), where)


def _refuse_denied_problems(problems: list, where: str) -> None:
    denied = [problem for problem in problems if not problem.trustable]
    if denied:
        raise PersistenceError(
            f"Cannot save {where} in the safe format: "
            + "; ".join(problem.describe() for problem in denied)
            + ". safekeras.load never loads these; rebuild the model without them (e.g. a "
            "custom layer registered with keras.saving.register_keras_serializable instead of "
            "a Lambda layer), or use pickle (trusted files only)."
        )


def _refuse_unloadable_types(payload: bytes) -> None:
    unloadable = [
        name for name in _skops_io().get_untrusted_types(data=payload) if "<" in name or ">" in name
    ]
    if unloadable:
        raise PersistenceError(
            "Cannot save this estimator: it holds lambdas or functions defined inside other "
            f"functions ({', '.join(unloadable)}), which cannot be loaded by name. Define them "
            "at module level, or use pickle (trusted files only)."
        )


# -- load ------------------------------------------------------------------------------------


def load(path, *, trusted=None):
    """Load an estimator written by :func:`save`, refusing anything that could run code.

    The file is checked completely before anything in it is deserialised:
    the manifest, the network's Keras config against an allow-list of Keras's
    built-in modelling objects, and the types in the estimator's skops payload
    against the types safekeras estimators contain. Only then is the network
    loaded by Keras (``safe_mode=True``) and the rest by skops.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    trusted : list of str, optional
        Extra names to allow, for files whose author you trust:

        * Keras custom objects by their registered name, e.g.
          ``"my_package>MyLayer"`` (``keras.saving.register_keras_serializable``),
          or by ``"module.Class"`` for classes referenced by module;
        * skops types by their ``"module.Class"`` (or ``"module.function"``)
          name, e.g. a custom transformer used as ``preprocessor``.

        The :class:`~safekeras.exceptions.UnsafeFileError` for a file lists
        exactly the names it needs. Code-carrying Keras objects (Lambda layers,
        bytecode, ``TFSMLayer``, ``TorchModuleWrapper``, ``JaxLayer``,
        ``FlaxLayer``) and HDF5 models are refused whatever ``trusted`` says.

    Returns
    -------
    SafeKerasClassifier or SafeKerasRegressor
        The fitted estimator, predicting exactly as when it was saved.

    Raises
    ------
    UnsafeFileError
        If loading could run code: an object or type outside the allow-lists
        and not in ``trusted``, a code-carrying Keras object, an HDF5 model, or
        a Keras version without the safe-mode fixes (older than 3.11).
    PersistenceError
        If the file is not a safekeras file, is truncated or corrupt, or its
        parts do not fit together.

    Warns
    -----
    VersionMismatchWarning
        If the file was saved with other versions of safekeras, scikit-learn,
        Keras or NumPy, or another Keras backend; the message names each one
        with the saved and the installed version.
    """
    trusted = _normalise_trusted(trusted)
    keras = _safe_keras()
    _skops_io()
    with open(os.fspath(path), "rb") as handle:
        data = handle.read()
    name = os.path.basename(os.fspath(path))

    # 1. The container and the manifest.
    members = _read_members(data, name)
    manifest = _parse_manifest(members[MANIFEST], name)
    _warn_on_version_mismatch(manifest, keras, name)
    keras_members = _keras_members(manifest, members, name)

    # 2. Every part, before any of them is deserialised.
    problems = _check_keras_archive(members[MODEL], trusted, MODEL)
    configs = {}
    for attribute, member in keras_members.items():
        if member.endswith(".keras"):
            problems += _check_keras_archive(members[member], trusted, member)
        else:
            configs[attribute] = _parse_json(members[member], member)
            problems += _keras_config_problems(configs[attribute], trusted, member)
    untrusted_types = _skops_types(members[ESTIMATOR])
    problems += _skops_problems(untrusted_types, trusted)
    if problems:
        raise UnsafeFileError(_refusal_message(name, problems))

    # 3. Deserialise, now that nothing in the file names code.
    model = _load_keras_model(members[MODEL], f"{MODEL} in {name}")
    keras_objects = {}
    for attribute, member in keras_members.items():
        if member.endswith(".keras"):
            keras_objects[attribute] = _load_keras_model(members[member], f"{member} in {name}")
            continue
        try:
            keras_objects[attribute] = keras.saving.deserialize_keras_object(
                configs[attribute], safe_mode=True
            )
        except Exception as exc:
            raise PersistenceError(f"Keras could not load {member} in {name}: {exc}.") from exc
    estimator = _load_skops(members[ESTIMATOR], untrusted_types, model, name)
    expected = manifest["estimator"]
    if _qualified_name(type(estimator)) != expected:
        raise PersistenceError(
            f"{name} is inconsistent: its manifest describes a {expected} but {ESTIMATOR} holds "
            f"a {_qualified_name(type(estimator))}. The file was tampered with or corrupted."
        )
    for attribute, value in keras_objects.items():
        # save left None in the payload exactly where it stored a Keras object.
        if getattr(estimator, attribute, None) is not None:
            raise PersistenceError(
                f"{name} is inconsistent: its manifest stores {attribute!r} as a Keras object, "
                f"but {ESTIMATOR} holds a value for it. The file was tampered with or corrupted."
            )
        setattr(estimator, attribute, value)
    return estimator


def _normalise_trusted(trusted) -> frozenset:
    if trusted is None:
        return frozenset()
    if isinstance(trusted, (str, bytes)):
        raise ParameterError(
            f"trusted must be a list of names, e.g. trusted=[{trusted!r}]; got a single string."
        )
    try:
        names = list(trusted)
    except TypeError:
        raise ParameterError(
            f"trusted must be a list of strings or None; got {type(trusted).__name__}."
        ) from None
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise ParameterError(
            "trusted must hold names as strings (e.g. 'my_package>MyLayer' or "
            f"'my_module.MyTransformer'); got {wrong[0]!r}."
        )
    return frozenset(names)


def _safe_keras():
    """Import Keras, refusing a version without the safe-mode fixes."""
    import keras

    match = re.match(r"(\d+)\.(\d+)", str(keras.__version__))
    version = tuple(int(part) for part in match.groups()) if match else (0, 0)
    if version < MIN_KERAS_VERSION:
        minimum = ".".join(map(str, MIN_KERAS_VERSION))
        raise UnsafeFileError(
            f"Keras {keras.__version__} is installed, but safekeras.load needs Keras >= "
            f"{minimum}: older versions let a model file switch safe mode off or import "
            f"arbitrary modules (CVE-2025-1550, CVE-2025-8747). Upgrade with "
            f"pip install -U 'keras>={minimum}'."
        )
    return keras


def _read_members(data: bytes, name: str) -> dict:
    """The members of a safekeras file, read and CRC-checked."""
    _refuse_hdf5(data, name)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise PersistenceError(
            f"{name} is not a safekeras file, or is truncated or corrupt: it is not a complete "
            f"zip archive ({exc}). Save it again with safekeras.save."
        ) from exc
    with archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise PersistenceError(f"{name} is corrupt: it holds the same member twice.")
        if MANIFEST not in names and "config.json" in names:
            raise PersistenceError(f"{name} is not a safekeras file: {_what_zip_is(names)}")
        for hdf5 in (member for member in names if member.lower().endswith((".h5", ".hdf5"))):
            raise UnsafeFileError(
                f"{name} holds an HDF5 member {hdf5!r}; safekeras refuses HDF5 models because "
                "Keras ignores safe_mode when loading them (CVE-2025-9905)."
            )
        if MANIFEST not in names:
            raise PersistenceError(f"{name} is not a safekeras file: {_what_zip_is(names)}")
        missing = [member for member in (MODEL, ESTIMATOR) if member not in names]
        if missing:
            raise PersistenceError(
                f"{name} is incomplete: it lacks {', '.join(missing)}. The file is truncated or "
                "was not written by safekeras.save."
            )
        _refuse_bombs(archive, name)
        try:
            return {member: archive.read(member) for member in names}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise PersistenceError(f"{name} is corrupt: {exc}.") from exc


def _what_zip_is(names: list) -> str:
    if "config.json" in names:
        return (
            "it has no manifest.json but a config.json, so it looks like a Keras .keras model. "
            "Load it with keras.saving.load_model, or fit and save a safekeras estimator."
        )
    if "schema.json" in names:
        return "it has no manifest.json but a schema.json, so it looks like a skops file."
    return "it is a zip archive without manifest.json."


def _refuse_hdf5(data: bytes, where: str) -> None:
    if data[: len(_HDF5_SIGNATURE)] == _HDF5_SIGNATURE:
        raise UnsafeFileError(
            f"{where} is an HDF5 file (a legacy Keras .h5 model?). safekeras refuses HDF5 models "
            "because Keras ignores safe_mode when loading them (CVE-2025-9905). Load it with "
            "Keras only if you trust its author, and save the estimator with safekeras.save."
        )


def _refuse_bombs(archive: zipfile.ZipFile, where: str) -> None:
    for info in archive.infolist():
        if info.file_size > _EXPANSION_FLOOR_BYTES and info.file_size > _MAX_EXPANSION * max(
            info.compress_size, 1
        ):
            raise PersistenceError(
                f"{where} is refused: member {info.filename!r} would expand from "
                f"{info.compress_size} to {info.file_size} bytes (a decompression bomb)."
            )


def _parse_json(data: bytes, where: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PersistenceError(f"{where} is corrupt: it is not valid JSON ({exc}).") from exc


def _parse_manifest(data: bytes, name: str) -> dict:
    if len(data) > _MAX_MANIFEST_BYTES:
        raise PersistenceError(f"{name} is not a safekeras file: its manifest is too large.")
    manifest = _parse_json(data, f"{MANIFEST} in {name}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise PersistenceError(
            f"{name} is not a safekeras file: its manifest declares format {found!r}, "
            f"not {FORMAT_NAME!r}."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PersistenceError(f"{name} is corrupt: format_version {version!r} is not valid.")
    if version > FORMAT_VERSION:
        raise PersistenceError(
            f"{name} uses safekeras file format version {version}, newer than this safekeras "
            f"reads ({FORMAT_VERSION}). Upgrade safekeras to load it."
        )
    versions = manifest.get("versions")
    if not isinstance(versions, dict) or not all(
        isinstance(value, str) for value in versions.values()
    ):
        raise PersistenceError(f"{name} is corrupt: its manifest has no valid 'versions'.")
    if not isinstance(manifest.get("estimator"), str):
        raise PersistenceError(f"{name} is corrupt: its manifest does not name the estimator.")
    return manifest


def _warn_on_version_mismatch(manifest: dict, keras, name: str) -> None:
    import numpy
    import sklearn

    from . import __version__

    installed = {
        "safekeras": __version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
    saved = manifest["versions"]
    differences = [
        f"{package} {saved[package]} (saved) vs {installed[package]} (installed)"
        for package in _COMPARED_VERSIONS
        if package in saved and saved[package] != installed[package]
    ]
    saved_backend, backend = manifest.get("backend"), keras.backend.backend()
    if isinstance(saved_backend, str) and saved_backend != backend:
        differences.append(f"Keras backend {saved_backend} (saved) vs {backend} (installed)")
    if differences:
        warnings.warn(
            f"{name} was saved with other library versions than are installed: "
            + "; ".join(differences)
            + ". It loads, but predictions may differ where those versions changed behaviour; "
            "refit and save again to be sure.",
            VersionMismatchWarning,
            stacklevel=external_stacklevel(),
        )


def _keras_members(manifest: dict, members: dict, name: str) -> dict:
    """Attribute name -> member for the Keras objects stored besides the network."""
    declared = manifest.get("keras_objects", {})
    if not isinstance(declared, dict):
        raise PersistenceError(f"{name} is corrupt: 'keras_objects' in its manifest is not a map.")
    keras_members = {}
    for attribute, member in declared.items():
        valid = isinstance(attribute, str) and attribute.isidentifier()
        if not valid or member not in (
            f"{_KERAS_FOLDER}{attribute}.keras",
            f"{_KERAS_FOLDER}{attribute}.json",
        ):
            raise PersistenceError(
                f"{name} is corrupt: its manifest lists member {member!r} for {attribute!r}."
            )
        if member not in members:
            raise PersistenceError(f"{name} is incomplete: it lacks {member}.")
        keras_members[attribute] = member
    expected = {MANIFEST, MODEL, ESTIMATOR, *keras_members.values()}
    unexpected = sorted(set(members) - expected)
    if unexpected:
        raise PersistenceError(
            f"{name} holds members a safekeras file does not have: {', '.join(unexpected)}. "
            "It was not written by safekeras.save or was tampered with."
        )
    return keras_members


# -- checking the Keras side -----------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """One reason to refuse a file: a name, why, and whether ``trusted=`` may allow it."""

    name: str
    reason: str
    trustable: bool
    where: str = ""

    def describe(self) -> str:
        place = f" in {self.where}" if self.where else ""
        return f"{self.name!r}{place} ({self.reason})"


def _check_keras_archive(data: bytes, trusted: frozenset, where: str) -> list:
    """Problems with a ``.keras`` archive, found without Keras parsing it."""
    _refuse_hdf5(data, where)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise PersistenceError(
            f"{where} is not a Keras .keras archive (truncated or corrupt: {exc})."
        ) from exc
    with archive:
        names = archive.namelist()
        for member in names:
            if member.lower().endswith((".h5", ".hdf5")) and member != "model.weights.h5":
                raise UnsafeFileError(
                    f"{where} holds an HDF5 member {member!r} besides its weights; safekeras "
                    "refuses HDF5 models because Keras ignores safe_mode for them (CVE-2025-9905)."
                )
        unexpected = sorted(
            member
            for member in names
            if member not in _KERAS_MEMBERS and not member.startswith("assets/")
        )
        if unexpected:
            raise PersistenceError(
                f"{where} holds members a Keras .keras archive does not have: "
                f"{', '.join(unexpected)}."
            )
        if "config.json" not in names:
            raise PersistenceError(f"{where} is not a Keras .keras archive: it has no config.json.")
        _refuse_bombs(archive, where)
        try:
            raw = archive.read("config.json")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise PersistenceError(f"{where} is corrupt: {exc}.") from exc
    return _keras_config_problems(_parse_json(raw, f"config.json of {where}"), trusted, where)


def _keras_config_problems(config, trusted: frozenset, where: str = "") -> list:
    """Every object a Keras config names that is not allowed, walking all nesting.

    Only names are compared; nothing named in the config is imported or called.
    """
    import keras

    allowed = _keras_allow_list()
    custom = frozenset(keras.saving.get_custom_objects())
    problems = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if {"class_name", "module", "registered_name"} & node.keys():
                problem = _entry_problem(node, allowed, custom)
                if problem is not None and not (problem.trustable and problem.name in trusted):
                    problems.append(
                        _Problem(problem.name, problem.reason, problem.trustable, where)
                    )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and node in custom and node not in trusted:
            # Keras returns a registered object for any config string equal to its name.
            problems.append(_Problem(node, "a registered custom object", True, where))
    return _unique(problems)


def _entry_problem(entry: dict, allowed: _KerasAllowList, custom: frozenset) -> _Problem | None:
    """Why Keras deserialising this config entry could run code outside the allow-list."""
    class_name = entry.get("class_name")
    module = entry.get("module")
    # Keras looks a class up by registered_name, defaulting to class_name when absent.
    registered = entry.get("registered_name", class_name)
    if not all(isinstance(value, (str, type(None))) for value in (class_name, module, registered)):
        return _Problem(repr(class_name), "a malformed Keras object entry", False)
    if class_name in _DENIED_MARKERS:
        return _Problem(class_name, "serialised Python code (CVE-2024-3660)", False)
    if class_name in _DATA_MARKERS:
        return None
    if class_name in _DENIED_CLASSES:
        return _Problem(class_name, "a Keras layer that carries or loads code", False)
    if class_name in _DENIED_OPERATIONS and _is_keras_module(module or ""):
        return _Problem(class_name, "a Keras operation that runs Python callables", False)
    if class_name is None:
        # Not deserialised as an object by Keras, but a module reference has no place here.
        if module is None or module == "builtins" or _is_keras_module(module):
            return None
        return _Problem(module, "a module outside Keras (CVE-2025-1550 pattern)", False)
    if class_name == "function":
        return _function_problem(entry, module, registered, allowed, custom)
    if class_name in custom or registered in custom:
        name = registered if registered in custom else class_name
        return _Problem(name, "a registered custom object", True)
    if registered is not None and registered != class_name:
        return _Problem(registered, "a custom object (registered name)", True)
    if module is not None and (module, class_name) in allowed.classes:
        return None
    if module is None:
        return _Problem(
            class_name,
            "a custom class not registered in this process; import the module that registers it",
            False,
        )
    return _module_problem(module, class_name, "class")


def _function_problem(entry, module, registered, allowed, custom) -> _Problem | None:
    function = entry.get("config")
    if not isinstance(function, str):
        return _Problem(repr(function), "a malformed Keras function reference", False)
    # Keras resolves a registered function by the name in "config" before anything else.
    if function in custom or ">" in function:
        return _Problem(function, "a registered custom function", True)
    if registered not in (None, "function", function):
        return _Problem(registered, "a custom function (registered name)", True)
    if module == "builtins":
        if function in allowed.builtin_functions:
            return None
        # Keras also matches a bare name to a registered "package>name".
        suffixed = sorted(name for name in custom if name.endswith(f">{function}"))
        if suffixed:
            return _Problem(suffixed[0], "a registered custom function", True)
        return _Problem(function, "not a Keras activation, loss or metric function", False)
    if module is not None and (module, function) in allowed.functions:
        return None
    return _module_problem(module, function, "function")


def _module_problem(module: str | None, name: str, kind: str) -> _Problem:
    """A reference by module to a class or function that is not on the allow-list."""
    qualified = f"{module}.{name}"
    if name in _DENIED_FUNCTIONS:
        return _Problem(qualified, "switches Keras's safe mode off (CVE-2025-8747)", False)
    package = (module or "").split(".")[0]
    if package == "keras":
        if module in _NON_MODELLING_MODULES:
            return _Problem(qualified, "a Keras API that is not a modelling object", False)
        return _Problem(qualified, f"a Keras {kind} outside the modelling allow-list", True)
    if package in _KERAS_FAMILY:
        return _Problem(qualified, f"a {package} {kind}", True)
    # Keras itself imports nothing outside its family; a file naming os or builtins is an attack.
    return _Problem(qualified, f"a {kind} outside Keras (CVE-2025-1550 pattern)", False)


def _is_keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


@dataclass(frozen=True)
class _KerasAllowList:
    classes: frozenset  # (module, class name) pairs
    functions: frozenset  # (module, function name) pairs
    builtin_functions: frozenset  # names Keras resolves from {"module": "builtins"}


@functools.lru_cache(maxsize=1)
def _keras_allow_list() -> _KerasAllowList:
    """Built from the installed Keras's public API, so it follows Keras versions.

    A class is allowed under the public namespace that exports it and under the
    module that defines it (Keras resolves both), minus the code-carrying ones.
    """
    import keras

    classes, functions, allowed_objects = set(), set(), set()

    def allow_class(module: str, name: str, cls) -> None:
        classes.add((module, name))
        classes.add((cls.__module__, cls.__name__))
        allowed_objects.add(cls)

    for module_name in _KERAS_CLASS_MODULES:
        namespace = _keras_namespace(keras, module_name)
        for name, obj in vars(namespace).items():
            if name.startswith("_") or name in _DENIED_CLASSES:
                continue
            if inspect.isclass(obj):
                if (
                    obj.__name__ not in _DENIED_CLASSES
                    and _defined_in_keras(obj)
                    and hasattr(obj, "from_config")
                ):
                    allow_class(module_name, name, obj)
            elif (
                module_name in _KERAS_FUNCTION_MODULES
                and inspect.isfunction(obj)
                and _defined_in_keras(obj)
                and name not in _LOOKUP_FUNCTIONS
            ):
                functions.add((module_name, name))
                allowed_objects.add(obj)
    # Functional models are saved under their defining module, and functional graphs
    # built with keras.ops save Keras's own operation classes: neither is exported.
    for cls in _subclasses(keras.Model):
        if cls.__name__ == "Functional" and cls.__module__.startswith("keras.src.models."):
            allow_class(cls.__module__, cls.__name__, cls)
    for cls in _subclasses(keras.Operation):
        if cls.__module__.startswith("keras.src.ops.") and cls.__name__ not in _DENIED_OPERATIONS:
            allow_class(cls.__module__, cls.__name__, cls)

    builtin_functions = set()
    candidates = {name for _, name in functions}
    for name in candidates:
        found = [
            getattr(_keras_namespace(keras, f"keras.{module}"), name, None)
            for module in _KERAS_BUILTIN_FUNCTION_MODULES
        ]
        found = [obj for obj in found if obj is not None]
        if found and all(obj in allowed_objects for obj in found):
            builtin_functions.add(name)
    return _KerasAllowList(frozenset(classes), frozenset(functions), frozenset(builtin_functions))


def _keras_namespace(keras, dotted: str):
    namespace = keras
    for part in dotted.split(".")[1:]:
        namespace = getattr(namespace, part)
    return namespace


def _defined_in_keras(obj) -> bool:
    return _is_keras_module(getattr(obj, "__module__", None) or "")


def _subclasses(cls) -> set:
    found, stack = set(), [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


# -- checking and loading the skops side -----------------------------------------------------


def _skops_types(payload: bytes) -> list:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            _refuse_bombs(archive, ESTIMATOR)
        return _skops_io().get_untrusted_types(data=payload)
    except PersistenceError:
        raise
    except Exception as exc:
        raise PersistenceError(
            f"{ESTIMATOR} is not a readable skops payload (truncated or corrupt: {exc})."
        ) from exc


def _skops_problems(untrusted: list, trusted: frozenset) -> list:
    allowed = _skops_allow_list()
    imblearn = _imblearn_types() if any(n.startswith("imblearn.") for n in untrusted) else set()
    return [
        _Problem(name, "a type outside safekeras's allow-list", True, ESTIMATOR)
        for name in untrusted
        if name not in allowed and name not in imblearn and name not in trusted
    ]


@functools.lru_cache(maxsize=1)
def _skops_allow_list() -> frozenset:
    """Types a fitted safekeras estimator holds that skops does not trust by default."""
    from . import diagnostics, estimators, network, preprocessing, schema, targets, thresholds

    safekeras_types = (
        estimators.SafeKerasClassifier,
        estimators.SafeKerasRegressor,
        network.FittedNetwork,
        schema.InputSchema,
        schema.ColumnProfile,
        targets.TargetSpec,
        diagnostics.TrainingProfile,
        thresholds.ThresholdSearch,
        # The "auto" preprocessor's FunctionTransformer functions.
        preprocessing._as_float,
        preprocessing.as_categories,
    )
    return frozenset(
        {_qualified_name(obj) for obj in safekeras_types} | {"numpy.dtype", "builtins.frozenset"}
    )


@functools.lru_cache(maxsize=1)
def _imblearn_types() -> frozenset:
    """imbalanced-learn's public samplers, except FunctionSampler (it holds a callable)."""
    names = set()
    for module_name in _IMBLEARN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and name != "FunctionSampler":
                names.add(_qualified_name(obj))
    return frozenset(names)


def _load_skops(payload: bytes, untrusted: list, model, name: str):
    from .estimators import SafeKerasClassifier, SafeKerasRegressor

    session = _Session("load", model)
    session_token = _SESSION.set(session)
    try:
        # Every type in the payload has been checked by now; skops checks them again.
        estimator = _skops_io().loads(payload, trusted=list(untrusted))
    except UnsafeFileError:
        raise
    except Exception as exc:
        raise PersistenceError(
            f"{ESTIMATOR} in {name} could not be loaded ({type(exc).__name__}: {exc})."
        ) from exc
    finally:
        _SESSION.reset(session_token)
    if not isinstance(estimator, (SafeKerasClassifier, SafeKerasRegressor)):
        raise PersistenceError(
            f"{ESTIMATOR} in {name} holds a {type(estimator).__name__}, not a safekeras estimator."
        )
    if not session.resolved or getattr(estimator, "model_", None) is not model:
        raise PersistenceError(
            f"{name} is inconsistent: the estimator in {ESTIMATOR} does not use the network in "
            f"{MODEL}. The file was tampered with or corrupted."
        )
    return estimator


def _refusal_message(name: str, problems: list) -> str:
    denied = [problem for problem in problems if not problem.trustable]
    untrusted = [problem for problem in problems if problem.trustable]
    parts = [f"{name} was refused because loading it could run code."]
    if denied:
        parts.append(
            "It contains objects safekeras never loads: "
            + "; ".join(problem.describe() for problem in denied)
            + "."
        )
    if untrusted:
        names = sorted({problem.name for problem in untrusted})
        parts.append(
            "It names objects outside safekeras's allow-list: "
            + "; ".join(problem.describe() for problem in untrusted)
            + ". Only if you trust the file's author, pass them to load: "
            f"safekeras.load(path, trusted={names!r})."
        )
    return " ".join(parts)


def _unique(problems: list) -> list:
    seen, unique = set(), []
    for problem in problems:
        key = (problem.name, problem.reason, problem.where)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def _qualified_name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
