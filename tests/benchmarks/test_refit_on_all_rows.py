"""``benchmarks/refit_on_all_rows.py``: the refit experiment's candidate, and its section."""

import numpy as np
import pytest
from sklearn.datasets import make_classification

from benchmarks import defaults_ablation as ablation
from benchmarks.refit_on_all_rows import RefitOnAllRows


@pytest.fixture(scope="module", params=[2, 3], ids=["binary", "multiclass"])
def refitted(request):
    # Imbalanced, so that the decision rule (the training shares) differs from the argmax.
    weights = [0.75, 0.25] if request.param == 2 else [0.6, 0.3, 0.1]
    X, y = make_classification(
        240, 6, n_informative=4, n_classes=request.param, weights=weights, random_state=0
    )
    return X, y, RefitOnAllRows(random_state=0).fit(X, y)


def test_the_second_fit_trains_on_every_row_for_the_first_fits_best_epoch_count(refitted):
    *_, model = refitted
    first, second = model.first_, model.second_
    assert second.n_epochs_ == first.best_epoch_
    assert not second.early_stopping and second.batch_size_ == first.batch_size_
    # No validation split: every row trained, so the history has no validation loss.
    assert "val_loss" not in second.history_ and "val_loss" in first.history_
    assert (second.linear_baseline_ is None) == (first.linear_baseline_ is None)
    assert model.n_epochs_ == first.n_epochs_ + second.n_epochs_


def test_probabilities_are_the_refit_or_the_mean_of_both_fits(refitted):
    X, _, model = refitted
    alone, first = model.second_.predict_proba(X), model.first_.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X), alone)
    model.set_params(average=True)
    try:
        np.testing.assert_allclose(model.predict_proba(X), (alone + first) / 2)
    finally:
        model.set_params(average=False)


def test_labels_follow_the_first_fits_decision_rule(refitted):
    # Given the first fit's own probabilities, the rule must give the first fit's labels.
    X, _, model = refitted
    second = model.second_
    model.second_ = model.first_
    try:
        labels = model.predict(X)
        np.testing.assert_array_equal(labels, model.first_.predict(X))
        argmax = model.classes_[np.argmax(model.first_.predict_proba(X), axis=1)]
        assert (labels != argmax).any()  # the rule, not the most probable class
    finally:
        model.second_ = second


def test_the_refit_section_is_an_experiment_on_the_classification_tables_and_default_path():
    candidates = ablation.refit_candidates()
    before = next(iter(candidates))
    assert before.endswith(ablation.BEFORE) and ablation._baseline_name(candidates) == before
    made = {name: make(200) for name, make in candidates.items()}
    assert [getattr(m, "average", None) for m in made.values()] == [None, False, True]
    assert "refit" in ablation.EXPERIMENTS and "refit" not in ablation.parse_args([]).sections
    args = ablation.parse_args(["--sections", "refit"])
    tasks = ablation._section_tasks("refit", args)
    assert [name for name, *_ in tasks][-2:] == ["600x30", "3000x10"]
    assert {kind for _, kind, *_ in tasks} <= {"binary", "multiclass"}
