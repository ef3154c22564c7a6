"""``safekeras.deploy.persistence.save`` / ``load``: one safe file per fitted estimator.

Round trips (binary, DataFrame with categories, multiclass, regression, a fresh
process), the manifest, atomic writes, foreign and damaged files, the skops
allow-list, version warnings, and malicious ``model.keras`` members built by
hand in the patterns of CVE-2024-3660, CVE-2025-1550, CVE-2025-8747 and
CVE-2025-9905, each refused before Keras or skops deserialise anything.
Networks are tiny so the module runs in well under a minute.
"""

import base64
import importlib
import io
import json
import marshal
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest
import skops.io
from file_edits import members_of, with_members, zip_bytes
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import make_classification, make_regression

import safekeras
from safekeras import SafeKerasClassifier, SafeKerasRegressor
from safekeras.deploy.persistence import load, model_from_bytes, model_to_bytes, save
from safekeras.deploy.type_names import LEGACY_TYPES, SAFEKERAS_TYPES, qualified_name
from safekeras.exceptions import (
    NotFittedError,
    ParameterError,
    PersistenceError,
    UnsafeFileError,
    VersionMismatchWarning,
)

pytestmark = pytest.mark.core

FAST = dict(hidden_layer_sizes=(8,), epochs=3, random_state=0, threshold_cv=None)
# The real loader, kept before any test replaces it with a tripwire.
KERAS_LOAD_MODEL = keras.saving.load_model
BACKEND = keras.backend.backend()


def _numpy(tensor):
    """A network's output as numpy on any backend (torch's requires grad)."""
    return keras.ops.convert_to_numpy(tensor)


@keras.saving.register_keras_serializable(package="sktest")
class ScaleLayer(keras.layers.Layer):
    """A user's custom layer: multiplies its input by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="sktest")
def scaled_tanh(x):
    return 2.0 * keras.ops.tanh(x)


class LabelledClassifier(SafeKerasClassifier):
    """A user's subclass of a safekeras estimator."""


class HalfScaler(TransformerMixin, BaseEstimator):
    """A user's transformer, unknown to safekeras's allow-list."""

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X, dtype=float).mean(axis=0)
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=float) - self.mean_) / 2.0


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ThresholdWarning on purposely tiny data
        return estimator.fit(X, y)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_data():
    return make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture(scope="module")
def binary(binary_data):
    return _fit(SafeKerasClassifier(**FAST), *binary_data)


@pytest.fixture(scope="module")
def frame_data():
    X, y = make_classification(n_samples=200, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["colour"] = pd.Categorical(np.where(X[:, 0] > 0, "red", "blue"))
    frame["size"] = np.where(X[:, 1] > 0.5, "L", np.where(X[:, 1] < -0.5, "S", "M"))
    return frame, y


@pytest.fixture(scope="module")
def frame(frame_data):
    return _fit(SafeKerasClassifier(**FAST), *frame_data)


@pytest.fixture(scope="module")
def multiclass_data():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=2
    )
    return X, np.array(["ant", "bee", "cat"])[y]


@pytest.fixture(scope="module")
def multiclass(multiclass_data):
    return _fit(SafeKerasClassifier(**FAST), *multiclass_data)


@pytest.fixture(scope="module")
def regression_data():
    return make_regression(n_samples=200, n_features=5, noise=0.1, random_state=3)


@pytest.fixture(scope="module")
def regressor(regression_data):
    params = {key: value for key, value in FAST.items() if key != "threshold_cv"}
    return _fit(SafeKerasRegressor(**params), *regression_data)


