"""``safekeras.load`` on crafted zip containers: bounded before anything is inflated.

Each file is built byte by byte (:func:`raw_zip`), so it can lie as an attacker's
does: a member declaring 1000 bytes that inflates to 64 MB, bzip2 and lzma
members (zipfile inflates both without an output bound), encryption flags,
unknown compression methods, deflate bombs with honest and with lying sizes,
huge declared sizes, too many members, duplicated and overlapping members, in
the safekeras file itself, inside ``model.keras`` (``assets/`` included) and
inside ``estimator.skops``. Every one is refused with a safekeras error; a
child process checks that refusing them all stays within 50 MB of peak memory
beyond loading the legitimate file, and within 2 s each.
"""

import bz2
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from file_edits import members_of
from sklearn.datasets import make_classification

from safekeras import SafeKerasClassifier
from safekeras.deploy.persistence import load, model_from_bytes
from safekeras.exceptions import PersistenceError, UnsafeFileError

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0, threshold_cv=None)
BOMB_BYTES = 64 << 20  # what the bombs below inflate to: over the 50 MB memory target
STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14


# -- building zip archives that lie ----------------------------------------------------------


def deflate(data):
    """Raw deflate, as a zip member holds it."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def entry(name, data, method=STORED, *, size=None, crc=None, flags=0, packed=None):
    """One member: ``packed`` is the bytes as stored (compressed); the rest may lie."""
    if packed is None:
        packed = {STORED: data, DEFLATED: deflate(data) if data else b"", BZIP2: None}[method]
        if packed is None:
            packed = bz2.compress(data)
    return {
        "name": name.encode("utf-8"),
        "packed": packed,
        "method": method,
        "size": len(data) if size is None else size,
        "crc": zlib.crc32(data) if crc is None else crc,
        "flags": flags,
    }


def raw_zip(entries, *, central=None):
    """A zip archive of ``entries``, written by hand; ``central`` overrides the directory."""
    out = bytearray()
    offsets = []
    for item in entries:
        offsets.append(len(out))
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            item["flags"],
            item["method"],
            0,
            0x21,
            item["crc"],
            len(item["packed"]),
            item["size"],
            len(item["name"]),
            0,
        )
        out += item["name"] + item["packed"]
    records = central if central is not None else list(zip(entries, offsets, strict=True))
    directory = bytearray()
    for item, offset in records:
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            item["flags"],
            item["method"],
            0,
            0x21,
            item["crc"],
            len(item["packed"]),
            item["size"],
            len(item["name"]),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += item["name"]
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(records), len(records), len(directory), len(out), 0
    )
    return bytes(out + directory + end)


def honest(members, methods=None):
    """Entries for ``members`` (name -> bytes), each stored unless ``methods`` says otherwise."""
    methods = methods or {}
    return [entry(name, data, methods.get(name, STORED)) for name, data in members.items()]


def replaced(data, name, new_entry):
    """Entries of the zip ``data`` with member ``name`` replaced by (or added as) ``new_entry``."""
    members = members_of(data)
    entries = [entry(n, d) if n != name else new_entry for n, d in members.items()]
    if name not in members:
        entries.append(new_entry)
    return entries


def bzip2_bomb(name):
    """A bzip2 member declaring 1000 bytes and inflating to 64 MB (79 bytes in the file)."""
    return entry(name, b"", BZIP2, packed=BZIP2_BOMB, size=1000, crc=0)


BZIP2_BOMB = bz2.compress(bytes(BOMB_BYTES))
DEFLATE_BOMB = deflate(bytes(BOMB_BYTES))


def deflate_bomb(name, size=BOMB_BYTES):
    """A deflated member inflating to 64 MB from 64 KB, declaring ``size`` bytes."""
    return entry(name, b"", DEFLATED, packed=DEFLATE_BOMB, size=size, crc=0)


def lzma_entry(name, data):
    """An honest lzma member, its bytes taken from an archive zipfile wrote."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr(name, data)
    written = buffer.getvalue()
    info = zipfile.ZipFile(io.BytesIO(written)).infolist()[0]
    name_length, extra_length = struct.unpack_from("<2H", written, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    return entry(name, data, LZMA, packed=written[start : start + info.compress_size])


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ThresholdWarning on purposely tiny data
        estimator = SafeKerasClassifier(**FAST).fit(*data)
    path = tmp_path_factory.mktemp("legit") / "legit.safekeras"
    estimator.save(path)
    return path.read_bytes()


def in_model(saved, keras_entries):
    """The saved file with model.keras rebuilt from ``keras_entries``."""
    return raw_zip(replaced(saved, "model.keras", entry("model.keras", raw_zip(keras_entries))))


def in_skops(saved, skops_entries):
    payload = raw_zip(skops_entries)
    return raw_zip(replaced(saved, "estimator.skops", entry("estimator.skops", payload)))


def hostile_files(saved):
    """name -> (crafted file, expected error type, message pattern)."""
    top = members_of(saved)
    model = members_of(top["model.keras"])
    skops = members_of(top["estimator.skops"])
    many_names = [entry(f"keras/m{i}.json", b"{}") for i in range(100)]
    huge_directory = [entry(f"assets/{i:06d}-{'x' * 40}", b"") for i in range(20000)]
    overlapping = [entry(n, d) for n, d in top.items()]
    twin = dict(overlapping[1], name=b"keras/twin.json")
    manifest = json.loads(top["manifest.json"])
    manifest["keras_objects"] = {"twin": "keras/twin.json"}
    overlapping[0] = entry("manifest.json", json.dumps(manifest).encode(), DEFLATED)
    offsets = np.cumsum([0] + [30 + len(e["name"]) + len(e["packed"]) for e in overlapping])
    central = [*zip(overlapping, offsets.tolist(), strict=False), (twin, int(offsets[1]))]
    # The directory says the last member holds 5000 bytes more than the file has.
    stored = honest(top)
    sizes = np.cumsum([0] + [30 + len(e["name"]) + len(e["packed"]) for e in stored]).tolist()
    longer = dict(stored[-1], packed=stored[-1]["packed"] + bytes(5000))
    longer["size"] = len(longer["packed"])
    past_the_end = [*zip(stored[:-1], sizes[:-2], strict=True), (longer, sizes[-2])]
    return {
        "huge declared Dense layer": (
            in_model(saved, honest(_with_huge_hidden_layer(model))),
            UnsafeFileError,
            r"\(Dense\).*16777216",
        ),
        "bzip2 lying manifest": (
            raw_zip(replaced(saved, "manifest.json", bzip2_bomb("manifest.json"))),
            PersistenceError,
            r"'manifest\.json' uses compression method 12",
        ),
        "bzip2 lying extra member": (
            raw_zip(replaced(saved, "junk.bin", bzip2_bomb("junk.bin"))),
            PersistenceError,
            r"'junk\.bin' uses compression method 12",
        ),
        "bzip2 lying model.keras assets": (
            in_model(saved, [*honest(model), bzip2_bomb("assets/vocabulary.txt")]),
            PersistenceError,
            r"model\.keras in .*'assets/vocabulary\.txt' uses compression method 12",
        ),
        "bzip2 lying skops member": (
            in_skops(saved, [*honest(skops), bzip2_bomb("extra.npy")]),
            PersistenceError,
            r"estimator\.skops in .*'extra\.npy' uses compression method 12",
        ),
        "lzma model.keras": (
            raw_zip(
                replaced(saved, "model.keras", entry("model.keras", b"", LZMA, packed=b"\0" * 9))
            ),
            PersistenceError,
            r"'model\.keras' uses compression method 14",
        ),
        "lzma config.json": (
            in_model(
                saved,
                [lzma_entry(n, d) if n == "config.json" else entry(n, d) for n, d in model.items()],
            ),
            PersistenceError,
            r"'config\.json' uses compression method 14",
        ),
        "encrypted flag": (
            raw_zip(
                replaced(
                    saved,
                    "estimator.skops",
                    entry("estimator.skops", top["estimator.skops"], flags=0x1),
                )
            ),
            PersistenceError,
            r"'estimator\.skops' is encrypted \(flag bits 0x1\)",
        ),
        "strong encryption flag in model.keras": (
            in_model(
                saved,
                [entry(n, d, flags=0x41 if n == "config.json" else 0) for n, d in model.items()],
            ),
            PersistenceError,
            r"'config\.json' is encrypted",
        ),
        "unsupported method 99": (
            raw_zip(replaced(saved, "model.keras", entry("model.keras", b"x", 99, packed=b"x"))),
            PersistenceError,
            r"compression method 99; only stored \(0\) and deflated \(8\)",
        ),
        "deflate bomb, honest size": (
            raw_zip(replaced(saved, "estimator.skops", deflate_bomb("estimator.skops"))),
            PersistenceError,
            r"'estimator\.skops' declares 67108864 bytes from \d+ compressed, over the",
        ),
        "deflate bomb, lying size": (
            raw_zip(replaced(saved, "estimator.skops", deflate_bomb("estimator.skops", 1000))),
            PersistenceError,
            r"corrupt: member 'estimator\.skops'.*CRC",
        ),
        "deflate bomb as manifest": (
            raw_zip(replaced(saved, "manifest.json", deflate_bomb("manifest.json"))),
            PersistenceError,
            r"over the 1048576 bytes",
        ),
        "deflate bomb in config.json": (
            in_model(
                saved,
                [
                    *honest({k: v for k, v in model.items() if k != "config.json"}),
                    deflate_bomb("config.json"),
                ],
            ),
            PersistenceError,
            r"'config\.json' declares 67108864 bytes",
        ),
        "deflate bomb in assets, lying size": (
            in_model(saved, [*honest(model), deflate_bomb("assets/a.txt", 10)]),
            PersistenceError,
            r"'assets/a\.txt'.*CRC",
        ),
        "huge declared stored size": (
            raw_zip(
                replaced(
                    saved, "model.keras", entry("model.keras", top["model.keras"], size=2**32 - 1)
                )
            ),
            PersistenceError,
            r"stored member 'model\.keras' declares 4294967295 bytes but holds",
        ),
        "huge declared deflated size": (
            raw_zip(
                replaced(
                    saved,
                    "manifest.json",
                    dict(entry("manifest.json", top["manifest.json"], DEFLATED), size=2**32 - 1),
                )
            ),
            PersistenceError,
            r"'manifest\.json' declares 4294967295 bytes",
        ),
        "stored member runs past the directory": (
            raw_zip(honest(top), central=[*past_the_end]),
            PersistenceError,
            r"'estimator\.skops' runs past the next member or the end of the archive",
        ),
        "many members": (
            raw_zip([*honest(top), *many_names]),
            PersistenceError,
            r"holds 103 members, more than the 64 allowed",
        ),
        "huge central directory": (
            in_model(saved, [*honest(model), *huge_directory]),
            PersistenceError,
            r"central directory declares \d+ bytes, over the 1048576",
        ),
        "duplicated names in model.keras": (
            in_model(saved, [*honest(model), entry("config.json", b"{}")]),
            PersistenceError,
            r"same member twice \('config\.json'\)",
        ),
        "overlapping members": (
            raw_zip(overlapping, central=central),
            PersistenceError,
            r"overlapping members",
        ),
        "path traversal in assets": (
            in_model(saved, [*honest(model), entry("assets/../../evil.py", b"print(1)")]),
            PersistenceError,
            r"'assets/\.\./\.\./evil\.py'",
        ),
        "npz weights": (
            in_model(saved, [*honest(model), entry("model.weights.npz", b"PK")]),
            PersistenceError,
            r"'model\.weights\.npz'",
        ),
        "no weights": (
            in_model(saved, honest({k: v for k, v in model.items() if k != "model.weights.h5"})),
            PersistenceError,
            r"has no model\.weights\.h5",
        ),
        "member edited with valid CRCs": (
            in_model(saved, honest({**model, "metadata.json": model["metadata.json"] + b" "})),
            PersistenceError,
            r"model\.keras does not match the SHA-256 digest its manifest records",
        ),
        "hdf5 in assets": (
            in_model(saved, [*honest(model), entry("assets/x.h5", b"\x89HDF\r\n\x1a\n")]),
            UnsafeFileError,
            r"HDF5 member 'assets/x\.h5'",
        ),
    }


CASES = [
    "bzip2 lying manifest",
    "bzip2 lying extra member",
    "bzip2 lying model.keras assets",
    "bzip2 lying skops member",
    "lzma model.keras",
    "lzma config.json",
    "encrypted flag",
    "strong encryption flag in model.keras",
    "unsupported method 99",
    "deflate bomb, honest size",
    "deflate bomb, lying size",
    "deflate bomb as manifest",
    "deflate bomb in config.json",
    "deflate bomb in assets, lying size",
    "huge declared stored size",
    "huge declared deflated size",
    "stored member runs past the directory",
    "many members",
    "huge central directory",
    "duplicated names in model.keras",
    "overlapping members",
    "path traversal in assets",
    "npz weights",
    "no weights",
    "member edited with valid CRCs",
    "hdf5 in assets",
    "huge declared Dense layer",
]
# The crafted files the child process times and measures: every bomb, and the slowest to parse.
MEASURED = [case for case in CASES if "bomb" in case or "bzip2" in case] + [
    "huge central directory",
    "many members",
    "huge declared Dense layer",  # Keras would allocate 2**24 x 6 floats before any weight
]


@pytest.fixture(scope="module")
def hostile(saved):
    files = hostile_files(saved)
    assert sorted(files) == sorted(CASES)
    return files


# -- every crafted file is refused -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_crafted_container_is_refused(case, hostile, tmp_path):
    crafted, error, pattern = hostile[case]
    path = tmp_path / "crafted.safekeras"
    path.write_bytes(crafted)
    with pytest.raises(PersistenceError, match=pattern) as refused:
        load(path)
    assert type(refused.value) is error


def test_pickled_network_is_read_within_the_same_bounds(saved):
    model = members_of(members_of(saved)["model.keras"])
    with pytest.raises(PersistenceError, match=r"the pickled network .*compression method 12"):
        model_from_bytes(raw_zip([*honest(model), bzip2_bomb("assets/x.txt")]))
    with pytest.raises(PersistenceError, match=r"the pickled network .*declares 67108864"):
        model_from_bytes(raw_zip([*honest(model), deflate_bomb("assets/x.txt")]))


def test_legitimate_variants_still_load_identically(saved, data, tmp_path):
    """Deflated members, an honest asset, an empty folder entry: within bounds, loaded as saved."""
    top = members_of(saved)
    model = members_of(top["model.keras"])
    skops = members_of(top["estimator.skops"])
    model_entries = [entry(n, d, DEFLATED) for n, d in model.items()]
    model_entries += [entry("assets/", b""), entry("assets/notes.txt", b"hello", DEFLATED)]
    parts = {"model.keras": raw_zip(model_entries), "estimator.skops": raw_zip(honest(skops))}
    manifest = json.loads(top["manifest.json"])
    manifest["digests"] = {n: hashlib.sha256(d).hexdigest() for n, d in parts.items()}
    variant = raw_zip(
        [
            entry("manifest.json", json.dumps(manifest).encode(), DEFLATED),
            *(entry(n, d, DEFLATED) for n, d in parts.items()),
        ]
    )
    original = write_and_load(tmp_path / "original.safekeras", saved)
    restored = write_and_load(tmp_path / "variant.safekeras", variant)
    np.testing.assert_array_equal(restored.predict_proba(data[0]), original.predict_proba(data[0]))


def write_and_load(path, content):
    path.write_bytes(content)
    return load(path)


# -- within 50 MB and 2 s each, measured in a fresh process ----------------------------------

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from safekeras.exceptions import PersistenceError
    from safekeras.deploy.persistence import load

    legit, *crafted = sys.argv[1:]
    for _ in range(2):  # imports, Keras's and TensorFlow's caches: the legitimate load's cost
        load(legit)
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    outcomes = {}
    for path in crafted:
        start = time.perf_counter()
        try:
            load(path)
            outcome = "loaded"
        except PersistenceError as exc:
            outcome = type(exc).__name__
        outcomes[path] = [outcome, time.perf_counter() - start]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    print(json.dumps({"growth": after - before, "outcomes": outcomes}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX only")
def test_refusals_stay_within_memory_and_time_bounds(saved, hostile, tmp_path):
    legit = tmp_path / "legit.safekeras"
    legit.write_bytes(saved)
    paths = {}
    for number, case in enumerate(MEASURED):
        paths[case] = tmp_path / f"crafted-{number}.safekeras"
        paths[case].write_bytes(hostile[case][0])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(legit), *map(str, paths.values())],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    outcomes = {case: report["outcomes"][str(path)] for case, path in paths.items()}
    assert {case: outcome for case, (outcome, _) in outcomes.items()} == {
        case: hostile[case][1].__name__ for case in MEASURED
    }
    slowest = max(outcomes, key=lambda case: outcomes[case][1])
    assert outcomes[slowest][1] <= 2.0, (slowest, outcomes[slowest])
    assert report["growth"] <= 50 * 2**20, report["growth"] / 2**20


def _with_huge_hidden_layer(model_members):
    """model.keras's members with the first hidden layer declaring 2**24 units."""
    config = json.loads(model_members["config.json"])
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["units"] = 1 << 24
    return {**model_members, "config.json": json.dumps(config).encode()}


def test_pickled_network_declared_shapes_are_checked_too(saved):
    """Unpickling (and skops, which unpickles the network the same way) checks the shapes."""
    model = _with_huge_hidden_layer(members_of(members_of(saved)["model.keras"]))
    with pytest.raises(UnsafeFileError, match=r"\(Dense\).*16777216"):
        model_from_bytes(raw_zip(honest(model)))
