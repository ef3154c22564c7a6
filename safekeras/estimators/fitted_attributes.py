"""What a fit leaves on the estimator: the fitted pipeline, how training went, the target.

The last steps of :meth:`~safekeras.estimators.base._SafeKerasBase._fit`, run
inside its transaction once everything has been trained and checked.
"""

from __future__ import annotations

from dataclasses import replace

from sklearn.pipeline import Pipeline

from ..inspection.profile import training_profile
from ..network import incremental
from ..network.deferred import DeferredNetwork

__all__ = ["record_network", "record_target"]


def record_network(estimator, data, preprocessor, network, fitted_network, result, appended):
    """Record the fitted pipeline and how training went (``appended``: a partial_fit chunk)."""
    history, epochs_run, best_epoch = result.history, result.epochs_run, result.best_epoch
    if appended:  # one entry per call: the learning curve over the chunks
        history = {"loss": [*estimator.history_["loss"], *history["loss"]]}
        epochs_run = best_epoch = estimator.n_epochs_ + result.epochs_run
    estimator.input_schema_ = data.input_schema
    estimator.input_kind_ = vars(estimator).pop("_kind")  # the steps that read it are done
    estimator._input_shape_ = tuple(int(d) for d in data.X.shape[1:])
    estimator.preprocessor_ = preprocessor
    model = network.model if isinstance(network, DeferredNetwork) else network
    if model is None:
        vars(estimator).pop("model_", None)  # the pipeline's, built when first read
    else:
        estimator.model_ = model
    estimator.pipeline_ = Pipeline(
        [
            ("preprocess", preprocessor if preprocessor is not None else "passthrough"),
            ("network", fitted_network),
        ]
    )
    estimator._preprocessing_plan()  # planned now: predict never changes the estimator
    estimator.target_type_ = data.spec.target_type
    estimator.n_outputs_ = data.spec.n_outputs if data.spec.y_ndim == 2 else 1
    estimator.history_ = history
    estimator.best_epoch_ = best_epoch
    estimator.n_epochs_ = epochs_run
    estimator.engine_ = result.engine


def record_target(
    estimator, data, output, rows, val_idx, target_transformer, decision_attributes, baseline=None
):
    """Record the loss, the target, the training profile and the decision attributes.

    With a linear baseline the training loss is the residual's, so the profile's
    baseline loss (predicting the mean) is expressed in the residual's units.
    """
    spec = data.spec
    estimator.loss_ = output.loss
    estimator._target_spec_ = spec
    estimator._structure_ = incremental.structure_of(estimator)
    estimator._training_profile_ = training_profile(
        spec,
        data.y_encoded[data.kept],
        rows.y_train,
        rows.w_train,
        n_validation=0 if val_idx is None else len(val_idx),
        loss=output.loss,
    )
    # The ridge's: a squared error (other losses have no known baseline), the mean's in
    # residual units. A classifier's logistic baseline has none: its network learnt the labels.
    residual_baseline = None if baseline is None else baseline.baseline_loss()
    if residual_baseline is not None and estimator._training_profile_.baseline_loss is not None:
        estimator._training_profile_ = replace(
            estimator._training_profile_, baseline_loss=residual_baseline
        )
    for name, value in {**data.target_attributes, **decision_attributes}.items():
        setattr(estimator, name, value)
    if target_transformer is not None:
        estimator.target_scaler_ = target_transformer
