"""The names of the safekeras file format, shared by saving and loading.

The layout itself (the members and what each holds) is documented in
:mod:`safekeras.deploy.persistence`.
"""

from __future__ import annotations

from ..exceptions import MissingDependencyError

__all__ = [
    "ESTIMATOR",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "MIN_KERAS_VERSION",
    "MODEL",
]

#: ``format`` in the manifest of every file :func:`~safekeras.persistence.save` writes.
FORMAT_NAME = "safekeras.estimator"
#: Version of the file layout; :func:`~safekeras.load` reads this version and older ones.
FORMAT_VERSION = 1
#: Oldest Keras with every safe-mode fix load relies on (see pyproject.toml's keras pin).
MIN_KERAS_VERSION = (3, 15)

MANIFEST = "manifest.json"
MODEL = "model.keras"
ESTIMATOR = "estimator.skops"
_KERAS_FOLDER = "keras/"

# Members a Keras ``.keras`` archive may hold (besides files under ``assets/``). Keras can
# also read weights from model.weights.npz, but never writes one unless asked to, and the
# weights are checked against the config in model.weights.h5 only.
_KERAS_JSON_MEMBERS = ("config.json", "metadata.json")
_KERAS_WEIGHTS = "model.weights.h5"
_KERAS_MEMBERS = frozenset({*_KERAS_JSON_MEMBERS, _KERAS_WEIGHTS})


def _skops_io():
    try:
        import skops.io
    except ImportError as exc:
        raise MissingDependencyError(
            "safekeras.save and safekeras.load need skops to store the scikit-learn parts "
            "safely: pip install skops"
        ) from exc
    return skops.io
