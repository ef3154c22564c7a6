"""Loading a safekeras file, refusing anything that could run code.

:func:`load` checks the whole file before anything in it is deserialised:
the container and the manifest (:mod:`safekeras.deploy.container`, within the
bounds of :mod:`safekeras.deploy.archive`), then every name the Keras configs
and the skops payload hold against the allow-lists of
:mod:`safekeras.deploy.allowlist`, and the declared weight shapes against the
stored weights (:mod:`safekeras.deploy.weights_check`). Only then does Keras
load the network and skops the rest; last, :mod:`safekeras.deploy.load_checks`
checks that the loaded parts belong together. The file format is documented
in :mod:`safekeras.deploy.persistence`."""

from __future__ import annotations

import os
import re

from ..exceptions import PersistenceError, UnsafeFileError
from .allowlist import keras_config_problems, normalise_trusted, refusal_message, skops_problems
from .archive import (
    _MAX_NESTED_MEMBERS,
    _Budget,
    _is_safe_member_name,
    _parse_json,
    _zip_bytes,
    _ZipReader,
)
from .container import _check_digests, _read_members, _warn_on_version_mismatch
from .file_format import (
    _KERAS_FOLDER,
    _KERAS_WEIGHTS,
    ESTIMATOR,
    MIN_KERAS_VERSION,
    MODEL,
    _skops_io,
)
from .load_checks import check_decision_fits, check_linear_baseline_fits, check_network_fits
from .network_bytes import (
    _SESSION,
    _check_weights,
    _keras_config,
    _load_keras_model,
    _read_keras_archive,
    _Session,
)
from .spline_checks import check_spline_bases
from .type_names import LEGACY_TYPES, is_estimator, qualified_name

__all__ = ["load"]


def load(path, *, trusted=None):
    """Load a file of :func:`~safekeras.persistence.save`, refusing anything that could run code.

    The file is checked completely before anything in it is deserialised:
    the manifest, the network's Keras config against an allow-list of Keras's
    built-in modelling objects, and the types in the estimator's skops payload
    against the types safekeras estimators contain. Only then is the network
    loaded by Keras (``safe_mode=True``) and the rest by skops.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`~safekeras.persistence.save`.
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
        encrypted member, a decompression bomb, too many members), or it was
        written by a development build of safekeras that kept its types under
        other module paths (re-fit and save it again).

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
    # Before anything evaluates them: SciPy's compiled B-spline code trusts its numbers.
    check_spline_bases(estimator, name)
    # Each part was checked on its own; now that they are loaded, that they belong together.
    check_network_fits(estimator, name)
    check_linear_baseline_fits(estimator, name)
    check_decision_fits(estimator, name)
    return estimator


def _check_parts(archives: dict, members: dict, payload: bytes, trusted, name: str):
    """Step 2 of :func:`load`: every name the parts hold, against the allow-lists.

    Returns the parsed configs of the Keras members (``.keras`` archives and
    JSON configs, by member) and the skops payload's type names; raises
    :class:`UnsafeFileError` naming every problem, and
    :class:`PersistenceError` for a payload of the old module layout.
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
    # After the refusal above: a file that could run code is refused as such, whatever else.
    _refuse_legacy_types(untrusted_types, name)
    # Only names known safe reach here; now what the weights hold against what the config
    # declares, before Keras allocates it.
    for member, archive in archives.items():
        _check_weights(configs[member], archive[_KERAS_WEIGHTS], f"{member} in {name}")
    return configs, untrusted_types


def _refuse_legacy_types(untrusted_types: list, name: str) -> None:
    """Refuse a payload naming types where development builds kept them before the layout.

    They are safekeras's own types under their old module paths, not unknown
    ones: offering ``trusted=`` for them would mislead, and safekeras 0.1.0
    never wrote such a file.
    """
    legacy = sorted(set(untrusted_types) & LEGACY_TYPES)
    if legacy:
        raise PersistenceError(
            f"{name} was written by a development build of safekeras before the module layout "
            f"changed: {ESTIMATOR} names {', '.join(legacy)}, which this version keeps under "
            "other module paths. Re-fit the estimator and save it again."
        )


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
    if not is_estimator(estimator):
        raise PersistenceError(
            f"{ESTIMATOR} in {name} holds a {type(estimator).__name__}, not a safekeras estimator."
        )
    if not session.resolved or getattr(estimator, "model_", None) is not model:
        raise PersistenceError(
            f"{name} is inconsistent: the estimator in {ESTIMATOR} does not use the network in "
            f"{MODEL}. The file was tampered with or corrupted."
        )
    return estimator
