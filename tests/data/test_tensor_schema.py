"""TensorSchema and TokenSchema: what fit saw of images, sequences and token ids, and the checks."""

import pickle
import re

import benchmark_reports as reports
import numpy as np
import pytest
import skops.io

from safekeras.data.drift import DriftReport
from safekeras.data.tensor_schema import SCALE_FACTOR, TensorSchema, TokenSchema
from safekeras.data.tensor_shapes import TensorBatch
from safekeras.exceptions import InputError

# The image sets the drift benchmark measures (benchmarks/image_drift.py), so that the test
# and the benchmark judge the same distributions.
_datasets = reports.load_benchmark("datasets")
make_scaled_digit_images, make_smooth_images = (
    _datasets.make_scaled_digit_images,
    _datasets.make_smooth_images,
)

pytestmark = pytest.mark.core

#: Clean batches per size in the false-alarm tests (the benchmark runs 1000).
CLEAN_BATCHES = 200


def _split(X, seed=0):
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = round(0.3 * len(X))
    return X[order[n_test:]], X[order[:n_test]]


@pytest.fixture(scope="module")
def digits():
    """Digits as (n, 8, 8, 1) images scaled to 0-1: (schema of the training rows, held-out rows)."""
    X_train, X_test = _split(make_scaled_digit_images(0)[0])
    return TensorSchema.from_training(X_train), X_test


@pytest.fixture(scope="module")
def smooth():
    """Generated smooth 16x16 colour images in 0-1: a second image distribution."""
    X_train, X_test = _split(make_smooth_images(1500, seed=1)[0])
    return TensorSchema.from_training(X_train), X_test


def _random_batches(X, size, count, seed=0):
    rng = np.random.default_rng(seed)
    return [X[rng.choice(len(X), size=size, replace=False)] for _ in range(count)]


# -- what fit records ---------------------------------------------------------------------


def test_statistics_are_per_channel_over_every_axis_but_the_last():
    X = np.zeros((2, 2, 3, 2))
    X[0, ..., 0] = [[0, 1, 2], [3, 4, 5]]  # row 0, channel 0: 0..5
    X[1, ..., 0] = 6.0  # row 1, channel 0: constant 6
    X[..., 1] = -1.0  # channel 1: constant -1 everywhere
    schema = TensorSchema.from_training(X)
    channel0 = np.concatenate([np.arange(6.0), np.full(6, 6.0)])
    assert schema.shape == (2, 3, 2) and schema.n_rows == 2 and schema.dtype == "float64"
    np.testing.assert_allclose(schema.minimum, [0.0, -1.0])
    np.testing.assert_allclose(schema.maximum, [6.0, -1.0])
    np.testing.assert_allclose(schema.mean, [channel0.mean(), -1.0])
    np.testing.assert_allclose(schema.std, [channel0.std(), 0.0])
    np.testing.assert_array_equal(schema.support, [1, 0])  # rows in which it varies
    # Per-row quantiles: spread (std) and largest |value| of each row, per channel.
    np.testing.assert_allclose(schema.row_spread[[0, -1], 0], [0.0, np.arange(6.0).std()])
    np.testing.assert_allclose(schema.row_magnitude[[0, -1], 0], [5.0, 6.0])
    np.testing.assert_allclose(schema.row_magnitude[:, 1], 1.0)
    assert [part.name for part in schema.columns] == ["channel 0", "channel 1"]


def test_training_inputs_that_are_not_tensors_are_refused():
    with pytest.raises(InputError, match=r"3 or more dimensions .* got shape \(4, 5\)"):
        TensorSchema.from_training(np.zeros((4, 5)))
    with pytest.raises(InputError, match=r"shape \(0, 2, 2\): no values"):
        TensorSchema.from_training(np.zeros((0, 2, 2)))
    with pytest.raises(InputError, match=r"dtype <U1, but the network takes numbers"):
        TensorSchema.from_training(np.full((2, 2, 2), "a"))
    with pytest.raises(InputError, match=r"NaN in channel 1 \(1 value\(s\) in 1 row\(s\)"):
        X = np.zeros((3, 2, 2))
        X[2, 0, 1] = np.nan
        TensorSchema.from_training(X)


