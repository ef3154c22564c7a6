"""``SafeKerasClassifier`` and ``SafeKerasRegressor``: the scikit-learn surface.

The estimators read as the steps of ``fit`` and ``predict``:

* :mod:`~safekeras.estimators.base`: the shared ``fit``, a sequence of steps
  each handed to the stage that owns it (data, network, decision);
* :mod:`~safekeras.estimators.predicting`: the shared predict path, and
  ``diagnose``, ``save`` and ``to_keras``;
* :mod:`~safekeras.estimators.classifier` and
  :mod:`~safekeras.estimators.regressor`: the public classes, with what is
  particular to their targets.
"""

from .classifier import SafeKerasClassifier
from .regressor import SafeKerasRegressor

__all__ = ["SafeKerasClassifier", "SafeKerasRegressor"]
