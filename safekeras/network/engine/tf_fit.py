"""The whole fit as one ``tf.function`` (TensorFlow backend, see :mod:`.whole_fit`).

A ``tf.while_loop`` over epochs whose body is the epoch of :mod:`.tf_epochs`
(the same Python function, so the same shuffles and optimizer steps), then
the validation loss in chunks of
:data:`~safekeras.network.engine.shared.VALIDATION_CHUNK` rows, as
:func:`~safekeras.network.engine.shared.mean_loss` averages them, then the
early-stopping rule of :mod:`.loop`: an epoch improves when its validation
loss is strictly below the best so far, which copies the network's weights
(``network.weights``, what ``get_weights`` snapshots) into the loop state;
training stops after ``patience`` epochs in a row without improvement, at
the epoch budget, or after an epoch whose loss is not finite. After the
loop, the best weights are assigned back when early stopping picked them.

The epoch budget, the patience (and how it grows, see
:func:`~safekeras.network.budget.required_wait`), whether to stop early and,
for a fold stack, how many folds may still be training when it stops
(``folds_left``) are arguments, so one trace serves every fit of the
architecture.
"""

from __future__ import annotations

from .shared import VALIDATION_CHUNK, layout_function

__all__ = ["trace_whole_fit"]


def trace_whole_fit(network, run_epoch, chunk_loss, train_specs, validation_specs):
    """The whole-fit ``tf.function`` of ``network`` (traced on its first call).

    Parameters
    ----------
    network : keras.Model
        The network the epochs train (the runner's trainee).
    run_epoch : callable
        ``run_epoch(x, y, sample_weight, seed)``: one epoch, its mean loss (float64).
    chunk_loss : callable
        ``chunk_loss(x, y, *sample_weight)``: the loss on a block of validation rows.
    train_specs, validation_specs : tuple of tf.TensorSpec
        Training tensors (x, y and optionally sample_weight); the same for the
        validation split, or None without one.

    Returns
    -------
    tf.function
        ``fit(train, [validation,] seed, epochs, patience, epochs_per_wait, stops, folds_left)``
        returning the training losses, the validation losses (empty without a
        split), and the 1-based best epoch (0 when no weights were restored).
    """
    import tensorflow as tf

    def fit(train, *rest):
        validation = rest[0] if validation_specs is not None else None
        seed, epochs, patience, epochs_per_wait, stops, folds_left = rest[-6:]
        x, y = train[0], train[1]
        sample_weight = train[2] if len(train) == 3 else None

        def train_epoch(epoch):
            seed_pair = tf.stack([seed, tf.cast(epoch, tf.int64)])
            return run_epoch(x, y, sample_weight, seed_pair)

        def validation_loss():
            n_folds = getattr(network, "n_folds", None)
            return _validation_loss(chunk_loss, validation, () if n_folds is None else (n_folds,))

        validates = validation is not None
        return _epoch_loop(
            network,
            train_epoch,
            validation_loss if validates else None,
            epochs,
            (patience, epochs_per_wait),
            stops,
            folds_left,
        )

    scalar = tf.TensorSpec([], tf.int32)
    signature = [tuple(train_specs)]
    if validation_specs is not None:
        signature.append(tuple(validation_specs))
    seed, stops = tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.bool)
    signature += [seed, scalar, scalar, scalar, stops, scalar]
    return layout_function(fit, input_signature=signature)


