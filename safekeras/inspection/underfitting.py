"""The underfitting check: a loss near the baseline's, still falling, or chance on ``X, y``."""

from __future__ import annotations

from numbers import Real

from ..network.optimizers import resolve_learning_rate
from .overfitting import _sizes
from .report import Finding

__all__ = ["BASELINE_SHARE", "CHANCE_MARGIN", "MIN_R2", "STILL_FALLING"]

#: Training loss at the kept epoch above this share of the baseline loss means the network
#: learnt little beyond the class priors (the mean). Fits of small synthetic and bundled data
#: sets ended at 0.02-0.86 of it, the highest on data with 10 % flipped labels and little signal.
BASELINE_SHARE = 0.9
#: The validation loss still falling at the last epoch counts when it fell by at least this
#: share over the last ``patience`` epochs: the breast-cancer demo creeps down 1-2 % there after
#: 200 epochs, with balanced accuracy 0.97, and more epochs would change nothing.
STILL_FALLING = 0.05
#: Balanced accuracy on the data given within this much of chance (1 / n_classes) is chance.
CHANCE_MARGIN = 0.05
#: A regressor whose R^2 on the data given is at most this explains next to nothing.
MIN_R2 = 0.05


def _check_underfitting(context) -> list:
    estimator = context.estimator
    train_best, baseline = context.train_best, context.baseline
    evidence = {"best_epoch": context.best_epoch, "n_epochs": context.n_epochs}
    evidence["epochs"] = int(estimator.epochs)
    evidence["train_loss_best"] = train_best
    signs, weak = [], False
    if baseline is not None:
        evidence.update(baseline_loss=baseline, train_baseline_ratio=train_best / baseline)
        if train_best >= BASELINE_SHARE * baseline:
            weak = True
            what = "the class priors" if context.classifier else "the mean"
            signs.append(
                f"the training loss {train_best:.3g} at epoch {context.best_epoch} is "
                f"{train_best / baseline:.0%} of the baseline {baseline:.3g} (predicting {what})"
            )
    still_falling = (
        context.val_loss is not None
        and context.best_epoch == context.n_epochs == int(estimator.epochs)
        and context.n_epochs > 1
    )
    if still_falling:
        # A loss still creeping down at the end is not worth more epochs; one falling fast is.
        val = context.val_loss
        # The patience the fit ran with ("auto" resolved; a file saved before patience_ has an int).
        patience = getattr(estimator, "patience_", estimator.patience)
        window = min(max(int(patience), 1), len(val) - 1)
        recent_fall = float(val[-1 - window] - val[-1])
        evidence["val_loss_recent_fall"] = recent_fall
        still_falling = recent_fall >= STILL_FALLING * float(val[-1 - window])
    if still_falling:
        signs.append(
            f"the validation loss was still falling at the last of epochs={estimator.epochs} "
            f"({recent_fall / float(val[-1 - window]):.0%} in its last {window} epochs)"
        )
    chance, numbers = _chance_sign(context)
    evidence.update(numbers)
    if chance:
        weak = True
        signs.append(chance)
    if not signs:
        return []
    return [Finding("underfitting", "; ".join(signs), evidence, _underfitting_fix(context, weak))]


def _chance_sign(context) -> tuple[str | None, dict]:
    """Whether the model does no better than chance on ``X, y`` (the sign, or None), and the
    numbers that say so."""
    if not context.comparable:
        return None, {}
    metrics, n_rows = context.given.metrics, context.given.n_rows
    if "r2" in metrics:
        sign = None
        if metrics["r2"] <= MIN_R2:
            sign = f"R^2 on the {n_rows} rows given is {metrics['r2']:.3f}"
        return sign, {"r2": metrics["r2"]}
    if "balanced_accuracy" in metrics:
        score, chance = metrics["balanced_accuracy"], 1.0 / len(context.estimator.classes_)
        sign = None
        if score <= chance + CHANCE_MARGIN:
            sign = (
                f"balanced accuracy on the {n_rows} rows given is {score:.3f}, near chance "
                f"({chance:.3g})"
            )
        return sign, {"balanced_accuracy": score, "chance": chance}
    return None, {}


def _underfitting_fix(context, weak: bool) -> str:
    estimator = context.estimator
    epochs = int(estimator.epochs)
    steps = []
    if context.best_epoch == context.n_epochs == epochs:
        steps.append(f"epochs is {epochs}: try {2 * epochs}")
    if weak:
        steps += _strengthen(estimator)
    advice = f"To learn more: {'; '.join(steps)}." if steps else ""
    if weak:
        advice += (
            " If a bigger network only overfits, X carries little information about y: check "
            "that the rows of X and y line up and that the informative features are included."
        )
    return advice.strip()


def _strengthen(estimator) -> list:
    steps = []
    if estimator.model is None:
        sizes = _sizes(estimator.hidden_layer_sizes)
        if not sizes:
            steps.append("hidden_layer_sizes is () (a linear model): try (64, 32)")
        else:
            steps.append(f"hidden_layer_sizes is {sizes}: try {tuple(2 * size for size in sizes)}")
        if float(estimator.dropout) >= 0.3:
            steps.append(f"dropout is {float(estimator.dropout):g}: try 0.1")
        if float(estimator.l2) >= 1e-3:
            steps.append(f"l2 is {float(estimator.l2):g}: try {float(estimator.l2) / 10:g}")
    else:
        steps.append("a wider or deeper model")
    given = estimator.learning_rate
    rate = resolve_learning_rate(given, estimator.optimizer, estimator.model)
    shown = f"{given:g}" if isinstance(given, Real) else repr(given)
    label = f"learning_rate is {shown}"
    if rate is None:
        steps.append(f"{label} (the optimizer's own, 1e-3 for Adam): try 3e-3")
    elif rate < 1e-2:  # above, a higher rate tends to diverge rather than learn more
        suggested = 1e-3 if rate < 1e-4 else 3 * rate
        resolved = "" if isinstance(given, Real) else f" ({rate:g})"
        steps.append(f"{label}{resolved}: try {suggested:g}")
    return steps
