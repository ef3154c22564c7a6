"""``SafeKerasRegressor``: a Keras network as a scikit-learn regressor.

The fit and predict steps are the shared ones of
:class:`~safekeras.estimators.base._SafeKerasBase`; this class adds the
continuous target (:mod:`~safekeras.data.targets`), transformed in ``fit``
(:mod:`~safekeras.data.target_transforms`: standardised, or log1p then
standardised for a heavy right tail, or only scaled for a count fitted with
the Poisson deviance) and transformed back by ``predict``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions

from ..data import targets
from ..data.target_transforms import (
    TARGET_TRANSFORMS,
    TargetTransformer,
    choose_regression_loss,
    choose_target_transform,
)
from ..exceptions import ParameterError, TargetError
from ..network import training
from ..network.linear_baseline import LinearBaseline, linear_columns
from ..network.losses import POISSON
from .base import _SafeKerasBase

__all__ = ["SafeKerasRegressor"]


class SafeKerasRegressor(RegressorMixin, _SafeKerasBase):
    """A Keras network as a scikit-learn regressor, fitted as one safe pipeline.

    Like :class:`SafeKerasClassifier`, with a linear output of one unit per
    target (exponential for counts, see ``loss``) and a target transformed
    inside ``fit`` (and transformed back by ``predict``), so the loss sees
    targets of unit scale whatever their units.

    Parameters
    ----------
    model, hidden_layer_sizes, activation, dropout, l2, add_head, preprocessor
        As in :class:`SafeKerasClassifier`.
    numeric_embeddings : {"auto", "splines"} or None, default="auto"
        As in :class:`SafeKerasClassifier`. ``"auto"`` is ``"splines"`` with
        the default network (``model=None``), and None with a network of your
        own, which keeps the input width it was written for. On real tables
        the embeddings raised R² where the network trailed gradient boosting
        or a linear model (college Grad.Rate +0.026, bikeshare +0.006,
        randhie +0.009: paired wins over 3 seeds) and lost nowhere
        (``docs/defaults.md``, "Adopted for the regressor").
    ensemble_size : "auto" or int >= 1, default="auto"
        As in :class:`SafeKerasClassifier`: networks trained together and
        averaged (the prediction is their mean). ``"auto"`` trains
        :data:`~safekeras.network.ensemble.AUTO_REGRESSION_SIZE` (4) when
        nothing stands in the way, else one: on real tables four raised R²
        against one network by up to 0.03 (3 seeds pooled: paired wins on
        carseats, college and bikeshare, ties elsewhere, no loss) at about
        twice the fit time, 13 to 32 % less since the stack stops once all
        members but one have (``docs/defaults.md``).
    loss : "auto", "poisson", str or keras loss, default="auto"
        ``"poisson"`` is the Poisson deviance of an exponential last layer
        (the log link) on ``y`` divided by its mean: the network
        predicts the conditional mean of a non-negative target, such as a
        count, on its own scale. It needs ``y >= 0`` and ``target_transform``
        ``"auto"`` or ``"scale"``. ``"auto"`` picks it when every target column
        holds non-negative integers with a skewness of at least 1 (counts with
        a right tail; rule in
        :func:`safekeras.data.target_transforms.choose_regression_loss`) and
        ``target_transform`` is ``"auto"`` or ``"scale"``, else mean squared
        error on the transformed target. The choice is ``loss_``. A
        classification loss is an error.
    target_transform : {"auto", "standard", "log1p", "scale"}, default="auto"
        How the target is put on a unit scale for the network. ``"standard"``
        subtracts the mean and divides by the standard deviation.
        ``"log1p"`` standardises ``log(1 + y)`` (``sign(y) * log(1 + |y|)``
        where ``y`` is negative): a heavy right tail (amounts, prices,
        counts) no longer dominates the squared error, and predictions lie
        nearer the conditional median than the mean. ``"auto"`` picks
        ``"log1p"`` when every target column of the training split is
        strictly positive with a skewness of at least 2 that ``log1p``
        reduces, else ``"standard"`` (rule and measurements in
        :func:`safekeras.data.target_transforms.choose_target_transform` and
        ``docs/targets.md``), and ``"scale"`` (``y`` divided by the mean of
        ``|y|``, not centred) under the Poisson loss. The choice is
        ``target_transform_``.
    linear_baseline : {"auto", "ridge"} or None, default="auto"
        ``"ridge"`` fits scikit-learn's ``RidgeCV`` on the network's inputs
        (the scaled numeric and one-hot columns, not the spline embeddings)
        and the transformed target first; the network then learns the
        residual it leaves, divided by its root-mean-square, and ``predict``
        adds the two (:mod:`safekeras.network.linear_baseline`). A linear
        shortcut fitted in closed form: a nearly linear table is no longer
        left to a few hundred rows of gradient steps (measurements in
        ``docs/defaults.md``). ``"auto"`` is ``"ridge"`` for the default
        network on a table with a linear output (every loss but
        ``loss="poisson"``, whose output is exponential; not a first
        ``partial_fit``), else None.
        ``"ridge"`` needs a table and a linear output; a network of one's own
        then learns the residual too. None: the network learns the target
        itself. The fitted ridge is ``linear_baseline_``.
    optimizer, learning_rate, batch_size, epochs, early_stopping, \