def _epoch_loop(network, train_epoch, validation_loss, epochs, wait, stops, folds_left):
    """The ``tf.while_loop`` over epochs, and the best weights restored after it.

    A fold-stacked network (``network.n_folds``, see
    :mod:`safekeras.network.stacked`) has one validation loss per fold: each
    fold improves, waits and stops on its own, keeps its own best weights
    (its slice of every trainable variable, whose first axis is the fold),
    and training runs until at most ``folds_left`` folds are still training
    (0: until every fold has stopped); those keep their best weights so far.
    """
    import tensorflow as tf

    validates = validation_loss is not None
    n_folds = getattr(network, "n_folds", None)
    fold_shape = [] if n_folds is None else [n_folds]
    variables = network.weights if n_folds is None else network.trainable_variables

    def read_weights():
        return [tf.identity(variable.value) for variable in variables]

    keep_best = _best_keeper(read_weights, per_fold=n_folds is not None)

    def keep_going(epoch, going, *_):
        return tf.logical_and(going, epoch < epochs)

    def body(epoch, going, losses, val_losses, best_loss, best_epoch, waited, stopped, best):
        loss = train_epoch(epoch)
        losses = losses.write(epoch, loss)
        finite = tf.math.is_finite(loss)
        if validates:
            val_loss = validation_loss()
            val_losses = val_losses.write(epoch, tf.reduce_mean(val_loss))
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(val_loss)))
            improved = stops & (val_loss < best_loss) & tf.logical_not(stopped)
        else:
            val_loss, improved = best_loss, tf.fill(fold_shape, False)
        epoch += 1
        # The per-epoch loop's rule: a better epoch resets the count, any other adds one.
        best = keep_best(improved, best)
        best_loss = tf.where(improved, val_loss, best_loss)
        best_epoch = tf.where(improved, epoch, best_epoch)
        waited = tf.where(improved, 0, waited + 1)
        stop = tf.logical_and(
            tf.logical_and(stops, tf.logical_not(improved)),
            waited >= _required_wait(*wait, best_epoch),
        )
        stopped = tf.logical_or(stopped, stop)
        going = tf.logical_and(finite, tf.logical_not(_enough_stopped(stopped, folds_left)))
        return epoch, going, losses, val_losses, best_loss, best_epoch, waited, stopped, best

    state = (
        tf.constant(0, tf.int32),
        tf.constant(True),
        _losses_array(),
        _losses_array(),
        tf.fill(fold_shape, tf.constant(float("inf"), tf.float64)),
        tf.zeros(fold_shape, tf.int32),
        tf.zeros(fold_shape, tf.int32),
        tf.fill(fold_shape, False),
        read_weights(),
    )
    _, _, losses, val_losses, _, best_epoch, _, _, best = tf.while_loop(
        keep_going, body, state, parallel_iterations=1
    )
    tf.cond(
        tf.logical_and(stops, tf.reduce_all(best_epoch > 0)),
        lambda: _assign(variables, best),
        lambda: tf.constant(False),
    )
    return losses.stack(), val_losses.stack(), tf.reduce_max(best_epoch)


def _enough_stopped(stopped, folds_left):
    """Whether no more than ``folds_left`` folds are still training (never before one stopped)."""
    import tensorflow as tf

    n_stopped = tf.reduce_sum(tf.cast(stopped, tf.int32))
    return n_stopped >= tf.maximum(tf.size(stopped) - folds_left, 1)


def _required_wait(patience, epochs_per_wait, best_epoch):
    """:func:`~safekeras.network.budget.required_wait` in the graph (per fold), in integers."""
    import tensorflow as tf

    per = tf.maximum(epochs_per_wait, 1)
    grown = tf.where(epochs_per_wait > 0, (best_epoch + per - 1) // per, 0)
    return tf.maximum(patience, grown)


def _best_keeper(read_weights, *, per_fold: bool):
    """``keep_best(improved, best)``: the current weights where ``improved``, else ``best``."""
    import tensorflow as tf

    def keep_best(improved, best):
        if not per_fold:
            return tf.cond(improved, read_weights, lambda: best)
        current = read_weights()
        return [_where_fold(improved, new, old) for new, old in zip(current, best, strict=True)]

    return keep_best


def _where_fold(improved, new, old):
    """``new`` in the folds that improved, ``old`` in the others (the fold axis first)."""
    import tensorflow as tf

    shape = tf.concat([tf.shape(improved), tf.ones([tf.rank(new) - 1], tf.int32)], axis=0)
    return tf.where(tf.reshape(improved, shape), new, old)


def _losses_array():
    import tensorflow as tf

    return tf.TensorArray(tf.float64, size=0, dynamic_size=True, element_shape=[])


def _assign(variables, values):
    import tensorflow as tf

    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return tf.constant(True)


def _validation_loss(chunk_loss, validation, fold_shape=()):
    """The validation loss as the mean over rows of the chunks' mean losses (one per fold)."""
    import tensorflow as tf

    n_rows = tf.shape(validation[0], out_type=tf.int64)[0]
    size = tf.constant(VALIDATION_CHUNK, tf.int64)

    def body(start, total):
        stop = tf.minimum(start + size, n_rows)
        part = [tensor[start:stop] for tensor in validation]
        loss = tf.cast(chunk_loss(*part), tf.float64)
        return stop, total + loss * tf.cast(stop - start, tf.float64)

    _, total = tf.while_loop(
        lambda start, _: start < n_rows,
        body,
        (tf.constant(0, tf.int64), tf.zeros(fold_shape, tf.float64)),
    )
    return total / tf.cast(n_rows, tf.float64)
