"""Writing a fitted estimator to one safekeras file.

:func:`save` stores the network as ``model.keras``, each Keras object among the
parameters and fitted attributes as a member of ``keras/``, the rest of the
estimator as ``estimator.skops`` and a manifest that names them with their
digests; it refuses, before writing, anything :func:`~safekeras.load` would
refuse for good (a Lambda layer, a lambda, a second network). The file is
written atomically. The format is documented in
:mod:`safekeras.deploy.persistence`.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import inspect
import io
import json
import os
import platform
import secrets
import sys
import zipfile

from ..exceptions import NotFittedError, PersistenceError
from ..network.engine.shared import loss_config_keeps_settings
from .allowlist import defined_in_keras, keras_config_problems
from .file_format import (
    _KERAS_FOLDER,
    ESTIMATOR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MODEL,
    _skops_io,
)
from .network_bytes import _SESSION, _keras_archive, _Session
from .type_names import is_estimator, qualified_name

__all__ = ["save"]

# Windows opens files in text mode unless told otherwise.
_O_BINARY = getattr(os, "O_BINARY", 0)


def save(estimator, path) -> None:
    """Save a fitted estimator to one file that :func:`~safekeras.load` reads without running code.

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
    _check_saveable(estimator)
    path = os.fspath(path)
    _check_destination(path)
    import keras

    _skops_io()
    model = estimator.model_
    members = [(MODEL, _saved_keras_archive(model, "model_"), zipfile.ZIP_STORED)]
    _refuse_denied_keras(members[0][1], f"{MODEL} (the fitted network)")

    keras_members = {}
    for name, member, data in _keras_object_members(estimator, keras):
        keras_members[name] = member
        members.append((member, data, zipfile.ZIP_DEFLATED))
    payload = _skops_payload(estimator, keras_members, model)
    members.insert(1, (ESTIMATOR, payload, zipfile.ZIP_STORED))

    manifest = _manifest(estimator, keras_members, keras)
    # Integrity, not authenticity: a member corrupted or taken from another file is caught
    # (an attacker rewrites these too; what stops attacks is load's checks).
    manifest["digests"] = {member: hashlib.sha256(data).hexdigest() for member, data, _ in members}
    members.insert(
        0, (MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"), zipfile.ZIP_DEFLATED)
    )
    _atomic_write(path, members)


def _check_saveable(estimator) -> None:
    """Refuse, before any work, what is not a fitted safekeras estimator."""
    if not is_estimator(estimator):
        raise PersistenceError(
            "safekeras.save stores SafeKerasClassifier and SafeKerasRegressor estimators; got "
            f"{type(estimator).__name__}. Use skops.io or joblib for other objects."
        )
    if not estimator.__sklearn_is_fitted__():
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet; call fit before save."
        )


def _keras_object_members(estimator, keras) -> list:
    """``(attribute, member, data)`` for each parameter or fitted attribute holding a Keras object.

    Parameters and fitted attributes holding Keras objects (model=, optimizer=, loss=,
    loss_, activation=): skops cannot store them, so each becomes a Keras member that load
    checks like model.keras.
    """
    found = []
    for name, value in sorted(vars(estimator).items()):
        kind = None if name == "model_" else _keras_kind(value, keras)
        if kind == "model":
            member = f"{_KERAS_FOLDER}{name}.keras"
            data = _saved_keras_archive(value, name)
            _refuse_denied_keras(data, f"the {name!r} attribute")
        elif kind == "config":
            member = f"{_KERAS_FOLDER}{name}.json"
            data = _keras_config_json(name, value, keras)
        else:
            continue
        found.append((name, member, data))
    return found


def _keras_config_json(name: str, value, keras) -> bytes:
    """The Keras config of attribute ``name`` as JSON, refused if load would never read it."""
    try:
        config = keras.saving.serialize_keras_object(value)
        data = json.dumps(config).encode("utf-8")
    except Exception as exc:
        raise PersistenceError(
            f"Cannot save the {name!r} attribute ({value!r}): Keras cannot serialise it ({exc})."
        ) from exc
    _refuse_denied_problems(keras_config_problems(config, frozenset()), repr(name))
    if isinstance(value, keras.losses.Loss) and not loss_config_keeps_settings(value):
        raise PersistenceError(
            f"Cannot save the {name!r} attribute ({type(value).__name__}): its Keras config "
            "leaves out some of its settings (Keras's Huber drops delta), so the file would "
            "load another loss. Give the loss by name (its defaults), or a loss class whose "
            "get_config returns every setting."
        )
    return data


def _skops_payload(estimator, keras_members: dict, model) -> bytes:
    """``estimator.skops``: the estimator without its network and Keras objects, via skops.

    The skops payload gets a copy without those Keras objects; copying goes through
    __getstate__/__setstate__, so the copy shares the fitted parts and the original is
    left as it was. The network becomes a placeholder (see ``_Session``).
    """
    shadow = copy.copy(estimator)
    for name in keras_members:
        setattr(shadow, name, None)
    session_token = _SESSION.set(_Session("save", model))
    try:
        payload = _skops_io().dumps(shadow, compression=zipfile.ZIP_DEFLATED)
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
    return payload


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

    from .._version import __version__

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
