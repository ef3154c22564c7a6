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
    Format name and version, the estimator's class, the members and their
    SHA-256 digests, and the versions of safekeras, scikit-learn, Keras, the
    Keras backend, NumPy, skops and Python that wrote the file.
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

Loading
-------
:func:`load` checks the whole file before anything in it is deserialised: the
container and the manifest here (every zip archive, nested ones included, is
read within bounds decided from its central directory before anything is
inflated, see :class:`_ZipReader`), then every name the Keras configs and the
skops payload hold against the allow-lists of :mod:`safekeras.deploy.allowlist`,
whose docstring describes the threat model (the CVEs and what each check
stops). A file that could make the loader run code raises
:class:`~safekeras.exceptions.UnsafeFileError`. Only then does Keras load the
network (``safe_mode=True, compile=False``) and skops load the rest. A
foreign, truncated or corrupt file raises
:class:`~safekeras.exceptions.PersistenceError`; nothing is returned
half-loaded. Files written by other library versions load with a
:class:`~safekeras.exceptions.VersionMismatchWarning`.
"""

from __future__ import annotations

import contextvars
import copy
import errno
import hashlib
import inspect
import io
import json
import os
import platform
import re
import secrets
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib

from ..exceptions import (
    MissingDependencyError,
    NotFittedError,
    PersistenceError,
    UnsafeFileError,
    VersionMismatchWarning,
    external_stacklevel,
)
from .allowlist import (
    defined_in_keras,
    keras_config_problems,
    normalise_trusted,
    qualified_name,
    refusal_message,
    skops_problems,
)
from .load_checks import check_network_fits
from .weights_check import check_keras_archive

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
#: Oldest Keras with every safe-mode fix load relies on (see pyproject.toml's keras pin).
MIN_KERAS_VERSION = (3, 15)

MANIFEST = "manifest.json"
MODEL = "model.keras"
ESTIMATOR = "estimator.skops"
_KERAS_FOLDER = "keras/"

# What the skops payload holds in place of the network (see _Session).
_MODEL_TOKEN = b"safekeras-persistence:model.keras"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A manifest is a few hundred bytes; anything near this is not ours.
_MAX_MANIFEST_BYTES = 1 << 20
# A Keras config.json or keras/<attribute>.json is kilobytes; a few MB for huge graphs.
_MAX_CONFIG_BYTES = 16 << 20

# Bounds of the zip reader (_ZipReader), known before a member is read; nothing a member
# declares about itself is trusted. A central directory costs memory as zipfile parses it
# (each entry is a Python object), so it is bounded before zipfile sees it: 1 MiB holds
# ~20 000 entries, where a safekeras file has 3 to 10 and a .keras or skops archive tens.
_MAX_DIRECTORY_BYTES = 1 << 20
_MAX_TOP_MEMBERS = 64
_MAX_NESTED_MEMBERS = 4096
# A deflated member may inflate to _MAX_INFLATION times its compressed bytes (real members
# stay under 30x; deflate reaches 1032x), plus its share of an allowance of
# _FREE_INFLATION_BYTES per load, so small very compressible members (zeros, JSON) load
# whatever their ratio; never past _MAX_INFLATED_MEMBER_BYTES.
_MAX_INFLATION = 200
_FREE_INFLATION_BYTES = 16 << 20
_MAX_INFLATED_MEMBER_BYTES = 1 << 30
# The compression methods save (and Keras, and skops) write; zipfile inflates bzip2 and
# lzma without an output bound, so a few KB of either can expand to gigabytes.
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# General-purpose flag bits: 0x1 encrypted, 0x20 compressed patched data, 0x40 strong
# encryption; none is written by save, and zipfile cannot read them without a password.
_REFUSED_FLAGS = 0x1 | 0x20 | 0x40
# What zipfile (and zlib under it) raises on a damaged archive or member.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)
# Windows opens files in text mode unless told otherwise.
_O_BINARY = getattr(os, "O_BINARY", 0)

# Packages whose version, when it differs from the one that saved the file, can change
# predictions or the loaded objects; Python and skops are recorded but not compared.
_COMPARED_VERSIONS = ("safekeras", "scikit-learn", "keras", "numpy")

# Members a Keras ``.keras`` archive may hold (besides files under ``assets/``). Keras can
# also read weights from model.weights.npz, but never writes one unless asked to, and the
# weights are checked against the config in model.weights.h5 only.
_KERAS_JSON_MEMBERS = ("config.json", "metadata.json")
_KERAS_WEIGHTS = "model.weights.h5"
_KERAS_MEMBERS = frozenset({*_KERAS_JSON_MEMBERS, _KERAS_WEIGHTS})


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
    where = "the pickled network"
    members = _read_keras_archive(bytes(data), where, _Budget())
    # Unpickling also serves skops (MLflow's default format, with skops_trusted_types): the
    # declared shapes are checked against the weights before Keras allocates them here too.
    _check_weights(_parse_json(members["config.json"], where), members[_KERAS_WEIGHTS], where)
    return _load_keras_model(members, where)


def _keras_archive(model) -> bytes:
    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def _load_keras_model(members: dict, where: str):
    """Keras's load of a fresh archive holding exactly ``members``, already checked.

    Keras extracts every member of an archive with assets and opens the weights
    itself; rewriting the archive means it never sees a member, a compression
    method or a declared size that :func:`_read_keras_archive` did not check.
    """
    import keras

    # Keras only opens a .keras archive from a real file with that suffix.
    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        with open(path, "wb") as handle:
            handle.write(_zip_bytes(members))
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
    FileNotFoundError
        If the folder ``path`` names does not exist (it is not created).
    IsADirectoryError
        If ``path`` is a folder rather than a file name.
    """
    from ..estimators import SafeKerasClassifier, SafeKerasRegressor

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
    _check_destination(path)
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
            _refuse_denied_problems(keras_config_problems(config, frozenset()), repr(name))
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
    # Integrity, not authenticity: a member corrupted or taken from another file is caught
    # (an attacker rewrites these too; what stops attacks is load's checks).
    manifest["digests"] = {member: hashlib.sha256(data).hexdigest() for member, data, _ in members}
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
    if inspect.isfunction(value) and defined_in_keras(value):
        return "config"
    return None