# -- shape and value errors at predict time -----------------------------------------------


@pytest.mark.parametrize(
    ("batch_shape", "match"),
    [
        ((5, 1, 8, 8), r"shape \(5, 1, 8, 8\), .* \(n, 8, 8, 1\)\. It looks channels-first"),
        ((5, 8, 8, 3), r"shape \(5, 8, 8, 3\), .* It has 3 channel\(s\) .* training rows had 1"),
        ((5, 16, 16, 1), r"rows are 16x16 per channel, the training rows 8x8: resize"),
        ((5, 64), r"shape \(5, 64\), .* looks flattened: .*X\.reshape\(len\(X\), 8, 8, 1\)"),
        ((8, 8, 1), r"single row without the batch axis: pass X\[np\.newaxis\]"),
        ((5, 8, 1, 8), r"training sizes in another order: are its axes transposed"),
        ((5, 4, 4, 2), r"Pass X of shape \(n, 8, 8, 1\), as in training"),
    ],
)
def test_shape_errors_name_expected_and_given_shape_and_the_mistake(batch_shape, match):
    schema = TensorSchema.from_training(np.random.default_rng(0).random((20, 8, 8, 1)))
    with pytest.raises(InputError, match=match):
        schema.check(np.zeros(batch_shape))
    with pytest.raises(InputError, match=match):
        schema.decode(np.zeros(batch_shape))  # decode raises the same, before any drift check


def test_channels_last_batch_for_channels_first_training_rows_is_named():
    schema = TensorSchema.from_training(np.random.default_rng(0).random((20, 3, 8, 8)))
    with pytest.raises(InputError, match=r"first axis last: .*np\.moveaxis\(X, -1, 1\)"):
        schema.check(np.zeros((2, 8, 8, 3)))


def test_values_that_are_not_numbers_or_not_finite_are_refused_by_channel(smooth):
    schema, X_test = smooth
    batch = X_test[:4].copy()
    batch[3, 0, 0, 2] = np.inf
    with pytest.raises(InputError, match=r"NaN or infinity in channel 2 .* e\.g\. row 3"):
        schema.check(batch)
    with pytest.raises(InputError, match=r"dtype object, but the network takes numbers"):
        schema.check(X_test[:2].astype(object))
    assert not schema.check(X_test[:4])  # negative control: the clean rows pass


def test_check_representable_names_the_channels_the_dtype_cannot_hold(smooth):
    schema, X_test = smooth
    schema.check_representable("float16")  # training values fit
    batch = X_test[:3].astype(np.float64)
    schema.check_representable("float16", schema.decode(batch))
    batch[1, 2, 2, 1] = 1e5
    decoded = schema.decode(batch)
    with pytest.raises(InputError, match=r"range of float16, .* e\.g\. 1e\+05\), in channel 1:"):
        schema.check_representable("float16", decoded)
    schema.check_representable("float32", decoded)  # float32 holds 1e5


# -- drift: the scaling mistakes, and no false alarms -------------------------------------


@pytest.mark.parametrize("size", [1, 10, 100])
def test_raw_digit_pixels_are_caught_in_every_batch(digits, size):
    schema, X_test = digits
    for batch in _random_batches(X_test, size, 20, seed=size):
        report = schema.check(batch * 16)  # raw 0-16 pixels to a network trained on 0-1
        assert [f.kind for f in report.findings] == ["range"]
        assert report.columns == ("channel 0",)
        assert "Values are about 16 times larger than in training: a scaling step" in str(report)
        assert f"in {size} of {size} row(s)" in str(report)


