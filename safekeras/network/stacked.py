"""Several default MLPs trained together as one network (the threshold folds).

``threshold_cv`` predicts every row out of fold from ``k`` internal fits of
the default MLP. Fitted one after the other, those fits pay ``k`` times a
fit's fixed cost (building the training state, tracing or copying into a
cached twin, the engine's call). Here the ``k`` networks become one
(:class:`~safekeras.network.fold_layers.FoldStack`): each ``Dense`` layer holds
the ``k`` kernels as one ``(k, d, h)`` variable (the fold axis first) and runs
one 2-d matmul per fold, so one compiled program trains them all, in one
whole fit of the compiled engine (:mod:`.engine`). The arithmetic of ``k``
networks remains; with a validation split each fold stops on its own and the
stack runs until the slowest one stops, or (``folds_left``) until only the
slowest few are still training (the threshold folds have no split: they all
train the epochs the estimator's network kept). ``benchmarks/stacked_folds.py``
measures what that saves.

Row ``b`` of the stacked input holds, for every fold ``k``, a row of fold
``k``'s own training data (preprocessed by fold ``k``'s own preprocessor),
with fold ``k``'s weight for it; folds with fewer rows are padded with rows
of weight 0. So the engine's one shuffle per epoch gives every fold a fresh
random order of its own rows, and the rows of one fold (its held-out rows
included) never reach another fold's weights: the gradients of a fold's
kernels are those of its own weighted mean loss.
:meth:`~safekeras.network.fold_layers.FoldStack.compute_loss` returns, per
fold, the loss its own network would report (the weighted mean
binary cross-entropy over the fold's rows of the batch, plus its L2
penalty); their sum is what training minimises (the kernels of different
folds share no term, so each fold gets the gradient of its own loss), and
for the validation split it returns the ``k`` losses, which the engine's
whole fit reads as one early-stopping rule per fold
(:mod:`.engine.tf_fit`, :mod:`.engine.jax_fit`).

Each fold's initial weights are those of the default MLP its clone would
build, drawn from the same seeds without building it
(:func:`initial_fold_weights`, copied in by :func:`stack_weights`); after
training, :func:`predict_folds` gives every fold's outputs for its held-out
rows in one forward pass, and :func:`fold_weights` the folds' trained weights.
"""

from __future__ import annotations

import numpy as np

from .engine.whole_fit import run_whole_fit

__all__ = [
    "STACKABLE_OPTIMIZERS",
    "fold_weights",
    "initial_fold_weights",
    "predict_folds",
    "stack_obstacles",
    "stack_rows",
    "stack_weights",
    "stacked_arrays",
    "train_stack",
    "unstacked_weights",
    "whole_fit_options",
]

# Optimizers whose update of a variable is elementwise, so that a stacked
# variable's fold slices are updated exactly as the folds' own variables
# would be (clipnorm, global_clipnorm and layer-wise rules such as Lamb's
# trust ratio mix the folds, and are refused by :func:`stack_obstacles`).
STACKABLE_OPTIMIZERS = (
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "SGD",
    "RMSprop",
    "Adagrad",
    "Lion",
)


def stack_obstacles(*, backend: str, optimizer) -> list[str]:
    """Why the folds of a default MLP cannot be stacked (empty: they can).

    Parameters
    ----------
    backend : str
        The Keras backend (the stacked fit runs in the compiled engine).
    optimizer : keras.optimizers.Optimizer
        The optimizer a fold would train with.
    """
    obstacles = []
    if backend not in ("tensorflow", "jax"):
        obstacles.append(f"the Keras backend is {backend!r}")
    name = type(optimizer).__name__
    if name not in STACKABLE_OPTIMIZERS:
        obstacles.append(f"optimizer {name} is not one whose updates are elementwise")
    for key in ("clipnorm", "global_clipnorm"):
        if getattr(optimizer, key, None) is not None:
            obstacles.append(f"{key} mixes the folds' gradients")
    return obstacles


def initial_fold_weights(width: int, hidden_units, n_outputs: int, dropout: float, seeds):
    """The initial weights, and dropout seeds, the default MLP draws from ``seeds``.

    The very values :func:`~safekeras.network.architecture.build_network`
    gives the default MLP with the same ``seeds`` (the same initializers,
    seeded in the same order), without building a Keras model: a fold of
    the stack needs its clone's starting point, not its network (building
    one costs about 25 ms).

    Parameters
    ----------
    width : int
        The fold's input width.
    hidden_units : list of int
    n_outputs : int
    dropout : float
    seeds : iterator of int
        The fold's seed stream, where its network would be built.

    Returns
    -------
    weights : list of ndarray
        Kernel and bias of every layer, as ``network.get_weights()`` lists them.
    dropout_seeds : list of int
        The seeds of the dropout layers (none when ``dropout`` is 0).
    """
    import keras

    dtype = keras.config.floatx()
    weights, dropout_seeds, fan_in = [], [], int(width)
    for depth, units in enumerate([*hidden_units, n_outputs]):
        initializer = keras.initializers.GlorotUniform(seed=next(seeds))
        kernel = keras.ops.convert_to_numpy(initializer((fan_in, int(units)), dtype=dtype))
        weights += [kernel, np.zeros(int(units), dtype)]
        if dropout > 0 and depth < len(hidden_units):
            dropout_seeds.append(next(seeds))
        fan_in = int(units)
    return weights, dropout_seeds


