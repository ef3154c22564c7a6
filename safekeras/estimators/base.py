"""``_SafeKerasBase``: the fit and predict steps both estimators share.

``fit`` is a sequence of steps, each a call into the stage that owns it:

1. read and validate ``X``, ``y`` and ``sample_weight``
   (:mod:`~safekeras.data.input_validation`, :mod:`~safekeras.data.targets`);
2. plan the decision threshold (:mod:`~safekeras.decision.threshold_fitting`);
3. hold out a (stratified) validation split (:mod:`~safekeras.network.training`);
4. fit the preprocessor on the training split only
   (:mod:`~safekeras.data.preprocessing`) and the target scaling;
5. rebalance the training split (:mod:`~safekeras.data.resampling`);
6. build a fresh, seeded network and check its head against the target
   (:mod:`~safekeras.network.architecture`, :mod:`~safekeras.data.targets`);
7. train with early stopping and check the outcome
   (:mod:`~safekeras.network.training`);
8. fit the decision threshold, then record the fitted attributes, among them
   ``pipeline_ = Pipeline([("preprocess", ...), ("network", ...)])``, which is
   all that ``predict`` and ``predict_proba`` ever use.

Everything runs inside :func:`~safekeras.estimators.fit_state.fit_transaction`:
a fit that raises leaves the estimator exactly as it was.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _num_samples

from ..data import input_validation, targets
from ..decision.plan import DecisionPlan, FoldRecipe
from ..exceptions import ParameterError, TargetError
from ..network import architecture, checks, deferred, ensemble, incremental, optimizers, training
from ..network.blas_threads import one_blas_thread
from ..network.budget import resolve_budget
from ..network.engine import ENGINES
from ..network.fitted import FittedNetwork, input_dtype
from ..network.parallel import limit_worker_threads
from ..network.variable_names import stable_variable_names
from .fit_rows import keeps_twins_together, split, training_rows
from .fit_state import FitData, Rows, fit_transaction
from .fitted_attributes import record_network, record_target
from .input_kinds import (
    check_default_network,
    check_network_takes,
    decide_kind,
    fitted_kind,
    schema_for,
)
from .predicting import _PredictMixin

# Rows of the training split used to check the network's input width and head.
_PROBE_ROWS = 16


class _SafeKerasBase(_PredictMixin, BaseEstimator):
    """Shared fit orchestration; subclasses supply the target-specific parts."""

    # What numeric_embeddings="auto" means: spline embeddings of a table's numeric columns for
    # the default network (the regressor's), or none (the classifier's).
    _auto_numeric_splines = False

    _parameter_constraints: dict = {
        "model": [None, callable],
        # An int is one hidden layer, as in MLPClassifier (Optuna's suggest_int gives one).
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [str, callable],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "ensemble_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "add_head": ["boolean"],
        "preprocessor": [
            StrOptions({"auto", "passthrough"}),
            None,
            HasMethods(["fit", "transform"]),
        ],
        "numeric_embeddings": [StrOptions({"auto", "splines"}), None],
        "loss": [str, callable],
        "optimizer": [str, HasMethods(["get_config"])],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"}), None],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
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
        ensemble_size="auto",
        add_head=False,
        preprocessor="auto",
        numeric_embeddings="auto",
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
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.ensemble_size = ensemble_size
        self.add_head = add_head
        self.preprocessor = preprocessor
        self.numeric_embeddings = numeric_embeddings
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
        state.pop("_kind", None)  # only a fit in progress reads it
        return state

    def __getattr__(self, name):
        # Unset attributes only: a deferred network's model_ (see network.deferred).
        pipeline = self.__dict__.get("pipeline_") if name == "model_" else None
        if pipeline is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return pipeline.named_steps["network"].model_

    def __setstate__(self, state):
        # Files saved before the parameters existed: no embeddings, the network alone.
        state.setdefault("numeric_embeddings", None)
        state.setdefault("linear_baseline", None)
        super().__setstate__(state)
        if "pipeline_" in self.__dict__:
            self.model_ = self.pipeline_.named_steps["network"].model_
            self._preprocessing_plan()

    @property
    def linear_baseline_(self):
        """The fitted linear baseline of the network step (``linear_baseline``), or None."""
        if "pipeline_" not in self.__dict__:
            name = type(self).__name__
            raise AttributeError(f"{name!r} object has no attribute 'linear_baseline_'")
        return self.pipeline_.named_steps["network"].linear_baseline

    # -- fitting ---------------------------------------------------------------

    def _fit(self, X, y, sample_weight, *, partial=False, classes=None):
        """Fit from scratch, or continue training the fitted network.

        Training continues (the preprocessing, target and schema fitted before
        are kept, the network's weights are the starting point) for
        ``partial_fit`` and for ``fit`` with ``warm_start=True`` once fitted.
        ``partial`` trains one pass over the rows without a validation split.
        """
        limit_worker_threads()  # in a search's worker process, before TensorFlow starts
        architecture.check_layer_sizes(self.hidden_layer_sizes)
        resume = self.__sklearn_is_fitted__() and (partial or self.warm_start)
        how = "partial_fit" if partial else "warm_start=True"
        with fit_transaction(self), stable_variable_names(), one_blas_thread():
            if resume:
                incremental.check_same_structure(self, self._structure_, how)
            data = self._read_validated(
                X, y, sample_weight, classes, partial=partial, how=how if resume else None
            )
            rng = check_random_state(self.random_state)
            seeds = architecture.seed_stream(rng)
            plan = self._plan_decision(data, partial, resume, seeds)
            holdout = not partial and (self.early_stopping or plan.decision == "validation")
            train_idx, val_idx = self._split(data, rng, holdout)
            preprocessor, rows = self._training_rows(data, train_idx, val_idx, resume)
            target_transformer = self._target_transformer(data.spec, rows, resume)
            rows = self._rebalanced(data.spec, rows, preprocessor, seeds)
            size = self._ensemble_size(data.spec, partial, resume)
            network = (
                self.model_ if resume else self._new_network(data.spec, rows, seeds, size, partial)
            )
            rows = self._in_network_dtype(data, preprocessor, network, rows, resume)
            output = self._checked_output(data.spec, network, rows.x_train)
            y_train, validation = self._encoded_targets(
                data.spec, output, rows, target_transformer, input_dtype(network), partial
            )
            baseline, y_train, validation = self._residualised(
                data.spec, preprocessor, output, rows, y_train, validation, resume, partial
            )
            checkpoint = (
                incremental.training_checkpoint(network) if resume else contextlib.nullcontext()
            )
            with checkpoint:
                result = self._train(
                    network, output, rows, y_train, validation, partial, resume, seeds, size
                )
                fitted_network = self._checked_network(
                    network, output, rows, y_train, resume, baseline
                )
                decision_attributes = (
                    {}  # partial_fit never tunes: the threshold fitted before stays
                    if partial and resume
                    else self._decided(data.spec, plan, fitted_network, rows, data, result)
                )
            record_network(
                self, data, preprocessor, network, fitted_network, result, partial and resume
            )
            record_target(
                self, data, output, rows, val_idx, target_transformer, decision_attributes, baseline
            )
        return self

    def _read_validated(self, X, y, sample_weight, classes, *, partial: bool, how: str | None):
        """The data, schema, target and weights of a fit, checked before any network trains."""
        resume = how is not None
        X, input_schema, spec, y_encoded, target_attributes = self._read_data(
            X, y, classes, partial=partial, how=how
        )
        # Before any network is trained (threshold_cv's folds included) when the dtype is known.
        declared_dtype = self._declared_dtype(resume)
        self._check_raw_numbers(input_schema, X, declared_dtype, resume)
        weights = input_validation.validated_weights(sample_weight, X)
        kept = np.flatnonzero(weights > 0)
        if not partial:  # a chunk of the data may hold a single class
            self._check_kept_targets(spec, y_encoded[kept])
        return FitData(
            X, input_schema, spec, y_encoded, target_attributes, declared_dtype, weights, kept
        )

    def _read_data(self, X, y, classes, *, partial: bool, how: str | None):
        """Validated ``X``, its schema, the target spec, encoded ``y`` and target attributes.

        A continued fit (``how`` names it: "partial_fit", "warm_start=True")
        checks ``X`` against the fitted schema and encodes ``y`` with the
        fitted target; a first fit (``how=None``) profiles and encodes both.
        """
        resume = how is not None
        kind = fitted_kind(self) if resume else decide_kind(self, X, y)
        X = input_validation.validate_features(self, X, y=y, reset=not resume, kind=kind)
        self._kind = kind  # read by the steps below; recorded as input_kind_ at the end
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
        check_default_network(kind, self.model, X.shape)
        input_schema = schema_for(
            kind,
            X,
            numeric_only=self._input_mode() == "numeric",
            feature_names=getattr(self, "feature_names_in_", None),
        )
        spec, y_encoded = self._first_target(y, classes, partial)
        return X, input_schema, spec, y_encoded, self._target_attributes(spec)

    def _fit_kind(self) -> str:
        """The input kind of the fit in progress, else the fitted one (the load checks build)."""
        return self.__dict__.get("_kind") or fitted_kind(self)

    def _plan_decision(self, data: FitData, partial: bool, resume: bool, seeds) -> DecisionPlan:
        """How the decision rule will be fitted, and the seed of any internal folds.

        The folds themselves train after the network (see ``_decided``): they
        repeat its training recipe, epochs included, on their own rows.
        """
        y_kept = data.y_encoded[data.kept]
        decision, threshold_cv = self._decision_plan(data.spec, y_kept, partial, resume)
        # Drawn before the split and the network's seeds (so those of a "cv" plan come one later).
        fold_seed = next(seeds) if decision == "cv" else None
        return DecisionPlan(decision, threshold_cv, fold_seed)

    def _split(self, data: FitData, rng, holdout: bool):
        """Train/validation indices into the original rows (see ``fit_rows.split``)."""
        return split(self, data, rng, holdout)

    def _training_rows(self, data: FitData, train_idx, val_idx, resume: bool):
        """The preprocessor (fitted on the training rows, or kept) and the rows it gives."""
        return training_rows(self, data, train_idx, val_idx, resume, self._fit_kind())

    def _target_transformer(self, spec, rows: Rows, resume: bool):
        """The target scaling: fitted on the training rows, or the one a continued fit keeps."""
        if resume:
            return getattr(self, "target_scaler_", None)
        return self._fit_target_transformer(spec, rows.y_train, rows.w_train)

    def _rebalanced(self, spec, rows: Rows, preprocessor, seeds) -> Rows:
        """``rows`` with the training split rebalanced (see ``_rebalance``)."""
        x_train, y_train, w_train, w_val_fit = self._rebalance(
            spec,
            rows.x_train,
            rows.y_train,
            rows.w_train,
            rows.y_val,
            rows.w_val,
            preprocessor,
            seeds,
        )
        return replace(rows, x_train=x_train, y_train=y_train, w_train=w_train, w_val_fit=w_val_fit)

    def _ensemble_size(self, spec, partial: bool, resume: bool) -> int:
        """The networks this fit trains together (see :mod:`~safekeras.network.ensemble`).

        A continued fit trains the fitted network on as one, whatever it holds.
        """
        if resume:
            return 1
        return ensemble.resolve_ensemble_size(self, spec, partial=partial)

    def _new_network(self, spec, rows: Rows, seeds, size: int, partial: bool):
        """The network this fit trains: Keras's, or the default MLP's build deferred.

        Deferred (:mod:`~safekeras.network.deferred`) when the build can wait:
        the same seeds are drawn, and training gives the same weights.
        """
        if deferred.can_defer(self, kind=self._fit_kind(), size=size, partial=partial):
            hidden = ensemble.wide_layer_sizes(self.hidden_layer_sizes, size)
            return deferred.default_mlp_deferred(self, spec, rows.x_train.shape[1], seeds, hidden)
        return self._build_network(spec, rows.x_train, seeds, size)

    def _build_network(self, spec, x_train, seeds, size: int = 1):
        """A fresh, seeded network for ``spec`` and ``x_train``'s width.

        ``size`` members are kept as one default MLP ``size`` times as wide
        (:func:`~safekeras.network.ensemble.merge_members`).
        """
        network = architecture.build_network(
            self.model,
            meta=architecture.make_meta(spec, x_train.shape[1], x_train.shape[1:]),
            spec=spec,
            hidden_layer_sizes=ensemble.wide_layer_sizes(self.hidden_layer_sizes, size),
            activation=self.activation,
            dropout=self.dropout,
            l2=self.l2,
            add_head=self.add_head,
            seeds=seeds,
        )
        check_network_takes(self._fit_kind(), network, x_train)
        return network

    def _in_network_dtype(self, data: FitData, preprocessor, network, rows: Rows, resume):
        """``rows``' features cast to the network's dtype, once checked to fit in it."""
        dtype = input_dtype(network)
        if data.declared_dtype is None:  # a callable built the network: its dtype is known now
            self._check_raw_numbers(data.input_schema, data.X, dtype, resume)
        checks.check_network_input(data.input_schema, preprocessor, dtype, rows.x_train, rows.x_val)
        if self._fit_kind() == "tokens":
            input_dim = architecture.embedding_input_dim(network)
            for x in (rows.x_train, rows.x_val):
                checks.check_token_ids(x if x is not None else rows.x_train[:0], input_dim)
        x_val = None if rows.x_val is None else rows.x_val.astype(dtype, copy=False)
        return replace(rows, x_train=rows.x_train.astype(dtype, copy=False), x_val=x_val)

    def _checked_output(self, spec, network, x_train):
        """How the network's head is trained and read, checked against the target."""
        if self.model is None:  # the default MLP's head is right by construction
            head = targets.Head(units=spec.n_outputs, activation=spec.activation)
        else:
            head = architecture.inspect_head(network, x_train[:_PROBE_ROWS])
        return targets.resolve_output(spec, head, self.loss)

    def _encoded_targets(self, spec, output, rows: Rows, transformer, dtype, partial: bool):
        """The training target as the network learns it, and the validation data (or None)."""

        def encode(y_part):
            encoded = self._encode_target(spec, output, y_part, transformer)
            return encoded if encoded.dtype.kind == "i" else encoded.astype(dtype)

        y_train = encode(rows.y_train)  # trained on, then checked against
        validation = None
        if rows.x_val is not None and not partial:
            # Recorded even without early stopping: diagnose() reads over-fitting from it.
            val_weights = training.normalise_weights(rows.w_val_fit, dtype)
            validation = (rows.x_val, encode(rows.y_val), val_weights)
        return y_train, validation

    def _train(
        self, network, output, rows: Rows, y_train, validation, partial, resume, seeds, size=1
    ):
        """Compile ``network`` (unless partial_fit continues) and train it on ``rows``.

        With ``size`` > 1 the members train together and ``network`` gets their
        merged weights (:mod:`~safekeras.network.ensemble`).
        """
        shuffle_seed = next(seeds)
        if partial and resume:  # a new shuffle for each chunk, reproducibly
            shuffle_seed = (shuffle_seed + self.n_epochs_) % (2**31 - 1)
        dtype = input_dtype(network)
        # partial_fit keeps the optimizer (its moments) from call to call; a warm
        # start begins a new optimisation from the fitted weights, as sklearn's do.
        if not (partial and resume and getattr(network, "compiled", False)):
            network.compile(
                optimizer=optimizers.fit_optimizer_for(network, self),
                loss=training.loss_in_dtype(output.loss, dtype),
            )
        # Steps, not epochs, are what train a network: "auto" counts them from the rows.
        budget = resolve_budget(self.batch_size, self.patience, len(rows.x_train))
        self.batch_size_, self.patience_ = budget.batch_size, budget.patience
        if not resume:  # a continued fit keeps the count of the fit that built the network
            self.ensemble_size_ = size
        if size > 1:
            weights, result = ensemble.train_members(
                size=size,
                settings=self,
                output=output,
                n_outputs=(
                    network.recipe.n_outputs
                    if isinstance(network, deferred.DeferredNetwork)
                    else network.output_shape[-1]
                ),
                x=rows.x_train,
                y=y_train,
                sample_weight=training.normalise_weights(rows.w_train, dtype),
                validation=validation,
                budget=budget,
                early_stopping=self.early_stopping,
                epochs=self.epochs,
                seeds=seeds,
                keep_twins_together=keeps_twins_together(self),  # as the split does
            )
            network.set_weights(weights)
            if self.verbose:
                print(ensemble.summary_line(size, result), flush=True)
            return result
        return training.train(
            network,
            engine=self.engine,
            x=rows.x_train,
            y=y_train,
            sample_weight=training.normalise_weights(rows.w_train, dtype),
            validation=validation,
            early_stopping=self.early_stopping,
            epochs=1 if partial else self.epochs,
            batch_size=budget.batch_size,
            patience=budget.patience,
            epochs_per_wait=budget.epochs_per_wait,
            callbacks=self.callbacks,
            shuffle_seed=shuffle_seed,
            verbose=self.verbose,
        )

    def _residualised(self, spec, preprocessor, output, rows, y_train, validation, resume, partial):
        """``(linear baseline, targets, validation)``: a regressor's network learns a residual."""
        return None, y_train, validation

    def _checked_network(self, network, output, rows: Rows, y_train, resume: bool, baseline=None):
        """The trained ``network`` as the pipeline's step, once checked to have learnt."""
        fitted_network = FittedNetwork.from_trained(
            network,
            logits_activation=output.activation if output.logits else None,
            linear_baseline=baseline,
        )
        self._check_trained(fitted_network, output, rows.x_train, y_train, rows.w_train, resume)
        return fitted_network

    def _decided(
        self, spec, plan: DecisionPlan, fitted_network, rows: Rows, data=None, result=None
    ):
        """The decision rule's attributes; a "cv" plan's folds train here, after the network.

        Each fold repeats the network's recipe (see ``FoldRecipe``): the epochs it kept.
        """
        held_out = None
        if plan.decision == "cv":
            kept = fitted_network.linear_baseline is not None
            recipe = FoldRecipe(result.best_epoch, self.batch_size_, kept_baseline=kept)
            held_out = self._cross_validated_thresholds(data, spec, plan, recipe)
        return self._fit_decision(spec, plan.decision, fitted_network, rows, held_out)

    def _check_trained(self, fitted_network, output, x_train, y_train, w_train, resume: bool):
        """Raise :class:`TrainingError` when training left the network worse than a constant.

        Runs inside the fit transaction (and a continued fit's checkpoint), so a
        fit that fails here keeps the previous fit. ``y_train`` is encoded as the
        network was trained on it (see ``_encode_target``).
        """
        # Measured on what the network was trained to give: logits, a residual.
        bare = output.logits or fitted_network.linear_baseline is not None
        raw = fitted_network.without_activation() if bare else fitted_network
        training.check_training_outcome(
            raw.predict,
            x_train,
            y_train,
            training.normalise_weights(w_train, "float64"),
            activation=output.activation,
            logits=output.logits,
            dtype=fitted_network.compute_dtype(),
            continued=resume,
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
        """How the decision rule is fitted: ("validation" | "cv" | "prior" | None, its CV)."""
        return None, None

    def _rebalance(self, spec, x_train, y_train, w_train, y_val, w_val, preprocessor, seeds):
        """Training split after resampling, and the weights training and validation use."""
        return x_train, y_train, w_train, w_val

    def _fit_decision(self, spec, plan, network, rows: Rows, held_out_searches) -> dict:
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
