"""One rule for every win and loss the benchmarks report: a paired test over the same folds.

Two contenders scored on the same cross-validation folds give one difference
per fold. The folds share most of their training rows, so those differences
are not independent and the naive standard error is too small; the corrected
resampled t statistic (Nadeau and Bengio, 2003, "Inference for the
generalization error", Machine Learning 52) inflates the variance by the
test-to-train ratio to account for it. A contender wins or loses only when
the mean difference clears that corrected interval; otherwise it is a tie.
The same rule applies whichever side is safekeras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["CONFIDENCE", "PairedComparison", "compare_paired"]

CONFIDENCE = 0.95  # two-sided


@dataclass(frozen=True)
class PairedComparison:
    """The per-fold differences ``a - b`` of one metric and what they show.

    Attributes
    ----------
    mean : float
        Mean difference, signed so that positive favours ``a`` (the sign of a
        lower-is-better metric is flipped).
    half_width : float
        Half-width of the corrected confidence interval of ``mean``.
    ahead : int
        Folds in which ``a`` scored better.
    folds : int
        Number of paired folds.
    verdict : {"win", "loss", "tie"}
        For ``a``: "win" when the interval lies above 0, "loss" when below.
    """

    mean: float
    half_width: float
    ahead: int
    folds: int
    verdict: str

    def __str__(self) -> str:
        return (
            f"{self.mean:+.3f} ± {self.half_width:.3f} "
            f"({self.verdict}, ahead in {self.ahead}/{self.folds} folds)"
        )


def compare_paired(
    a, b, *, test_fraction: float = 0.2, higher_is_better: bool = True
) -> PairedComparison:
    """Compare two contenders' scores on the same folds.

    Parameters
    ----------
    a, b : array-like of shape (n_folds,)
        Scores of the two contenders, fold by fold, on the same folds.
    test_fraction : float, default=0.2
        Share of the rows each fold scores on (0.2 for 5-fold CV); it sets the
        correction ``1/k + test/train`` of the variance.
    higher_is_better : bool, default=True
        False for losses (Brier, MAE), so that a positive mean still favours ``a``.

    Returns
    -------
    PairedComparison

    Raises
    ------
    ValueError
        If the two have different lengths or fewer than two folds.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"need two equal 1-d arrays of 2+ folds, got {a.shape} and {b.shape}")
    diffs = (a - b) if higher_is_better else (b - a)
    k = diffs.size
    corrected_var = (1.0 / k + test_fraction / (1.0 - test_fraction)) * np.var(diffs, ddof=1)
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1) * math.sqrt(corrected_var))
    mean = float(np.mean(diffs))
    verdict = "win" if mean - half_width > 0 else "loss" if mean + half_width < 0 else "tie"
    return PairedComparison(mean, half_width, int(np.sum(diffs > 0)), k, verdict)
