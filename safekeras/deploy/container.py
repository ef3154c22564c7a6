"""The container of a safekeras file: its members, its manifest and their digests.

Step 1 of :func:`~safekeras.deploy.loading.load`: the file is read as a zip
archive within the bounds of :mod:`safekeras.deploy.archive`, the manifest is
parsed and checked (format, version, the estimator it describes), every other member is
one the manifest names, and each member matches the SHA-256 the manifest
records. A file saved with other library versions loads with a
:class:`~safekeras.exceptions.VersionMismatchWarning`.
"""

from __future__ import annotations

import hashlib
import warnings

from ..exceptions import (
    PersistenceError,
    UnsafeFileError,
    VersionMismatchWarning,
    external_stacklevel,
)
from .archive import (
    _MAX_CONFIG_BYTES,
    _MAX_INFLATED_MEMBER_BYTES,
    _MAX_TOP_MEMBERS,
    _Budget,
    _parse_json,
    _refuse_hdf5,
    _ZipReader,
)
from .file_format import (
    _KERAS_FOLDER,
    ESTIMATOR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MODEL,
)

# A manifest is a few hundred bytes; anything near this is not ours.
_MAX_MANIFEST_BYTES = 1 << 20

# Packages whose version, when it differs from the one that saved the file, can change
# predictions or the loaded objects; Python and skops are recorded but not compared.
_COMPARED_VERSIONS = ("safekeras", "scikit-learn", "keras", "numpy")


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

    from .._version import __version__

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
