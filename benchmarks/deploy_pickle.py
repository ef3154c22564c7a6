"""How large each deployment model's file is and how long it takes to save and load.

Part of :mod:`benchmarks.deploy`: the ways of persisting each model (``est.save``,
``pickle``, ``joblib``, ``cloudpickle``, ``model.save``), their timing and round-trip
check, and the pickle table.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.deploy_models import Fitted
from benchmarks.report import format_ratio, format_seconds, time_calls


@dataclass(frozen=True)
class Persister:
    """One way of saving a fitted model and loading it back.

    ``dump(obj, folder)`` returns the serialised form: ``bytes``, or the path
    of the file it wrote inside ``folder``; ``load`` takes that back.
    """

    subject: str  # which fitted model: "safekeras", "raw" or "mlp"
    dump: Callable[[object, str], bytes | str]
    load: Callable[[bytes | str], object]


def _joblib_dump(obj, folder: str) -> str:
    import joblib

    path = os.path.join(folder, "model.joblib")
    joblib.dump(obj, path)
    return path


def _joblib_load(path: str):
    import joblib

    return joblib.load(path)


def _keras_save(model, folder: str) -> str:
    path = os.path.join(folder, "x.keras")
    model.save(path)
    return path


def _keras_load(path: str):
    import keras

    return keras.saving.load_model(path)


def _safekeras_save(estimator, folder: str) -> str:
    path = os.path.join(folder, "x.safekeras")
    estimator.save(path)
    return path


def _safekeras_load(path: str):
    import safekeras

    return safekeras.load(path)


def _cloudpickle_dumps(obj, folder: str) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(obj)


def _cloudpickle_loads(data: bytes):
    import cloudpickle

    return cloudpickle.loads(data)


def _pickle_dumps(obj, folder: str) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


RAW_SAVE = "raw Keras `model.save` / `keras.saving.load_model`"


MLP_PICKLE = "`MLPClassifier` pipeline, `pickle`"


# Adding a contender is one entry here.
PERSISTERS: dict[str, Persister] = {
    "safekeras `est.save` / `safekeras.load` (file)": Persister(
        "safekeras", _safekeras_save, _safekeras_load
    ),
    "safekeras, `pickle`": Persister("safekeras", _pickle_dumps, pickle.loads),
    "safekeras, `joblib` (file)": Persister("safekeras", _joblib_dump, _joblib_load),
    "safekeras, `cloudpickle`": Persister("safekeras", _cloudpickle_dumps, _cloudpickle_loads),
    RAW_SAVE: Persister("raw", _keras_save, _keras_load),
    MLP_PICKLE: Persister("mlp", _pickle_dumps, pickle.loads),
}


def artifact_size(artifact: bytes | str) -> int:
    return len(artifact) if isinstance(artifact, bytes) else os.path.getsize(artifact)


@dataclass(frozen=True)
class PickleResult:
    name: str
    size: int
    dumps: float
    loads: float
    change: float  # largest |predict_proba difference| after the round trip


def time_pickling(fitted: Fitted, repeats: int) -> list[PickleResult]:
    X_check = fitted.X[:ROUND_TRIP_ROWS]
    x_check = fitted.preprocessing.transform(X_check)
    subjects = {"safekeras": fitted.safekeras, "raw": fitted.model, "mlp": fitted.mlp}
    positive = {
        "safekeras": lambda m: m.predict_proba(X_check)[:, 1],
        "raw": lambda m: np.asarray(m.predict_on_batch(x_check)).ravel(),
        "mlp": lambda m: m.predict_proba(X_check)[:, 1],
    }
    with tempfile.TemporaryDirectory(prefix="safekeras-deploy-") as root:
        folders, artifacts = {}, {}
        for index, (name, persister) in enumerate(PERSISTERS.items()):
            folders[name] = os.path.join(root, str(index))
            os.mkdir(folders[name])
            artifacts[name] = persister.dump(subjects[persister.subject], folders[name])
        dumps = {
            name: (lambda p=p, name=name: p.dump(subjects[p.subject], folders[name]))
            for name, p in PERSISTERS.items()
        }
        loads = {
            name: (lambda p=p, name=name: p.load(artifacts[name])) for name, p in PERSISTERS.items()
        }
        dump_seconds = time_calls(dumps, repeats)
        load_seconds = time_calls(loads, repeats)
        results = []
        for name, persister in PERSISTERS.items():
            original = positive[persister.subject](subjects[persister.subject])
            restored = positive[persister.subject](persister.load(artifacts[name]))
            results.append(
                PickleResult(
                    name,
                    artifact_size(artifacts[name]),
                    dump_seconds[name],
                    load_seconds[name],
                    float(np.max(np.abs(original - restored))),
                )
            )
    return results


def format_pickle_table(results: list[PickleResult]) -> str:
    by_name = {r.name: r for r in results}
    raw, mlp = by_name[RAW_SAVE], by_name[MLP_PICKLE]
    lines = [
        "| contender | size (KB) | dumps | loads | dumps vs raw Keras | loads vs raw Keras "
        "| dumps vs MLP pickle | loads vs MLP pickle | max proba change after round trip |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.size / 1024:.1f} | {format_seconds(r.dumps)} "
            f"| {format_seconds(r.loads)} | {format_ratio(r.dumps / raw.dumps)} "
            f"| {format_ratio(r.loads / raw.loads)} | {format_ratio(r.dumps / mlp.dumps)} "
            f"| {format_ratio(r.loads / mlp.loads)} | {r.change:.1e} |"
        )
    return "\n".join(lines)


ROUND_TRIP_ROWS = 100
