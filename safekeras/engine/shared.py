"""What both compiled epoch runners need before their first epoch."""

from __future__ import annotations

__all__ = ["VALIDATION_CHUNK", "build_training_state", "chunks"]

# Validation rows per forward pass: one pass for typical splits, bounded
# memory for large ones. The loss is a weighted mean over rows either way.
VALIDATION_CHUNK = 8192


def build_training_state(network, x, y, sample_weight) -> None:
    """Create every variable training will touch before anything is compiled.

    Variables cannot be created inside a compiled loop, so the compiled loss
    (built by its first call) and the optimizer's slots are built here, from
    one eager forward pass over a couple of rows in inference mode (no
    dropout draw, no batch-norm update).
    """
    rows = slice(0, min(2, len(x)))
    weights = None if sample_weight is None else sample_weight[rows]
    y_pred = network(x[rows], training=False)
    network.compute_loss(x[rows], y[rows], y_pred, weights, training=False)
    network.optimizer.build(network.trainable_variables)


def chunks(x, y, sample_weight, *, size: int):
    """``(x, y, sample_weight)`` in consecutive row blocks of at most ``size``."""
    for start in range(0, len(x), size):
        rows = slice(start, start + size)
        yield x[rows], y[rows], None if sample_weight is None else sample_weight[rows]