@pytest.mark.parametrize("size", [1, 10, 100])
def test_0_255_pixels_are_caught_with_the_table_wording(digits, smooth, size):
    schema, X_test = digits
    for batch in _random_batches(X_test, size, 20, seed=size):
        report = schema.check(batch * 255)
        assert "Values are about 255 times larger than in training: a scaling" in str(report)
    schema, X_test = smooth
    for batch in _random_batches(X_test, size, 20, seed=size):
        report = schema.check(np.round(batch * 255))
        assert report.columns == ("channel 0", "channel 1", "channel 2")
        finding = report.findings[0]
        assert finding.kind == "range"
        assert "3 of 3 channel(s) fall outside their training range" in finding.message
        assert re.search(r"Values are about \d+ times larger than in training", finding.message)
        # The factor is read off the rows: a dim image times 255 is less than 255 typical rows.
        factors = [info["magnitude_factor"] for info in finding.evidence.values()]
        assert 255 / SCALE_FACTOR < np.median(factors) < 255 * SCALE_FACTOR


@pytest.mark.parametrize("size", [1, 10, 100])
def test_pixels_scaled_once_too_often_are_caught_as_another_scale(digits, size):
    schema, X_test = digits
    for batch in _random_batches(X_test, size, 20, seed=size):
        report = schema.check(batch / 255)  # inside the range: only the scale rule sees it
        assert [f.kind for f in report.findings] == ["spread"]
        assert "about 255 times smaller than in training" in str(report)


def test_raw_training_scale_fed_scaled_is_caught_at_one_row():
    X_train, X_test = _split(make_scaled_digit_images(0)[0] * 16)  # trained on raw 0-16 digits
    schema = TensorSchema.from_training(X_train)
    report = schema.check(X_test[:1] / 16)
    assert "about 16 times smaller than in training" in str(report)


@pytest.mark.parametrize("dataset", ["digits", "smooth"])
@pytest.mark.parametrize("size", [1, 100])
def test_no_false_alarm_on_held_out_images_of_the_training_distribution(request, dataset, size):
    schema, X_test = request.getfixturevalue(dataset)
    fired = [
        str(report)
        for batch in _random_batches(X_test, size, CLEAN_BATCHES, seed=size)
        if (report := schema.check(batch))
    ]
    assert fired == []


def test_no_false_alarm_on_held_out_sequences():
    rng = np.random.default_rng(0)
    steps = np.arange(50)
    phase = rng.uniform(0, 2 * np.pi, (1400, 1, 1))
    X = np.sin(steps[None, :, None] / 4 + phase) * rng.uniform(0.5, 2, (1400, 1, 1))
    X = X + rng.normal(0, 0.1, X.shape)  # (n, 50, 1) noisy waves of random amplitude
    X_train, X_test = _split(X)
    schema = TensorSchema.from_training(X_train)
    assert not any(schema.check(b) for b in _random_batches(X_test, 1, CLEAN_BATCHES))
    assert not any(schema.check(b) for b in _random_batches(X_test, 100, 50))
    assert schema.check(X_test[:1] * 100)  # and a unit change is caught in one row


def test_a_shift_inside_the_far_margin_is_caught_by_share_in_ten_rows(smooth):
    schema, X_test = smooth
    shifted = X_test[:10] + 1.0  # every value out of 0-1, but within FAR_EXCESS widths
    report = schema.check(shifted)
    assert [f.kind for f in report.findings] == ["range"]
    assert report.findings[0].evidence["channel 1"]["share_outside"] > 0.9
    assert "shifted from the training range" in str(report)
    assert not schema.check(shifted[:1])  # one row is too few for the share rule


def test_the_scale_rule_needs_both_spread_and_magnitude_beyond_the_training_rows(digits):
    schema, X_test = digits
    low_spread, low_size = schema.row_spread[0, 0], schema.row_magnitude[0, 0]
    faint = X_test[:1] * (low_spread / X_test[:1].std()) / (SCALE_FACTOR * 1.01)
    assert faint.max() * SCALE_FACTOR < low_size
    assert schema.check(faint)
    blank = np.zeros((1, 8, 8, 1))  # a constant row says nothing about scale
    assert not schema.check(blank)


def test_drift_false_runs_only_the_checks_that_raise(digits):
    schema, X_test = digits
    report = schema.check(X_test[:5] * 255, drift=False)
    assert report == DriftReport(n_rows=5)
    with pytest.raises(InputError, match="channels-first"):
        schema.check(np.zeros((2, 1, 8, 8)), drift=False)


