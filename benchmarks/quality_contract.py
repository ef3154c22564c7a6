"""What scikit-learn sees of each quality contender, and what a seeded SciKeras fit leaves behind.

Part of the quality benchmark (:mod:`benchmarks.quality`): the contract table's checks
(``is_classifier``, the splitter ``cv=5`` means, the stock ``"average_precision"`` scorer,
``predict_proba``, the parameters ``clone`` drops) and the fresh-process SciKeras probe.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv

from benchmarks.datasets import Dataset


def scikeras_status() -> tuple[str | None, str]:
    """SciKeras's version and ``""``, or None and why it cannot be used here."""
    try:
        import scikeras
        from scikeras.wrappers import KerasClassifier  # noqa: F401
    except ImportError as error:
        return None, f"not installed ({error})"
    except Exception as error:  # installed, but does not import with this Keras
        return None, f"does not import: {type(error).__name__}: {error}"
    return getattr(scikeras, "__version__", "?"), ""


def op_determinism_enabled() -> bool | None:
    """Whether TensorFlow's op determinism is on (None when TensorFlow is not the backend)."""
    try:
        from tensorflow.python.framework import config
    except ImportError:
        return None
    return bool(config.is_op_determinism_enabled())


def disable_op_determinism() -> None:
    from tensorflow.python.framework import config

    config.disable_op_determinism()


# What a seeded SciKeras fit leaves behind, run in a fresh interpreter: TensorFlow caches its
# op-determinism flag on first use, so the leak shows only where SciKeras's fit is the first
# TensorFlow code to use randomness (in this benchmark's process, earlier fits have already
# read the flag and it does not show).
SCIKERAS_PROBE = """
import json
import numpy as np
import keras
from scikeras.wrappers import KerasClassifier
from tensorflow.python.framework import config

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (X[:, 0] > 0).astype(int)

def network(meta=None):
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")]
    )

def attempt(fit):
    try:
        fit()
        return "ran"
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"

def keras_fit():
    model = network()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(X, y, epochs=1, verbose=0)

KerasClassifier(network, loss="binary_crossentropy", epochs=1, verbose=0, random_state=0).fit(X, y)
found = {"left_on": bool(config.is_op_determinism_enabled()), "keras_fit": attempt(keras_fit)}
from safekeras import SafeKerasClassifier
found["safekeras_fit"] = attempt(
    lambda: SafeKerasClassifier(epochs=1, threshold=0.5, random_state=0).fit(X, y)
)
print(json.dumps(found))
"""


def probe_scikeras() -> dict:
    """Run ``SCIKERAS_PROBE`` in a fresh interpreter.

    Returns
    -------
    dict
        ``left_on`` (TensorFlow's op determinism after one seeded SciKeras fit),
        ``keras_fit`` and ``safekeras_fit`` (``"ran"`` or the error of a plain
        Keras fit and a seeded safekeras fit after it); or ``error`` when the
        probe itself failed.
    """
    import json
    import os
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCIKERAS_PROBE],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


@dataclass(frozen=True)
class Contract:
    """What scikit-learn sees of a contender, measured on one dataset's estimator."""

    is_classifier: bool
    has_predict_proba: bool
    lost_in_clone: tuple[str, ...]  # parameters whose value ``clone`` did not keep
    splitter: str  # what ``cross_validate(cv=5)`` would split with
    stock_scorer: str  # scikit-learn's own "average_precision" scorer on a fitted fold


def leaf_params(estimator) -> dict:
    return {
        key: value
        for key, value in estimator.get_params(deep=True).items()
        if not hasattr(value, "get_params")  # nested estimators are compared through their own
    }


def plain(value) -> bool:
    """Whether ``value`` is data that ``==`` compares (numbers, strings, containers of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(item) for item in value)
    if isinstance(value, dict):
        return all(plain(item) for item in value.values())
    return False


def stock_scorer(fitted, X, y) -> str:
    """What ``get_scorer("average_precision")`` makes of a fitted contender."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            value = get_scorer("average_precision")(fitted, X, y)
        except Exception as error:
            return f"fails ({type(error).__name__})"
    return "works" if np.isfinite(value) else "fails (nan)"


def contract(estimator, fitted, dataset: Dataset) -> Contract:
    """What scikit-learn sees of ``estimator`` (unfitted) and ``fitted`` (one fold's model)."""
    before, after = leaf_params(estimator), leaf_params(clone(estimator))
    lost = []
    for key, value in before.items():
        kept = after.get(key)
        if plain(value):
            same = key in after and kept == value
        else:  # objects (functions, column selectors) may be copied by clone: only None is lost
            same = kept is not None
        if not same:
            lost.append(key.rsplit("__", 1)[-1])
    classifier = is_classifier(estimator)
    return Contract(
        is_classifier=classifier,
        has_predict_proba=hasattr(estimator, "predict_proba"),
        lost_in_clone=tuple(lost),
        splitter=type(check_cv(5, dataset.y, classifier=classifier)).__name__,
        stock_scorer=stock_scorer(fitted, dataset.X, dataset.y),
    )
