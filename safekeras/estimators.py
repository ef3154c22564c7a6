"""``SafeKerasClassifier`` and ``SafeKerasRegressor``: the scikit-learn surface.

This module orchestrates; the work lives in the modules it calls:

1. validate ``X``, ``y`` and ``sample_weight`` (:mod:`~safekeras.data.targets`);
2. hold out a (stratified) validation split for early stopping
   (:mod:`~safekeras.network.training`);
3. fit the preprocessor on the training split only
   (:mod:`~safekeras.data.preprocessing`);
4. build a fresh, seeded network and check its head against the target
   (:mod:`~safekeras.network.architecture`, :mod:`~safekeras.data.targets`);
5. train with early stopping (:mod:`~safekeras.network.training`);
6. keep ``pipeline_ = Pipeline([("preprocess", ...), ("network", ...)])``,
   which is all that ``predict`` and ``predict_proba`` ever use.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight, _num_samples, check_array, validate_data

from .data import resampling, targets
from .data.preprocessing import (
    as_pandas_frame,
    fit_preprocessor,
    is_dataframe,
    one_hot_blocks,
    resolve_preprocessor,
)
from .data.preprocessing_plan import PreprocessingPlan
from .data.schema import InputSchema, check_representable
from .decision import thresholds
from .exceptions import (
    DriftError,
    DriftWarning,
    InputError,
    InputTypeError,
    NotFittedError,
    ParameterError,
    SafeKerasError,
    TargetError,
    TrainingError,
    external_stacklevel,
)
from .inspection import diagnostics
from .network import architecture, incremental, training
from .network.engine import ENGINES
from .network.fitted import FittedNetwork, input_dtype, row_chunks
from .network.inference import as_numpy
from .network.parallel import limit_worker_threads

__all__ = ["SafeKerasClassifier", "SafeKerasRegressor"]

# Rows of the training split used to check the network's input width and head.
_PROBE_ROWS = 16


class _SafeKerasBase(BaseEstimator):
    """Shared fit orchestration; subclasses supply the target-specific parts."""

    _parameter_constraints: dict = {
        "model": [None, callable],
        # An int is one hidden layer, as in MLPClassifier (Optuna's suggest_int gives one).
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [str, callable],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "add_head": ["boolean"],
        "preprocessor": [
            StrOptions({"auto", "passthrough"}),
            None,
            HasMethods(["fit", "transform"]),
        ],
        "loss": [str, callable],
        "optimizer": [str, HasMethods(["get_config"])],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "callbacks": [None, list],
        "warm_start": ["boolean"],
        "engine": [StrOptions(set(ENGINES))],
        "on_drift": [StrOptions({"warn", "raise", "ignore"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        dropout=0.1,
        l2=1e-4,
        add_head=False,
        preprocessor="auto",
        loss="auto",
        optimizer="adam",
        learning_rate=None,
        batch_size=256,
        epochs=200,
        early_stopping=True,
        validation_fraction=0.15,
        patience=10,
        callbacks=None,
        warm_start=False,
        engine="auto",
        on_drift="warn",
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.add_head = add_head
        self.preprocessor = preprocessor
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.engine = engine
        self.on_drift = on_drift
        self.random_state = random_state
        self.verbose = verbose

    # -- scikit-learn protocol -------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "pipeline_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        auto = isinstance(self.preprocessor, str) and self.preprocessor == "auto"
        tags.input_tags.allow_nan = auto
        tags.input_tags.string = auto
        tags.input_tags.categorical = auto
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = self.random_state is None
        return tags

    def _validate_params(self):
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise ParameterError(str(exc)) from exc

    def __getstate__(self):
        # A copy: on Python >= 3.11 the base implementation returns the live __dict__.
        state = dict(super().__getstate__())
        # The network is pickled once, inside pipeline_; model_ points back to it.
        state.pop("model_", None)
        state.pop("_plan_cache", None)  # rebuilt on first use
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "pipeline_" in self.__dict__:
            self.model_ = self.pipeline_.named_steps["network"].model_
            self._preprocessing_plan()

    # -- fitting ---------------------------------------------------------------

    def _fit(self, X, y, sample_weight, *, partial=False, classes=None):
        """Fit from scratch, or continue training the fitted network.

        Training continues (the preprocessing, target and schema fitted before
        are kept, the network's weights are the starting point) for
        ``partial_fit`` and for ``fit`` with ``warm_start=True`` once fitted.
        ``partial`` trains one pass over the rows without a validation split.
        """
        limit_worker_threads()  # in a search's worker process, before TensorFlow starts
        self._check_architecture_params()
        resume = self.__sklearn_is_fitted__() and (partial or self.warm_start)
        how = "partial_fit" if partial else "warm_start=True"
        with _fit_transaction(self):
            if resume:
                incremental.check_same_structure(self, self._structure_, how)
            X, input_schema, spec, y_encoded, target_attributes = self._read_data(
                X, y, classes, partial=partial, how=how if resume else None
            )
            # Before any network is trained (threshold_cv's folds included) when the dtype is known.
            declared_dtype = self._declared_dtype(resume)
            self._check_raw_numbers(input_schema, X, declared_dtype, resume)
            weights = _validated_weights(sample_weight, X)
            kept = np.flatnonzero(weights > 0)
            if not partial:  # a chunk of the data may hold a single class
                self._check_kept_targets(spec, y_encoded[kept])

            rng = check_random_state(self.random_state)
            seeds = _seed_stream(rng)
            decision, threshold_cv = self._decision_plan(spec, y_encoded[kept], partial, resume)
            held_out_searches = None
            if decision == "cv":
                held_out_searches = self._cross_validated_thresholds(
                    X, spec, y_encoded, weights, kept, threshold_cv, next(seeds)
                )
            holdout = not partial and (self.early_stopping or decision == "validation")
            train_idx, val_idx = self._split(spec, y_encoded, kept, rng, holdout)

            preprocessor, x_train, x_val = self._preprocess(
                X, train_idx, val_idx, resume, weights[train_idx]
            )
            y_train, w_train = y_encoded[train_idx], weights[train_idx]
            if resume:
                target_transformer = getattr(self, "target_scaler_", None)
            else:
                target_transformer = self._fit_target_transformer(spec, y_train, w_train)
            y_val = None if val_idx is None else y_encoded[val_idx]
            w_val = None if val_idx is None else weights[val_idx]
            x_train, y_train, w_train, w_val_fit = self._rebalance(
                spec, x_train, y_train, w_train, y_val, w_val, preprocessor, seeds
            )
            network = self.model_ if resume else self._build_network(spec, x_train, seeds)
            dtype = input_dtype(network)
            if declared_dtype is None:  # a callable built the network: its dtype is known now
                self._check_raw_numbers(input_schema, X, dtype, resume)
            self._check_network_input(input_schema, preprocessor, dtype, x_train, x_val)
            x_train = x_train.astype(dtype, copy=False)
            x_val = None if x_val is None else x_val.astype(dtype, copy=False)
            output = self._checked_output(spec, network, x_train)

            def encode(y_part):
                encoded = self._encode_target(spec, output, y_part, target_transformer)
                return encoded if encoded.dtype.kind == "i" else encoded.astype(dtype)

            y_train_encoded = encode(y_train)  # trained on, then checked against
            validation = None
            if x_val is not None and not partial:
                # Recorded even without early stopping: diagnose() reads over-fitting from it.
                val_weights = training.normalise_weights(w_val_fit, dtype)
                validation = (x_val, encode(y_val), val_weights)
            shuffle_seed = next(seeds)
            if partial and resume:  # a new shuffle for each chunk, reproducibly
                shuffle_seed = (shuffle_seed + self.n_epochs_) % (2**31 - 1)
            checkpoint = (
                incremental.training_checkpoint(network) if resume else contextlib.nullcontext()
            )
            with checkpoint:
                # partial_fit keeps the optimizer (its moments) from call to call; a warm
                # start begins a new optimisation from the fitted weights, as sklearn's do.
                if not (partial and resume and getattr(network, "compiled", False)):
                    network.compile(
                        optimizer=training.make_optimizer(self.optimizer, self.learning_rate),
                        loss=training.loss_in_dtype(output.loss, dtype),
                    )
                result = training.train(
                    network,
                    engine=self.engine,
                    x=x_train,
                    y=y_train_encoded,
                    sample_weight=training.normalise_weights(w_train, dtype),
                    validation=validation,
                    early_stopping=self.early_stopping,
                    epochs=1 if partial else self.epochs,
                    batch_size=self.batch_size,
                    patience=self.patience,
                    callbacks=self.callbacks,
                    shuffle_seed=shuffle_seed,
                    verbose=self.verbose,
                )

                fitted_network = FittedNetwork.from_trained(
                    network, logits_activation=output.activation if output.logits else None
                )
                self._check_trained(
                    fitted_network, output, x_train, y_train_encoded, w_train, resume
                )
                decision_attributes = (
                    {}  # partial_fit never tunes: the threshold fitted before stays
                    if partial and resume
                    else self._fit_decision(
                        spec, decision, fitted_network, x_val, y_val, w_val, held_out_searches
                    )
                )
            history, epochs_run, best_epoch = result.history, result.epochs_run, result.best_epoch
            if partial and resume:  # one entry per call: the learning curve over the chunks
                history = {"loss": [*self.history_["loss"], *history["loss"]]}
                epochs_run = best_epoch = self.n_epochs_ + result.epochs_run
            self.input_schema_ = input_schema
            self.preprocessor_ = preprocessor
            self.model_ = network
            self.pipeline_ = Pipeline(
                [
                    ("preprocess", preprocessor if preprocessor is not None else "passthrough"),
                    ("network", fitted_network),
                ]
            )
            self._preprocessing_plan()  # planned now: predict never changes the estimator
            self.target_type_ = spec.target_type
            self.n_outputs_ = spec.n_outputs if spec.y_ndim == 2 else 1
            self.history_ = history
            self.best_epoch_ = best_epoch
            self.n_epochs_ = epochs_run
            self.engine_ = result.engine
            self.loss_ = output.loss
            self._target_spec_ = spec
            self._structure_ = incremental.structure_of(self)
            self._training_profile_ = diagnostics.training_profile(
                spec,
                y_encoded[kept],
                y_train,
                w_train,
                n_validation=0 if val_idx is None else len(val_idx),
                loss=output.loss,
            )
            for name, value in {**target_attributes, **decision_attributes}.items():
                setattr(self, name, value)
            if target_transformer is not None:
                self.target_scaler_ = target_transformer
        return self

    def _read_data(self, X, y, classes, *, partial: bool, how: str | None):
        """Validated ``X``, its schema, the target spec, encoded ``y`` and target attributes.

        A continued fit (``how`` names it: "partial_fit", "warm_start=True")
        checks ``X`` against the fitted schema and encodes ``y`` with the
        fitted target; a first fit (``how=None``) profiles and encodes both.
        """
        resume = how is not None
        X = self._validate_features(X, y=y, reset=not resume)
        n_samples = _num_samples(X)
        if _num_samples(y) != n_samples:
            raise TargetError(
                "Found input variables with inconsistent numbers of samples: X has "
                f"{n_samples} rows but y has {_num_samples(y)}. Pass one label per row."
            )
        if resume:
            self.input_schema_.check(X, drift=False)  # the columns fit saw, as fit saw them
            y_encoded = self._continued_target(self._target_spec_, y, classes, how)
            return X, self.input_schema_, self._target_spec_, y_encoded, {}
        input_schema = InputSchema.from_training(
            X,
            numeric_only=self._input_mode() == "numeric",
            feature_names=getattr(self, "feature_names_in_", None),
        )
        spec, y_encoded = self._first_target(y, classes, partial)
        return X, input_schema, spec, y_encoded, self._target_attributes(spec)

    def _preprocess(self, X, train_idx, val_idx, resume: bool, w_train=None):
        """The preprocessor (fitted on the weighted training rows, or kept), the network input."""
        X_train = _take_rows(X, train_idx)
        if resume:
            preprocessor = self.preprocessor_  # frozen: the network learnt its scale
            x_train = X_train if preprocessor is None else preprocessor.transform(X_train)
        else:
            preprocessor = resolve_preprocessor(self.preprocessor, X_train)
            x_train = (
                X_train
                if preprocessor is None
                else fit_preprocessor(preprocessor, X_train, w_train)
            )
        x_val = None
        if val_idx is not None:
            X_val = _take_rows(X, val_idx)
            x_val = _as_network_input(
                X_val if preprocessor is None else preprocessor.transform(X_val)
            )
        return preprocessor, _as_network_input(x_train), x_val

    def _build_network(self, spec, x_train, seeds):
        """A fresh, seeded network for ``spec`` and ``x_train``'s width."""
        return architecture.build_network(
            self.model,
            meta=architecture.make_meta(spec, x_train.shape[1]),
            spec=spec,
            hidden_layer_sizes=_layer_sizes(self.hidden_layer_sizes),
            activation=self.activation,
            dropout=self.dropout,
            l2=self.l2,
            add_head=self.add_head,
            seeds=seeds,
        )

    def _checked_output(self, spec, network, x_train):
        """How the network's head is trained and read, checked against the target."""
        if self.model is None:  # the default MLP's head is right by construction
            head = targets.Head(units=spec.n_outputs, activation=spec.activation)
        else:
            head = architecture.inspect_head(network, x_train[:_PROBE_ROWS])
        return targets.resolve_output(spec, head, self.loss)

    def _check_trained(self, fitted_network, output, x_train, y_train, w_train, resume: bool):
        """Raise :class:`TrainingError` when training left the network worse than a constant.

        Runs inside the fit transaction (and a continued fit's checkpoint), so a
        fit that fails here keeps the previous fit. ``y_train`` is encoded as the
        network was trained on it (see ``_encode_target``).
        """
        network = fitted_network.model_
        # The loss of a logits head is measured on the logits, as it was trained.
        raw = FittedNetwork.from_trained(network) if output.logits else fitted_network
        training.check_training_outcome(
            raw.predict,
            x_train,
            y_train,
            training.normalise_weights(w_train, "float64"),
            activation=output.activation,
            logits=output.logits,
            dtype=getattr(network, "compute_dtype", None) or input_dtype(network),
            continued=resume,
        )

    def _split(self, spec, y_encoded, kept, rng, holdout: bool):
        """Train/validation indices into the original rows (zero weights excluded)."""
        if not holdout:
            return kept, None
        labels = None
        if spec.target_type in ("binary", "multiclass"):
            labels = y_encoded[kept]
        splitter = training.ValidationSplit(self.validation_fraction, stratify=labels is not None)
        train_pos, val_pos = splitter.split(len(kept), labels, rng)
        return kept[np.sort(train_pos)], kept[np.sort(val_pos)]

    def _check_architecture_params(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = [sizes]
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ParameterError(
                "hidden_layer_sizes must be a positive integer or a sequence of positive integers "
                f"(units per hidden layer), e.g. 16 or (64, 32); got {self.hidden_layer_sizes!r}."
            )

    def _fit_target_transformer(self, spec, y_train, w_train):
        return None

    def _first_target(self, y, classes, partial: bool):
        """``(spec, y_encoded)`` of the first fit (``classes``: partial_fit's argument)."""
        return self._target_spec(y)

    def _continued_target(self, spec, y, classes, how: str) -> np.ndarray:
        """``y`` encoded for the fitted ``spec``, when training continues."""
        return targets.encode_known_target(spec, y, how)

    # Hooks for the classifier's class rebalancing and decision threshold.

    def _decision_plan(
        self, spec, y_kept, partial=False, resume=False
    ) -> tuple[str | None, object]:
        """How the decision rule is fitted: ("validation" | "cv" | None, the CV to use)."""
        return None, None

    def _rebalance(self, spec, x_train, y_train, w_train, y_val, w_val, preprocessor, seeds):
        """Training split after resampling, and the weights training and validation use."""
        return x_train, y_train, w_train, w_val

    def _fit_decision(self, spec, plan, network, x_val, y_val, w_val, held_out_searches) -> dict:
        return {}

    def _declared_dtype(self, resume: bool) -> str | None:
        """The network's input dtype if known before it is built (None: a callable builds it)."""
        if resume:
            return input_dtype(self.model_)
        if self.model is None:
            import keras

            return keras.config.floatx()  # the default MLP's dtype
        return input_dtype(self.model) if hasattr(self.model, "inputs") else None

    def _check_raw_numbers(self, schema, X, dtype, resume: bool) -> None:
        """InputError naming the raw numeric columns with numbers ``dtype`` cannot hold."""
        if dtype is None or not self._feeds_raw_numbers():
            return
        # A first fit's schema was profiled on X (its range says all); a continued fit's was not.
        schema.check_representable(dtype, schema.decode(X) if resume else None)

    def _check_network_input(self, schema, preprocessor, dtype, *features) -> None:
        """InputError naming the preprocessed columns with numbers ``dtype`` cannot hold."""
        for x in features:
            if x is not None:
                names = functools.partial(_network_input_names, schema, preprocessor, x.shape[1])
                check_representable(x, names, dtype, preprocessed=True)

    def _feeds_raw_numbers(self) -> bool:
        """Whether the raw numbers reach the network as they are or linearly scaled.

        True for "auto" and "passthrough"; a custom transformer may map a huge
        raw value anywhere (a log), so only its output is checked.
        """
        return self.preprocessor is None or isinstance(self.preprocessor, str)

    # -- predicting ------------------------------------------------------------

    def _validate_features(self, X, *, y=None, reset: bool):
        """Validate X the way the configured preprocessor can consume it."""
        X = as_pandas_frame(X)  # polars, pyarrow...: their column names are checked too
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise InputTypeError(
                f"{type(self).__name__} does not accept sparse input: a dense copy is needed "
                "for the network. Convert with X.toarray(), or reduce the dimension first "
                "(e.g. sklearn.decomposition.TruncatedSVD)."
            )
        mode = self._input_mode()
        frame = is_dataframe(X)
        if not frame:
            # Arrays are checked first so that 1-d input gets sklearn's "Reshape" advice.
            X = _checked_array(X, mode)
        # Frames go in as they are, so their column names are recorded and compared.
        try:
            validate_data(
                self, X, y if reset else "no_validation", skip_check_array=True, reset=reset
            )
        except ValueError as exc:
            if isinstance(exc, SafeKerasError):
                raise
            message = str(exc).strip()
            if "same order" in message:
                message += " Select them in training order: X[estimator.feature_names_in_]."
            raise InputError(message) from exc
        if frame:
            if mode == "numeric":
                return _checked_array(X, mode)
            if len(X) == 0:
                raise InputError("Found array with 0 sample(s); at least 1 is required.")
            if X.shape[1] == 0:
                raise InputError("Found array with 0 feature(s); at least 1 is required.")
        return X

    def _input_mode(self) -> str:
        if self.preprocessor is None or (
            isinstance(self.preprocessor, str) and self.preprocessor == "passthrough"
        ):
            return "numeric"
        return "mixed"

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
        dtype = input_dtype(network.model_)
        if self._feeds_raw_numbers():  # before the drift warning: an error makes it moot
            self.input_schema_.check_representable(dtype, batch)
        self._report_drift(self.input_schema_.check_decoded(batch, drift=self.on_drift != "ignore"))
        plan = self._preprocessing_plan()
        if plan is None and self.preprocessor_ is not None:
            return network.predict(self._network_input(self.preprocessor_.transform(X), dtype))
        if plan is None:  # passthrough: the raw check above saw exactly these numbers
            return _concatenated([network.predict(X[rows]) for rows in row_chunks(batch.n_rows)])
        # Equal to pipeline_.predict(X) (tested), streamed so that a large batch is never
        # held preprocessed in full: one chunk of features at a time.
        return _concatenated(
            [
                network.predict(self._network_input(plan.transform(batch, rows), dtype))
                for rows in row_chunks(batch.n_rows)
            ]
        )

    def _network_input(self, x, dtype) -> np.ndarray:
        """Preprocessed features, refused where a value overflows the network's dtype."""
        x = np.asarray(x)
        names = functools.partial(
            _network_input_names, self.input_schema_, self.preprocessor_, x.shape[-1]
        )
        check_representable(x, names, dtype, preprocessed=True)
        return x

    def _finite_predictions(self, values: np.ndarray, what: str) -> np.ndarray:
        """``values``, or an error naming the rows whose output is NaN or infinite.

        A NaN probability is no probability, and a label read from it (NaN >=
        threshold is False) is a silent guess: neither is ever returned.
        """
        finite = np.isfinite(values)
        if finite.all():
            return values
        rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
        shown = ", ".join(str(row) for row in rows[:5])
        shown += f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        where = f"{len(rows)} of {len(values)} row(s) (at positions {shown} of the batch)"
        if not _weights_finite(self.model_):
            raise TrainingError(
                f"The network's {what} are NaN or infinite for {where}: its weights hold NaN "
                "or infinity (training diverged, or they were changed after fit). No prediction "
                "is returned. Refit, e.g. with a smaller learning_rate; history_['loss'] shows "
                "where training diverged."
            )
        raise InputError(
            f"The network's {what} are NaN or infinite for {where}: their features drive the "
            f"network's activations beyond the range of {input_dtype(self.model_)}. No "
            "prediction is returned. Check those rows for values far outside the training "
            "range (a unit error, a sentinel value; on_drift='raise' names the columns) and fix "
            "or drop them."
        )

    def _preprocessing_plan(self):
        """The fast path of ``preprocessor_`` (:mod:`safekeras.data.preprocessing_plan`), if any."""
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] is not self.preprocessor_:
            plan = PreprocessingPlan.from_fitted(self.preprocessor_, self.input_schema_)
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
        from .deploy.persistence import save

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
        from .deploy.export import to_keras

        return to_keras(self)

    def _report_drift(self, report):
        """Warn or raise per ``on_drift`` for a batch's schema report."""
        if not report:
            return
        message = f"{report} Set on_drift='ignore' to skip these checks."
        if self.on_drift == "raise":
            raise DriftError(message, report)
        warnings.warn(DriftWarning(message, report), stacklevel=external_stacklevel())


class SafeKerasClassifier(ClassifierMixin, _SafeKerasBase):
    """A Keras network as a scikit-learn classifier, fitted as one safe pipeline.

    ``fit`` validates the data, holds out a stratified validation split, fits
    the preprocessing on the training split, builds a network whose output
    layer and loss follow from the type of ``y`` (binary, multiclass or
    multilabel), trains it with early stopping, and keeps the fitted
    preprocessing and network together in ``pipeline_``. ``predict_proba`` and
    ``predict`` reuse exactly those fitted objects.

    Parameters
    ----------
    model : None, keras.Model or callable, default=None
        The network. None builds an MLP from ``hidden_layer_sizes``,
        ``activation``, ``dropout`` and ``l2``. A Keras model (compiled or not)
        is cloned with fresh weights for every fit and never mutated; its last
        layer is checked against the target. A callable is called as
        ``model(meta)`` with a dict holding ``n_features_in_`` (width after
        preprocessing), ``n_outputs_``, ``target_type_``, ``classes_``,
        ``output_activation_`` and ``loss_``, and must return a Keras model.
    hidden_layer_sizes : int or sequence of int, default=(64, 32)
        Units of each hidden layer of the default MLP; an int is one hidden
        layer (``16`` is ``(16,)``). ``()`` gives a logistic regression.
    activation : str or callable, default="relu"
        Activation of the default MLP's hidden layers.
    dropout : float in [0, 1), default=0.1
        Dropout rate after each hidden layer of the default MLP.
    l2 : float >= 0, default=1e-4
        L2 penalty on the default MLP's hidden kernels.
    add_head : bool, default=False
        Append the output layer the target needs (units and activation) to a
        user model that ends in a hidden layer. When False, a mismatching last
        layer is an error that says how to fix it.
    preprocessor : "auto", "passthrough", None or transformer, default="auto"
        ``"auto"`` scales numeric columns and one-hot encodes categorical ones
        (see :mod:`safekeras.data.preprocessing`), imputing missing values.
        ``"passthrough"``/None feeds ``X`` as is (it must be numeric and
        finite). A scikit-learn transformer is cloned and fitted on the
        training split.
    sampler : imbalanced-learn sampler or None, default=None
        Any object with ``fit_resample`` (``RandomOverSampler``,
        ``RandomUnderSampler``, ``SMOTE``, ``SMOTENC``, ``ADASYN``,
        ``SMOTETomek``, ...). A clone is applied to the preprocessed
        *training split only*; the validation split, the threshold search and
        ``predict`` see the true class balance. Its ``random_state`` follows
        this estimator's when unset. With ``preprocessor="auto"``,
        ``SMOTENC``/``SMOTEN`` treat each one-hot encoded feature as one
        categorical column (their ``categorical_features`` is set for you).
        Binary and multiclass targets only.
    class_weight : None, "balanced" or dict, default=None
        Weights per class, keyed by the labels as they appear in ``y``
        (``{"fraud": 10.0}``); classes left out weigh 1. ``"balanced"``
        weighs classes inversely to their frequency in the (resampled)
        training split. Multiplied with ``sample_weight``; the validation loss
        used for early stopping is weighted alike. Binary and multiclass
        targets only.
    threshold : "auto", float in (0, 1) or None, default="auto"
        Decision threshold ``predict`` applies to the probability of
        ``pos_label`` (binary) or of each label (multilabel). ``"auto"`` tunes
        it after training to maximise ``threshold_scoring`` on probabilities
        the network did not train on: the validation split (held out even with
        ``early_stopping=False``), or out-of-fold predictions with
        ``threshold_cv``. With ``class_weight`` or ``sampler`` set (and the
        default ``threshold_scoring``), ``"auto"`` keeps 0.5: the weights state
        the costs, and 0.5 on the weighted network is their decision. A float
        fixes it; None means 0.5. Multiclass targets
        always predict the most probable class: a threshold needs one positive
        class, and per-class thresholds can leave a row with no class or
        several.
    threshold_scoring : str or callable, default="balanced_accuracy"
        What ``threshold="auto"`` maximises: a scikit-learn scorer name
        (``"f1"``, ``"recall"``, ``"precision"``, ...), evaluated with
        ``pos_label`` as the positive class, or a callable
        ``scorer(estimator, X, y)`` such as
        ``make_scorer(fbeta_score, beta=2, pos_label="fraud")``, which sees the
        original labels.
    threshold_cv : "auto", int, cross-validation splitter or None, default="auto"
        Where ``threshold="auto"`` gets its held-out probabilities. None: the
        validation split. An int ``k`` or a splitter: out-of-fold
        probabilities of every row from ``k`` internal fits (stratified,
        shuffled folds for an int), steadier on small data at ``k`` extra
        fits. ``"auto"``: the validation split when it holds at least 20 rows
        of each class (of each label's positives and negatives), else 5
        internal folds, because a threshold tuned on a handful of positives is
        noise. Used only with ``threshold="auto"`` on binary and multilabel
        targets.
    pos_label : label or None, default=None
        The positive class of a binary target, to which ``threshold`` applies.
        None means ``classes_[1]``.
    loss : "auto", str or keras loss, default="auto"
        ``"auto"`` picks binary cross-entropy for binary and multilabel
        targets and sparse categorical cross-entropy for multiclass ones. An
        explicit loss is checked against the target (a regression loss, or
        binary cross-entropy for several exclusive classes, is an error).
        ``categorical_crossentropy`` is accepted; the labels are one-hot
        encoded for it. A loss with ``from_logits=True`` requires a linear last
        layer, and probabilities are then computed at predict time.
    optimizer : str or keras.optimizers.Optimizer, default="adam"
        Optimizer name or a template instance; a fresh optimizer is built from
        it for every fit.
    learning_rate : float or None, default=None
        Overrides the optimizer's learning rate; None keeps the optimizer's
        own (1e-3 for Adam).
    batch_size : int, default=256
        Minibatch size.
    epochs : int, default=200
        Maximum number of passes over the training data.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the data (stratified) and stop when
        its loss has not improved for ``patience`` epochs, restoring the best
        weights. When False, train all ``epochs``, on all the data unless
        ``threshold="auto"`` needs the validation split (see ``threshold``).
    validation_fraction : float in (0, 1), default=0.15
        Share of the training data held out (stratified) for early stopping
        and for tuning ``threshold``.
    patience : int, default=10
        Epochs without improvement of the validation loss before stopping.
    callbacks : list of keras.callbacks.Callback or None, default=None
        Extra Keras callbacks, deep-copied for every fit. The compiled engine
        calls their ``on_train_*`` and ``on_epoch_*`` hooks with the logs
        ``model.fit`` would give; a callback with per-batch hooks (e.g.
        ``TensorBoard``, ``ProgbarLogger``) makes ``engine="auto"`` train
        with ``model.fit``.
    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the
        fitted network from its current weights instead of building a new
        one, with a fresh optimizer and early stopping as usual. Everything
        else ``fit`` learnt is kept: the preprocessing (frozen, so new data
        is scaled as the first data was), the input columns, ``classes_``
        (new labels are an error) and the target scaling. ``threshold="auto"``
        is re-tuned on the new validation split. Changing a parameter that
        shapes the network (``model``, ``hidden_layer_sizes``, ``activation``,
        ``dropout``, ``l2``, ``add_head``, ``preprocessor``, ``pos_label``)
        between warm fits is an error. ``history_`` describes the last fit.
    engine : {"auto", "compiled", "keras"}, default="auto"
        What runs the epochs. ``"compiled"`` runs each epoch as one compiled
        function (a ``tf.function`` on TensorFlow, a jitted ``lax.scan`` on
        JAX): the same network, loss, weights, shuffling and early stopping
        as ``model.fit``, several times faster on tabular data. ``"keras"``
        calls ``model.fit``. ``"auto"`` picks ``"compiled"`` unless the
        backend is torch, the network overrides ``train_step`` or a callback
        has per-batch hooks; ``"compiled"`` raises a ``ParameterError`` in
        those cases. See ``engine_``.
    on_drift : {"warn", "raise", "ignore"}, default="warn"
        What ``predict`` (and ``predict_proba``, ``decision_function``,
        ``score``) does with a batch that does not look like the training
        data: values far outside a column's training range (0-255 pixels for a
        network trained on 0-1), a column's spread changed tenfold, categories
        never seen, a column suddenly missing. ``"warn"`` emits a
        :class:`~safekeras.DriftWarning`, ``"raise"`` raises a
        :class:`~safekeras.DriftError`, ``"ignore"`` skips these checks.
        Columns that differ from ``fit``'s, strings in numeric columns and
        infinite values raise :class:`~safekeras.InputError` in every case.
        Read at predict time: changing it needs no refit.
    random_state : int, RandomState or None, default=None
        Seeds the validation split, the weight initialisation, dropout and the
        per-epoch shuffling. With an int, fitting twice on the same data gives
        identical ``predict_proba``. Global random state (Python, numpy,
        TensorFlow, Keras) is never set.
    verbose : int, default=0
        Keras training verbosity.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted as :class:`~sklearn.preprocessing.LabelEncoder`
        sorts them (label indices for multilabel targets).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during ``fit``, when ``X`` has string column names.
    input_schema_ : safekeras.schema.InputSchema
        The raw training columns (dtypes, ranges, categories) every predict
        batch is checked against; see ``on_drift``.
    target_type_ : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.
    n_outputs_ : int
        1, or the number of labels for a multilabel target.
    preprocessor_ : transformer or None
        The preprocessor fitted on the training split.
    model_ : keras.Model
        The trained network (best epoch restored when early stopping).
    pipeline_ : sklearn.pipeline.Pipeline
        ``[("preprocess", preprocessor_), ("network", FittedNetwork)]``: the
        whole predict path.
    history_ : dict of str to list of float
        Per-epoch ``loss`` of the last ``fit``, and ``val_loss`` whenever it
        held out a validation split (for early stopping or for the threshold;
        without early stopping it is recorded, not acted on);
        ``partial_fit`` appends one ``loss`` per call.
    best_epoch_ : int
        1-based epoch whose weights were kept.
    n_epochs_ : int
        Epochs actually run by the last ``fit``, plus one per ``partial_fit``
        call since.
    engine_ : {"compiled", "keras"}
        The engine that trained the network (see ``engine``).
    loss_ : str or keras loss
        The loss the network was trained with.
    threshold_ : float, ndarray of shape (n_labels,) or None
        The decision threshold ``predict`` applies: one float for a binary
        target, one per label for a multilabel target, None for multiclass.
    threshold_search_ : ThresholdSearch, list of ThresholdSearch or None
        How ``threshold_`` was tuned (candidates, scores, counts of positive
        and negative rows, score at 0.5); None when it was fixed. See
        :class:`safekeras.thresholds.ThresholdSearch`.
    pos_label_ : label or None
        The positive class of a binary target.

    See Also
    --------
    SafeKerasRegressor : The same for continuous targets.
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from safekeras import SafeKerasClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = SafeKerasClassifier(epochs=20, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.target_type_
    'binary'
    """

    _parameter_constraints: dict = {
        **_SafeKerasBase._parameter_constraints,
        "sampler": [None, HasMethods(["fit_resample"])],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "threshold": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither"), None],
        "threshold_scoring": [str, callable],
        "threshold_cv": [
            None,
            StrOptions({"auto"}),
            Interval(Integral, 2, None, closed="left"),
            HasMethods(["split", "get_n_splits"]),
        ],
        "pos_label": [None, "array-like", str, Real, bool],
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        dropout=0.1,
        l2=1e-4,
        add_head=False,
        preprocessor="auto",
        sampler=None,
        class_weight=None,
        threshold="auto",
        threshold_scoring="balanced_accuracy",
        threshold_cv="auto",
        pos_label=None,
        loss="auto",
        optimizer="adam",
        learning_rate=None,
        batch_size=256,
        epochs=200,
        early_stopping=True,
        validation_fraction=0.15,
        patience=10,
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
            add_head=add_head,
            preprocessor=preprocessor,
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
        self.sampler = sampler
        self.class_weight = class_weight
        self.threshold = threshold
        self.threshold_scoring = threshold_scoring
        self.threshold_cv = threshold_cv
        self.pos_label = pos_label

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the preprocessing and the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features; with ``preprocessor="auto"`` they may mix numeric,
            boolean and string/category columns and contain missing values.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels of any sortable dtype, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights. Rows with zero weight are ignored; the rest
            are rescaled to mean 1 (only relative weights matter). The array
            passed in is never modified.

        Returns
        -------
        self : SafeKerasClassifier
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train the network one pass over ``(X, y)``, continuing from the last call.

        For data that does not fit in memory, or arrives in batches. The
        first call (on an unfitted estimator) fits the preprocessing on its
        rows and builds the network; later calls keep that preprocessing
        frozen (scaling is learnt from the first chunk only: make it
        representative, or fit a preprocessor on a sample yourself and pass
        it as ``preprocessor``), keep the optimizer's state and train one
        epoch on the new rows. There is no validation split, no early
        stopping and no threshold tuning: ``threshold="auto"`` predicts at
        0.5 until tuned, e.g. with
        ``TunedThresholdClassifierCV(est, cv="prefit", refit=False)`` on
        held-out rows. ``class_weight="balanced"`` is refused (a chunk's class
        counts are not the data's); pass the weights as a dict.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            A chunk of the features, with the columns of the first call.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Its labels. A chunk may hold any subset of the classes.
        classes : array-like of shape (n_classes,), default=None
            Every class of the whole data. Required on the first call (unless
            ``y`` is a multilabel indicator matrix); on later calls it may be
            omitted, or must equal ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk's rows. Never modified.

        Returns
        -------
        self : SafeKerasClassifier
        """
        if _is_balanced(self.class_weight):
            raise ParameterError(
                "class_weight='balanced' is not supported by partial_fit: each call sees one "
                "chunk, whose class counts are not those of the data. Compute the weights once, "
                "e.g. dict(zip(classes, sklearn.utils.class_weight.compute_class_weight("
                "'balanced', classes=classes, y=y_all))), and pass them as class_weight."
            )
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def _target_spec(self, y):
        return targets.classification_target(y)

    def _first_target(self, y, classes, partial: bool):
        y_array = np.asarray(y) if partial else None
        if not partial or (y_array.ndim == 2 and y_array.shape[1] > 1):
            return self._target_spec(y)
        if classes is None:
            raise TargetError(
                "classes must be passed on the first call to partial_fit: a chunk may miss "
                "some classes, and the network's output is built for all of them. Pass "
                "classes=np.unique(y_all)."
            )
        spec, _ = targets.classification_target(np.unique(np.asarray(classes)))
        return spec, targets.encode_known_target(spec, y, "partial_fit")

    def _continued_target(self, spec, y, classes, how: str) -> np.ndarray:
        if classes is not None and spec.target_type != "multilabel-indicator":
            given = np.unique(np.asarray(classes))
            if not np.array_equal(given, spec.classes):
                raise TargetError(
                    f"classes={given.tolist()} differs from the classes the network was "
                    f"fitted on, {spec.classes.tolist()}. Pass the same classes on every "
                    "call to partial_fit (or omit them after the first call)."
                )
        return targets.encode_known_target(spec, y, how)

    def _check_kept_targets(self, spec, y_kept):
        targets.check_classes_present(spec, y_kept, "after dropping zero-weight samples")

    def _target_attributes(self, spec) -> dict:
        """Fitted attributes that follow from the target alone (checked before training)."""
        if spec.target_type == "multiclass":
            if not _is_auto(self.threshold) and self.threshold is not None:
                raise InputError(
                    f"threshold={self.threshold} applies to binary and multilabel targets, "
                    f"but y is {spec.describe()}, which predicts the most probable class. "
                    "Leave threshold='auto' (or None)."
                )
        pos_label = None
        if spec.target_type == "binary":
            pos_label = self._resolve_pos_label(spec.classes)
        if spec.target_type == "multilabel-indicator":
            if self.sampler is not None:
                raise TargetError(
                    f"sampler={type(self.sampler).__name__} cannot resample {spec.describe()}: "
                    "imbalanced-learn samplers take one label per row. Use sample_weight, or "
                    "fit one binary SafeKerasClassifier per label."
                )
            if self.class_weight is not None:
                raise TargetError(
                    f"class_weight applies to binary and multiclass targets, not to "
                    f"{spec.describe()}. Weight rows with sample_weight instead, e.g. "
                    "sklearn.utils.class_weight.compute_sample_weight('balanced', Y)."
                )
        return {"classes_": spec.classes, "pos_label_": pos_label}

    def _decision_plan(
        self, spec, y_kept, partial=False, resume=False
    ) -> tuple[str | None, object]:
        if spec.target_type == "multiclass" or not _is_auto(self.threshold) or partial:
            return None, None
        if thresholds.costs_stated(self.class_weight, self.sampler, self.threshold_scoring):
            return None, None  # 0.5 is the decision the stated costs ask for
        try:
            thresholds.make_threshold_scorer(self.threshold_scoring)
        except ValueError as exc:
            raise ParameterError(
                f"threshold_scoring={self.threshold_scoring!r} is not a scikit-learn scorer: {exc}"
            ) from exc
        if self.threshold_cv is None or resume:
            # Cross-validated tuning refits from scratch; a warm start tunes on its split.
            return "validation", None
        if not _is_auto(self.threshold_cv):
            return "cv", self.threshold_cv
        folds = thresholds.auto_cv_folds(_class_counts(spec, y_kept), self.validation_fraction)
        return ("validation", None) if folds is None else ("cv", folds)

    def _rebalance(self, spec, x_train, y_train, w_train, y_val, w_val, preprocessor, seeds):
        if self.sampler is not None:
            layout = None
            if _is_auto(self.preprocessor):
                blocks, names = one_hot_blocks(preprocessor)
                layout = resampling.OneHotLayout(x_train.shape[1], blocks, names)
            x_train, y_labels, w_resampled = resampling.resample(
                self.sampler,
                x_train,
                spec.classes[y_train],
                training.unequal_or_none(w_train),
                seed=next(seeds),
                layout=layout,
            )
            y_train = _encode_resampled(spec.classes, y_labels, type(self.sampler).__name__)
            w_train = np.ones(len(y_train)) if w_resampled is None else w_resampled
            targets.check_classes_present(spec, y_train, f"after {type(self.sampler).__name__}")
        per_class = resampling.class_weights(self.class_weight, spec.classes, y_train)
        if per_class is not None:
            w_train = w_train * per_class[y_train]
            if w_val is not None:
                # The validation loss measures what training optimises.
                w_val = w_val * per_class[y_val]
        return x_train, y_train, w_train, w_val

    def _fit_decision(self, spec, plan, network, x_val, y_val, w_val, held_out_searches) -> dict:
        """``threshold_`` (fixed, or tuned on held-out probabilities) and its search."""
        if spec.target_type == "multiclass":
            return {"threshold_": None, "threshold_search_": None}
        if plan is None:
            tuned_or_none = self.threshold is None or _is_auto(self.threshold)
            fixed = thresholds.DEFAULT_THRESHOLD if tuned_or_none else self.threshold
            threshold = float(fixed)
            if spec.target_type == "multilabel-indicator":
                threshold = np.full(spec.n_classes, threshold)
            return {"threshold_": threshold, "threshold_search_": None}
        if plan == "validation":
            proba = _proba_from_outputs(spec.target_type, network.predict(x_val))
            searches = self._search_thresholds(spec, proba, y_val, training.unequal_or_none(w_val))
        else:
            searches = held_out_searches
        scoring = self.threshold_scoring
        thresholds.warn_if_unreliable(
            searches, scoring if isinstance(scoring, str) else "threshold_scoring"
        )
        if spec.target_type == "binary":
            search = searches[None]
            return {"threshold_": search.threshold, "threshold_search_": search}
        ordered = [searches[label] for label in range(spec.n_classes)]
        return {
            "threshold_": np.array([search.threshold for search in ordered]),
            "threshold_search_": ordered,
        }

    def _search_thresholds(self, spec, proba, y_encoded, sample_weight, n_folds=0) -> dict:
        """One :class:`~safekeras.thresholds.ThresholdSearch` per binary decision."""
        scorer = thresholds.make_threshold_scorer(self.threshold_scoring)
        if spec.target_type == "binary":
            positive = int(np.flatnonzero(spec.classes == self._resolve_pos_label(spec.classes))[0])
            labels = thresholds.scorer_labels(self.threshold_scoring, spec.classes, positive)
            search = thresholds.tune_threshold(
                y_encoded == positive,
                proba[:, positive],
                scorer,
                sample_weight=sample_weight,
                labels=labels,
                n_folds=n_folds,
            )
            return {None: search}
        return {
            label: thresholds.tune_threshold(
                y_encoded[:, label] == 1,
                proba[:, label],
                scorer,
                sample_weight=sample_weight,
                n_folds=n_folds,
            )
            for label in range(spec.n_classes)
        }

    def _cross_validated_thresholds(self, X, spec, y_encoded, weights, kept, splitter, seed):
        """Thresholds tuned on out-of-fold probabilities of ``splitter``'s internal fits."""
        y_kept = y_encoded[kept]
        y_labels = spec.classes[y_kept] if spec.target_type == "binary" else y_kept
        if isinstance(splitter, Integral):
            kind = StratifiedKFold if spec.target_type == "binary" else KFold
            splitter = kind(n_splits=splitter, shuffle=True, random_state=seed)
        w_kept = training.unequal_or_none(weights[kept])
        # The held-out folds come from the training data: drift checks would only cry wolf.
        inner = clone(self).set_params(
            threshold=thresholds.DEFAULT_THRESHOLD, threshold_cv=None, on_drift="ignore"
        )
        fold_seeds = _seed_stream(check_random_state(seed))
        proba = np.zeros((len(kept), spec.n_classes))
        covered = np.zeros(len(kept), dtype=bool)
        try:
            folds = list(splitter.split(np.zeros((len(kept), 1)), y_labels))
        except ValueError as exc:
            raise InputError(f"threshold_cv={splitter!r} cannot split y: {exc}") from exc
        for train, test in folds:
            fold = clone(inner).set_params(random_state=next(fold_seeds))
            fold.fit(
                _take_rows(X, kept[train]),
                y_labels[train],
                sample_weight=None if w_kept is None else w_kept[train],
            )
            proba[test] = fold.predict_proba(_take_rows(X, kept[test]))
            covered[test] = True
        return self._search_thresholds(
            spec,
            proba[covered],
            y_kept[covered],
            None if w_kept is None else w_kept[covered],
            n_folds=len(folds),
        )

    def _resolve_pos_label(self, classes):
        if self.pos_label is None:
            return classes[1]
        matches = [c for c in classes if c == self.pos_label]
        if not matches:
            raise TargetError(
                f"pos_label={self.pos_label!r} is not one of the classes {classes.tolist()}. "
                "Pass one of them, or None for the last class in sorted order."
            )
        return matches[0]

    def _encode_target(self, spec, output, y_encoded, _transformer):
        if output.y_encoding == "column":
            return y_encoded.astype(np.float32).reshape(-1, 1)
        if output.y_encoding == "index":
            return y_encoded.astype(np.int32)
        if output.y_encoding == "one_hot":
            return np.eye(spec.n_classes, dtype=np.float32)[y_encoded]
        return y_encoded.astype(np.float32)  # multilabel indicator

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For binary targets too (two columns). For multilabel targets, the
            probability of each label being on (columns need not sum to 1).
        """
        outputs = self._network_outputs(X)  # raises NotFittedError first
        proba = _proba_from_outputs(self.target_type_, outputs)
        return self._finite_predictions(proba, "probabilities")

    def predict(self, X) -> np.ndarray:
        """Predict labels: ``predict_proba`` read with the decision threshold ``threshold_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Raw features, prepared as the rows given to ``fit`` were: the
            fitted preprocessing (``preprocessor_``) is applied here, so do not
            scale or encode them yourself unless you did for ``fit`` too.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels taken from ``classes_``, of their type (str, int, bool, ...).
            For a multilabel target, a 0/1 indicator matrix with one column per
            label.

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

        See Also
        --------
        predict_proba : The probabilities the labels are read from.
        decision_function : Scores whose sign gives the binary prediction.

        Notes
        -----
        The threshold is not 0.5 unless ``threshold_`` is 0.5:

        * binary: ``pos_label_`` where its probability is at least
          ``threshold_``, the other class elsewhere. With ``threshold="auto"``
          (the default) ``threshold_`` was tuned in ``fit`` on held-out
          probabilities to maximise ``threshold_scoring``, and on imbalanced
          data it is often far below 0.5; ``(predict_proba(X)[:, 1] >= 0.5)``
          then gives other answers than ``predict``.
        * multilabel: each label is on where its probability is at least its
          entry of ``threshold_``.
        * multiclass: the most probable class; no threshold (``threshold_`` is
          None).
        """
        proba = self.predict_proba(X)
        if self.target_type_ == "multilabel-indicator":
            return (proba.astype(np.float64) >= self.threshold_).astype(np.int64)
        if self.target_type_ == "binary":
            positive = self._pos_index()
            # float64, as in the threshold search, so a row on the threshold decides alike.
            is_positive = proba[:, positive].astype(np.float64) >= self.threshold_
            return np.where(is_positive, self.classes_[positive], self.classes_[1 - positive])
        return self.classes_[np.argmax(proba, axis=1)]

    def decision_function(self, X) -> np.ndarray:
        """Confidence scores whose sign (binary) or argmax (multiclass) gives ``predict``.

        The decision threshold ``threshold_`` is built in, so these scores and
        ``predict`` always agree; scikit-learn's ranking metrics (``roc_auc``,
        ``average_precision``) accept them as they accept probabilities.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Raw features, prepared as for ``fit`` (see :meth:`predict`).

        Returns
        -------
        scores : ndarray of shape (n_samples,), (n_samples, n_classes) or (n_samples, n_labels)
            * binary, shape (n_samples,): ``logit(p) - logit(t)``, with ``p`` the
              probability of ``classes_[1]`` and ``t`` the threshold on it
              (``threshold_``, or ``1 - threshold_`` when ``pos_label_`` is
              ``classes_[0]``). Positive where ``predict`` returns
              ``classes_[1]`` and negative where it returns ``classes_[0]``,
              as scikit-learn expects whatever ``pos_label`` is; 0 on the
              threshold itself.
            * multiclass, shape (n_samples, n_classes): log-probabilities, one
              column per class in ``classes_`` order.
            * multilabel, shape (n_samples, n_labels): ``logit(p) -
              logit(threshold_)`` per label, positive where the label is on.

        Raises
        ------
        NotFittedError
            If the estimator has not been fitted.
        InputError
            If ``X`` cannot be predicted from (see :meth:`predict`).
        InputTypeError
            If ``X`` is a sparse matrix.
        DriftError
            With ``on_drift="raise"``, if ``X`` does not look like the training
            data; with ``"warn"`` a :class:`~safekeras.DriftWarning` is emitted.

        See Also
        --------
        predict_proba : The probabilities, without the threshold.

        Notes
        -----
        The scores stay finite where float32 probabilities saturate at 0 or 1:
        probabilities are clipped to [1e-15, 1 - 1e-15] for the logit (logits
        within about +-34.5) and to 1e-300 for the log (log-probabilities of
        at least about -690.8).
        """
        proba = self.predict_proba(X)
        if self.target_type_ == "multiclass":
            return np.log(np.clip(proba, 1e-300, None))
        threshold = self.threshold_
        if self.target_type_ == "binary":
            proba = proba[:, 1]
            if self._pos_index() == 0:
                threshold = 1.0 - threshold
        return _logit(proba) - _logit(np.float64(threshold))

    def _pos_index(self) -> int:
        return int(np.flatnonzero(self.classes_ == self.pos_label_)[0])


class SafeKerasRegressor(RegressorMixin, _SafeKerasBase):
    """A Keras network as a scikit-learn regressor, fitted as one safe pipeline.

    Like :class:`SafeKerasClassifier`, with a linear output of one unit per
    target and a target standardised inside ``fit`` (and un-standardised by
    ``predict``), so the loss sees targets of unit scale whatever their units.

    Parameters
    ----------
    model, hidden_layer_sizes, activation, dropout, l2, add_head, preprocessor
        As in :class:`SafeKerasClassifier`.
    loss : "auto", str or keras loss, default="auto"
        ``"auto"`` is mean squared error on the standardised target. A
        classification loss is an error.
    optimizer, learning_rate, batch_size, epochs, early_stopping, \
validation_fraction, patience, callbacks, warm_start, engine, on_drift, random_state, verbose
        As in :class:`SafeKerasClassifier`; the validation split is a plain
        shuffled split. A warm start keeps ``target_scaler_``.

    Attributes
    ----------
    n_features_in_, feature_names_in_, input_schema_, preprocessor_, model_, \
pipeline_, history_, best_epoch_, n_epochs_, engine_, loss_
        As in :class:`SafeKerasClassifier`.
    target_type_ : str
        ``"continuous"`` or ``"continuous-multioutput"``.
    n_outputs_ : int
        Number of targets.
    target_scaler_ : sklearn.preprocessing.StandardScaler
        The target standardisation fitted on the training split.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from safekeras import SafeKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = SafeKerasRegressor(epochs=20, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

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
        return targets.regression_target(y)

    def _check_kept_targets(self, spec, y_kept):
        return None

    def _fit_target_transformer(self, spec, y_train, w_train):
        return StandardScaler().fit(y_train, sample_weight=w_train)

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
            network predicts the standardised target; ``predict`` undoes the
            standardisation fitted in ``fit`` (``target_scaler_``), so the
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


@contextlib.contextmanager
def _fit_transaction(estimator):
    """Leave the estimator's fitted state exactly as it was if ``fit`` raises."""
    before = {k: v for k, v in vars(estimator).items() if k.endswith("_")}
    try:
        yield
    except BaseException:
        for key in [k for k in vars(estimator) if k.endswith("_") and k not in before]:
            delattr(estimator, key)
        vars(estimator).update(before)
        raise


def _checked_array(X, mode: str) -> np.ndarray:
    """X as a 2-d array: numeric for "numeric" mode, else any dtype.

    Non-finite values are left for the input schema to report by column name.
    """
    try:
        if mode == "numeric":
            return check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False)
        X = check_array(X, dtype=None, ensure_all_finite=False)
    except ValueError as exc:
        if isinstance(exc, SafeKerasError):
            raise
        message = str(exc)
        if mode == "numeric" and "convert" in message:
            message += (
                ". With preprocessor=None/'passthrough' every column must be numeric; use "
                "preprocessor='auto' to encode string columns."
            )
        raise InputError(message) from exc
    return X.astype(object) if X.dtype.kind in "USV" else X


def _layer_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a sequence: an int (or NumPy integer) is one layer."""
    if isinstance(hidden_layer_sizes, Integral):
        return (int(hidden_layer_sizes),)
    return hidden_layer_sizes


def _validated_weights(sample_weight, X) -> np.ndarray:
    """Sample weights as a new float64 array (the caller's is never written to)."""
    if sample_weight is not None and np.all(np.asarray(sample_weight) == 0):
        raise InputError(
            "All sample weights are zero; nothing is left to learn from. Give the rows to "
            "learn from a positive weight."
        )
    try:
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except ValueError as exc:
        raise InputError(f"Invalid sample_weight: {exc}") from exc
    return weights.copy() if weights is sample_weight else weights


def _seed_stream(rng):
    """Endless stream of 31-bit seeds drawn from a local RandomState."""
    while True:
        yield int(rng.randint(0, 2**31 - 1))


def _take_rows(X, indices):
    if is_dataframe(X):
        return X.iloc[indices]
    return X[indices]


def _as_network_input(X) -> np.ndarray:
    """Preprocessed features as a finite float array (cast to the network's dtype later)."""
    X = np.asarray(X)
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "The preprocessed features are not numeric. With preprocessor='passthrough' "
                "or a custom transformer, its output must be numbers; use "
                "preprocessor='auto' to encode string columns."
            ) from exc
    if not np.isfinite(X).all():
        raise InputError(
            "The preprocessed features contain NaN or infinity. Use preprocessor='auto' "
            "(which imputes missing values) or clean the data first."
        )
    return X if X.dtype.kind == "f" else X.astype(np.float32)


def _concatenated(chunks: list[np.ndarray]) -> np.ndarray:
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def _network_input_names(schema, preprocessor, width: int) -> list:
    """Names of the columns that enter the network, for messages (positions if unknown)."""
    if preprocessor is None:
        return [profile.name for profile in schema.columns]
    try:
        names = [str(name) for name in preprocessor.get_feature_names_out()]
    except (AttributeError, TypeError, ValueError):
        return list(range(width))
    return names if len(names) == width else list(range(width))


def _weights_finite(model) -> bool:
    return all(np.isfinite(as_numpy(weight.value)).all() for weight in model.weights)


def _proba_from_outputs(target_type: str, outputs: np.ndarray) -> np.ndarray:
    """Network outputs as ``predict_proba`` columns (two for a 1-unit binary head)."""
    if target_type == "binary" and outputs.shape[1] == 1:
        positive = outputs[:, 0]
        return np.column_stack([1.0 - positive, positive])
    if target_type == "multilabel-indicator":
        return outputs
    return outputs / outputs.sum(axis=1, keepdims=True)


def _encode_resampled(classes: np.ndarray, y_labels: np.ndarray, sampler_name: str) -> np.ndarray:
    """Labels returned by a sampler as indices into ``classes``."""
    encoded = np.searchsorted(classes, y_labels)
    known = classes[np.minimum(encoded, len(classes) - 1)] == y_labels
    if not np.all(known):
        raise TargetError(
            f"sampler {sampler_name} returned labels that are not among the classes "
            f"{classes.tolist()}; a sampler must only keep, repeat or synthesise rows of "
            "existing classes."
        )
    return encoded


def _class_counts(spec, y_encoded) -> list[int]:
    """Rows of each class (binary), or of each label's positives and negatives (multilabel)."""
    if spec.target_type == "multilabel-indicator":
        positives = y_encoded.sum(axis=0)
        return [*positives.tolist(), *(len(y_encoded) - positives).tolist()]
    return np.bincount(y_encoded, minlength=spec.n_classes).tolist()


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _is_balanced(value) -> bool:
    return isinstance(value, str) and value == "balanced"


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return np.log(p) - np.log1p(-p)