def test_decode_keeps_the_batch_as_given(digits):
    schema, X_test = digits
    batch = X_test[:3].astype(np.float32)
    decoded = schema.decode(batch)
    assert isinstance(decoded, TensorBatch) and decoded.n_rows == 3 and len(decoded) == 3
    assert decoded.values is batch and np.asarray(decoded).shape == (3, 8, 8, 1)
    assert schema.check_decoded(decoded) == schema.check(batch)


# -- token sequences ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens():
    X = np.random.default_rng(0).integers(0, 20, (200, 10))
    X[0, 0] = 19  # the vocabulary ends at 19 whatever the draw
    return TokenSchema.from_training(X), X


def test_token_schema_records_length_vocabulary_and_dtype(tokens):
    schema, _ = tokens
    assert (schema.length, schema.vocabulary_size, schema.dtype) == (10, 20, "int64")
    assert schema.columns[3].name == "position 3" and schema.columns[3].kind == "categorical"


def test_clean_token_batches_give_empty_reports(tokens):
    schema, X = tokens
    assert not schema.check(X[:1]) and not schema.check(X)


def test_token_ids_above_the_training_vocabulary_are_drift_with_their_share(tokens):
    schema, X = tokens
    batch = X[:10].copy()
    batch[2, 4] = 57
    batch[7, [1, 4]] = 20
    report = schema.check(batch)
    (finding,) = report.findings
    assert finding.kind == "unseen_category" and finding.columns == ("position 1", "position 4")
    assert finding.message.startswith(
        "Token ids up to 57, the training vocabulary ends at 19: 3 of 100 id(s) (3.0%, in 2 of "
        "10 row(s)) were never seen in training."
    )
    assert schema.check(batch, drift=False) == DriftReport(n_rows=10)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (np.zeros((3, 12), dtype=int), r"shape \(3, 12\), .* length 10.*Pad or truncate .* 10"),
        (np.zeros((3, 10, 1), dtype=int), r"Pass a 2-D array of shape \(n, 10\)"),
        (np.zeros((3, 10)), r"dtype float64, .* integer token ids.*X\.astype\('int64'\)"),
        (np.full((3, 10), -1), r"negative token ids \(e\.g\. -1 in row 0; 3 row\(s\)\)"),
        (np.full((3, 10), "a"), r"dtype <U1, but the network takes numbers"),
    ],
)
def test_token_batches_of_the_wrong_shape_or_type_are_refused(tokens, batch, match):
    schema, _ = tokens
    with pytest.raises(InputError, match=match):
        schema.check(batch)


def test_token_training_data_must_be_non_negative_integers():
    with pytest.raises(InputError, match=r"integer token ids"):
        TokenSchema.from_training(np.zeros((4, 5)))
    with pytest.raises(InputError, match=r"negative token ids"):
        TokenSchema.from_training(-np.ones((4, 5), dtype=int))


def test_token_ids_a_float16_input_cannot_hold_exactly_are_refused():
    schema = TokenSchema.from_training(np.arange(5000).reshape(500, 10))
    with pytest.raises(InputError, match=r"up to 4999 .* float16, .* exactly only up to 2048"):
        schema.check_representable("float16")
    schema.check_representable("float32")
    schema.check_representable("int32")
    small = schema.decode(np.ones((2, 10), dtype=int))
    schema.check_representable("float16", small)  # the batch's ids fit


# -- persistence ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["digits", "tokens"])
def test_schemas_round_trip_through_skops_and_pickle(request, which):
    schema, X = request.getfixturevalue(which)
    payload = skops.io.dumps(schema)
    assert skops.io.get_untrusted_types(data=payload) == [
        f"safekeras.data.tensor_schema.{type(schema).__name__}"
    ]
    loaded = skops.io.loads(payload, trusted=skops.io.get_untrusted_types(data=payload))
    unpickled = pickle.loads(pickle.dumps(schema))
    assert loaded == schema and unpickled == schema and loaded is not schema
    drifted = X[:5] * 16 if which == "digits" else X[:5] + 100
    assert str(loaded.check(drifted)) == str(schema.check(drifted))
    assert schema != type(schema).from_training(X[:20])  # equality compares the values