def _manifest(estimator, keras_members: dict, keras) -> dict:
    import numpy
    import sklearn
    import skops

    from .. import __version__

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
        "estimator": qualified_name(type(estimator)),
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


def _check_destination(path: str) -> None:
    """Refuse, before any work and naming ``path``, a file that cannot be written there."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR,
            f"safekeras.save needs a file name, but {path!r} is a folder; save to a file in it, "
            f"e.g. {os.path.join(path, 'model.safekeras')!r}",
            path,
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            errno.ENOENT,
            f"safekeras.save cannot write {path!r}: the folder {folder!r} does not exist "
            "(save does not create folders; make it first, e.g. with os.makedirs)",
            path,
        )


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
    _refuse_denied_problems(keras_config_problems(config, frozenset()), where)


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
        If the file is not a safekeras file, is truncated or corrupt, its
        parts do not fit together, or a zip archive in it breaks the reader's
        bounds (a compression method other than stored or deflated, an
        encrypted member, a decompression bomb, too many members).

    Warns
    -----
    VersionMismatchWarning
        If the file was saved with other versions of safekeras, scikit-learn,
        Keras or NumPy, or another Keras backend; the message names each one
        with the saved and the installed version.
    """
    trusted = normalise_trusted(trusted)
    keras = _safe_keras()
    _skops_io()
    with open(os.fspath(path), "rb") as handle:
        data = handle.read()
    name = os.path.basename(os.fspath(path))
    budget = _Budget()

    # 1. The container and the manifest; every member is read within bounds (_ZipReader).
    manifest, members, keras_members = _read_members(data, name, budget)
    _warn_on_version_mismatch(manifest, keras, name)

    # 2. Every part, before any of them is deserialised.
    archives = {
        member: _read_keras_archive(members[member], f"{member} in {name}", budget)
        for member in (MODEL, *keras_members.values())
        if member.endswith(".keras")
    }
    payload = _read_skops_payload(members[ESTIMATOR], f"{ESTIMATOR} in {name}", budget)
    configs, untrusted_types = _check_parts(archives, members, payload, trusted, name)
    # Last, so that a tampered member is refused for what it holds when it is unsafe.
    _check_digests(manifest, members, name)

    # 3. Deserialise, now that nothing in the file names code.
    model = _load_keras_model(archives[MODEL], f"{MODEL} in {name}")
    keras_objects = {}
    for attribute, member in keras_members.items():
        if member in archives:
            keras_objects[attribute] = _load_keras_model(archives[member], f"{member} in {name}")
            continue
        try:
            keras_objects[attribute] = keras.saving.deserialize_keras_object(
                configs[member], safe_mode=True
            )
        except Exception as exc:
            raise PersistenceError(f"Keras could not load {member} in {name}: {exc}.") from exc
    estimator = _load_skops(payload, untrusted_types, model, name)
    expected = manifest["estimator"]
    if qualified_name(type(estimator)) != expected:
        raise PersistenceError(
            f"{name} is inconsistent: its manifest describes a {expected} but {ESTIMATOR} holds "
            f"a {qualified_name(type(estimator))}. The file was tampered with or corrupted."
        )
    for attribute, value in keras_objects.items():
        # save left None in the payload exactly where it stored a Keras object.
        if getattr(estimator, attribute, None) is not None:
            raise PersistenceError(
                f"{name} is inconsistent: its manifest stores {attribute!r} as a Keras object, "
                f"but {ESTIMATOR} holds a value for it. The file was tampered with or corrupted."
            )
        setattr(estimator, attribute, value)
    # Each part was checked on its own; now that they are loaded, that they belong together.
    check_network_fits(estimator, name)
    return estimator