def stack_weights(
    fold_weights,
    *,
    dropout_seeds,
    width,
    hidden_units,
    activation,
    dropout,
    l2,
    output_activation,
    loss="binary_crossentropy",
):
    """One :class:`FoldStack` whose fold ``k`` starts from ``fold_weights[k]``.

    Parameters
    ----------
    fold_weights : list of list of ndarray
        Each fold's weights as its default MLP's ``get_weights()`` lists them
        (from :func:`initial_fold_weights`). A fold's input may be narrower
        than ``width`` (each fold's preprocessor one-hot encodes the
        categories its own rows hold): the missing input rows of its first
        kernel are zeros, and stay zeros, as their inputs are.
    dropout_seeds : list of int
        The seeds of the stack's dropout layers (the folds share one dropout
        layer per depth, each fold drawing its own mask).
    width : int
        The widest fold's input width.
    hidden_units, activation, dropout, l2
        The default MLP's architecture (``hidden_layer_sizes`` as a sequence).
    output_activation : str
        Of the head ("sigmoid" for the threshold folds' binary cross-entropy).
    loss : str or dict, default="binary_crossentropy"
        Each fold's loss (see :class:`~safekeras.network.fold_layers.FoldStack`).
    """
    from .fold_layers import FoldStack

    stack = FoldStack(
        n_folds=len(fold_weights),
        width=width,
        hidden_units=hidden_units,
        activation=activation,
        dropout=dropout,
        l2=l2,
        n_outputs=fold_weights[0][-1].shape[0],
        output_activation=output_activation,
        dropouts=[{"seed": seed} for seed in dropout_seeds] if dropout > 0 else (),
        loss=loss,
        name="safekeras_fold_stack",
    )
    layers = [*stack.hidden, stack.head]
    for layer, arrays in zip(layers, stacked_arrays(fold_weights, width), strict=True):
        layer.set_weights(list(arrays))
    return stack


