"""The default MLP as ``fit`` builds it, small, for the tests of networks trained together.

Shared by the stacked threshold folds' tests and the ensembles' tests.
"""

import numpy as np

from safekeras.network import architecture, training

HIDDEN = (8, 4)
L2 = 1e-3
SETTINGS = dict(batch_size=16, epochs=12, patience=3)


def default_mlp(spec, width, seed, *, hidden=HIDDEN, dropout=0.0):
    """The default MLP for ``spec`` on inputs of ``width``, seeded from ``seed``."""
    return architecture.build_network(
        None,
        meta=architecture.make_meta(spec, width),
        spec=spec,
        hidden_layer_sizes=hidden,
        activation="relu",
        dropout=dropout,
        l2=L2,
        add_head=False,
        seeds=architecture.seed_stream(np.random.RandomState(seed)),
    )


def train_alone(network, x, y, validation):
    """``network`` (compiled) trained on its own in the compiled engine, as a fit trains it."""
    return training.train(
        network,
        engine="compiled",
        x=x,
        y=y,
        sample_weight=None,
        validation=validation,
        callbacks=None,
        shuffle_seed=7,
        verbose=0,
        **SETTINGS,
    )
