"""What scikit-learn sees of each quality contender, and what a seeded SciKeras fit leaves behind.

Part of the quality benchmark (:mod:`benchmarks.quality`): the contract table's checks
(``is_classifier``, the splitter ``cv=5`` means, the stock ``"average_precision"`` scorer,
``predict_proba``, the parameters ``clone`` drops), the fresh-process SciKeras probe, and
the report's table and notes of them (:func:`contract_table`, :func:`peer_notes`).
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv

from benchmarks.contenders import CONTENDERS, KERAS_WRAPPER, SCIKERAS
from benchmarks.datasets import Dataset

if TYPE_CHECKING:  # quality_tables imports this module: the name for annotations only
    from benchmarks.quality_tables import Run


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


def peer_notes(run: Run) -> str:
    """What the Keras wrappers did, measured in this run."""
    lines = []
    for name in (KERAS_WRAPPER, SCIKERAS):
        results = [entry.by_name()[name] for entry in run.datasets]
        ran = [r for r in results if not r.skipped]
        if not ran:
            reasons = sorted({r.skipped for r in results})
            lines.append(f"- **{name}**: did not run ({'; '.join(reasons)}).")
            continue
        epochs = sorted({float(e) for r in ran for e in r.values("epochs")})
        facts = [
            f"trained {', '.join(f'{e:g}' for e in epochs)} epoch(s) per fold "
            f"(asked for {run.args.keras_epochs})"
        ]
        terms = run.contracts.get(name)
        if terms is not None:
            if terms.lost_in_clone:
                facts.append(
                    f"`clone` dropped {', '.join(terms.lost_in_clone)}, so every fold trained with "
                    "`model.fit`'s defaults (the epochs above, progress bars on), and its scores "
                    "above are that network's"
                )
            if not terms.has_predict_proba:
                facts.append("no `predict_proba`, so no PR-AUC or Brier score")
            if not terms.is_classifier:
                facts.append(
                    f"scikit-learn does not see a classifier: `cv=5` means {terms.splitter}, "
                    f'and the `"average_precision"` scorer {terms.stock_scorer}'
                )
        if run.printed.get(name):
            facts.append(f"wrote {run.printed[name]} characters of progress output to stdout")
        leaked = sum(r.warnings.get("TensorFlow op determinism left on", 0) for r in ran)
        if leaked:
            facts.append(
                f"left TensorFlow's op determinism switched on after {leaked} of {len(ran)} "
                "cross-validations (switched back off by the benchmark)"
            )
        if name == SCIKERAS and run.scikeras_probe:
            facts.append(probe_note(run.scikeras_probe))
        lines.append(f"- **{name}**: " + "; ".join(facts) + ".")
    return "\n".join(lines)


def probe_note(probe: dict) -> str:
    if "error" in probe:
        return f"the fresh-process probe failed ({probe['error']})"
    if not probe.get("left_on"):
        return "in a fresh process, a seeded fit left TensorFlow's op determinism off"
    return (
        "in a fresh process where its seeded fit is the first TensorFlow code to use "
        "randomness, `random_state` left TensorFlow's op determinism switched on for the "
        f"process: a plain Keras `model.fit` afterwards gave {probe.get('keras_fit')!r}, "
        f"a seeded safekeras fit {probe.get('safekeras_fit')!r}"
    )


def contract_table(run: Run) -> str:
    lines = [
        "| contender | `is_classifier` | `cross_validate(cv=5)` splits with "
        '| `predict_proba` | scorer `"average_precision"` | parameters `clone` dropped '
        "| stdout characters during CV |",
        "|---|---|---|---|---|---|---:|",
    ]

    def flag(ok: bool, text: str | None = None) -> str:
        """``text`` (default yes/no), in bold where scikit-learn's contract is broken."""
        text = text if text is not None else ("yes" if ok else "no")
        return text if ok else f"**{text}**"

    for contender in CONTENDERS:
        terms = run.contracts.get(contender.name)
        if terms is None:
            continue
        printed = run.printed.get(contender.name, 0)
        lines.append(
            f"| {contender.name} | {flag(terms.is_classifier)} "
            f"| {flag(terms.splitter == 'StratifiedKFold', terms.splitter)} "
            f"| {flag(terms.has_predict_proba)} "
            f"| {flag(terms.stock_scorer == 'works', terms.stock_scorer)} "
            f"| {flag(not terms.lost_in_clone, ', '.join(terms.lost_in_clone) or 'none')} "
            f"| {flag(printed == 0, str(printed))} |"
        )
    return "\n".join(lines)