def _check_parts(archives: dict, members: dict, payload: bytes, trusted, name: str):
    """Step 2 of :func:`load`: every name the parts hold, against the allow-lists.

    Returns the parsed configs of the Keras members (``.keras`` archives and
    JSON configs, by member) and the skops payload's type names; raises
    :class:`UnsafeFileError` naming every problem.
    """
    configs = {member: _keras_config(archive, member) for member, archive in archives.items()}
    for member in members:
        if member.startswith(_KERAS_FOLDER) and member.endswith(".json"):
            configs[member] = _parse_json(members[member], member)
    problems = []
    for member, config in configs.items():
        problems += keras_config_problems(config, trusted, member)
    untrusted_types = _skops_types(payload)
    problems += skops_problems(untrusted_types, trusted, ESTIMATOR)
    if problems:
        raise UnsafeFileError(refusal_message(name, problems))
    # Only names known safe reach here; now what the weights hold against what the config
    # declares, before Keras allocates it.
    for member, archive in archives.items():
        _check_weights(configs[member], archive[_KERAS_WEIGHTS], f"{member} in {name}")
    return configs, untrusted_types


def _check_weights(config, weights: bytes, where: str) -> None:
    """:func:`check_keras_archive`, with what h5py raises on a damaged file made ours."""
    try:
        check_keras_archive(config, weights, where)
    except PersistenceError:
        raise
    except Exception as exc:
        raise PersistenceError(
            f"{where} is corrupt: its {_KERAS_WEIGHTS} is not a readable HDF5 file "
            f"({type(exc).__name__}: {exc})."
        ) from exc


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


# -- reading zip archives within bounds ------------------------------------------------------


class _Budget:
    """How far the deflated members of one load may inflate beyond the ratio.

    Each deflated member may produce :data:`_MAX_INFLATION` times its compressed
    bytes; what it produces beyond that comes out of one allowance shared by
    every archive of the load, so a file's total output is bounded by its size.
    """

    def __init__(self):
        self.free = _FREE_INFLATION_BYTES

    def limit(self, info: zipfile.ZipInfo, cap: int) -> int:
        return min(cap, _MAX_INFLATED_MEMBER_BYTES, _MAX_INFLATION * info.compress_size + self.free)

    def spend(self, info: zipfile.ZipInfo, size: int) -> None:
        self.free -= max(0, size - _MAX_INFLATION * info.compress_size)