@pytest.fixture(scope="module")
def saved(binary, tmp_path_factory):
    """The bytes of a file saved from the binary classifier."""
    path = tmp_path_factory.mktemp("saved") / "binary.safekeras"
    save(binary, path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def lambda_archive(tmp_path_factory):
    """A genuine Keras archive with a harmless Lambda layer: the safe-mode probe."""
    path = tmp_path_factory.mktemp("probe") / "lambda.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t + 1.0)]).save(path)
    return path


def assert_safe_mode_still_on(lambda_archive):
    # enable_unsafe_deserialization() overrides safe_mode=True; Keras must still refuse.
    with pytest.raises(ValueError, match="lambda"):
        KERAS_LOAD_MODEL(lambda_archive, safe_mode=True)


# -- helpers to take files apart -------------------------------------------------------------


def keras_archive(config, weights):
    """A .keras archive laid out as Keras writes one."""
    return zip_bytes(
        {
            "metadata.json": json.dumps({"keras_version": keras.__version__}),
            "config.json": json.dumps(config),
            "model.weights.h5": weights,
        }
    )


def write(tmp_path, data, name="estimator.safekeras"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["binary", "frame", "multiclass"])
def test_classifier_round_trip_predicts_identically(case, request, tmp_path):
    est = request.getfixturevalue(case)
    X, _ = request.getfixturevalue(f"{case}_data")
    path = tmp_path / "clf.safekeras"
    est.predict(X)  # saving after predict: caches built by predict stay out of the file
    assert save(est, path) is None

    loaded = load(path)

    assert type(loaded) is type(est) and loaded is not est
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.threshold_ == est.threshold_
    assert loaded.get_params() == est.get_params()
    assert loaded.history_ == est.history_
    assert loaded.model_ is loaded.pipeline_.named_steps["network"].model_
    np.testing.assert_array_equal(loaded.preprocessor_.transform(X), est.preprocessor_.transform(X))
    # The input schema still catches the same drift (values 1000x the training range).
    drifted = X * 1000 if case != "frame" else X.assign(a=X["a"] * 1000)
    assert str(loaded.input_schema_.check(drifted)) == str(est.input_schema_.check(drifted))
    assert loaded.input_schema_.check(drifted)
    # Saving left the original fitted and linked.
    assert est.model_ is est.pipeline_.named_steps["network"].model_


def test_frame_classifier_keeps_its_columns(frame, frame_data, tmp_path):
    X, _ = frame_data
    save(frame, tmp_path / "frame.safekeras")
    loaded = load(tmp_path / "frame.safekeras")
    np.testing.assert_array_equal(loaded.feature_names_in_, frame.feature_names_in_)
    with pytest.raises(safekeras.InputError):
        loaded.predict(X.drop(columns=["colour"]))


def test_regressor_round_trip_predicts_identically(regressor, regression_data, tmp_path):
    X, _ = regression_data
    save(regressor, tmp_path / "reg.safekeras")
    loaded = load(tmp_path / "reg.safekeras")
    assert isinstance(loaded, SafeKerasRegressor)
    np.testing.assert_array_equal(loaded.predict(X), regressor.predict(X))
    np.testing.assert_array_equal(
        loaded.preprocessor_.transform(X), regressor.preprocessor_.transform(X)
    )


@pytest.mark.parametrize("as_type", [str, pathlib.Path])
def test_path_may_be_str_or_pathlib(binary, binary_data, tmp_path, as_type):
    path = as_type(tmp_path / "est.safekeras")
    save(binary, path)
    np.testing.assert_array_equal(
        load(path).predict_proba(binary_data[0]), binary.predict_proba(binary_data[0])
    )


_FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    from safekeras.deploy.persistence import load

    est = load(sys.argv[1])
    np.save(sys.argv[3], est.predict_proba(np.load(sys.argv[2])))
    """
)


def _proba_in_fresh_process(path, X, tmp_path, backend):
    X_path, out = tmp_path / "X.npy", tmp_path / f"proba-{backend}.npy"
    np.save(X_path, X)
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(path), str(X_path), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": backend},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out)


@pytest.mark.slow
def test_round_trip_in_fresh_process(binary, binary_data, saved, tmp_path):
    X, _ = binary_data
    proba = _proba_in_fresh_process(write(tmp_path, saved), X, tmp_path, BACKEND)
    np.testing.assert_array_equal(proba, binary.predict_proba(X))


@pytest.mark.slow
@pytest.mark.tensorflow_only(
    reason="saves the file under the session's backend: it must be TensorFlow"
)
def test_file_saved_under_tensorflow_loads_under_jax(binary, binary_data, saved, tmp_path):
    pytest.importorskip("jax")
    X, _ = binary_data
    proba = _proba_in_fresh_process(write(tmp_path, saved), X, tmp_path, "jax")
    # Same weights, another backend's kernels: equal up to float32 rounding.
    np.testing.assert_allclose(proba, binary.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_manifest_and_members(binary, binary_data, saved, tmp_path):
    import sklearn

    with zipfile.ZipFile(io.BytesIO(saved)) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        model_bytes = archive.read("model.keras")
    assert names == ["manifest.json", "model.keras", "estimator.skops"]
    assert manifest["format"] == "safekeras.estimator"
    assert manifest["format_version"] == 1
    assert manifest["estimator"] == "safekeras.estimators.classifier.SafeKerasClassifier"
    assert manifest["backend"] == keras.backend.backend()
    versions = manifest["versions"]
    assert versions["safekeras"] == safekeras.__version__
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["keras"] == keras.__version__
    assert versions["numpy"] == np.__version__
    assert versions["skops"] == skops.__version__
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    # model.keras is a plain Keras archive: Keras alone opens it.
    path = write(tmp_path, model_bytes, "network.keras")
    network = KERAS_LOAD_MODEL(path, compile=False)
    X = binary_data[0].astype("float32")
    np.testing.assert_array_equal(_numpy(network(X)), _numpy(binary.model_(X)))


def test_unfitted_estimator_is_refused(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        save(SafeKerasClassifier(), tmp_path / "est.safekeras")
    assert list(tmp_path.iterdir()) == []


def test_only_safekeras_estimators_are_saved(tmp_path):
    with pytest.raises(PersistenceError, match="SafeKerasClassifier"):
        save(HalfScaler().fit(np.ones((3, 2))), tmp_path / "x.safekeras")


# -- atomic writes ---------------------------------------------------------------------------


class _Crash(BaseException):
    """Stands for an interruption (KeyboardInterrupt, a kill signal turned into one)."""


def test_crash_mid_write_keeps_the_old_file(binary, saved, tmp_path, monkeypatch):
    path = write(tmp_path, b"the previous version")
    real_writestr = zipfile.ZipFile.writestr

    def crash_on_estimator(self, name, data, *args, **kwargs):
        if getattr(name, "filename", name) == "estimator.skops":
            raise _Crash
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash_on_estimator)
    with pytest.raises(_Crash):
        save(binary, path)
    assert path.read_bytes() == b"the previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimator.safekeras"]


def test_failed_rename_keeps_the_old_file(binary, tmp_path, monkeypatch):
    path = write(tmp_path, b"the previous version")

    def failing_replace(src, dst):
        assert os.path.dirname(os.path.abspath(src)) == str(tmp_path)  # same folder
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save(binary, path)
    assert path.read_bytes() == b"the previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimator.safekeras"]


def test_save_replaces_an_existing_file(binary, binary_data, tmp_path):
    path = write(tmp_path, b"the previous version")
    save(binary, path)
    assert load(path).predict(binary_data[0]).shape == (200,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimator.safekeras"]


def test_save_names_the_path_when_it_cannot_be_written(binary, tmp_path):
    missing = tmp_path / "no-such-folder" / "model.safekeras"
    with pytest.raises(FileNotFoundError, match=r"folder .*no-such-folder' does not exist"):
        save(binary, missing)
    with pytest.raises(IsADirectoryError, match=r"is a folder; save to a file in it"):
        save(binary, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


# -- foreign and damaged files ---------------------------------------------------------------


def test_truncated_file(saved, tmp_path):
    with pytest.raises(PersistenceError, match="truncated or corrupt"):
        load(write(tmp_path, saved[: len(saved) // 2]))


def test_random_bytes_and_empty_file(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(PersistenceError, match="not a safekeras file"):
        load(write(tmp_path, rng.bytes(5000)))
    with pytest.raises(PersistenceError, match="not a safekeras file"):
        load(write(tmp_path, b""))


def test_corrupt_member_fails_its_checksum(saved, tmp_path):
    data = bytearray(saved)
    offset = bytes(data).index(b"model.weights.h5") + 200  # inside the stored network
    data[offset] ^= 0xFF
    with pytest.raises(PersistenceError, match="corrupt"):
        load(write(tmp_path, bytes(data)))


def test_missing_members(saved, tmp_path):
    members = members_of(saved)
    only_manifest = zip_bytes({"manifest.json": members["manifest.json"]})
    with pytest.raises(PersistenceError, match=r"lacks model\.keras, estimator\.skops"):
        load(write(tmp_path, only_manifest))
    del members["estimator.skops"]
    with pytest.raises(PersistenceError, match=r"lacks estimator\.skops"):
        load(write(tmp_path, zip_bytes(members)))


def test_foreign_zips(saved, tmp_path):
    plain_keras = members_of(saved)["model.keras"]
    with pytest.raises(PersistenceError, match=r"looks like a Keras \.keras model"):
        load(write(tmp_path, plain_keras))
    with pytest.raises(PersistenceError, match=r"without manifest\.json"):
        load(write(tmp_path, zip_bytes({"readme.txt": b"hello"})))
    other_format = json.dumps({"format": "someone.else", "format_version": 1})
    with pytest.raises(PersistenceError, match=r"format 'someone\.else'"):
        load(write(tmp_path, with_members(saved, {"manifest.json": other_format})))


def test_newer_format_version_is_refused(saved, tmp_path):
    manifest = json.loads(members_of(saved)["manifest.json"])
    manifest["format_version"] = 99
    data = with_members(saved, {"manifest.json": json.dumps(manifest)})
    with pytest.raises(PersistenceError, match=r"format version 99.*Upgrade safekeras"):
        load(write(tmp_path, data))


def test_extra_member_is_refused(saved, tmp_path):
    data = with_members(saved, {"notes.txt": b"hi"})
    with pytest.raises(PersistenceError, match=r"notes\.txt"):
        load(write(tmp_path, data))


def test_trusted_must_be_a_list(saved, tmp_path):
    with pytest.raises(ParameterError, match="list"):
        load(write(tmp_path, saved), trusted="sktest>ScaleLayer")


# -- versions --------------------------------------------------------------------------------


def test_version_mismatch_warns_and_loads(binary, binary_data, saved, tmp_path):
    manifest = json.loads(members_of(saved)["manifest.json"])
    manifest["versions"].update(safekeras="0.0.1", keras="3.11.0")
    path = write(tmp_path, with_members(saved, {"manifest.json": json.dumps(manifest)}))
    with pytest.warns(VersionMismatchWarning) as record:
        loaded = load(path)
    message = str(record[0].message)
    assert "safekeras 0.0.1 (saved)" in message
    assert f"{safekeras.__version__} (installed)" in message
    assert "keras 3.11.0 (saved)" in message and f"{keras.__version__} (installed)" in message
    assert "numpy" not in message  # unchanged versions are not reported
    np.testing.assert_array_equal(
        loaded.predict_proba(binary_data[0]), binary.predict_proba(binary_data[0])
    )


def test_same_versions_do_not_warn(saved, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)
        load(write(tmp_path, saved))


def test_old_keras_is_refused(saved, tmp_path, monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.8.0")
    with pytest.raises(UnsafeFileError, match=r"Keras 3\.8\.0 is installed.*>= 3\.15"):
        load(write(tmp_path, saved))


# -- the skops payload -----------------------------------------------------------------------


def test_untrusted_type_in_the_estimator(regression_data, tmp_path):
    X, y = regression_data
    params = {key: value for key, value in FAST.items() if key != "threshold_cv"}
    est = _fit(SafeKerasRegressor(preprocessor=HalfScaler(), **params), X, y)
    path = tmp_path / "custom.safekeras"
    save(est, path)
    name = f"{HalfScaler.__module__}.HalfScaler"

    with pytest.raises(UnsafeFileError) as refused:
        load(path)
    message = str(refused.value)
    assert name in message and "trust" in message and "trusted=" in message

    loaded = load(path, trusted=[name])
    assert isinstance(loaded.preprocessor_, HalfScaler)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_payload_with_its_own_network_is_refused(binary, saved, tmp_path):
    # skops outside safekeras.save pickles the real network into the payload.
    foreign_payload = skops.io.dumps(binary)
    path = write(tmp_path, with_members(saved, {"estimator.skops": foreign_payload}))
    trusted = skops.io.get_untrusted_types(data=foreign_payload)
    with pytest.raises(UnsafeFileError, match="network of its own"):
        load(path, trusted=trusted)


def test_mismatched_estimator_class_is_refused(saved, tmp_path):
    manifest = json.loads(members_of(saved)["manifest.json"])
    manifest["estimator"] = "safekeras.estimators.regressor.SafeKerasRegressor"
    path = write(tmp_path, with_members(saved, {"manifest.json": json.dumps(manifest)}))
    with pytest.raises(PersistenceError, match="inconsistent"):
        load(path)


# -- the safekeras types, by name ------------------------------------------------------------


@pytest.mark.parametrize("name", SAFEKERAS_TYPES)
def test_type_name_is_where_the_object_is_defined(name):
    module, _, attribute = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attribute)
    assert qualified_name(obj) == name  # defined there, not re-exported from elsewhere
    assert name not in LEGACY_TYPES


@pytest.fixture(scope="module")
def array_kinds():
    """A Conv1D classifier on a tensor (ChannelScaler, TensorSchema) and one on token ids."""
    rng = np.random.default_rng(0)
    series = rng.normal(size=(60, 6, 1))
    ids = rng.integers(0, 5, size=(60, 6))
    conv = keras.Sequential(
        [
            keras.Input((6, 1)),
            keras.layers.Conv1D(2, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    embed = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Embedding(5, 2),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    fast = dict(epochs=2, random_state=0, threshold_cv=None)
    return (
        _fit(SafeKerasClassifier(conv, **fast), series, series[:, 0, 0] > 0),
        _fit(SafeKerasClassifier(embed, **fast), ids, ids[:, 0] > 1),
    )


def test_type_names_are_the_safekeras_types_payloads_hold(frame, regressor, array_kinds, tmp_path):
    # The categorical classifier (threshold search, as_categories), the regressor, and
    # the images-and-sequences types (ChannelScaler, TensorSchema, TokenSchema) together.
    held = set()
    for est in (frame, regressor, *array_kinds):
        path = tmp_path / "est.safekeras"
        save(est, path)
        payload = members_of(path.read_bytes())["estimator.skops"]
        held |= {
            n for n in skops.io.get_untrusted_types(data=payload) if n.startswith("safekeras.")
        }
    assert held == set(SAFEKERAS_TYPES)


def test_subclass_of_an_estimator_saves_and_loads_when_trusted(binary_data, tmp_path):
    est = _fit(LabelledClassifier(**FAST), *binary_data)
    path = tmp_path / "subclass.safekeras"
    save(est, path)
    name = qualified_name(LabelledClassifier)
    with pytest.raises(UnsafeFileError, match=re.escape(name)):
        load(path)
    loaded = load(path, trusted=[name])
    assert type(loaded) is LabelledClassifier
    np.testing.assert_array_equal(
        loaded.predict_proba(binary_data[0]), est.predict_proba(binary_data[0])
    )


def _with_legacy_paths(saved):
    """``saved`` as a development build wrote it before the layout changed (old module paths)."""
    payload = members_of(members_of(saved)["estimator.skops"])
    schema = payload["schema.json"].decode("utf-8")
    for new, old in [
        ('"safekeras.estimators.classifier"', '"safekeras.estimators"'),
        ('"safekeras.network.fitted"', '"safekeras.network"'),
    ]:
        assert new in schema
        schema = schema.replace(new, old)
    payload["schema.json"] = schema.encode("utf-8")
    return with_members(saved, {"estimator.skops": zip_bytes(payload)})


def test_file_naming_legacy_module_paths_asks_for_a_new_save(saved, tmp_path, tripwires):
    path = write(tmp_path, _with_legacy_paths(saved))
    legacy = ["safekeras.estimators.SafeKerasClassifier", "safekeras.network.FittedNetwork"]
    pattern = r"development build of safekeras before the module layout changed.*Re-fit"
    with pytest.raises(PersistenceError, match=pattern) as refused:
        load(path)
    assert not isinstance(refused.value, UnsafeFileError)
    assert all(name in str(refused.value) for name in legacy)
    assert "trusted=" not in str(refused.value)  # nothing to trust: the types moved
    with pytest.raises(PersistenceError, match=pattern):
        load(path, trusted=legacy)
    assert tripwires == []


# -- malicious model.keras members -----------------------------------------------------------


def _sequential(layers):
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 6], "dtype": "float32", "name": "input"},
                    "registered_name": None,
                },
                *layers,
            ],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 6]},
    }


def _functional(layer):
    """A functional graph whose second node calls ``layer`` (the CVE-2025-1550 shape)."""
    tensor = {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 6], "dtype": "float32", "keras_history": ["input", 0, 0]},
    }
    layer = dict(layer)
    call = layer.pop("_call", {"args": [tensor], "kwargs": {}})
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 6], "dtype": "float32", "name": "input"},
                    "registered_name": None,
                    "name": "input",
                    "inbound_nodes": [],
                },
                {**layer, "name": "payload", "inbound_nodes": [call]},
            ],
            "input_layers": [["input", 0, 0]],
            "output_layers": [["payload", 0, 0]],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }


def _dense(activation):
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": "dense", "units": 1, "activation": activation},
        "registered_name": None,
        "build_config": {"input_shape": [None, 6]},
    }


def _bytecode(marker):
    code = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]").__code__
    return {
        "class_name": "__lambda__",
        "config": {
            "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
            "defaults": None,
            "closure": None,
        },
    }


def _malicious_config(pattern, marker):
    if pattern == "CVE-2024-3660 Lambda layer":
        lambda_layer = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {"name": "lambda", "function": _bytecode(marker), "arguments": {}},
            "registered_name": None,
        }
        return _sequential([lambda_layer]), "Lambda"
    if pattern == "CVE-2024-3660 bytecode as activation":
        return _sequential([_dense(_bytecode(marker))]), "__lambda__"
    if pattern == "CVE-2025-1550 os.system":
        layer = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
        layer["_call"] = {"args": [f"touch {marker}"], "kwargs": {}}
        return _functional(layer), "os.system"
    if pattern == "CVE-2025-1550 builtins.exec":
        code = f"open({str(marker)!r}, 'w').close()"
        layer = {"module": "builtins", "class_name": "exec", "config": {}, "registered_name": None}
        layer["_call"] = {"args": [code], "kwargs": {}}
        return _functional(layer), "builtins.exec"
    if pattern == "CVE-2025-1550 exec as activation":
        activation = {
            "module": "builtins",
            "class_name": "function",
            "config": "exec",
            "registered_name": "function",
        }
        return _sequential([_dense(activation)]), "'exec'"
    if pattern == "CVE-2025-8747 enable_unsafe_deserialization layer":
        layer = {
            "module": "keras.config",
            "class_name": "enable_unsafe_deserialization",
            "config": {},
            "registered_name": None,
            "_call": {"args": [], "kwargs": {}},
        }
        return _functional(layer), "keras.config.enable_unsafe_deserialization"
    if pattern == "CVE-2025-8747 enable_unsafe_deserialization function":
        activation = {
            "module": "keras.config",
            "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": "function",
        }
        return _sequential([_dense(activation)]), "keras.config.enable_unsafe_deserialization"
    raise AssertionError(pattern)


MALICIOUS = [
    "CVE-2024-3660 Lambda layer",
    "CVE-2024-3660 bytecode as activation",
    "CVE-2025-1550 os.system",
    "CVE-2025-1550 builtins.exec",
    "CVE-2025-1550 exec as activation",
    "CVE-2025-8747 enable_unsafe_deserialization layer",
    "CVE-2025-8747 enable_unsafe_deserialization function",
]


@pytest.fixture
def tripwires(monkeypatch):
    """Replace every deserialiser with one that records being called."""
    calls = []

    def tripwire(name):
        def called(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called on a file that should have been refused")

        return called

    for owner, attribute in [
        (keras.saving, "load_model"),
        (keras.models, "load_model"),
        (keras.saving, "deserialize_keras_object"),
        (skops.io, "loads"),
    ]:
        monkeypatch.setattr(owner, attribute, tripwire(f"{owner.__name__}.{attribute}"))
    return calls


@pytest.mark.parametrize("pattern", MALICIOUS)
def test_malicious_model_is_refused_before_keras_runs(
    pattern, saved, tmp_path, tripwires, lambda_archive
):
    marker = tmp_path / "pwned"
    config, offender = _malicious_config(pattern, marker)
    weights = members_of(members_of(saved)["model.keras"])["model.weights.h5"]
    path = write(tmp_path, with_members(saved, {"model.keras": keras_archive(config, weights)}))

    with pytest.raises(UnsafeFileError) as refused:
        load(path)
    with pytest.raises(UnsafeFileError):  # not even when the user "trusts" the offender
        load(path, trusted=[offender.strip("'"), "Lambda", "keras.layers.Lambda", "__lambda__"])

    assert offender in str(refused.value)
    assert tripwires == []
    assert not marker.exists()
    assert_safe_mode_still_on(lambda_archive)


def test_refusal_explains_and_offers_no_trust_for_attacks(saved, tmp_path, tripwires):
    config, _ = _malicious_config("CVE-2025-1550 os.system", tmp_path / "pwned")
    weights = members_of(members_of(saved)["model.keras"])["model.weights.h5"]
    path = write(tmp_path, with_members(saved, {"model.keras": keras_archive(config, weights)}))
    with pytest.raises(UnsafeFileError) as refused:
        load(path)
    message = str(refused.value)
    assert "'os.system' in model.keras" in message and "outside Keras" in message
    assert "never loads" in message and "trusted=" not in message
    assert tripwires == []


@pytest.fixture(scope="module")
def hdf5_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("h5") / "legacy.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that HDF5 is legacy
        keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)]).save(path)
    return path.read_bytes()


def test_hdf5_model_is_refused_cve_2025_9905(
    saved, hdf5_model, tmp_path, tripwires, lambda_archive
):
    assert hdf5_model.startswith(b"\x89HDF")
    posing = with_members(saved, {"model.keras": hdf5_model})
    with pytest.raises(UnsafeFileError, match=r"HDF5.*CVE-2025-9905"):
        load(write(tmp_path, posing))
    members = members_of(saved)
    del members["model.keras"]
    members["model.h5"] = hdf5_model
    with pytest.raises(UnsafeFileError, match=r"HDF5 member 'model\.h5'"):
        load(write(tmp_path, zip_bytes(members)))
    with pytest.raises(UnsafeFileError, match="HDF5"):
        load(write(tmp_path, hdf5_model, "legacy.h5"))
    assert tripwires == []
    assert_safe_mode_still_on(lambda_archive)


def test_pickle_path_refuses_hdf5_but_keeps_working(binary, binary_data, hdf5_model):
    with pytest.raises(UnsafeFileError, match="HDF5"):
        model_from_bytes(hdf5_model)
    network = model_from_bytes(model_to_bytes(binary.model_))
    X = binary_data[0].astype("float32")
    np.testing.assert_array_equal(_numpy(network(X)), _numpy(binary.model_(X)))


# -- the Keras allow-list on real models -----------------------------------------------------


def _functional_zoo():
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 4)(tokens)
    x = keras.layers.Conv1D(
        3,
        2,
        activation=keras.activations.gelu,
        kernel_regularizer=keras.regularizers.L2(1e-3),
        kernel_constraint=keras.constraints.MaxNorm(2.0),
    )(x)
    x = keras.layers.BatchNormalization()(x)
    pooled = keras.layers.GlobalAveragePooling1D()(x)
    dense = keras.layers.Dense(2, activation=keras.activations.relu)(pooled)
    joined = keras.ops.concatenate([pooled, dense], axis=-1)
    out = keras.layers.Activation("softmax")(keras.ops.relu(joined) + 1.0)
    model = keras.Model(tokens, out)
    model.compile(
        optimizer=keras.optimizers.SGD(),
        loss=keras.losses.sparse_categorical_crossentropy,
        metrics=["accuracy", keras.metrics.AUC()],
    )
    return model, np.arange(12, dtype="int32").reshape(2, 6)


def _sequential_zoo():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Reshape((6, 1)),
            keras.layers.GRU(3, return_sequences=True),
            keras.layers.LSTM(2),
            keras.layers.LayerNormalization(),
            keras.layers.Dense(
                4,
                activation="tanh",
                kernel_initializer=keras.initializers.HeNormal(seed=1),
                kernel_regularizer=keras.regularizers.L1L2(1e-4, 1e-4),
                dtype="mixed_float16",
            ),
            keras.layers.Dropout(0.2, seed=3),
            keras.layers.Dense(1, activation=keras.activations.sigmoid),
        ]
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.BinaryCrossentropy(from_logits=False),
    )
    return model, np.linspace(-1, 1, 12, dtype="float32").reshape(2, 6)


@pytest.mark.parametrize("build", [_functional_zoo, _sequential_zoo])
def test_built_in_keras_models_pass_the_allow_list(build, saved, tmp_path):
    model, x = build()
    data = model_to_bytes(model)
    # Every part passes its own checks (the allow-list, the declared shapes): the file is
    # refused only at the end, because this network does not fit the saved estimator.
    with pytest.raises(PersistenceError, match="is inconsistent: its network") as refused:
        load(write(tmp_path, with_members(saved, {"model.keras": data})))
    assert type(refused.value) is PersistenceError
    loaded = model_from_bytes(data)  # the same bounded reader and shape check
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), rtol=1e-6)


# -- user-registered Keras objects and Keras-valued parameters -------------------------------


@pytest.fixture(scope="module")
def custom(binary_data):
    network = keras.Sequential(
        [
            keras.Input((6,)),
            ScaleLayer(0.5),
            keras.layers.Dense(4, activation=scaled_tanh),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    est = SafeKerasClassifier(
        network,
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1),
        sampler=RandomUnderSampler(),
        epochs=3,
        random_state=0,
        threshold_cv=None,
    )
    return _fit(est, *binary_data)


def test_registered_custom_objects_need_trust(custom, binary_data, tmp_path):
    path = tmp_path / "custom.safekeras"
    save(custom, path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    # Keras objects in parameters and fitted attributes are stored as Keras members.
    for member in ["keras/model.keras", "keras/optimizer.json", "keras/loss.json"]:
        assert member in names
    assert "keras/loss_.json" in names

    with pytest.raises(UnsafeFileError) as refused:
        load(path)
    message = str(refused.value)
    assert "'sktest>ScaleLayer'" in message and "'sktest>scaled_tanh'" in message
    with pytest.raises(UnsafeFileError, match="scaled_tanh"):
        load(path, trusted=["sktest>ScaleLayer"])

    loaded = load(path, trusted=["sktest>ScaleLayer", "sktest>scaled_tanh"])
    X = binary_data[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), custom.predict_proba(X))
    assert isinstance(loaded.model, keras.Model)
    assert isinstance(loaded.model.layers[0], ScaleLayer)
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)
    assert isinstance(loaded.loss, keras.losses.BinaryCrossentropy)
    assert loaded.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert isinstance(loaded.loss_, keras.losses.BinaryCrossentropy)
    assert isinstance(loaded.sampler, RandomUnderSampler)  # allowed without trust
    assert loaded.get_params().keys() == custom.get_params().keys()


def test_keras_members_are_checked_too(custom, tmp_path, tripwires):
    path = tmp_path / "custom.safekeras"
    save(custom, path)
    unlock = {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
        "registered_name": "function",
    }
    optimizer = {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": unlock}}
    data = with_members(path.read_bytes(), {"keras/optimizer.json": json.dumps(optimizer)})
    with pytest.raises(UnsafeFileError, match=r"keras/optimizer\.json.*CVE-2025-8747"):
        load(write(tmp_path, data), trusted=["sktest>ScaleLayer", "sktest>scaled_tanh"])
    assert tripwires == []


def test_manifest_cannot_redirect_fitted_attributes(saved, tmp_path):
    manifest = json.loads(members_of(saved)["manifest.json"])
    manifest["keras_objects"] = {"pipeline_": "keras/pipeline_.json"}
    dense = keras.saving.serialize_keras_object(keras.layers.Dense(1))
    data = with_members(
        saved, {"manifest.json": json.dumps(manifest), "keras/pipeline_.json": json.dumps(dense)}
    )
    with pytest.raises(PersistenceError, match=r"inconsistent.*'pipeline_'"):
        load(write(tmp_path, data))


def test_pickle_is_unaffected_outside_save_and_load(binary, binary_data):
    restored = pickle.loads(pickle.dumps(binary))
    np.testing.assert_array_equal(
        restored.predict_proba(binary_data[0]), binary.predict_proba(binary_data[0])
    )


@pytest.mark.parametrize(
    "module, class_name",
    [
        ("keras.layers", "TFSMLayer"),
        ("keras.layers", "TorchModuleWrapper"),
        ("keras.layers", "JaxLayer"),
        ("keras.layers", "FlaxLayer"),
        ("keras.src.ops.core", "Map"),
        ("keras.src.ops.core", "WhileLoop"),
    ],
)
def test_code_carrying_keras_objects_are_refused_even_if_trusted(
    module, class_name, saved, tmp_path, tripwires
):
    entry = {"module": module, "class_name": class_name, "config": {}, "registered_name": None}
    weights = members_of(members_of(saved)["model.keras"])["model.weights.h5"]
    archive = keras_archive(_sequential([entry]), weights)
    path = write(tmp_path, with_members(saved, {"model.keras": archive}))
    with pytest.raises(UnsafeFileError, match=f"never loads: '{class_name}'"):
        load(path, trusted=[f"{module}.{class_name}", class_name])
    assert tripwires == []


def test_public_entry_points_are_the_estimator_method_and_safekeras_load(
    binary, binary_data, tmp_path
):
    import safekeras

    X, _ = binary_data
    path = tmp_path / "public.safekeras"
    assert binary.save(path) is None
    restored = safekeras.load(path)
    assert type(restored) is type(binary)
    np.testing.assert_array_equal(restored.predict_proba(X), binary.predict_proba(X))


def test_a_loss_whose_config_drops_a_setting_is_not_saved_as_another_loss(tmp_path):
    # Keras's Huber leaves delta out of its config: the file would load Huber(delta=1.0).
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    estimator = SafeKerasRegressor(
        loss=keras.losses.Huber(delta=0.5), ensemble_size=1, epochs=2, random_state=0
    ).fit(X, y)
    with pytest.raises(PersistenceError, match="leaves out some of its settings"):
        save(estimator, tmp_path / "huber.safekeras")
    assert not (tmp_path / "huber.safekeras").exists()
    fine = SafeKerasRegressor(loss="huber", epochs=2, random_state=0).fit(X, y)
    save(fine, tmp_path / "named.safekeras")
    np.testing.assert_array_equal(load(tmp_path / "named.safekeras").predict(X), fine.predict(X))
