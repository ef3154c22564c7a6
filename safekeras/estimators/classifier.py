"""``SafeKerasClassifier``: a Keras network as a scikit-learn classifier.

The fit and predict steps are :class:`~safekeras.estimators.base._SafeKerasBase`'s; this
class adds the target (:mod:`~safekeras.data.targets`), class rebalancing
(:mod:`~safekeras.data.resampling`) and the decision threshold
(:mod:`~safekeras.decision.threshold_fitting`, applied by :mod:`~safekeras.decision.rule`).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ..data import resampling, targets
from ..decision import threshold_fitting
from ..exceptions import ParameterError, TargetError
from ..network import logistic_baseline
from .base import _SafeKerasBase
from .classifier_outputs import ClassifierOutputs

__all__ = ["SafeKerasClassifier"]


class SafeKerasClassifier(ClassifierMixin, ClassifierOutputs, _SafeKerasBase):
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
        preprocessing), ``input_shape_`` (of one sample), ``n_outputs_``, ``target_type_``,
        ``classes_``, ``output_activation_`` and ``loss_``; it must return a Keras model.
    hidden_layer_sizes : int or sequence of int, default=(64, 32)
        Units of each hidden layer of the default MLP; an int is one hidden
        layer (``16`` is ``(16,)``). ``()`` gives a logistic regression.
    activation : str or callable, default="relu"
        Activation of the default MLP's hidden layers.
    dropout : float in [0, 1), default=0.1
        Dropout rate after each hidden layer of the default MLP.
    l2 : float >= 0, default=1e-4
        L2 penalty on the default MLP's hidden kernels.
    ensemble_size : "auto" or int >= 1, default="auto"
        Default MLPs trained together, each from its own initial weights,
        dropout masks and batch order, each stopping early on its own
        held-out rows (the first on the validation split, each other one on
        a slice of the training rows it does not train on, the validation
        split then among its training rows: together they train on every
        row; once all but one have stopped, the last keeps its best epoch so
        far), and averaged: ``model_`` is one network ``ensemble_size``
        times as wide whose output is the members' mean logit (see
        :mod:`safekeras.network.ensemble`). ``"auto"`` trains one network for
        a classifier: on real tables four tied one (balanced accuracy -0.004
        to +0.011, PR-AUC -0.001 to +0.012, over 3 seeds) at 2 to 2.5 times
        the fit time, 13 to 32 % less since the stack stops once all members
        but one have (``docs/defaults.md``); they help most on small,
        imbalanced data, when the time is there to spend.
        Several networks need the default MLP, a loss given by name (or a
        ``keras.losses.Loss`` whose config holds its settings), no callbacks,
        an engine other than ``"keras"`` and an optimizer that updates
        elementwise; ``partial_fit`` trains one network. A warm start trains
        the fitted wide network on as one.
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
    numeric_embeddings : {"auto", "splines"} or None, default="auto"
        With ``preprocessor="auto"`` on a table, ``"splines"`` appends a
        spline embedding of each numeric column with at least
        :data:`~safekeras.data.preprocessing.SPLINE_MIN_DISTINCT` (10)
        distinct training values: eight cubic B-splines on knots at the
        column's training quantiles, constant beyond the training range
        (scikit-learn's ``SplineTransformer``; its knots weighted by
        ``sample_weight``; applied by ``predict`` and ``to_keras()``). A
        network of your own then reads the wider input
        (``meta["n_features_in_"]``). None appends nothing. ``"auto"`` is
        None here: on real classification tables the embeddings tied
        everywhere and trailed on average (``docs/defaults.md``). Ignored for
        another ``preprocessor``, and for images, series and token ids.
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
    linear_baseline : {"auto", "logistic"} or None, default="auto"
        ``"logistic"`` fits scikit-learn's ``LogisticRegression`` (``C=1``) on
        the network's inputs (the scaled numeric and one-hot columns) and the
        rows and weights the network trains on, and averages the two in logit
        space: ``predict_proba`` is the sigmoid (softmax) of ``(logit(network)
        + logistic) / 2`` (:mod:`safekeras.network.logistic_baseline`).
        ``"auto"`` fits it for the default network on a table with a binary
        or multiclass target and a validation split, and keeps the average
        only if it lowers the validation split's log-loss; else the network
        stands alone, unchanged. On a nearly linear table the pair ranks and
        calibrates better than a network trained on a few hundred rows; on a
        table a linear model cannot describe the network is kept alone
        (measurements in ``docs/defaults.md``). The threshold is tuned on the
        probabilities ``predict`` uses, internal folds included. None: the
        network alone. The kept logistic regression is ``linear_baseline_``.
    class_weight : None, "balanced" or dict, default=None
        Weights per class, keyed by the labels as they appear in ``y``
        (``{"fraud": 10.0}``); classes left out weigh 1. ``"balanced"``
        weighs classes inversely to their frequency in the (resampled)
        training split. Multiplied with ``sample_weight``; the validation loss
        used for early stopping is weighted alike. Binary and multiclass
        targets only.
    threshold : "auto", float in (0, 1) or None, default="auto"
        Decision threshold ``predict`` applies to the probability of
        ``pos_label`` (binary) or of each label (multilabel). ``"auto"`` gives
        the rule ``threshold_scoring`` asks for. Balanced accuracy (the
        default, or ``"recall_macro"``) has a known best rule: divide each
        class's probability by its share of the training rows. For a binary
        target that is the threshold ``pos_label``'s share, which ``"auto"``
        uses unless ``threshold_cv`` is set. Any other scoring, or an explicit
        ``threshold_cv``, is tuned after training on probabilities the network
        did not train on: the validation split (held out even with
        ``early_stopping=False``) or out-of-fold predictions (``threshold_cv``).
        With ``class_weight`` or ``sampler`` set (and the default
        ``threshold_scoring``), ``"auto"`` keeps 0.5: the weights state the
        costs, and 0.5 on the weighted network is their decision. A float fixes
        it; None means 0.5. Multiclass: ``"auto"`` with balanced accuracy
        divides by the training shares, else takes the most probable class
        (see ``class_multipliers_``).
    threshold_scoring : str or callable, default="balanced_accuracy"
        What ``threshold="auto"`` maximises: a scikit-learn scorer name (``"f1"``,
        ``"recall"``, ``"precision"``, ...), evaluated with ``pos_label`` as the positive
        class, or a callable ``scorer(estimator, X, y)`` such as
        ``make_scorer(fbeta_score, beta=2, pos_label="fraud")``, which sees the original
        labels. For multiclass targets it chooses the rule (see ``threshold``).
    threshold_cv : "auto", int, cross-validation splitter or None, default="auto"
        Where ``threshold="auto"`` gets its held-out probabilities. None: the
        validation split. An int ``k`` or a splitter: out-of-fold
        probabilities of every row from ``k`` internal fits (stratified,
        shuffled folds for an int), steadier on small data at ``k`` extra
        fits. ``"auto"``: none for a binary target and balanced accuracy (the training
        share is the threshold); else the validation split when it holds at least 20 rows
        of each class (of each label's positives and negatives), else 5 internal folds,
        because a threshold tuned on a handful of positives is noise. Used only with
        ``threshold="auto"`` on binary and multilabel targets. The internal fits run
        after the network's and repeat its training: the epochs it kept (``best_epoch_``),
        its ``batch_size_``, no split or early stopping of their own. For the default MLP
        they train together, as one stacked network (see ``threshold_search_``).
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
    learning_rate : "auto", float or None, default="auto"
        Overrides the optimizer's rate; None keeps its own (1e-3 for Adam). ``"auto"``:
        3e-3 for the default MLP with Adam (same quality, fewer epochs), else as None.
    batch_size : "auto" or int, default="auto"
        Rows per optimizer step. ``"auto"``: about 8 steps per epoch, a power of two
        from 32 to 256 rows, so small data gets enough steps (see ``batch_size_``).
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
    patience : "auto" or int, default="auto"
        Epochs without improvement of the validation loss before stopping. ``"auto"``:
        7, or as many as hold 56 optimizer steps (at most 50; see ``patience_``), and
        at least a fifth of the epochs up to the best one (20 after a best epoch 100).
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
        ``X.shape[1]`` in ``fit``.
    input_kind_ : {"table", "tensor", "tokens"}
        How ``fit`` read ``X``: a table; an (n, ...) array for a user network (``"auto"``
        scales each channel, the last axis); or integer token ids for an ``Embedding``.
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
        Epochs actually run by the last ``fit``, plus one per ``partial_fit`` call since.
    batch_size_, patience_ : int
        The batch size and patience the last ``fit`` trained with, ``"auto"`` resolved.
    ensemble_size_ : int
        The networks the last ``fit`` trained together (``ensemble_size``, ``"auto"`` resolved).
    engine_ : {"compiled", "keras"}
        The engine that trained the network (see ``engine``).
    loss_ : str or keras loss
        The loss the network was trained with.
    linear_baseline_ : safekeras.network.logistic_baseline.LogisticBaseline or None
        The logistic regression averaged with the network (``coef_``,
        ``intercept_``, ``columns``), or None.
    threshold_ : float, ndarray of shape (n_labels,) or None
        The decision threshold ``predict`` applies: one float for a binary
        target, one per label for a multilabel target, None for multiclass.
    class_multipliers_ : ndarray of shape (n_classes,) or None
        Multiclass: ``predict`` is the argmax of ``predict_proba(X) * class_multipliers_``, one
        over each class's weighted training share for balanced accuracy, else ones; else None.
    threshold_search_ : ThresholdSearch, list of ThresholdSearch or None
        How ``threshold_`` was tuned (candidates, scores, counts of positive
        and negative rows, score at 0.5); None when it was fixed or is the
        training share. See
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
        "linear_baseline": [StrOptions({"auto", "logistic"}), None],
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
        ensemble_size="auto",
        add_head=False,
        preprocessor="auto",
        numeric_embeddings="auto",
        sampler=None,
        class_weight=None,
        linear_baseline="auto",
        threshold="auto",
        threshold_scoring="balanced_accuracy",
        threshold_cv="auto",
        pos_label=None,
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
        self.sampler = sampler
        self.class_weight = class_weight
        self.linear_baseline = linear_baseline
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

        For data that does not fit in memory, or arrives in batches. The first call (on an
        unfitted estimator) fits the preprocessing on its rows and builds the network; later
        calls keep that preprocessing frozen (scaling is learnt from the first chunk only:
        make it representative, or fit a preprocessor on a sample yourself and pass it as
        ``preprocessor``), keep the optimizer's state and train one epoch on the new rows.
        There is no validation split, no early stopping and no threshold tuning:
        ``threshold="auto"`` predicts at 0.5 until tuned, e.g. with
        ``TunedThresholdClassifierCV(est, cv="prefit", refit=False)`` on held-out rows.
        ``class_weight="balanced"`` is refused (a chunk's class counts are not the data's);
        pass the weights as a dict.

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
        resampling.check_chunk_class_weight(self.class_weight)
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
        threshold_fitting.check_threshold_applies(spec, self.threshold)
        resampling.check_rebalancing_applies(spec, self.sampler, self.class_weight)
        pos_label = None
        if spec.target_type == "binary":
            pos_label = threshold_fitting.resolve_pos_label(self, spec.classes)
        return {"classes_": spec.classes, "pos_label_": pos_label}

    def _decision_plan(self, spec, y_kept, partial=False, resume=False):
        return threshold_fitting.decision_plan(self, spec, y_kept, partial, resume)

    def _rebalance(self, spec, x_train, y_train, w_train, y_val, w_val, preprocessor, seeds):
        # SMOTENC/SMOTEN read the one-hot blocks of the "auto" preprocessor only.
        one_hot_from = preprocessor if threshold_fitting.is_auto(self.preprocessor) else None
        return resampling.rebalance(
            spec,
            x_train,
            y_train,
            w_train,
            y_val,
            w_val,
            sampler=self.sampler,
            class_weight=self.class_weight,
            one_hot_from=one_hot_from,
            seeds=seeds,
        )

    def _fit_decision(self, spec, plan, network, rows, held_out_searches) -> dict:
        """``threshold_`` (fixed, the prior, or tuned on held-out rows) and its search."""
        return threshold_fitting.fit_decision(self, spec, plan, network, rows, held_out_searches)

    def _decided(self, spec, plan, fitted_network, rows, *args, **kwargs) -> dict:
        """The threshold's attributes and ``class_multipliers_`` (multiclass)."""
        decided = super()._decided(spec, plan, fitted_network, rows, *args, **kwargs)
        return {**decided, **threshold_fitting.fit_class_multipliers(spec, plan.decision, rows)}

    def _residualised(self, spec, preprocessor, output, rows, y_train, validation, resume, partial):
        """The logistic regression to average with (or None); the network learns the labels."""
        if resume:  # frozen, as the preprocessing: the network was trained beside it
            return self.linear_baseline_, y_train, validation
        choice, table = self.linear_baseline, self._fit_kind() == "table"
        exclusive = spec.target_type in ("binary", "multiclass")
        if choice == "auto":
            default = self.model is None and table and exclusive and rows.x_val is not None
            choice = "logistic" if default and not partial else None
        if choice is None:
            return None, y_train, validation
        if not (table and exclusive):
            raise ParameterError(
                "linear_baseline='logistic' averages a logistic regression with the network, "
                f"which needs a table (this fit reads {self._fit_kind()!r} inputs) and a binary "
                f"or multiclass target (this one is {spec.target_type!r}). Use "
                "linear_baseline=None or 'auto'."
            )
        # One logit per network output: a binary target's softmax head has two.
        n_logits = 1 if output.y_encoding == "column" else spec.n_classes
        baseline = logistic_baseline.fit_on_network_inputs(
            preprocessor, rows.x_train, rows.y_train, rows.w_train, spec.n_classes, n_logits
        )
        return baseline, y_train, validation

    def _checked_network(self, network, output, rows, y_train, resume: bool, baseline=None):
        """The trained network step; ``"auto"`` keeps the average only if validation prefers it."""
        fitted_network = super()._checked_network(network, output, rows, y_train, resume, baseline)
        if baseline is not None and not resume and self.linear_baseline == "auto":
            alone = fitted_network.without_baseline().predict(rows.x_val)
            validation = (alone, rows.x_val, rows.y_val, rows.w_val_fit)
            kept = logistic_baseline.kept_if_better(baseline, *validation)
            fitted_network.linear_baseline = kept
            if self.verbose:
                losses = logistic_baseline.validation_losses(baseline, *validation)
                verdict = "dropped" if kept is None else "kept"
                print(
                    f"linear_baseline: the logistic average is {verdict} "
                    f"(validation log-loss {losses[0]:.4f} alone, {losses[1]:.4f} averaged)",
                    flush=True,
                )
        return fitted_network

    def _cross_validated_thresholds(self, data, spec, plan, recipe):
        """Thresholds tuned on out-of-fold probabilities of the plan's internal fits."""
        return threshold_fitting.cross_validated_thresholds(self, data, spec, plan, recipe)

    def _encode_target(self, spec, output, y_encoded, _transformer):
        if output.y_encoding == "column":
            return y_encoded.astype(np.float32).reshape(-1, 1)
        if output.y_encoding == "index":
            return y_encoded.astype(np.int32)
        if output.y_encoding == "one_hot":
            return np.eye(spec.n_classes, dtype=np.float32)[y_encoded]
        return y_encoded.astype(np.float32)  # multilabel indicator
