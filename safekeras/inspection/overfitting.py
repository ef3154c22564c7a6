"""The overfitting check: a held-out loss far above the training loss, or one that rose."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .measure import _class_weight_per_row
from .report import Finding

__all__ = ["GAP_RATIO", "GAP_SHARE", "MEMORISED_SHARE", "NOISE_Z", "RISE_SHARE", "VAL_RISE"]

#: Rise of the validation loss from its minimum to the last epoch, as a share of that minimum,
#: that counts as "rising" (while the training loss fell). With the default learning rate the
#: last ``patience`` epochs of healthy fits rose at most 5 % (24 fits of small data sets); at
#: 10 %, learning rate 0.01 with batches of 32 fired on 14 of 20 fits, most of them mild.
VAL_RISE = 0.25
#: ... and the rise must also exceed this share of the baseline loss, so that a loss creeping
#: from 0.01 to 0.012 on a nearly perfect fit does not count.
RISE_SHARE = 0.05
#: Validation loss (or the loss on the data given) at the kept epoch over the training loss
#: there that counts as a generalisation gap. Generous: the training loss includes dropout and
#: the L2 penalty, and healthy nearly-perfect fits reach ratios of 3 at tiny losses ...
GAP_RATIO = 1.5
#: ... so the gap must also exceed this share of the baseline loss. Healthy fits of small
#: synthetic and bundled data sets reached 0.29; a 4-class fit on 420 rows whose held-out loss
#: was 1.9 times its training loss reached 0.37.
GAP_SHARE = 0.3
#: The loss on the data given is lowered by this many standard errors before it is compared:
#: on 100 rows of a binary problem, the mean log loss of 100-row batches of one population
#: varied from 0.23 to 0.47 (standard error up to 0.08), a few confident mistakes weighing most.
NOISE_Z = 2.0
#: With no held-out rows at all (no validation loss, no threshold search, no ``X, y``), a
#: training loss under this share of the baseline is reported as "cannot tell": the network
#: then gives the true class of nearly every training row a probability above 0.99, which data
#: with any label noise allows only by memorising it (clean, separable data allows it too,
#: which is why the finding says it cannot tell). Healthy fits of the bundled and synthetic
#: data sets kept epochs at 0.02-0.86 of the baseline.
MEMORISED_SHARE = 0.01


def _is_gap(held_out: float, train: float, scale: float) -> bool:
    """Whether a held-out loss is far enough above the training loss to call it overfitting."""
    return held_out >= GAP_RATIO * train and held_out - train >= GAP_SHARE * scale


def _check_overfitting(context) -> list:
    best, n_epochs, train_best = context.best_epoch, context.n_epochs, context.train_best
    evidence = {
        "best_epoch": best,
        "n_epochs": n_epochs,
        "train_loss_best": train_best,
        "train_loss_final": float(context.loss[-1]),
    }
    signs = []
    if context.val_loss is not None:
        signs += _validation_signs(context, evidence)
    else:
        signs += _held_out_signs(context, evidence)
    if context.comparable:
        given_loss, given_se = context.given.loss, context.given.loss_se
        evidence.update(given_loss=given_loss, given_loss_se=given_se)
        # Judged on what the loss surely exceeds: a few confident mistakes in a small batch
        # can double a mean loss by luck alone.
        if _is_gap(given_loss - NOISE_Z * given_se, train_best, context.scale):
            evidence["given_train_ratio"] = given_loss / train_best
            signs.append(
                f"the loss on the {context.given.n_rows} rows given, {given_loss:.3g} (+- "
                f"{given_se:.2g}), is {given_loss / train_best:.1f} times the training loss "
                f"{train_best:.3g}"
            )
    if not signs:
        return _cannot_tell(context, evidence)
    if context.baseline is not None:
        evidence["baseline_loss"] = context.baseline
    return [Finding("overfitting", "; ".join(signs), evidence, _overfitting_fix(context))]


def _validation_signs(context, evidence) -> list:
    """Overfitting in the recorded validation loss, as it bears on the weights in use.

    A rise *after* the epoch early stopping restored is how early stopping finds its
    epoch (it waits ``patience`` epochs), not a problem of the model in use: only a
    validation loss at the kept epoch above the minimum (the weights in use are past
    it, as without early stopping) counts.
    """
    val, best = context.val_loss, context.best_epoch
    train_best = context.train_best
    minimum, kept = float(np.min(val)), float(val[best - 1])
    at_minimum = int(np.argmin(val)) + 1
    # val_loss_min, not val_loss_best: the summary's val_loss_best is the loss at the kept epoch.
    evidence.update(
        val_loss_min=minimum, val_loss_min_epoch=at_minimum, val_loss_final=float(val[-1])
    )
    signs = []
    rise = kept - minimum
    if (
        train_best < float(context.loss[at_minimum - 1])
        and rise >= VAL_RISE * minimum
        and rise >= RISE_SHARE * context.scale
    ):
        evidence["val_loss_rise"] = rise / minimum
        signs.append(
            f"validation loss rose {rise / minimum:.0%} after epoch {at_minimum} (to "
            f"{kept:.3g} at epoch {best}, whose weights predict) while the training loss fell"
        )
    kept_se = _validation_loss_se(context, kept)
    if kept_se is not None:
        evidence["val_loss_se"] = kept_se
    if _is_gap(kept - NOISE_Z * (kept_se or 0.0), train_best, context.scale):
        evidence["val_train_ratio"] = kept / train_best
        signs.append(
            f"at epoch {best} the validation loss {kept:.3g} is "
            f"{kept / train_best:.1f} times the training loss {train_best:.3g}"
        )
    return signs


def _validation_loss_se(context, kept: float) -> float | None:
    """Standard error of the validation loss at the kept epoch.

    Measured when the threshold was tuned on the validation split (the same rows,
    predicted by the kept weights). Otherwise approximated by taking the per-row
    spread of the loss equal to its mean, as for an exponential tail; per-row log
    losses are usually more spread than that, so this underestimates the noise
    rather than inventing it: a 48-row split whose loss doubled by chance (five
    positive rows, one confident mistake) is no longer called a gap.
    """
    held_out = _threshold_held_out_loss(context)
    if held_out is not None and held_out[3].startswith("the validation split"):
        return held_out[1]
    n_validation = 0 if context.profile is None else context.profile.n_validation
    return kept / np.sqrt(n_validation) if n_validation else None


def _held_out_signs(context, evidence) -> list:
    """Overfitting on the rows the threshold was tuned on, when no validation loss was kept.

    ``threshold="auto"`` predicts held-out rows (the validation split, or every row out
    of fold) even without early stopping; their cross-entropy is a validation loss.
    """
    held_out = _threshold_held_out_loss(context)
    if held_out is None:
        return []
    loss, loss_se, n_rows, source = held_out
    train_best = context.train_best
    evidence.update(held_out_loss=loss, held_out_loss_se=loss_se, held_out_source=source)
    if not _is_gap(loss - NOISE_Z * loss_se, train_best, context.scale):
        return []
    evidence["held_out_train_ratio"] = loss / train_best
    return [
        f"the loss on the {n_rows} held-out rows the threshold was tuned on ({source}), "
        f"{loss:.3g} (+- {loss_se:.2g}), is {loss / train_best:.1f} times the training loss "
        f"{train_best:.3g}"
    ]


def _threshold_held_out_loss(context) -> tuple | None:
    """(loss, standard error, rows, source) of the threshold search's held-out rows.

    Weighted per class as training weighs them, so that it compares with the
    training loss; a multilabel target averages its labels, as its loss does.
    """
    search = getattr(context.estimator, "threshold_search_", None)
    searches = search if isinstance(search, list) else [search]
    if search is None or any(not s.loss_by_class for s in searches):
        return None
    per_class = None
    if context.target_type == "binary":
        per_class = _class_weight_per_row(context.estimator, np.arange(2))
        if per_class is not None and context.estimator._pos_index() == 0:
            per_class = per_class[::-1]  # loss_by_class is (negative, positive)
    means, variances = [], []
    for one in searches:
        mean, variance = _combine_classes(one, per_class)
        means.append(mean)
        variances.append(variance)
    loss = float(np.mean(means))
    loss_se = float(np.sqrt(np.sum(variances)) / len(variances))
    return loss, loss_se, searches[0].n_samples, searches[0].source


def _combine_classes(search, per_class) -> tuple[float, float]:
    """Mean loss over both classes (weighted per row by ``per_class``) and its variance."""
    counts = np.array([search.n_negative, search.n_positive], dtype=np.float64)
    weights = np.ones(2) if per_class is None else np.asarray(per_class, dtype=np.float64)
    stats = np.asarray(search.loss_by_class, dtype=np.float64)
    shares = counts * weights / np.sum(counts * weights)
    mean = float(shares @ stats[:, 0])
    # Each row weighs shares[k] / counts[k]: the variance of a weighted mean of rows.
    spread = stats[:, 1] ** 2 + (stats[:, 0] - mean) ** 2
    return mean, float(np.sum(shares**2 / counts * spread))


def _cannot_tell(context, evidence) -> list:
    """A training loss near zero with nothing held out to compare: memorised, or clean data?"""
    baseline = context.baseline
    held_out = context.val_loss is not None or "held_out_loss" in evidence
    if held_out or context.comparable or baseline is None:
        return []
    if context.train_best >= MEMORISED_SHARE * baseline:
        return []
    evidence.update(baseline_loss=baseline, train_baseline_ratio=context.train_best / baseline)
    title = (
        f"cannot tell whether the network generalises or memorised its training rows: the "
        f"training loss {context.train_best:.3g} is {context.train_best / baseline:.2%} of the "
        f"baseline {baseline:.3g}, and no rows were held out to compare"
    )
    fix = (
        "Give diagnose rows held out from fit: estimator.diagnose(X_test, y_test). Or refit "
        "with early_stopping=True, which keeps the epoch with the lowest validation loss "
        "and records val_loss. A loss this low on data with any label noise means the network "
        "memorised it."
    )
    return [Finding("overfitting", title, evidence, fix)]


def _overfitting_fix(context) -> str:
    estimator = context.estimator
    if estimator.early_stopping and context.best_epoch < context.n_epochs:
        first = (
            f"Early stopping already restored the weights of epoch {context.best_epoch} (of "
            f"{context.n_epochs} run), so predict does not use the later, more overfit epochs."
        )
    elif estimator.early_stopping:
        first = "Early stopping kept the last epoch: the validation loss was still falling."
    else:
        first = (
            "early_stopping=False, so predict uses the last epoch's weights: set "
            "early_stopping=True to keep the epoch with the lowest validation loss."
        )
    if estimator.model is None:
        steps = _regularise_mlp(estimator)
    else:
        steps = [
            "add keras.layers.Dropout(0.3) after the hidden layers of your model",
            "give them kernel_regularizer=keras.regularizers.L2(1e-4)",
            "use fewer units",
        ]
    steps.append("train on more data")
    return f"{first} To overfit less: {'; '.join(steps)}."


def _regularise_mlp(estimator) -> list:
    steps = []
    dropout, l2 = float(estimator.dropout), float(estimator.l2)
    if dropout < 0.5:
        steps.append(f"dropout is {dropout:g}: try {0.3 if dropout < 0.3 else 0.5:g}")
    if l2 < 1e-2:
        steps.append(f"l2 is {l2:g}: try {1e-4 if l2 == 0 else l2 * 10:g}")
    sizes = _sizes(estimator.hidden_layer_sizes)
    smaller = tuple(max(1, size // 2) for size in sizes)
    if sizes and smaller != sizes:
        steps.append(f"hidden_layer_sizes is {sizes}: try {smaller}")
    return steps


def _sizes(hidden_layer_sizes) -> tuple:
    if isinstance(hidden_layer_sizes, Integral):
        return (int(hidden_layer_sizes),)
    return tuple(int(size) for size in hidden_layer_sizes)
