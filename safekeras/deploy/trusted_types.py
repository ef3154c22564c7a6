"""The skops types a fitted estimator holds, for tools that store it with skops themselves.

MLflow 3's ``mlflow.sklearn.log_model`` (and ``save_model``) writes scikit-learn
models in the skops format and loads them back with only the types it is told
to trust: safekeras's own classes are not among skops's defaults, so logging a
fitted estimator fails until they are passed as ``skops_trusted_types``.
:func:`skops_trusted_types` returns that list, the one
:func:`safekeras.load` itself trusts, so it never drifts from what safekeras
stores.
"""

from __future__ import annotations

__all__ = ["skops_trusted_types"]


def skops_trusted_types(estimator=None) -> list[str]:
    """The skops type names to trust when loading a safekeras estimator saved with skops.

    Pass the list as ``skops_trusted_types=`` to ``mlflow.sklearn.log_model``
    or ``save_model``, or as ``trusted=`` to ``skops.io.load``. It names
    safekeras's own classes and functions (the estimators, the fitted network,
    the input schema, the target and threshold records, the ``"auto"``
    preprocessor's functions) and the NumPy and built-in types they hold.

    Trusting these types lets skops rebuild the estimator. Its Keras network
    is then loaded by Keras with ``safe_mode=True``, without the checks of
    :func:`safekeras.load`, which checks every name the network's
    configuration holds first: load files from sources you do not trust with
    :func:`safekeras.load`.

    Parameters
    ----------
    estimator : SafeKerasClassifier or SafeKerasRegressor, optional
        When given, the imbalanced-learn samplers it holds (``sampler=``) are
        added. Types of your own (a custom ``preprocessor``, a function as
        ``activation``) are never added: skops lists them when the load
        fails, and you add those you trust.

    Returns
    -------
    list of str
        Sorted ``"module.Name"`` strings.

    Raises
    ------
    ParameterError
        ``estimator`` is not a scikit-learn estimator.

    Examples
    --------
    >>> from safekeras import skops_trusted_types
    >>> "safekeras.estimators.classifier.SafeKerasClassifier" in skops_trusted_types()
    True
    """
    from .allowlist import _imblearn_types, _skops_allow_list
    from .type_names import qualified_name

    names = set(_skops_allow_list())
    if estimator is not None:
        if not hasattr(estimator, "get_params"):
            from ..exceptions import ParameterError

            raise ParameterError(
                "estimator must be a SafeKerasClassifier or SafeKerasRegressor (or None for "
                f"the types every safekeras estimator holds); got {type(estimator).__name__}."
            )
        samplers = _imblearn_types()
        for value in estimator.get_params(deep=True).values():
            if qualified_name(type(value)) in samplers:
                names.add(qualified_name(type(value)))
    return sorted(names)
