"""Taking a saved safekeras file apart and putting an edited copy together, as an attacker would.

Shared by the persistence tests: ``with_members`` updates the manifest's digests to match
the edited members, so that a test reaches the check it is about instead of the digest check.
"""

import hashlib
import io
import json
import zipfile


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def with_members(data, replacements):
    """A copy of a saved file with some members replaced or added, digests updated to match."""
    members = {**members_of(data), **replacements}
    manifest = json.loads(members["manifest.json"])
    if isinstance(manifest, dict) and "digests" in manifest:  # as an attacker would
        digests = {
            n: hashlib.sha256(d if isinstance(d, bytes) else d.encode()).hexdigest()
            for n, d in members.items()
            if n != "manifest.json"
        }
        members["manifest.json"] = json.dumps({**manifest, "digests": digests})
    return zip_bytes(members)