class _ZipReader:
    """A zip archive in memory, read without trusting what its members declare.

    Everything that can be decided from the central directory is decided on
    opening, before any member is decompressed: the directory's size, the
    number of members, duplicated names, encryption flags, compression methods
    (stored and deflated only), stored sizes and that members neither overlap
    nor run past the directory. :meth:`read` then refuses a member whose
    declared size is over its bound before inflating it; zipfile stops a
    deflated member at its declared size and fails its CRC if it holds more.
    """

    def __init__(self, data: bytes, where: str, *, max_members: int, budget: _Budget, not_zip):
        self.where = where
        self._budget = budget
        directory_start = _directory_start(data, where, not_zip)
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(data))
            infos = self._archive.infolist()
        except _ZIP_ERRORS as exc:
            raise PersistenceError(not_zip(exc)) from exc
        if len(infos) > max_members:
            self._refuse(f"it holds {len(infos)} members, more than the {max_members} allowed")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            duplicated = sorted({name for name in names if names.count(name) > 1})
            self._refuse(f"it holds the same member twice ({', '.join(map(repr, duplicated))})")
        for info in infos:
            self._check_entry(info)
        self._check_extents(infos, directory_start)
        self._infos = dict(zip(names, infos, strict=True))

    @property
    def names(self) -> list:
        return list(self._infos)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._archive.close()

    def _refuse(self, reason: str):
        raise PersistenceError(
            f"{self.where} is refused: {reason}. safekeras.save never writes such an archive; "
            "the file is corrupt or was crafted."
        )

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        if info.flag_bits & _REFUSED_FLAGS:
            self._refuse(f"member {name!r} is encrypted (flag bits {info.flag_bits:#x})")
        if info.compress_type not in _METHODS:
            self._refuse(
                f"member {name!r} uses compression method {info.compress_type}; only stored "
                "(0) and deflated (8) members are read"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            self._refuse(
                f"stored member {name!r} declares {info.file_size} bytes but holds "
                f"{info.compress_size}"
            )

    def _check_extents(self, infos: list, directory_start: int) -> None:
        # Members whose data overlap let one compressed stream count many times (the
        # overlapping-file zip bomb); 30 bytes is the fixed part of each local header.
        ordered = sorted(infos, key=lambda info: info.header_offset)
        ends = [info.header_offset for info in ordered[1:]] + [directory_start]
        for info, end in zip(ordered, ends, strict=True):
            if info.header_offset + 30 + info.compress_size > end:
                self._refuse(
                    f"member {info.filename!r} runs past the next member or the end of the "
                    "archive (overlapping members are a decompression bomb)"
                )

    def read(self, name: str, cap: int = _MAX_INFLATED_MEMBER_BYTES) -> bytes:
        """Member ``name``, at most ``cap`` bytes and within the load's budget."""
        info = self._infos[name]
        if info.compress_type == zipfile.ZIP_STORED:
            limit = min(cap, info.compress_size)  # its bytes are in the file already
        else:
            limit = self._budget.limit(info, cap)
        if info.file_size > limit:
            self._refuse(
                f"member {name!r} declares {info.file_size} bytes from {info.compress_size} "
                f"compressed, over the {limit} bytes safekeras reads for it (a decompression "
                "bomb?)"
            )
        try:
            with self._archive.open(info) as stream:
                # zipfile inflates at most file_size (+ one read) and checks the CRC there.
                data = stream.read(info.file_size)
                extra = stream.read(1)
        except _ZIP_ERRORS as exc:
            raise PersistenceError(f"{self.where} is corrupt: member {name!r}: {exc}.") from exc
        if len(data) != info.file_size or extra:
            self._refuse(f"member {name!r} does not hold the {info.file_size} bytes it declares")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            self._budget.spend(info, len(data))
        return data


def _directory_start(data: bytes, where: str, not_zip) -> int:
    """Where the central directory starts; refuses one over :data:`_MAX_DIRECTORY_BYTES`.

    Finds the end-of-central-directory record as :mod:`zipfile` does (the last
    22 bytes, else the last signature in the final 64 KiB, with the ZIP64
    record just before it), so the size checked is the size zipfile will parse.
    """
    end = len(data) - 22
    if not (end >= 0 and data[end : end + 4] == b"PK\x05\x06" and data[-2:] == b"\0\0"):
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - (1 << 16)))
        if end < 0 or end + 22 > len(data):
            raise PersistenceError(not_zip("no end of central directory record"))
    (size,) = struct.unpack_from("<L", data, end + 12)
    start = end - size
    zip64 = end - 20 - 56
    if zip64 >= 0 and data[end - 20 : end - 16] == b"PK\x06\x07":
        if data[zip64 : zip64 + 4] == b"PK\x06\x06":
            (size,) = struct.unpack_from("<Q", data, zip64 + 40)
            start = zip64 - size
    if size > _MAX_DIRECTORY_BYTES:
        raise PersistenceError(
            f"{where} is refused: its central directory declares {size} bytes, over the "
            f"{_MAX_DIRECTORY_BYTES} safekeras reads (a safekeras file needs a few hundred). "
            "The file is corrupt or was crafted."
        )
    return start


def _is_safe_member_name(name: str) -> bool:
    """A relative path without parent references, absolute parts or control characters."""
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return False
    if any(ord(char) < 32 for char in name):
        return False
    return all(part not in ("", ".", "..") for part in name.rstrip("/").split("/"))


