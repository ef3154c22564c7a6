"""Fuzzing the safekeras file format: every damaged or edited file loads identically or is refused.

Two estimators are fitted and saved (tiny networks on ``make_classification``
data, 6 features): file A, the one mutated, and file B, a second save of the
same kind (another ``random_state``) whose members are swapped into A. Each
variant is one mutation of A, of one of these kinds (drawn in turn):

``flip``
    1 to 8 random bytes of the file XOR-ed with a random non-zero byte.
``truncate``
    the file cut at a random length.
``swap``
    one member (``manifest.json``, ``model.keras`` or ``estimator.skops``)
    replaced by B's, the archive rewritten with valid CRCs.
``manifest``
    a JSON edit of ``manifest.json`` (a value replaced, a key deleted or
    added, with values chosen to hurt: wrong types, huge numbers, NaN, long
    strings, module names), the archive rewritten.
``config``
    the same JSON edit of ``model.keras``'s ``config.json``, with the
    manifest's digests recomputed, as an attacker would, so the edit reaches
    the allow-list and Keras.
``weights``
    1 to 4 bytes of ``model.keras``'s ``model.weights.h5`` changed, the
    archives rewritten with valid CRCs.

Each variant is written to a file and loaded with :func:`safekeras.load`. The
outcome is ``identical`` (it loads and ``predict_proba`` equals A's exactly),
``PersistenceError`` or ``UnsafeFileError`` (``VersionMismatchWarning`` is
allowed), or a failure: ``differs`` (loads with other predictions), ``raw``
(any other exception), ``hang`` (over ``--hang`` seconds, interrupted by a
timer), ``slow`` (over ``--slow`` seconds). Memory: the rise of the peak
resident memory (``ru_maxrss``) during each variant's load is what that file
cost; its largest over ``--memory`` MB is a failure. The growth over the whole
run (beyond loading A twice) is reported too: Keras keeps a little for every
network it loads (about 80 KB each on TensorFlow), which accumulates over
thousands of full loads without any one file costing it. The exit status is 1
on any failure.

Run from the repository root::

    python benchmarks/fuzz_file_format.py                # 10 000 variants, about 5 min
    python benchmarks/fuzz_file_format.py --n 500 --seed 3
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections import Counter, defaultdict

KINDS = ("flip", "truncate", "swap", "manifest", "config", "weights")
DOCUMENTED = ("PersistenceError", "UnsafeFileError")
TOP_METHODS = {"manifest.json": zipfile.ZIP_DEFLATED}

# Values a JSON edit puts in: wrong types, extremes, names an attacker would try.
NASTY_VALUES = (
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    10**400,
    1e308,
    math.nan,
    math.inf,
    "",
    "x" * 10_000,
    "os",
    "system",
    "keras.layers",
    "Lambda",
    "float16",
    "../../etc/passwd",
    "\u202e\x00",
    [],
    [None],
    {},
    {"class_name": "Lambda", "config": {}},
    {"module": "os", "class_name": "system", "config": "echo"},
)


# -- the files -------------------------------------------------------------------------------


def make_files(seed: int = 0):
    """Files A and B (bytes), and the rows whose predictions are compared."""
    from sklearn.datasets import make_classification

    from safekeras import SafeKerasClassifier

    X, y = make_classification(n_samples=200, n_features=6, random_state=seed)
    files = []
    with tempfile.TemporaryDirectory(prefix="safekeras-fuzz-") as folder:
        for state in (seed, seed + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ThresholdWarning on purposely tiny data
                estimator = SafeKerasClassifier(
                    hidden_layer_sizes=(8,), epochs=3, random_state=state, threshold_cv=None
                ).fit(X, y)
            path = os.path.join(folder, f"{state}.safekeras")
            estimator.save(path)
            with open(path, "rb") as handle:
                files.append(handle.read())
    return files[0], files[1], X[:20]


def members_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_bytes(members: dict, methods: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            method = (methods or {}).get(name, zipfile.ZIP_STORED)
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def rehash(members: dict) -> dict:
    """The manifest's digests recomputed for ``members``, as an attacker would."""
    manifest = json.loads(members["manifest.json"])
    manifest["digests"] = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in members.items()
        if name != "manifest.json"
    }
    return {**members, "manifest.json": json.dumps(manifest).encode("utf-8")}


# -- the mutations ---------------------------------------------------------------------------


def flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= rng.randint(1, 255)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def swap(rng: random.Random, data: bytes, other: bytes) -> bytes:
    member = rng.choice(("manifest.json", "model.keras", "estimator.skops"))
    return zip_bytes({**members_of(data), member: members_of(other)[member]}, TOP_METHODS)


def edit_json(rng: random.Random, value):
    """``value`` (parsed JSON) with one node replaced, deleted, or a key added."""
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for key, child in enumerate(node):
                walk(child, (*path, key))

    walk(value, ())
    path = rng.choice(paths)
    new = rng.choice(NASTY_VALUES)
    if not path:
        return new
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    operation = rng.choice(("replace", "delete", "add"))
    if operation == "replace":
        parent[path[-1]] = new
    elif operation == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(("module", "class_name", "config", "extra", "registered_name"))] = new
    else:
        parent.insert(rng.randrange(len(parent) + 1), new)
    return value


def edit_manifest(rng: random.Random, data: bytes) -> bytes:
    members = members_of(data)
    manifest = edit_json(rng, json.loads(members["manifest.json"]))
    members["manifest.json"] = json.dumps(manifest).encode("utf-8")
    return zip_bytes(members, TOP_METHODS)


