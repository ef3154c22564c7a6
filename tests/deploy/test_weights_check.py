"""check_keras_archive: a .keras archive's declared shapes, vocabulary paths and HDF5 storage.

The crafted archives are real saved models whose config.json or model.weights.h5 is edited
the way an attacker would; the check must refuse each one from metadata alone, naming the
layer or dataset, and let every legitimate network through.
"""

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import h5py
import keras
import numpy as np
import pytest

from safekeras import SafeKerasClassifier
from safekeras.deploy.persistence import save
from safekeras.deploy.weights_check import check_keras_archive
from safekeras.exceptions import PersistenceError, UnsafeFileError

pytestmark = pytest.mark.core

layers = keras.layers


def _parts(model, tmp_path):
    """(config, weights) of the .keras archive ``model.save`` writes."""
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json")), archive.read("model.weights.h5")


def _layer(config, name):
    """The config entry of the layer called ``name`` (searching nested models)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("config"), dict) and node["config"].get("name") == name:
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(f"no layer {name!r}")


def _rewritten(weights, edit):
    """A copy of the weights file with ``edit(new_file)`` applied."""
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(weights), "r") as source, h5py.File(buffer, "w") as target:
        for name in source:
            source.copy(name, target)
        edit(target)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    model = keras.Sequential(
        [
            # Named: Keras numbers automatic names per process ("input_layer_12").
            keras.Input((4,), name="input_layer"),
            layers.Dense(3, name="hidden"),
            layers.BatchNormalization(name="norm"),
            layers.Dense(2, name="out"),
        ]
    )
    return _parts(model, tmp_path_factory.mktemp("mlp"))


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(2, 3, name="conv"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.BatchNormalization(),
            layers.Dropout(0.2, seed=7),
            layers.Dense(2),
        ]
    )
    return _parts(model, tmp_path_factory.mktemp("conv"))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            layers.Embedding(10, 4, name="embed"),
            layers.LSTM(3, name="recurrent"),
            layers.Dense(1),
        ]
    )
    return _parts(model, tmp_path_factory.mktemp("sequence"))


def _copy(parts):
    config, weights = parts
    return json.loads(json.dumps(config)), weights


# -- legitimate networks pass -----------------------------------------------------------------


@pytest.mark.slow
def test_default_mlp_of_a_saved_estimator_passes(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.repeat([0, 1], 30)
    estimator = SafeKerasClassifier(epochs=1, random_state=0).fit(X, y)
    save(estimator, tmp_path / "estimator.skk")
    with zipfile.ZipFile(tmp_path / "estimator.skk") as outer:
        inner = zipfile.ZipFile(io.BytesIO(outer.read("model.keras")))
    config = json.loads(inner.read("config.json"))
    check_keras_archive(config, inner.read("model.weights.h5"), "model.keras")


def test_user_networks_pass(mlp, conv, sequence):
    for config, weights in (mlp, conv, sequence):
        check_keras_archive(config, weights, "model.keras")


def test_functional_nested_and_attention_networks_pass(tmp_path):
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    inner = keras.Sequential([keras.Input((5,)), layers.Dense(4), layers.Dense(4)])
    two_inputs = keras.Model(
        [left, right], layers.Dense(1)(inner(layers.Concatenate()([left, right])))
    )
    check_keras_archive(*_parts(two_inputs, tmp_path), "two_inputs.keras")

    tokens = keras.Input((4, 6))
    x = layers.MultiHeadAttention(2, 3)(tokens, tokens)
    x = layers.Bidirectional(layers.GRU(2))(x)
    x = layers.PReLU()(layers.LayerNormalization()(x))
    y = layers.SeparableConv1D(2, 3)(layers.Conv1DTranspose(2, 3)(tokens))
    y = layers.GroupNormalization(1)(layers.DepthwiseConv1D(3)(y))
    z = layers.SimpleRNN(2)(layers.Normalization()(tokens))
    w = layers.EinsumDense("ab,bc->ac", output_shape=5, bias_axes="c")(x)
    mixed = keras.Model(tokens, [w, layers.Flatten()(y), z])
    check_keras_archive(*_parts(mixed, tmp_path), "mixed.keras")


def test_inline_vocabulary_passes(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((1,), dtype="string"),
            layers.StringLookup(vocabulary=["a", "b"], name="words"),
        ]
    )
    check_keras_archive(*_parts(model, tmp_path), "lookup.keras")


# -- configs that declare more than the file carries ------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "name", "field", "value"),
    [
        ("mlp", "hidden", "units", 1 << 24),
        ("conv", "conv", "filters", 1 << 24),
        ("sequence", "embed", "input_dim", 1 << 26),
        ("sequence", "recurrent", "units", 1 << 16),
    ],
)
def test_huge_declared_layer_is_refused(fixture, name, field, value, request):
    config, weights = _copy(request.getfixturevalue(fixture))
    _layer(config, name)["config"][field] = value
    with pytest.raises(UnsafeFileError, match=rf"layer '{name}' .*allocate the declared"):
        check_keras_archive(config, weights, "model.keras")


def test_huge_input_shape_is_refused_at_the_layer_it_feeds(mlp):
    config, weights = _copy(mlp)
    # Consistent with itself: the input and the layer that builds from it both say 2**20.
    _layer(config, "input_layer")["config"]["batch_shape"] = [None, 1 << 20]
    _layer(config, "hidden")["build_config"]["input_shape"] = [None, 1 << 20]
    with pytest.raises(UnsafeFileError, match=r"layer 'hidden' \(Dense\) declares variables"):
        check_keras_archive(config, weights, "model.keras")


def test_absurd_input_shape_before_batch_normalization_is_refused(mlp):
    config, weights = _copy(mlp)
    _layer(config, "input_layer")["config"]["batch_shape"] = [None, 1 << 30]
    _layer(config, "norm")["build_config"]["input_shape"] = [None, 1 << 30]
    with pytest.raises(UnsafeFileError, match=r"layer 'input_layer' \(InputLayer\) declares"):
        check_keras_archive(config, weights, "model.keras")
    _layer(config, "input_layer")["config"]["batch_shape"] = [None, 4]
    with pytest.raises(UnsafeFileError, match=r"layer 'norm' \(BatchNormalization\)"):
        check_keras_archive(config, weights, "model.keras")


def test_weight_layer_without_build_config_is_refused(mlp):
    config, weights = _copy(mlp)
    del _layer(config, "out")["build_config"]
    with pytest.raises(UnsafeFileError, match=r"layer 'out' \(Dense\) owns weights but has no"):
        check_keras_archive(config, weights, "model.keras")


def test_smaller_mismatch_is_a_corrupt_file(mlp):
    config, weights = _copy(mlp)
    _layer(config, "out")["config"]["units"] = 1
    with pytest.raises(PersistenceError, match=r"layer 'out' .*corrupt or was tampered") as info:
        check_keras_archive(config, weights, "model.keras")
    assert not isinstance(info.value, UnsafeFileError)


def test_unmodelled_layer_sizes_are_bounded_by_the_stored_values(mlp):
    config, weights = _copy(mlp)
    hidden = _layer(config, "hidden")
    hidden["class_name"] = "EinsumDense"
    hidden["config"]["output_shape"] = 1 << 30
    with pytest.raises(UnsafeFileError, match=r"layer 'hidden' \(EinsumDense\) sets output_shape"):
        check_keras_archive(config, weights, "model.keras")


# -- HDF5 storage -----------------------------------------------------------------------------


def _replace_kernel(**create):
    def edit(target):
        del target["layers/dense/vars/0"]
        target.create_dataset("layers/dense/vars/0", **create)

    return edit


def test_dataset_without_storage_is_refused(mlp):
    config, weights = mlp
    crafted = _rewritten(weights, _replace_kernel(shape=(1 << 20, 1 << 10), dtype="f4"))
    with pytest.raises(UnsafeFileError, match=r"'layers/dense/vars/0' .* stores only 0 bytes"):
        check_keras_archive(config, crafted, "model.keras")


def test_compressed_dataset_is_refused(mlp):
    config, weights = mlp
    crafted = _rewritten(weights, _replace_kernel(data=np.zeros((4, 3), "f4"), compression="gzip"))
    with pytest.raises(UnsafeFileError, match=r"'layers/dense/vars/0' .* compressed"):
        check_keras_archive(config, crafted, "model.keras")


def test_external_storage_is_refused(mlp, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x" * 48)
    config, weights = mlp
    external = [(str(secret), 0, 48)]
    crafted = _rewritten(weights, _replace_kernel(shape=(4, 3), dtype="f4", external=external))
    with pytest.raises(UnsafeFileError, match=r"'layers/dense/vars/0' .* external files"):
        check_keras_archive(config, crafted, "model.keras")


def test_virtual_dataset_is_refused(mlp, tmp_path):
    config, weights = mlp

    def edit(target):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "data", shape=(4, 3))
        del target["layers/dense/vars/0"]
        target.create_virtual_dataset("layers/dense/vars/0", layout)

    with pytest.raises(UnsafeFileError, match=r"'layers/dense/vars/0' in .* is a virtual dataset"):
        check_keras_archive(config, _rewritten(weights, edit), "model.keras")


@pytest.mark.parametrize("link", ["soft", "external"])
def test_links_are_refused(mlp, link):
    config, weights = mlp

    def edit(target):
        del target["layers/dense/vars/1"]
        target["layers/dense/vars/1"] = (
            h5py.SoftLink("/layers/dense_1/vars/1")
            if link == "soft"
            else h5py.ExternalLink("/etc/hostname", "/data")
        )

    with pytest.raises(UnsafeFileError, match=r"Link at 'layers/dense/vars/1'"):
        check_keras_archive(config, _rewritten(weights, edit), "model.keras")


def test_hard_linked_dataset_is_not_counted_twice(mlp):
    config, weights = mlp

    def edit(target):
        target["extra"] = target["layers/dense/vars/0"]

    with pytest.raises(UnsafeFileError, match=r"link 'layers/dense/vars/0'|link 'extra'"):
        check_keras_archive(config, _rewritten(weights, edit), "model.keras")


def test_weights_that_are_not_hdf5_are_a_corrupt_file(mlp):
    with pytest.raises(PersistenceError, match=r"not a readable HDF5 file"):
        check_keras_archive(mlp[0], b"not hdf5", "model.keras")


# -- vocabulary files -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["StringLookup", "IntegerLookup", "TextVectorization"])
def test_vocabulary_file_path_is_refused(kind, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((1,), dtype="string"),
            layers.StringLookup(vocabulary=["a", "b"], name="words"),
        ]
    )
    config, weights = _parts(model, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    lookup = _layer(config, "words")
    lookup["class_name"] = kind
    lookup["config"]["vocabulary"] = str(secret)
    with pytest.raises(UnsafeFileError, match=rf"'words' \({kind}\) .*CVE-2025-12058"):
        check_keras_archive(config, weights, "model.keras")


# -- cost -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_costs_little_memory_and_time_on_crafted_files(mlp, tmp_path):
    config, weights = _copy(mlp)
    _layer(config, "hidden")["config"]["units"] = 1 << 26
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "weights.h5").write_bytes(weights)
    no_storage = _rewritten(weights, _replace_kernel(shape=(1 << 24, 1 << 8), dtype="f4"))
    (tmp_path / "empty.h5").write_bytes(no_storage)
    script = textwrap.dedent(
        f"""
        import json, pathlib, resource, time
        from safekeras.exceptions import UnsafeFileError
        from safekeras.deploy.weights_check import check_keras_archive
        folder = pathlib.Path({str(tmp_path)!r})
        config = json.loads((folder / "config.json").read_text())
        plain = json.loads((folder / "config.json").read_text())
        plain["config"]["layers"][1]["config"]["units"] = 3
        cases = [(config, (folder / "weights.h5").read_bytes()),
                 (plain, (folder / "empty.h5").read_bytes())]
        import h5py  # imported before measuring: the check's cost, not the import's
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        for cfg, data in cases:
            try:
                check_keras_archive(cfg, data, "crafted")
            except UnsafeFileError:
                pass
            else:
                raise SystemExit("not refused")
        seconds = time.perf_counter() - start
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"kib": grown, "seconds": seconds}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cost = json.loads(result.stdout.strip().splitlines()[-1])
    assert cost["kib"] < 50 * 1024, cost
    assert cost["seconds"] < 2, cost
