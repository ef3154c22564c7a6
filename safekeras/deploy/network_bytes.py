"""A Keras network as the bytes of a ``.keras`` archive, and back, with the file's checks.

``FittedNetwork`` pickles its network through :func:`model_to_bytes` and
unpickles it through :func:`model_from_bytes`, which reads the archive within
the bounds of :mod:`safekeras.deploy.archive`, checks the weights against the
config (:mod:`safekeras.deploy.weights_check`) and loads it with Keras's safe
mode on. During :func:`~safekeras.deploy.saving.save` and
:func:`~safekeras.deploy.loading.load` a :class:`_Session` makes the two
exchange the network for a placeholder, so the skops payload never carries a
network of its own.
"""

from __future__ import annotations

import contextvars
import os
import tempfile

from ..exceptions import PersistenceError, UnsafeFileError
from ..network.variable_names import stable_variable_names
from .archive import (
    _MAX_CONFIG_BYTES,
    _MAX_INFLATED_MEMBER_BYTES,
    _MAX_NESTED_MEMBERS,
    _Budget,
    _is_safe_member_name,
    _parse_json,
    _refuse_hdf5,
    _zip_bytes,
    _ZipReader,
)
from .file_format import (
    _KERAS_JSON_MEMBERS,
    _KERAS_MEMBERS,
    _KERAS_WEIGHTS,
    ESTIMATOR,
    MODEL,
)
from .weights_check import check_keras_archive

__all__ = ["model_from_bytes", "model_to_bytes"]

# What the skops payload holds in place of the network (see _Session).
_MODEL_TOKEN = b"safekeras-persistence:model.keras"


# -- the network inside pickles and inside save/load ----------------------------------------


class _Session:
    """What saving or loading is doing while skops walks the estimator.

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

    Used by pickling (``FittedNetwork.__getstate__``). During
    :func:`~safekeras.deploy.saving.save` it returns a placeholder instead:
    the network is stored once, as ``model.keras``.
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
    :func:`~safekeras.deploy.loading.load` only the placeholder written by
    :func:`~safekeras.deploy.saving.save` is accepted, and
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
            with stable_variable_names():  # loading a network per request must not grow memory
                return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise PersistenceError(
                f"Keras could not load {where}: {exc}. If it uses custom layers or functions, "
                "import the module that registers them (keras.saving.register_keras_serializable) "
                "before loading."
            ) from exc


# -- reading and checking a .keras archive --------------------------------------------------


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