validation_fraction, patience, callbacks, warm_start, engine, on_drift, random_state, verbose
        As in :class:`SafeKerasClassifier`; the validation split is a plain
        shuffled split. A warm start keeps ``target_scaler_``.

    Attributes
    ----------
    n_features_in_, input_kind_, feature_names_in_, input_schema_, preprocessor_, model_, \
pipeline_, history_, best_epoch_, n_epochs_, batch_size_, patience_, ensemble_size_, engine_, \
loss_
        As in :class:`SafeKerasClassifier`.
    target_type_ : str
        ``"continuous"`` or ``"continuous-multioutput"``.
    n_outputs_ : int
        Number of targets.
    target_transform_ : {"standard", "log1p", "scale"}
        The target transform used (``target_transform`` with ``"auto"`` resolved).
    loss_ : str or keras loss
        The loss trained: ``"poisson"`` (the Poisson deviance, an exponential
        last layer) or ``"mean_squared_error"`` when ``loss="auto"``.
    target_scaler_ : safekeras.data.target_transforms.TargetTransformer
        The target transform fitted on the training split; ``predict``
        applies its ``inverse_transform`` to the network's outputs.
    linear_baseline_ : safekeras.network.linear_baseline.LinearBaseline or None
        The ridge whose residual the network learnt (``coef_``,
        ``intercept_``, ``alpha_``, ``scale_``, ``columns``), or None.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from safekeras import SafeKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = SafeKerasRegressor(epochs=20, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    # numeric_embeddings="auto" appends spline embeddings for the default network (measured
    # gains on regression tables; none on classification, whose "auto" leaves them out).
    _auto_numeric_splines = True

    _parameter_constraints: dict = {
        **_SafeKerasBase._parameter_constraints,
        "target_transform": [StrOptions({"auto", *TARGET_TRANSFORMS})],
        "linear_baseline": [StrOptions({"auto", "ridge"}), None],
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        dropout=0.1,
        l2=1e-4,
        ensemble_size="auto",
        add_head=False,
        preprocessor="auto",
        numeric_embeddings="auto",
        target_transform="auto",
        linear_baseline="auto",
        loss="auto",
        optimizer="adam",
        learning_rate="auto",
        batch_size="auto",
        epochs=200,
        early_stopping=True,
        validation_fraction=0.15,
        patience="auto",
        callbacks=None,
        warm_start=False,
        engine="auto",
        on_drift="warn",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            model,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            l2=l2,
            ensemble_size=ensemble_size,
            add_head=add_head,
            preprocessor=preprocessor,
            numeric_embeddings=numeric_embeddings,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            patience=patience,
            callbacks=callbacks,
            warm_start=warm_start,
            engine=engine,
            on_drift=on_drift,
            random_state=random_state,
            verbose=verbose,
        )
        self.target_transform = target_transform
        self.linear_baseline = linear_baseline

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the preprocessing, the target scaling and the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; zero-weight rows are ignored, the rest
            rescaled to mean 1. Never modified.

        Returns
        -------
        self : SafeKerasRegressor
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, sample_weight=None):
        """Train the network one pass over ``(X, y)``, continuing from the last call.

        The first call fits the preprocessing and the target scaling on its
        rows and builds the network; later calls keep both frozen (make the
        first chunk representative), keep the optimizer's state and train one
        epoch on the new rows, without a validation split or early stopping.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            A chunk of the features, with the columns of the first call.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Its targets, shaped as in the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk's rows. Never modified.

        Returns
        -------
        self : SafeKerasRegressor
        """
        return self._fit(X, y, sample_weight, partial=True)

    def _target_spec(self, y):
        spec, y_encoded = targets.regression_target(y)
        if self._resolved_loss(y_encoded) != POISSON:
            return spec, y_encoded
        _check_counts(y_encoded, "loss='poisson'")
        # The head and loss the network is built and checked with, and warm starts keep.
        return replace(spec, activation="exponential", loss=POISSON), y_encoded

    def _resolved_loss(self, y) -> str:
        """``"poisson"`` when ``loss`` names it or "auto" picks it for ``y``, else MSE."""
        named = None if _is_auto(self.loss) else targets.describe_loss(self.loss)[0]
        poisson_ok = self.target_transform in ("auto", "scale")
        if named == POISSON and not poisson_ok:
            raise ParameterError(
                f"loss='poisson' fits the expected value of a non-negative y on its own "
                f"scale, but target_transform={self.target_transform!r} moves y off it "
                "(centred or logged). Use target_transform='auto' (or 'scale') with "
                "loss='poisson', or another loss."
            )
        if named == POISSON or (_is_auto(self.loss) and poisson_ok):
            return POISSON if named == POISSON else choose_regression_loss(y)
        return "mean_squared_error"

    def _continued_target(self, spec, y, classes, how: str) -> np.ndarray:
        y_encoded = super()._continued_target(spec, y, classes, how)
        if spec.loss == POISSON:  # the network was fitted to counts: new rows must be ones too
            _check_counts(y_encoded, f"{how} of a network fitted with loss='poisson'")
        return y_encoded

    def _check_kept_targets(self, spec, y_kept):
        return None

    def _fit_target_transformer(self, spec, y_train, w_train):
        method = self.target_transform
        if method == "auto" and spec.loss == POISSON:  # a count stays a non-negative count
            method = "scale"
        elif method == "auto":  # from the training split only, as every fitted step
            method = choose_target_transform(y_train, w_train)
        transformer = TargetTransformer(method).fit(y_train, sample_weight=w_train)
        self.target_transform_ = method  # inside fit's transaction: undone if fit raises
        return transformer

    def _residualised(self, spec, preprocessor, output, rows, y_train, validation, resume, partial):
        """The linear baseline (or None) and the residual targets the network learns."""
        baseline = self._fitted_baseline(preprocessor, output, rows, y_train, resume, partial)
        if baseline is None:
            return None, y_train, validation
        y_train = baseline.residual(rows.x_train, y_train).astype(y_train.dtype)
        if validation is not None:
            x_val, y_val, w_val = validation
            validation = (x_val, baseline.residual(x_val, y_val).astype(y_val.dtype), w_val)
        return baseline, y_train, validation

    def _fitted_baseline(self, preprocessor, output, rows, y_train, resume, partial):
        if resume:  # frozen, as the preprocessing: the network learnt its residual
            return self.linear_baseline_
        choice, table = self.linear_baseline, self._fit_kind() == "table"
        if choice == "auto":
            default = self.model is None and table and not partial
            choice = "ridge" if default and output.activation == "linear" else None
        if choice is None:
            return None
        if output.activation != "linear" or not table:
            raise ParameterError(
                "linear_baseline='ridge' adds a ridge fit to the network's output, which needs "
                f"a table (this fit reads {self._fit_kind()!r} inputs) and a linear output (this "
                f"one is {output.activation!r}, from loss={self.loss!r}). Use "
                "linear_baseline=None or 'auto'."
            )
        columns = linear_columns(preprocessor, rows.x_train.shape[1])
        weights = training.normalise_weights(rows.w_train, "float64")
        return LinearBaseline(columns=columns).fit(rows.x_train, y_train, sample_weight=weights)

    def _target_attributes(self, spec) -> dict:
        return {}

    def _encode_target(self, spec, output, y, transformer):
        return transformer.transform(y)

    def predict(self, X) -> np.ndarray:
        """Predict targets in the units of ``y``, shaped like the ``y`` given to ``fit``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Raw features, prepared as the rows given to ``fit`` were: the
            fitted preprocessing (``preprocessor_``) is applied here.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            1-d when ``fit`` got a 1-d ``y``, else one column per target. The
            network predicts the transformed target; ``predict`` undoes the
            transform fitted in ``fit`` (``target_scaler_``), so the
            values are in the units of ``y``.

        Raises
        ------
        NotFittedError
            If the estimator has not been fitted.
        InputError
            If ``X`` cannot be predicted from: other columns or another number
            of columns than in ``fit``, no rows, values of the wrong kind
            (strings in a numeric column, infinite values).
        InputTypeError
            If ``X`` is a sparse matrix.
        DriftError
            With ``on_drift="raise"``, if ``X`` does not look like the training
            data (see ``on_drift``); with ``"warn"``, the default, a
            :class:`~safekeras.DriftWarning` is emitted instead.
        """
        outputs = self._finite_predictions(self._network_outputs(X), "outputs")
        with np.errstate(over="ignore"):  # reported by _finite_predictions
            predictions = self.target_scaler_.inverse_transform(outputs)
        predictions = self._finite_predictions(predictions, "predictions")
        if self._target_spec_.y_ndim == 1:
            return predictions.ravel()
        return predictions


def _is_auto(loss) -> bool:
    return isinstance(loss, str) and loss == "auto"


def _check_counts(y: np.ndarray, what: str) -> None:
    """Raise :class:`TargetError` unless ``y`` is non-negative and not all zero."""
    if np.any(y < 0):
        raise TargetError(
            f"{what} needs a non-negative y (counts, amounts): y holds {int(np.sum(y < 0))} "
            f"negative value(s), down to {float(np.min(y)):.4g}. Use loss='auto' (mean squared "
            "error) for a target that can be negative, or drop those rows."
        )
    if not np.any(y > 0):
        raise TargetError(
            f"{what} needs some positive y: every target is 0, so the expected count is 0 "
            "for every row and there is nothing to learn. Check y."
        )
