"""Reading a zip archive within bounds decided before anything in it is inflated.

A safekeras file, each ``.keras`` archive in it and its skops payload are zip
archives. :class:`_ZipReader` reads each of them without trusting what a
member declares about itself: the central directory, the member count, the
compression methods (stored and deflated only), encryption flags, duplicated
or overlapping members and each member's inflated size are checked first, and
every deflated member of one load draws on one :class:`_Budget`, so a
decompression bomb is refused before it is inflated. Keras and skops are then
handed archives rebuilt from exactly the checked members (:func:`_zip_bytes`).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

from ..exceptions import PersistenceError, UnsafeFileError

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
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


# -- checks every reader makes --------------------------------------------------------------


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
