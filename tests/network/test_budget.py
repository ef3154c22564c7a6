"""The optimizer-step budget: ``batch_size="auto"`` and ``patience="auto"`` from the rows."""

import pytest

from safekeras.network import budget
from safekeras.network.budget import (
    Budget,
    auto_batch_size,
    auto_patience,
    required_wait,
    resolve_budget,
)


@pytest.mark.parametrize(
    ("rows", "batch"),
    [
        (1, 32),
        (210, 32),  # the 263-row table's training split: 7 steps per epoch, not 1
        (362, 32),  # 45.2 rows a step rounds (in log space) down to 32
        (363, 64),  # 45.4 rows a step rounds up to 64
        (512, 64),
        (1_000, 128),
        (1_450, 256),
        (2_000, 256),  # as before from here on: 256 rows a step
        (10_000, 256),  # no larger batches: they saved no time (docs/defaults.md)
        (200_000, 256),
    ],
)
def test_auto_batch_size_aims_at_steps_per_epoch(rows, batch):
    assert auto_batch_size(rows) == batch


def test_auto_batch_size_is_a_power_of_two_within_its_bounds_and_grows_with_the_rows():
    sizes = [auto_batch_size(rows, max_batch=1024) for rows in range(1, 50_000, 97)]
    assert sizes == sorted(sizes)
    assert all(size & (size - 1) == 0 for size in sizes)
    assert min(sizes) == budget.MIN_BATCH
    assert max(sizes) == 1024
    assert auto_batch_size(50_000) == budget.MAX_BATCH == 256


@pytest.mark.parametrize(
    ("rows", "batch", "patience"),
    [
        (210, 32, 8),  # 7 steps an epoch: 8 epochs hold 56 >= 56 steps
        (2_000, 256, 7),  # 8 steps an epoch: 7 epochs are already 56 steps
        (60, 32, 28),  # 2 steps an epoch
        (10, 256, 50),  # 1 step an epoch: capped at MAX_PATIENCE
        (100_000, 256, 7),
    ],
)
def test_auto_patience_counts_optimizer_steps(rows, batch, patience):
    assert auto_patience(rows, batch) == patience


def test_resolve_budget_keeps_integers_as_they_are():
    assert resolve_budget(100, 3, n_rows=210) == Budget(batch_size=100, patience=3)
    assert resolve_budget("auto", 0, n_rows=210) == Budget(batch_size=32, patience=0)
    # An explicit batch still gets an automatic patience in steps of that batch.
    grows = budget.EPOCHS_PER_WAIT  # "auto" also grows the wait with the best epoch
    assert resolve_budget(256, "auto", n_rows=210) == Budget(256, 50, epochs_per_wait=grows)
    assert resolve_budget("auto", "auto", n_rows=210) == Budget(32, 8, epochs_per_wait=grows)


def test_the_patience_counts_seven_epochs_of_the_target_length():
    assert budget.PATIENCE_STEPS == budget.MIN_PATIENCE * budget.STEPS_PER_EPOCH == 56


def test_the_auto_rule_reads_its_constants_at_each_call(monkeypatch):
    # The patience ablation (benchmarks/defaults_ablation.py) tries other rules by
    # patching the module's constants: a default bound at import would ignore them.
    monkeypatch.setattr(budget, "MIN_PATIENCE", 5)
    monkeypatch.setattr(budget, "PATIENCE_STEPS", 40)
    assert auto_patience(2_000, 256) == 5
    assert auto_patience(210, 32) == 6  # 7 steps an epoch: 6 epochs hold 42 >= 40 steps
    assert resolve_budget("auto", "auto", n_rows=210) == Budget(32, 6, epochs_per_wait=5)


def test_the_auto_wait_grows_with_the_best_epoch_and_an_integer_one_does_not():
    assert budget.EPOCHS_PER_WAIT == 5
    assert resolve_budget(256, 7, n_rows=5_000).epochs_per_wait == 0
    # ceil(best / 5), at least the patience: no change before the 50th epoch.
    waits = [required_wait(10, 5, best) for best in (1, 50, 51, 96, 100, 101)]
    assert waits == [10, 10, 11, 20, 20, 21]
    assert [required_wait(3, 0, best) for best in (1, 100)] == [3, 3]