def stacked_arrays(fold_weights, width: int) -> list:
    """Each layer's stacked ``(kernel, bias)``: every fold's, the fold axis first.

    Parameters
    ----------
    fold_weights : list of list of ndarray
        Each fold's weights, as :func:`stack_weights` takes them. A fold's
        first kernel narrower than ``width`` gets zero rows for the inputs
        it does not have.
    width : int
        The stack's input width.

    Returns
    -------
    list of tuple (ndarray, ndarray)
        Kernels of shape (n_folds, inputs, units), biases (n_folds, units).
    """
    arrays = []
    for depth in range(len(fold_weights[0]) // 2):
        kernels = [weights[2 * depth] for weights in fold_weights]
        inputs = width if depth == 0 else kernels[0].shape[0]
        kernel = np.zeros((len(kernels), inputs, kernels[0].shape[1]), kernels[0].dtype)
        for fold, fold_kernel in enumerate(kernels):
            kernel[fold, : fold_kernel.shape[0]] = fold_kernel
        arrays.append((kernel, np.stack([weights[2 * depth + 1] for weights in fold_weights])))
    return arrays


def fold_weights(stack, widths) -> list:
    """Each fold's weights in ``stack``, as its own network's ``get_weights()`` lists them.

    The stack's variables are read once for all folds, not once per fold.

    Parameters
    ----------
    stack : FoldStack
    widths : sequence of int
        Each fold's own input width (one per fold of the stack).

    Returns
    -------
    list of list of ndarray
        Fold ``k``'s kernel and bias of every layer.
    """
    return unstacked_weights([layer.get_weights() for layer in [*stack.hidden, stack.head]], widths)


def unstacked_weights(layer_arrays, widths) -> list:
    """Each fold's weights from the stacked ``(kernel, bias)`` of every layer.

    Parameters
    ----------
    layer_arrays : list of tuple (ndarray, ndarray)
        As :func:`stacked_arrays` gives them (or a trained stack holds them).
    widths : sequence of int
        Each fold's own input width.

    Returns
    -------
    list of list of ndarray
        Fold ``k``'s kernel and bias of every layer, as its network's ``get_weights()``.
    """
    return [
        [
            array
            for depth, (kernel, bias) in enumerate(layer_arrays)
            for array in (kernel[fold, :width] if depth == 0 else kernel[fold], bias[fold])
        ]
        for fold, width in enumerate(widths)
    ]


def predict_folds(stack, parts, width: int, dtype) -> list:
    """Each fold's outputs (its head's activation) for its own rows, in one forward pass.

    Parameters
    ----------
    stack : FoldStack
    parts : list of ndarray
        Fold ``k``'s rows, preprocessed by fold ``k``'s preprocessor.
    width : int
        The stack's input width.
    dtype : numpy dtype
        The stack's input dtype.

    Returns
    -------
    list of ndarray
        Fold ``k``'s outputs, of shape (len(parts[k]), n_outputs).
    """
    import keras

    x = np.zeros((max(len(part) for part in parts), len(parts), width), dtype)
    for fold, part in enumerate(parts):
        x[: len(part), fold, : part.shape[1]] = part
    outputs = keras.ops.convert_to_numpy(stack(x, training=False))
    return [outputs[: len(part), fold] for fold, part in enumerate(parts)]


def stack_rows(parts, width: int, dtype):
    """Per-fold ``(x, y, sample_weight)`` as stacked arrays, padded with rows of weight 0.

    Parameters
    ----------
    parts : list of tuple (x, y, sample_weight or None)
        Fold ``k``'s rows: ``x`` of shape (n_k, width_k), ``y`` of shape
        (n_k, n_outputs), weights of shape (n_k,) (None: all 1).
    width : int
        Width of the stacked rows (at least every ``width_k``).
    dtype : numpy dtype
        The network's input dtype.

    Returns
    -------
    x : ndarray of shape (max n_k, n_folds, width)
    y : ndarray of shape (max n_k, n_folds, n_outputs)
    sample_weight : ndarray of shape (max n_k, n_folds)
        Fold ``k``'s weights on its rows, 0 on the padding (and every weight
        positive on a fold's own rows: the loss counts a fold's rows by it).
    """
    n_rows = max(len(x) for x, _, _ in parts)
    n_folds, n_outputs = len(parts), parts[0][1].shape[1]
    x_all = np.zeros((n_rows, n_folds, width), dtype)
    y_all = np.zeros((n_rows, n_folds, n_outputs), parts[0][1].dtype)
    w_all = np.zeros((n_rows, n_folds), dtype)
    for fold, (x, y, weights) in enumerate(parts):
        x_all[: len(x), fold, : x.shape[1]] = x
        y_all[: len(x), fold] = y
        w_all[: len(x), fold] = 1.0 if weights is None else weights
    return x_all, y_all, w_all


def train_stack(
    stack,
    *,
    train,
    validation,
    batch_size,
    epochs,
    patience,
    shuffle_seed,
    epochs_per_wait=0,
    stops=None,
    folds_left=0,
):
    """Train a compiled :class:`FoldStack` in one whole fit of the compiled engine.

    Parameters
    ----------
    stack : FoldStack
        Compiled.
    train : tuple (x, y, sample_weight)
        From :func:`stack_rows`.
    validation : tuple (x, y, sample_weight) or None
        The folds' validation splits, from :func:`stack_rows`: each fold
        stops early on its own, and keeps its best epoch's weights. None
        trains every fold ``epochs`` epochs.
    batch_size, epochs, patience, shuffle_seed
        As for a fold's own fit.
    epochs_per_wait : int, default=0
        The wait grows by one epoch per ``epochs_per_wait`` epochs up to a
        fold's best one (see :func:`~safekeras.network.budget.required_wait`).
    stops : bool or None, default=None
        Whether the validation losses stop the folds and pick their weights;
        None: whenever there is a validation split (False records them only).
    folds_left : int, default=0
        With folds that stop on their own: training ends once at most this
        many folds are still training, and those keep their best epoch's
        weights so far (0: it runs until the last fold stops).

    Returns
    -------
    TrainingResult
        ``history`` holds the sum of the folds' training losses and the mean
        of their validation losses; ``epochs_run`` is the epochs the stacked
        network ran.

    Raises
    ------
    TrainingError
        If a fold's training or validation loss becomes NaN or infinite.
    """
    import keras

    if keras.backend.backend() == "jax":
        from .engine.jax_epochs import JaxEpochs as Runner
    else:
        from .engine.tf_epochs import TensorFlowEpochs as Runner
    x, y, weights = train
    runner = Runner(
        stack,
        x=x,
        y=y,
        sample_weight=weights,
        validation=validation,
        batch_size=batch_size,
        shuffle_seed=shuffle_seed,
    )
    fit = whole_fit_options(
        validation,
        epochs=epochs,
        patience=patience,
        epochs_per_wait=epochs_per_wait,
        stops=stops,
        folds_left=folds_left,
    )
    try:
        return run_whole_fit(runner, **fit)
    finally:
        runner.close()


def whole_fit_options(validation, *, epochs, patience, epochs_per_wait=0, stops=None, folds_left=0):
    """:func:`~.engine.whole_fit.run_whole_fit`'s keywords for a stack's training.

    Parameters
    ----------
    validation : tuple or None
        The folds' validation split.
    epochs, patience, epochs_per_wait, stops, folds_left
        As :func:`train_stack` takes them.

    Returns
    -------
    dict
        The same, ``stops`` resolved: the validation losses stop the folds
        when there is a split and ``stops`` is not False.
    """
    return dict(
        epochs=epochs,
        patience=patience,
        epochs_per_wait=epochs_per_wait,
        stops=validation is not None and stops is not False,
        folds_left=folds_left,
    )
