"""The predict path the estimators share, and what a fitted estimator offers besides.

``predict``, ``predict_proba`` and ``decision_function`` all go through
``_network_outputs``: validate ``X`` (:mod:`~safekeras.data.input_validation`),
check it against the training schema (drift, numbers the network's dtype
cannot hold), preprocess it in chunks (:mod:`~safekeras.data.preprocessing_plan`)
and run the network, whose outputs must be finite
(:mod:`~safekeras.network.checks`). ``diagnose``, ``save`` and ``to_keras``
hand the fitted estimator to :mod:`~safekeras.inspection` and
:mod:`~safekeras.deploy`.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..data import input_validation
from ..data.preprocessing_plan import PreprocessingPlan
from ..exceptions import DriftError, DriftWarning, NotFittedError, external_stacklevel
from ..inspection import diagnostics
from ..network import architecture, checks
from ..network.fitted import row_chunks
from .input_kinds import fitted_kind


class _PredictMixin:
    """Predicting, diagnosing and saving a fitted safekeras estimator."""

    # -- predicting ------------------------------------------------------------

    def _feeds_raw_numbers(self) -> bool:
        """Whether the raw numbers reach the network as they are or linearly scaled.

        True for "auto" and "passthrough"; a custom transformer may map a huge
        raw value anywhere (a log), so only its output is checked.
        """
        return self.preprocessor is None or isinstance(self.preprocessor, str)

    def _validate_features(self, X, *, y=None, reset: bool):
        """Validate X the way the configured preprocessor (and, fitted, the input kind) reads it."""
        kind = "table" if reset else fitted_kind(self)
        return input_validation.validate_features(self, X, y=y, reset=reset, kind=kind)

    def _fitted_input_shape(self) -> tuple:
        """The shape of one training sample, ``X.shape[1:]`` in ``fit``."""
        return getattr(self, "_input_shape_", (self.n_features_in_,))

    def _input_mode(self) -> str:
        return input_validation.input_mode(self.preprocessor)

    def _network_outputs(self, X) -> np.ndarray:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        X = self._validate_features(X, reset=False)
        batch = self.input_schema_.decode(X)
        # Overflow inside the network is reported, with the rows, by _finite_predictions.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._outputs_of(X, batch)

    def _outputs_of(self, X, batch) -> np.ndarray:
        """The network's outputs for a validated, decoded batch (numbers checked first)."""
        network = self.pipeline_.named_steps["network"]
        dtype = network.input_dtype()
        if self._feeds_raw_numbers():  # before the drift warning: an error makes it moot
            self.input_schema_.check_representable(dtype, batch)
        if fitted_kind(self) == "tokens":  # before Keras: a GPU reads zeros
            checks.check_token_ids(X, architecture.embedding_input_dim(network.model_))
        self._report_drift(self.input_schema_.check_decoded(batch, drift=self.on_drift != "ignore"))
        plan = self._preprocessing_plan()
        if plan is None and self.preprocessor_ is not None:
            return network.predict(self._network_input(self.preprocessor_.transform(X), dtype))
        if plan is None:  # passthrough: the raw check above saw exactly these numbers
            return checks.concatenated(
                [network.predict(X[rows]) for rows in row_chunks(batch.n_rows)]
            )
        # Equal to pipeline_.predict(X) (tested), streamed so that a large batch is never
        # held preprocessed in full: one chunk of features at a time.
        return checks.concatenated(
            [
                network.predict(self._network_input(plan.transform(batch, rows), dtype))
                for rows in row_chunks(batch.n_rows)
            ]
        )

    def _network_input(self, x, dtype) -> np.ndarray:
        """Preprocessed features, refused where a value overflows the network's dtype."""
        x = np.asarray(x)
        checks.check_network_input(self.input_schema_, self.preprocessor_, dtype, x)
        return x

    def _finite_predictions(self, values: np.ndarray, what: str) -> np.ndarray:
        """``values``, or an error naming the rows whose output is NaN or infinite."""
        if np.isfinite(values).all():  # the network (read to tell why) may not be built yet
            return values
        return checks.finite_predictions(values, what, self.model_)

    def _preprocessing_plan(self):
        """The fast path of ``preprocessor_`` (:mod:`safekeras.data.preprocessing_plan`), if any."""
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] is not self.preprocessor_:
            plan = PreprocessingPlan.for_input(
                self.preprocessor_, self.input_schema_, fitted_kind(self)
            )
            cached = (self.preprocessor_, plan)
            self._plan_cache = cached  # one tuple: threads see the old or the new pair
        return cached[1]

    def diagnose(self, X=None, y=None):
        """Explain the fit: over/underfitting, imbalance, threshold, label inversion, drift.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), default=None
            Data to check for drift against the training data and, with ``y``,
            to measure the model on (a held-out set, not the training data).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Labels (targets) of ``X``, in the same encoding as in ``fit``.

        Returns
        -------
        diagnosis : safekeras.diagnostics.Diagnosis
            ``diagnosis.findings`` lists each pitfall found with its evidence
            and fix; ``print(diagnosis)`` shows a report and
            ``diagnosis.plot()`` draws it (needs matplotlib).
        """
        return diagnostics.diagnose(self, X, y)

    def save(self, path) -> None:
        """Write the fitted estimator to one file that :func:`safekeras.load` reads safely.

        The file is a zip archive holding the Keras network in ``.keras``
        format, the rest of the fitted estimator (preprocessing, target
        encoding, schema, threshold) in skops format and a manifest of the
        library versions. :func:`safekeras.load` checks all of it before it
        deserialises anything, and never runs code from it. See
        :mod:`safekeras.persistence` for the format and the checks.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, used exactly as given: no extension is added or
            required (the documentation uses ``.safekeras``; ``.keras`` would
            promise a plain Keras model, which the file is not). Its folder
            must exist. An existing file is replaced, once the new one is
            complete.

        Returns
        -------
        None
            Nothing: the estimator is not modified.

        Raises
        ------
        NotFittedError
            If the estimator has not been fitted.
        PersistenceError
            If it holds something the format cannot store: a Lambda layer, a
            lambda or locally defined function, a subclassed Keras model
            without ``get_config``.
        MissingDependencyError
            If skops is not installed.
        OSError
            If the file cannot be written, e.g. ``FileNotFoundError`` when its
            folder does not exist, ``IsADirectoryError`` when ``path`` is a
            folder.

        See Also
        --------
        safekeras.load : Read the file back.

        Notes
        -----
        The write is atomic: the archive is written to a hidden temporary file
        in the same folder (``.<name>.<random>.safekeras-tmp``) and moved over
        ``path`` with :func:`os.replace`, so an error or an interruption leaves
        any previous file intact and removes the temporary one. Pickling the
        estimator works too, but unpickling runs code: keep pickles for files
        you made yourself.
        """
        from ..deploy.persistence import save

        save(self, path)

    def to_keras(self):
        """One Keras model computing ``predict_proba`` (``predict`` for a regressor) from raw input.

        The fitted preprocessing (imputation, scaling, one-hot encoding) and
        the output mapping are baked in as Keras layers, for serving without
        scikit-learn (e.g. ``model.export(path)`` to a TensorFlow SavedModel).
        See :mod:`safekeras.export` for the inputs it takes and what cannot be
        exported.

        Returns
        -------
        keras.Model

        Raises
        ------
        ExportError
            A part of the fitted pipeline has no Keras equivalent.
        """
        from ..deploy.export import to_keras

        return to_keras(self)

    def _report_drift(self, report):
        """Warn or raise per ``on_drift`` for a batch's schema report."""
        if not report:
            return
        message = f"{report} Set on_drift='ignore' to skip these checks."
        if self.on_drift == "raise":
            raise DriftError(message, report)
        warnings.warn(DriftWarning(message, report), stacklevel=external_stacklevel())
