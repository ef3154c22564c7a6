"""Plots of a :class:`~safekeras.diagnostics.Diagnosis`, in scikit-learn's display style.

matplotlib is an optional dependency (``pip install "safekeras[plot]"``); it is
imported only when something is drawn. This module reads what ``diagnose()`` measures
(:mod:`~safekeras.inspection.measure`, :mod:`~safekeras.inspection.summary`) and never
imports :mod:`~safekeras.inspection.report`, whose :meth:`~safekeras.Diagnosis.plot`
imports it.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import DiagnosisError, MissingDependencyError
from .measure import _gather
from .summary import _curves

__all__ = ["DiagnosisDisplay"]


class DiagnosisDisplay:
    """Learning curves, precision-recall curve and threshold scores of a fitted estimator.

    Follows scikit-learn's display conventions: build it with
    :meth:`from_estimator` (or :meth:`safekeras.Diagnosis.plot`), which draws it, or
    from the data and call :meth:`plot`. Panels without data are left out
    (see :attr:`panels`):

    * ``"learning_curves"``: training and validation loss per epoch, the kept
      epoch (vertical line) and the baseline loss (dashed: the loss of a model
      that learnt nothing);
    * ``"precision_recall"``: the precision-recall curve of ``pos_label`` on the
      data given, with the points at ``threshold`` and at 0.5 marked and the
      chance level (the prevalence of ``pos_label``) dashed (binary, with
      ``X, y``);
    * ``"threshold"``: ``threshold_scoring`` against the threshold, with 0.5
      and ``threshold`` marked, on the data given, else on the data the
      threshold was tuned on (binary).

    Parameters
    ----------
    loss : sequence of float
        Training loss per epoch.
    val_loss : sequence of float, default=None
        Validation loss per epoch.
    best_epoch : int, default=None
        The 1-based epoch whose weights were kept.
    baseline_loss : float, default=None
        Loss of predicting the class priors (the mean, for a regressor).
    y_true : ndarray of bool, default=None
        True for rows of the positive class in the data given.
    y_score : ndarray, default=None
        Probability of the positive class for those rows.
    pos_label : label, default=None
        The positive class, for the labels.
    threshold : float, default=None
        The decision threshold in use.
    thresholds, scores : ndarray, default=None
        Candidate thresholds and their ``scoring_name`` scores.
    scoring_name : str, default=None
    scores_source : str, default=None
        Which data the scores were measured on, in words.
    estimator_name : str, default=None

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
    axes_ : ndarray of matplotlib.axes.Axes
        One per panel, in :attr:`panels` order.
    """

    def __init__(
        self,
        *,
        loss,
        val_loss=None,
        best_epoch=None,
        baseline_loss=None,
        y_true=None,
        y_score=None,
        pos_label=None,
        threshold=None,
        thresholds=None,
        scores=None,
        scoring_name=None,
        scores_source=None,
        estimator_name=None,
    ):
        self.loss = loss
        self.val_loss = val_loss
        self.best_epoch = best_epoch
        self.baseline_loss = baseline_loss
        self.y_true = y_true
        self.y_score = y_score
        self.pos_label = pos_label
        self.threshold = threshold
        self.thresholds = thresholds
        self.scores = scores
        self.scoring_name = scoring_name
        self.scores_source = scores_source
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X=None, y=None, *, axes=None) -> DiagnosisDisplay:
        """Measure ``estimator`` as :func:`~safekeras.diagnostics.diagnose` does and draw it.

        The same display as ``diagnose(estimator, X, y).plot(axes=axes)``, with the
        same errors.

        Parameters
        ----------
        estimator : fitted SafeKerasClassifier or SafeKerasRegressor
        X, y : array-like, default=None
            As for :func:`~safekeras.diagnostics.diagnose`; with both, a binary classifier's
            precision-recall and threshold panels use them.
        axes : sequence of matplotlib Axes, default=None
            One per panel; None makes a new figure.

        Returns
        -------
        DiagnosisDisplay
        """
        # The display needs only the measurements, not the findings: building it from them
        # keeps this module below the report, whose plot() imports it (no import circle).
        return cls(**_curves(_gather(estimator, X, y))).plot(axes=axes)

    @property
    def panels(self) -> tuple:
        """The panels :meth:`plot` draws, in order: those with data."""
        panels = ["learning_curves"]
        if self.y_true is not None and self.y_score is not None and self.threshold is not None:
            panels.append("precision_recall")
        if self.thresholds is not None and len(self.thresholds):
            panels.append("threshold")
        return tuple(panels)

    def plot(self, axes=None) -> DiagnosisDisplay:
        """Draw the panels.

        Parameters
        ----------
        axes : sequence of matplotlib Axes, default=None
            One per panel of :attr:`panels`; None makes a new figure with the
            panels side by side.

        Returns
        -------
        self : DiagnosisDisplay
            With ``figure_`` and ``axes_`` set.
        """
        plt = _pyplot()
        panels = self.panels
        if axes is None:
            _, grid = plt.subplots(
                1, len(panels), figsize=(5 * len(panels), 4), squeeze=False, layout="constrained"
            )
            axes = list(grid[0])
        else:
            axes = list(np.ravel(np.asarray(axes, dtype=object)))
            if len(axes) != len(panels):
                raise DiagnosisError(
                    f"Got {len(axes)} Axes for {len(panels)} panel(s) {panels}; pass one Axes "
                    "per panel, or axes=None for a new figure."
                )
        for panel, ax in zip(panels, axes, strict=True):
            getattr(self, f"_plot_{panel}")(ax)
        self.axes_ = np.asarray(axes, dtype=object)
        self.figure_ = axes[0].figure
        return self

    def _plot_learning_curves(self, ax):
        epochs = np.arange(1, len(self.loss) + 1)
        ax.plot(epochs, self.loss, label="training loss")
        if self.val_loss is not None and len(self.val_loss):
            ax.plot(epochs[: len(self.val_loss)], self.val_loss, label="validation loss")
        if self.best_epoch is not None:
            ax.axvline(
                self.best_epoch, color="grey", linestyle=":", label=f"kept epoch {self.best_epoch}"
            )
        if self.baseline_loss is not None:
            ax.axhline(
                self.baseline_loss,
                color="grey",
                linestyle="--",
                label=f"baseline {self.baseline_loss:.3g} (learnt nothing)",
            )
        title = "Learning curves"
        if self.estimator_name:
            title += f" of {self.estimator_name}"
        ax.set(xlabel="epoch", ylabel="loss", title=title)
        _integer_ticks(ax.xaxis)
        ax.legend()

    def _plot_precision_recall(self, ax):
        from sklearn.metrics import PrecisionRecallDisplay

        y_true = np.asarray(self.y_true, dtype=bool)
        y_score = np.asarray(self.y_score, dtype=np.float64)
        prevalence = np.mean(y_true)
        PrecisionRecallDisplay.from_predictions(
            y_true,
            y_score,
            pos_label=True,
            name=self.estimator_name,
            ax=ax,
            plot_chance_level=True,
            chance_level_kw={"label": f"chance (prevalence {prevalence:.2g})"},
        )
        marks = [(self.threshold, "o", f"threshold_ {self.threshold:.3g}")]
        if not np.isclose(self.threshold, 0.5):
            marks.append((0.5, "X", "threshold 0.5"))
        for threshold, marker, label in marks:
            recall, precision = _recall_precision(y_true, y_score, threshold)
            # Points on the frame (recall 0, precision 1) stay visible over the spines.
            ax.plot(recall, precision, marker, markersize=9, label=label, clip_on=False, zorder=3)
        # sklearn labels the axes with the boolean it was given ("Positive label: True").
        named = self.pos_label is not None
        positive = f"positive label: {self.pos_label!r}" if named else "positive class"
        ax.set(
            xlabel=f"Recall ({positive})",
            ylabel=f"Precision ({positive})",
            title=f"Precision-recall{f' of {self.pos_label!r}' if named else ''} on the data given",
            xlim=(-0.03, 1.03),
            ylim=(-0.03, 1.08),
        )
        # Below the panel: inside it, any corner (and "best") can cover a threshold's mark.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small")

    def _plot_threshold(self, ax):
        thresholds = np.asarray(self.thresholds, dtype=np.float64)
        scores = np.asarray(self.scores, dtype=np.float64)
        finite = np.isfinite(scores)
        name = self.scoring_name or "score"
        ax.plot(thresholds[finite], scores[finite], label=name)
        ax.axvline(0.5, color="grey", linestyle="--", label="threshold 0.5")
        if self.threshold is not None:
            ax.axvline(
                self.threshold, color="C3", linestyle=":", label=f"threshold_ {self.threshold:.3g}"
            )
        xlabel = "threshold" if self.pos_label is None else f"threshold on P({self.pos_label!r})"
        ax.set(xlabel=xlabel, ylabel=name, title=f"{name} vs threshold")
        if self.scores_source:
            ax.set_title(f"{name} vs threshold\non {self.scores_source}", fontsize="medium")
        ax.legend()


def _pyplot():
    """``matplotlib.pyplot``, or a clear error naming the extra that installs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            'Plotting a diagnosis needs matplotlib: pip install "safekeras[plot]" (or pip '
            "install matplotlib). str(diagnosis) and diagnosis.to_dict() work without it."
        ) from exc
    return plt


def _integer_ticks(axis) -> None:
    """Ticks at whole numbers only: epochs have no halves."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _recall_precision(y_true, y_score, threshold) -> tuple[float, float]:
    predicted = y_score >= threshold
    hits = np.count_nonzero(predicted & y_true)
    recall = hits / max(np.count_nonzero(y_true), 1)
    # No predicted positive: precision is 1 by the convention of precision_recall_curve.
    precision = hits / np.count_nonzero(predicted) if predicted.any() else 1.0
    return recall, precision