def edit_config(rng: random.Random, data: bytes) -> bytes:
    members = members_of(data)
    network = members_of(members["model.keras"])
    config = edit_json(rng, json.loads(network["config.json"]))
    network["config.json"] = json.dumps(config).encode("utf-8")
    members["model.keras"] = zip_bytes(network)
    return zip_bytes(rehash(members), TOP_METHODS)


def edit_weights(rng: random.Random, data: bytes) -> bytes:
    members = members_of(data)
    network = members_of(members["model.keras"])
    weights = bytearray(network["model.weights.h5"])
    for _ in range(rng.randint(1, 4)):
        weights[rng.randrange(len(weights))] = rng.randrange(256)
    network["model.weights.h5"] = bytes(weights)
    members["model.keras"] = zip_bytes(network)
    return zip_bytes(members, TOP_METHODS)


def mutate(kind: str, rng: random.Random, data: bytes, other: bytes) -> bytes:
    """One variant of ``data`` of the given kind (see the module docstring)."""
    if kind == "swap":
        return swap(rng, data, other)
    mutation = {
        "flip": flip,
        "truncate": truncate,
        "manifest": edit_manifest,
        "config": edit_config,
        "weights": edit_weights,
    }[kind]
    return mutation(rng, data)


# -- loading a variant -----------------------------------------------------------------------


def outcome(path, X, reference) -> str:
    """``identical``, the documented error's name, or ``differs``; raises anything else."""
    from safekeras.exceptions import PersistenceError, UnsafeFileError, VersionMismatchWarning
    from safekeras.persistence import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        try:
            estimator = load(path)
        except UnsafeFileError:
            return "UnsafeFileError"
        except PersistenceError:
            return "PersistenceError"
    same = estimator.predict_proba(X)
    return "identical" if same.shape == reference.shape and (same == reference).all() else "differs"


class Hang(BaseException):
    """Raised by the timer when a load runs past ``--hang`` seconds (not an Exception)."""


def _alarm(signum, frame):
    raise Hang()


def max_rss() -> int:
    import resource

    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def run(args) -> int:
    from safekeras.persistence import load

    data, other, X = make_files(args.seed)
    rng = random.Random(args.seed)
    counts = defaultdict(Counter)
    failures = []
    slowest = largest_jump = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="safekeras-fuzz-") as folder:
        path = os.path.join(folder, "variant.safekeras")
        with open(path, "wb") as handle:
            handle.write(data)
        reference = load(path).predict_proba(X)
        load(path)
        baseline = max_rss()
        for number in range(args.n):
            kind = KINDS[number % len(KINDS)]
            variant = mutate(kind, rng, data, other)
            with open(path, "wb") as handle:
                handle.write(variant)
            signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, args.hang)
            peak_before = max_rss()
            start = time.perf_counter()
            try:
                result = outcome(path, X, reference)
            except Hang:
                result = "hang"
            except Exception as exc:
                result = "raw"
                failures.append((number, kind, "".join(traceback.format_exception(exc))[-2000:]))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            seconds = time.perf_counter() - start
            # What this variant alone raised the peak by: a bomb shows here whole, while the
            # slow growth of many full loads (Keras's per-model caches) spreads over them.
            jump = (max_rss() - peak_before) / 2**20
            largest_jump = max(largest_jump, (jump, f"variant {number} ({kind})"))
            if result in (*DOCUMENTED, "identical") and seconds > args.slow:
                result = "slow"
            if result == "differs":
                failures.append((number, kind, "loaded with other predictions"))
            counts[kind][result] += 1
            slowest = max(slowest, (seconds, f"variant {number} ({kind})"))
    growth = (max_rss() - baseline) / 2**20
    return report(args, counts, failures, slowest, largest_jump, growth)


def report(args, counts, failures, slowest, largest_jump, growth) -> int:
    outcomes = ["identical", *DOCUMENTED, "differs", "raw", "hang", "slow"]
    print(f"# safekeras file-format fuzz: {args.n} variants, seed {args.seed}\n")
    print("| kind | " + " | ".join(outcomes) + " |")
    print("|---" * (len(outcomes) + 1) + "|")
    for kind in KINDS:
        print(f"| {kind} | " + " | ".join(str(counts[kind][o]) for o in outcomes) + " |")
    total = Counter()
    for kind in KINDS:
        total.update(counts[kind])
    print("| all | " + " | ".join(str(total[o]) for o in outcomes) + " |")
    print(f"\nslowest load: {slowest[0]:.3f} s ({slowest[1]})")
    print(
        f"largest rise of the peak RSS by one variant: {largest_jump[0]:.1f} MB ({largest_jump[1]})"
    )
    print(
        f"peak RSS growth over the whole run, beyond loading the legitimate file: {growth:.1f} MB "
        f"over {total['identical']} full loads (Keras keeps a little per loaded network)"
    )
    for number, kind, detail in failures[:5]:
        print(f"\nvariant {number} ({kind}): {detail}")
    bad = sum(total[o] for o in ("differs", "raw", "hang", "slow"))
    over_memory = largest_jump[0] > args.memory
    if over_memory:
        print(f"\nover memory: {largest_jump[0]:.1f} MB > {args.memory} MB in {largest_jump[1]}")
    return 1 if bad or over_memory else 0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="variants (10 000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and mutations (0)")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds a load may take (2)")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds before a load is cut")
    parser.add_argument("--memory", type=float, default=50.0, help="MB of peak RSS growth (50)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