def _zip_bytes(members: dict) -> bytes:
    """A fresh stored archive of exactly ``members``, in their order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


# -- load: the container, the manifest and the parts -----------------------------------------


def _read_members(data: bytes, name: str, budget: _Budget):
    """The manifest, the members it lists, and which are Keras objects, read within bounds."""
    _refuse_hdf5(data, name)
    with _ZipReader(
        data,
        name,
        max_members=_MAX_TOP_MEMBERS,
        budget=budget,
        not_zip=lambda reason: (
            f"{name} is not a safekeras file, or is truncated or corrupt: it is not a "
            f"complete zip archive ({reason}). Save it again with safekeras.save."
        ),
    ) as archive:
        names = archive.names
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
        manifest = _parse_manifest(archive.read(MANIFEST, _MAX_MANIFEST_BYTES), name)
        # Every other member is named by the manifest and checked before it is read.
        keras_members = _keras_members(manifest, names, name)
        members = {
            member: archive.read(member, _member_cap(member))
            for member in (MODEL, ESTIMATOR, *keras_members.values())
        }
    return manifest, members, keras_members


def _check_digests(manifest: dict, members: dict, name: str) -> None:
    """Each member against the SHA-256 the manifest records (files saved before lack them)."""
    digests = manifest.get("digests")
    if digests is None:
        return
    if not isinstance(digests, dict) or set(digests) != set(members):
        raise PersistenceError(
            f"{name} is corrupt: the digests in its manifest do not list exactly its members."
        )
    for member, data in members.items():
        if digests[member] != hashlib.sha256(data).hexdigest():
            raise PersistenceError(
                f"{name} is corrupt: {member} does not match the SHA-256 digest its manifest "
                "records; the member was damaged, or taken from another file."
            )


def _member_cap(member: str) -> int:
    return _MAX_CONFIG_BYTES if member.endswith(".json") else _MAX_INFLATED_MEMBER_BYTES


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

    from .. import __version__

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


def _keras_members(manifest: dict, members: list, name: str) -> dict:
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


# -- reading the Keras and skops parts -------------------------------------------------------


def _read_keras_archive(data: bytes, where: str, budget: _Budget) -> dict:
    """The members of a ``.keras`` archive, checked by name, then read within bounds."""
    _refuse_hdf5(data, where)
    with _ZipReader(
        data,
        where,
        max_members=_MAX_NESTED_MEMBERS,
        budget=budget,
        not_zip=lambda reason: (
            f"{where} is not a Keras .keras archive (truncated or corrupt: {reason})."
        ),
    ) as archive:
        names = archive.names
        for member in names:
            if member.lower().endswith((".h5", ".hdf5")) and member != _KERAS_WEIGHTS:
                raise UnsafeFileError(
                    f"{where} holds an HDF5 member {member!r} besides its weights; safekeras "
                    "refuses HDF5 models because Keras ignores safe_mode for them (CVE-2025-9905)."
                )
        unexpected = sorted(
            member
            for member in names
            if member not in _KERAS_MEMBERS
            and not (member.startswith("assets/") and _is_safe_member_name(member))
        )
        if unexpected:
            raise PersistenceError(
                f"{where} holds members a Keras .keras archive saved by safekeras does not have: "
                f"{', '.join(map(repr, unexpected))}. It was not written by safekeras.save or "
                "was tampered with."
            )
        for required in ("config.json", _KERAS_WEIGHTS):
            if required not in names:
                raise PersistenceError(
                    f"{where} is not a Keras .keras archive: it has no {required}."
                )
        return {
            member: archive.read(
                member,
                _MAX_CONFIG_BYTES if member in _KERAS_JSON_MEMBERS else _MAX_INFLATED_MEMBER_BYTES,
            )
            for member in names
        }


def _keras_config(members: dict, where: str):
    return _parse_json(members["config.json"], f"config.json of {where}")


def _read_skops_payload(data: bytes, where: str, budget: _Budget) -> bytes:
    """``estimator.skops`` rebuilt from exactly its members, each read within bounds.

    skops opens the payload with :mod:`zipfile` itself; it gets an archive of
    stored members safekeras wrote, never the bytes from the file.
    """
    with _ZipReader(
        data,
        where,
        max_members=_MAX_NESTED_MEMBERS,
        budget=budget,
        not_zip=lambda reason: (
            f"{where} is not a readable skops payload (truncated or corrupt: {reason})."
        ),
    ) as archive:
        unsafe = [member for member in archive.names if not _is_safe_member_name(member)]
        if unsafe:
            raise PersistenceError(
                f"{where} holds members with names skops never writes: "
                f"{', '.join(map(repr, unsafe))}. The file was tampered with or corrupted."
            )
        members = {member: archive.read(member) for member in archive.names}
    return _zip_bytes(members)


def _skops_types(payload: bytes) -> list:
    try:
        return _skops_io().get_untrusted_types(data=payload)
    except Exception as exc:
        raise PersistenceError(
            f"{ESTIMATOR} is not a readable skops payload (truncated or corrupt: {exc})."
        ) from exc


def _load_skops(payload: bytes, untrusted: list, model, name: str):
    from ..estimators import SafeKerasClassifier, SafeKerasRegressor

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
