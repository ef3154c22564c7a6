"""The optimizer-step budget: ``batch_size="auto"`` and ``patience="auto"`` from the rows.

An epoch count means very different training on 200 rows and on 200 000: at a
fixed batch of 256, 210 training rows get one optimizer step per epoch, and an
early stopping that waits 10 epochs waits 10 steps, far too few for Adam to
have moved (issue 22, on a 263-row table: R² 0.377 against 0.535 for a plain
Keras network trained for 700 steps). The rules here count optimizer steps
instead, from the number of rows the network trains on:

* ``batch_size="auto"``: about :data:`STEPS_PER_EPOCH` steps per epoch, a
  power of two between :data:`MIN_BATCH` and :data:`MAX_BATCH`. Small data gets
  small batches (several steps per epoch); from about 1 450 rows on, the batch
  of 256 rows it always had (larger ones were measured and saved no time).
* ``patience="auto"``: :data:`MIN_PATIENCE` epochs, or more when that many
  epochs hold fewer than :data:`PATIENCE_STEPS` optimizer steps, so early
  stopping never gives up after a handful of updates; at most
  :data:`MAX_PATIENCE` epochs. And it waits at least one epoch for every
  :data:`EPOCHS_PER_WAIT` epochs its best epoch took (see
  :func:`required_wait`): a network still improving after 100 epochs is not
  judged on 7, while one whose best epoch came early still stops 7 after it.

The constants were chosen by ``benchmarks/defaults_ablation.py``; the numbers
that chose them are in ``docs/defaults.md``. An integer keeps the meaning it
always had: a batch of that many rows, that many epochs of patience.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EPOCHS_PER_WAIT",
    "MAX_BATCH",
    "MAX_PATIENCE",
    "MIN_BATCH",
    "MIN_PATIENCE",
    "PATIENCE_STEPS",
    "STEPS_PER_EPOCH",
    "Budget",
    "auto_batch_size",
    "auto_patience",
    "required_wait",
    "resolve_budget",
]

#: Smallest automatic batch: below it a step's gradient is mostly noise and the
#: per-step cost dominates.
MIN_BATCH = 32
#: Largest automatic batch: larger ones needed more epochs and saved no time (20000 x 20:
#: batch 512 fitted in 1.3x the time of 256, batch 1024 in 1.0x, with equal quality).
MAX_BATCH = 256
#: Steps per epoch the automatic batch aims at (rows / batch, to a power of two): 16 made
#: batches of 128 at 2 000 rows, 1.1-1.4x slower than 256 there for equal quality; 8 keeps
#: 256 from about 1 450 rows on.
STEPS_PER_EPOCH = 8
#: Patience in epochs where an epoch has enough steps. 7 rather than the 10 it was: with the
#: wait also growing with the best epoch (EPOCHS_PER_WAIT), 7 tied 10 on every real table and
#: the default-path data over 3 seeds of 5 folds (largest pooled drop 0.003 balanced accuracy),
#: and fitted 3000 x 10 in 11 % less time, 20000 x 20 in 21 % less (docs/defaults.md).
MIN_PATIENCE = 7
#: Optimizer steps early stopping waits at least, whatever the epoch's length: as many as
#: MIN_PATIENCE epochs of STEPS_PER_EPOCH steps (56), so the patience only grows on data too
#: small for that many steps per epoch.
PATIENCE_STEPS = MIN_PATIENCE * STEPS_PER_EPOCH
#: Longest automatic patience, in epochs (a few rows: one step per epoch).
MAX_PATIENCE = 50
#: Early stopping waits at least one epoch for every this many epochs up to the best one
#: (a fifth of them): it only matters once the best epoch is past MIN_PATIENCE * 5. On the
#: slowly converging bikeshare regression (best epochs near 100) it was ahead on R² in 13 of
#: 15 folds over 3 seeds, and it kept the shorter MIN_PATIENCE from stopping that table early.
EPOCHS_PER_WAIT = 5


@dataclass(frozen=True)
class Budget:
    """The batch size and patience one fit trains with.

    Attributes
    ----------
    batch_size : int
        Rows per optimizer step.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    epochs_per_wait : int, default=0
        And at least one epoch for every ``epochs_per_wait`` epochs up to the
        best one (see :func:`required_wait`); 0, for an integer ``patience``,
        waits ``patience`` epochs only.
    """

    batch_size: int
    patience: int
    epochs_per_wait: int = 0


def auto_batch_size(n_rows: int, *, max_batch: int = MAX_BATCH) -> int:
    """The batch size ``batch_size="auto"`` gives for ``n_rows`` training rows.

    Parameters
    ----------
    n_rows : int
        Rows the network trains on (after the validation split and any
        resampling).
    max_batch : int, default=MAX_BATCH
        Largest batch to return.

    Returns
    -------
    int
        ``n_rows / STEPS_PER_EPOCH`` rounded to a power of two, within
        ``[MIN_BATCH, max_batch]``.

    Examples
    --------
    >>> auto_batch_size(210), auto_batch_size(1_000), auto_batch_size(100_000)
    (32, 128, 256)
    """
    if n_rows <= MIN_BATCH * STEPS_PER_EPOCH:
        return MIN_BATCH
    # Rounded in log space: 1.4x the target steps rounds down, 1.5x up.
    exponent = round(math.log2(n_rows / STEPS_PER_EPOCH))
    return int(min(max(2**exponent, MIN_BATCH), max_batch))


def auto_patience(n_rows: int, batch_size: int, *, patience_steps: int | None = None) -> int:
    """The patience ``patience="auto"`` gives for ``n_rows`` rows in batches of ``batch_size``.

    Parameters
    ----------
    n_rows : int
        Rows the network trains on.
    batch_size : int
        Rows per optimizer step (the resolved one).
    patience_steps : int, default=None
        Optimizer steps to wait at least; ``None`` is :data:`PATIENCE_STEPS`.

    Returns
    -------
    int
        Epochs holding at least ``patience_steps`` steps, within
        ``[MIN_PATIENCE, MAX_PATIENCE]``.

    Examples
    --------
    >>> auto_patience(210, 32), auto_patience(2_000, 256), auto_patience(60, 32)
    (8, 7, 28)
    """
    # The module's constants are read at each call, not bound at import, so that the
    # patience ablation (benchmarks/defaults_ablation.py) can try other rules.
    if patience_steps is None:
        patience_steps = PATIENCE_STEPS
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    return int(min(max(math.ceil(patience_steps / steps_per_epoch), MIN_PATIENCE), MAX_PATIENCE))


def resolve_budget(batch_size, patience, n_rows: int) -> Budget:
    """The batch size and patience of a fit on ``n_rows`` rows, ``"auto"`` resolved.

    Parameters
    ----------
    batch_size : int or "auto"
        The estimator's ``batch_size``; an int is kept as it is.
    patience : int or "auto"
        The estimator's ``patience``; an int is kept as it is.
    n_rows : int
        Rows the network trains on.

    Returns
    -------
    Budget
    """
    batch = auto_batch_size(n_rows) if batch_size == "auto" else int(batch_size)
    if patience == "auto":
        return Budget(batch, auto_patience(n_rows, batch), epochs_per_wait=EPOCHS_PER_WAIT)
    return Budget(batch_size=batch, patience=int(patience))


def required_wait(patience: int, epochs_per_wait: int, best_epoch: int) -> int:
    """Epochs without improvement after which early stopping stops.

    Parameters
    ----------
    patience : int
        The least wait, in epochs.
    epochs_per_wait : int
        One epoch of wait for every ``epochs_per_wait`` epochs up to the best
        one, when that is longer; 0: ``patience`` only.
    best_epoch : int
        1-based epoch of the best validation loss so far.

    Returns
    -------
    int
        ``max(patience, ceil(best_epoch / epochs_per_wait))``, in integers, as
        the compiled engines compute it in their loops.

    Examples
    --------
    >>> required_wait(7, 5, 30), required_wait(7, 5, 96), required_wait(7, 0, 96)
    (7, 20, 7)
    """
    if epochs_per_wait <= 0:
        return int(patience)
    return max(int(patience), -(-int(best_epoch) // int(epochs_per_wait)))
