"""One TensorFlow name for the variables safekeras creates, so refits leak nothing.

TensorFlow caches a kernel for every distinct set of op attributes it runs
eagerly, and creating a variable runs ``VarHandleOp`` with the variable's
name among them. The cache is never emptied, so every new name costs memory
for the life of the process (about 35 KB, measured; see TensorFlow issue
19671) and a kernel build (about 0.7 ms). Keras numbers many of the names
it makes: every ``Dropout`` layer's ``SeedGenerator`` is "seed_generator_57",
a user's layers are "dense_57", an optimizer's slots carry the layer names.
A default classifier fit created two such names (its two Dropout
layers' seeds), a default regressor four (the stack of its members and the
wide network they become): 70 to 230 KB a refit were never given back, so a
long search or a service that refits grew without bound.

:func:`stable_variable_names` gives every TensorFlow variable created inside
it one fixed name through ``tf.variable_creator_scope`` (TensorFlow's public
hook, scoped to the thread and the block, so nothing global changes). The
name only labels the TensorFlow handle: Keras keeps its own names and paths
(``model.weights``, ``.keras`` files, ``get_config``), and an eager
variable's handle is never shared by name. Variables created in graph mode
(a TensorFlow 1 graph, where the name *is* the shared handle) keep theirs.
Other backends have no such cache: the block changes nothing there.
"""

from __future__ import annotations

import contextlib

__all__ = ["VARIABLE_NAME", "stable_variable_names"]

VARIABLE_NAME = "safekeras_variable"


@contextlib.contextmanager
def stable_variable_names():
    """Give the TensorFlow variables created in the block one fixed name.

    Yields
    ------
    None
        The block runs unchanged; on TensorFlow, its eagerly created
        variables are named :data:`VARIABLE_NAME` (Keras names unchanged).
        Under a ``tf.distribute`` strategy, whose variable creators read the
        names, and on other backends, nothing is renamed.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    if tf.distribute.has_strategy():
        yield
        return
    with tf.variable_creator_scope(_fixed_name):
        yield


def _fixed_name(next_creator, **kwargs):
    import tensorflow as tf

    with tf.init_scope():  # where the variable will be created: eager unless in a v1 graph
        eager = tf.executing_eagerly()
    if eager:
        # The trailing slash makes it an absolute name scope: no enclosing scope is
        # prefixed and TensorFlow does not number it.
        kwargs["name"] = VARIABLE_NAME + "/"
    return next_creator(**kwargs)
