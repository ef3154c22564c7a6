"""Property-based fuzzing of the safekeras file format with Hypothesis.

The mutations of ``benchmarks/fuzz_file_format.py`` (byte flips, truncations,
members swapped in from another save, JSON edits of the manifest and of
``config.json`` with the digests recomputed as an attacker would, byte edits of
the weights), each driven by a Hypothesis-controlled random generator: every
variant either loads and predicts exactly as the saved file, or raises
``PersistenceError`` / ``UnsafeFileError``, within Hypothesis's deadline. Any
other exception, or a load with other predictions, fails the test with the
shrunk example. 1002 examples in all, about 40 s on one core.
"""

import benchmark_reports as reports
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.core, pytest.mark.slow]

fuzz = reports.load_benchmark("fuzz_file_format")
EXAMPLES_PER_KIND = 167  # x 6 kinds: ~1000 in the suite


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from safekeras.deploy.persistence import load

    data, other, X = fuzz.make_files(0)
    path = tmp_path_factory.mktemp("fuzz") / "variant.safekeras"
    path.write_bytes(data)
    reference = load(path).predict_proba(X)  # also warms Keras up before the deadlines
    return data, other, X, reference, path


@pytest.mark.parametrize("kind", fuzz.KINDS)
def test_every_variant_loads_identically_or_raises_a_documented_error(kind, files):
    data, other, X, reference, path = files

    @settings(
        max_examples=EXAMPLES_PER_KIND,
        deadline=2000,  # ms per load: the bound the hostile-file tests hold bombs to
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(rng=st.randoms(use_true_random=False))
    def variant_is_safe(rng):
        path.write_bytes(fuzz.mutate(kind, rng, data, other))
        result = fuzz.outcome(path, X, reference)
        assert result in ("identical", "PersistenceError", "UnsafeFileError"), result

    variant_is_safe()
