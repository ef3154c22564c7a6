"""The quality benchmark's results and its markdown: per-dataset tables, verdicts, headline.

Part of the quality benchmark (:mod:`benchmarks.quality`): the contender and metric names
the tables use, the records a cross-validation run fills, and every table and note of the
report (:func:`report`) and of the README headline (:func:`headline_table`).
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.contenders import (
    CAREFUL_KERAS,
    CONTENDERS,
    HGB,
    KERAS_BATCH_SIZE,
    KERAS_WRAPPER,
    MLP,
    MLP_DEFAULTS,
    MLP_TUNED,
    PITFALL_KERAS,
    SAFEKERAS,
    SAFEKERAS_NETWORK,
    SCIKERAS,
)
from benchmarks.datasets import Dataset
from benchmarks.paired import PairedComparison, compare_paired
from benchmarks.quality_contract import Contract, contract_table, peer_notes

# Every contender but the default, in CONTENDERS' order: the headline shows them all.
PEERS = tuple(contender.name for contender in CONTENDERS if contender.name != SAFEKERAS)


METRICS = ("balanced_accuracy", "pr_auc", "f1", "brier")


METRIC_LABELS = {
    "balanced_accuracy": "balanced acc.",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "brier": "Brier",
}


HIGHER_IS_BETTER = {"balanced_accuracy": True, "pr_auc": True, "f1": True, "brier": False}


# The metrics every verdict, the headline and the summary report.
VERDICT_METRICS = ("balanced_accuracy", "pr_auc", "brier")


@dataclass
class Result:
    """One contender on one dataset.

    Attributes
    ----------
    contender, dataset : str
    scores : dict of str to ndarray
        Per-fold values of every key ``score`` returns, plus ``fit_seconds``.
    skipped : str or None
        Why there are no scores: not applicable, not installed, or the error.
    warnings : Counter
        Warnings raised during the cross-validation, by category name.
    printed : int
        Characters the contender wrote to stdout during the cross-validation.
    """

    contender: str
    dataset: str
    scores: dict = field(default_factory=dict)
    skipped: str | None = None
    warnings: Counter = field(default_factory=Counter)
    warning_examples: dict = field(default_factory=dict)  # category name -> first message
    printed: int = 0

    def values(self, metric: str) -> np.ndarray:
        return np.asarray(self.scores.get(metric, []), dtype=float)

    def available(self, metric: str) -> bool:
        values = self.values(metric)
        return self.skipped is None and values.size > 0 and not np.isnan(values).all()

    def mean(self, metric: str) -> float:
        return float(np.mean(self.values(metric))) if self.available(metric) else float("nan")

    def std(self, metric: str) -> float:
        values = self.values(metric)
        return float(np.std(values, ddof=1)) if self.available(metric) and values.size > 1 else 0.0


@dataclass
class DatasetResults:
    dataset: Dataset
    results: list[Result]
    seconds: float

    def by_name(self) -> dict[str, Result]:
        return {result.contender: result for result in self.results}


@dataclass
class Run:
    """Everything one benchmark run measured."""

    args: argparse.Namespace
    environment: str
    datasets: list[DatasetResults]
    contracts: dict[str, Contract]
    printed: dict[str, int]  # characters written to stdout per contender, over all datasets
    scikeras_probe: dict | None = None  # probe_scikeras(), when SciKeras is installed
    seconds: float = 0.0


def mean_std(result: Result, metric: str, digits: int = 3) -> str:
    if result.skipped:
        return "-"
    if not result.available(metric):
        return "n/a"
    return f"{result.mean(metric):.{digits}f} ± {result.std(metric):.{digits}f}"


def best_names(results: list[Result], metric: str) -> set[str]:
    """Contenders with the best mean of ``metric`` (ties included)."""
    scored = [r for r in results if r.available(metric)]
    if not scored:
        return set()
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    best = max(sign * round(r.mean(metric), 3) for r in scored)
    return {r.contender for r in scored if sign * round(r.mean(metric), 3) == best}


def format_dataset_table(results: list[Result]) -> str:
    lines = [
        "| contender | balanced acc. | PR-AUC | F1 | Brier | fit s/fold | epochs/fold "
        "| fits/fold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best = {metric: best_names(results, metric) for metric in METRICS}
    for r in results:
        if r.skipped:
            lines.append(f"| {r.contender} | {r.skipped} | | | | | | |")
            continue
        cells = []
        for metric in METRICS:
            cell = mean_std(r, metric)
            cells.append(f"**{cell}**" if r.contender in best[metric] else cell)
        lines.append(
            f"| {r.contender} | {' | '.join(cells)} | {r.mean('fit_seconds'):.2f} "
            f"| {r.mean('epochs'):.3g} | {r.mean('fits'):g} |"
        )
    return "\n".join(lines)


def verdict(a: Result, b: Result, metric: str) -> PairedComparison | None:
    """``a`` against ``b`` on ``metric`` by the one paired rule; None where either has no score.

    Both were scored on the same folds, so each fold gives one difference; with k-fold
    cross-validation each fold tests on 1/k of the rows (the rule's ``test_fraction``).
    The same call decides every win, tie and loss of the report, whichever side is
    safekeras.
    """
    if not (a.available(metric) and b.available(metric)):
        return None
    values = a.values(metric)
    return compare_paired(
        values,
        b.values(metric),
        test_fraction=1.0 / values.size,
        higher_is_better=HIGHER_IS_BETTER[metric],
    )


def paired(a: Result, b: Result, metric: str) -> str:
    """``mean ± half-width (verdict, ahead in k/n folds)`` of ``a`` against ``b``."""
    comparison = verdict(a, b, metric)
    return "n/a" if comparison is None else str(comparison)


RULE = (
    "win / tie / loss by one rule for every pair: the per-fold differences' mean must clear "
    "its 95 % corrected resampled-t interval (Nadeau and Bengio 2003; `benchmarks/paired.py`), "
    "else a tie; Brier differences are signed so that + favours the first side"
)


def dataset_verdict(results: list[Result]) -> str:
    """Safekeras against every peer, on every verdict metric, by the paired rule."""
    by_name = {r.contender: r for r in results}
    safe = by_name[SAFEKERAS]
    if safe.skipped:
        return f"**Verdict**: {SAFEKERAS} did not run ({safe.skipped})."
    parts = []
    for other in results:
        if other.contender == SAFEKERAS or other.skipped:
            continue
        metrics = [
            f"{METRIC_LABELS[metric]} {paired(safe, other, metric)}"
            for metric in VERDICT_METRICS
            if other.available(metric)
        ]
        parts.append(f"vs {other.contender}: " + ", ".join(metrics))
    return (
        f"**Verdict** ({SAFEKERAS} minus peer, per fold: mean ± half-width of the 95 % "
        "corrected interval; the headline's rule): " + "; ".join(parts) + "."
    )


def network_verdict(results: list[Result]) -> str | None:
    """The user network against the flat contenders, per fold; None where it did not run."""
    by_name = {r.contender: r for r in results}
    network = by_name.get(SAFEKERAS_NETWORK)
    if network is None:
        return None
    if network.skipped:
        return f"**Network verdict**: {SAFEKERAS_NETWORK} did not run ({network.skipped})."
    parts = [
        f"vs {other.contender}: {paired(network, other, 'balanced_accuracy')}"
        for other in results
        if other is not network and verdict(network, other, "balanced_accuracy") is not None
    ]
    return (
        f"**Network verdict** ({SAFEKERAS_NETWORK} on the N-d rows minus each contender on "
        "the flat rows, balanced accuracy per fold, same rule): " + "; ".join(parts) + "."
    )


def format_warnings(results: list[Result]) -> str:
    notes = []
    for r in results:
        if r.warnings:
            counts = ", ".join(
                f"{n} {name}"
                + (f' ("{r.warning_examples[name]}")' if name in r.warning_examples else "")
                for name, n in sorted(r.warnings.items())
            )
            notes.append(f"{r.contender}: {counts}")
    return (
        "Warnings during cross-validation (count over folds): "
        + ("; ".join(notes) if notes else "none")
        + "."
    )


def report_dataset(entry: DatasetResults, args) -> str:
    dataset = entry.dataset
    return "\n".join(
        [
            f"### {dataset.name}\n",
            f"{dataset.description}: {dataset.summary}. "
            f"StratifiedKFold({args.folds}, shuffle=True, random_state={args.seed}); "
            f"mean ± std over folds; highest mean in bold (a mean, not a verdict: the verdict "
            f"below applies the paired rule). Took {entry.seconds:.0f} s.\n",
            format_dataset_table(entry.results),
            "",
            dataset_verdict(entry.results),
            "",
            *(
                []
                if network_verdict(entry.results) is None
                else [network_verdict(entry.results), ""]
            ),
            format_warnings(entry.results),
        ]
    )


def headline_columns(run: Run) -> tuple:
    """Every contender that ran: the default first, the user network beside it when it ran.

    On the image and sequence datasets the default is the flat MLP; the network a
    user brings for them is a column of its own ("n/a" on tables), never mixed in.
    """
    ran = any(SAFEKERAS_NETWORK in entry.by_name() for entry in run.datasets)
    return (SAFEKERAS, SAFEKERAS_NETWORK, *PEERS) if ran else (SAFEKERAS, *PEERS)


def headline_cell(safe: Result, other: Result, metric: str) -> str:
    """The peer's mean and safekeras's verdict against it, e.g. ``0.905 win``."""
    if other.skipped or not other.available(metric):
        return "n/a"
    comparison = verdict(safe, other, metric)
    mark = "" if comparison is None else f" {comparison.verdict}"
    return f"{other.mean(metric):.3f}{mark}"


def headline_table(run: Run) -> str:
    """Per dataset and metric, safekeras's mean and, for every other contender, its mean with
    safekeras's verdict against it by the paired rule; a last row counts the verdicts."""
    columns = headline_columns(run)
    lines = [
        "| dataset | metric | " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for entry in run.datasets:
        by_name = entry.by_name()
        absent = Result(SAFEKERAS_NETWORK, entry.dataset.name, skipped="a table: no network")
        safe = by_name[SAFEKERAS]
        for metric in VERDICT_METRICS:
            own = f"{safe.mean(metric):.3f}" if safe.available(metric) else "n/a"
            cells = [own] + [
                headline_cell(safe, by_name.get(name, absent), metric) for name in columns[1:]
            ]
            lines.append(
                f"| {entry.dataset.name} | {METRIC_LABELS[metric]} | {' | '.join(cells)} |"
            )
    totals = []
    for name in columns[1:]:
        counts = Counter(verdicts(run, name).values())
        totals.append(f"{counts['win']}/{counts['tie']}/{counts['loss']}")
    lines.append("| **all** | wins/ties/losses | | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def verdicts(run: Run, peer: str) -> dict[tuple[str, str], str]:
    """``(dataset, metric) -> "win" | "tie" | "loss"`` of safekeras against ``peer``."""
    found = {}
    for entry in run.datasets:
        by_name = entry.by_name()
        safe, other = by_name.get(SAFEKERAS), by_name.get(peer)
        if safe is None or other is None:
            continue
        for metric in VERDICT_METRICS:
            comparison = verdict(safe, other, metric)
            if comparison is not None:
                found[entry.dataset.name, metric] = comparison.verdict
    return found


def compare(run: Run, peer: str, metric: str) -> dict[str, list[str]]:
    """Datasets where safekeras won, tied and lost against ``peer`` on ``metric``, by the rule."""
    outcome = {"win": [], "tie": [], "loss": []}
    for (dataset, measured), result in verdicts(run, peer).items():
        if measured == metric:
            outcome[result].append(dataset)
    return outcome


def summary(run: Run) -> str:
    """The headline's verdicts read out: per peer and metric, where safekeras won and lost."""
    lines = []
    for peer in headline_columns(run)[1:]:
        parts = []
        for metric in VERDICT_METRICS:
            outcome = compare(run, peer, metric)
            if not any(outcome.values()):
                continue
            named = [
                f"{word} on {', '.join(outcome[key])}"
                for key, word in (("win", "won"), ("loss", "lost"))
                if outcome[key]
            ]
            parts.append(
                f"{METRIC_LABELS[metric]} {len(outcome['win'])}-{len(outcome['tie'])}-"
                f"{len(outcome['loss'])}" + (f" ({'; '.join(named)})" if named else "")
            )
        if parts:
            lines.append(f"- {SAFEKERAS} vs {peer} (wins-ties-losses): " + "; ".join(parts) + ".")
    return "\n".join(lines + network_summary(run))


def network_summary(run: Run) -> list[str]:
    """One line per image or sequence dataset: the user network against the flat default."""
    lines = []
    for entry in run.datasets:
        by_name = entry.by_name()
        network, flat = by_name.get(SAFEKERAS_NETWORK), by_name[SAFEKERAS]
        if network is None or verdict(network, flat, "balanced_accuracy") is None:
            continue
        lines.append(
            f"- {SAFEKERAS_NETWORK} on {entry.dataset.name}: balanced acc. "
            f"{network.mean('balanced_accuracy'):.3f} vs {flat.mean('balanced_accuracy'):.3f} for "
            f"the flat {SAFEKERAS} (per fold {paired(network, flat, 'balanced_accuracy')})."
        )
    return lines


def settings_line(args) -> str:
    epochs = "its default (200, early stopping)" if args.epochs is None else f"max {args.epochs}"
    threads = (
        f"OpenMP/BLAS limited to {args.threads} thread(s) (TensorFlow's pools left alone)"
        if args.threads
        else "OpenMP/BLAS threads at the libraries' defaults"
    )
    return (
        f"- {args.folds} folds, seed {args.seed}; safekeras and careful Keras epochs: {epochs}; "
        f"Keras with pitfalls and the Keras wrappers: {args.keras_epochs} epochs, batch "
        f"{KERAS_BATCH_SIZE}; MLP max_iter "
        f"{args.mlp_max_iter}; {threads}; datasets: {', '.join(args.datasets)}"
    )


CONTENDER_ROWS = (
    (
        SAFEKERAS,
        '`SafeKerasClassifier(random_state=0)`, every default: `"auto"` preprocessing, '
        'MLP (64, 32), early stopping, binary `threshold="auto"` (balanced accuracy)',
        "takes the data as it is",
    ),
    (
        CAREFUL_KERAS,
        "what a good Keras tutorial writes (`contenders.make_careful_keras`): `Sequential` "
        "Dense(64, relu) -> Dense(32, relu) -> sigmoid + binary cross-entropy / softmax + sparse "
        "categorical cross-entropy, Adam, batch 32, at most 200 epochs with "
        "`EarlyStopping(patience=10, restore_best_weights=True)` on a stratified 20 % "
        'validation split, `compute_class_weight("balanced")` as sample weights, seeded '
        "initialisers and shuffle, threshold 0.5 / argmax",
        "median imputation + `StandardScaler`; a DataFrame's other columns imputed and "
        "one-hot encoded",
    ),
    (
        PITFALL_KERAS,
        "the pitfalls safekeras prevents (`docs/pitfalls`), not a tutorial (those scale): "
        "`set_random_seed`, `Sequential` Dense(64, 32) + sigmoid/softmax, Adam, "
        "`fit(epochs=30, batch_size=32)`, no early stopping, no class weights, threshold 0.5 / "
        "argmax",
        "no scaling",
    ),
    (
        KERAS_WRAPPER,
        "`keras.wrappers.SKLearnClassifier(model=<same network, softmax head>, "
        'fit_kwargs={"epochs": 30, "batch_size": 32, "verbose": 0})`',
        "`StandardScaler`",
    ),
    (
        SCIKERAS,
        "`scikeras.wrappers.KerasClassifier(<same network>, loss=<same>, epochs=30, "
        "batch_size=32, random_state=0)`",
        "`StandardScaler`",
    ),
    (
        MLP_DEFAULTS,
        "`MLPClassifier(random_state=0)`: scikit-learn's defaults (100 hidden units, Adam, "
        "`max_iter=200`, stops when the training loss stalls)",
        "`StandardScaler`",
    ),
    (
        MLP,
        "`MLPClassifier(early_stopping=True, random_state=0)`, otherwise defaults: stops "
        "when the accuracy on a 10 % validation split stalls",
        "`StandardScaler`",
    ),
    (
        MLP_TUNED,
        f'`TunedThresholdClassifierCV(<{MLP}>, scoring="balanced_accuracy")`; binary only',
        "`StandardScaler`",
    ),
    (
        HGB,
        "`TunedThresholdClassifierCV(HistGradientBoostingClassifier(categorical_features="
        '"from_dtype", random_state=0), scoring="balanced_accuracy")`; multiclass: the plain HGB',
        "takes the data as it is",
    ),
    (
        SAFEKERAS_NETWORK,
        "`SafeKerasClassifier(model=<builder>, random_state=0)`, other settings at their "
        "defaults; images: Conv2D(16, 3) -> MaxPooling2D -> Conv2D(32, 3) -> Flatten; "
        "sequences: Conv1D(16, 5) -> Conv1D(16, 5) -> GlobalMaxPooling1D; images and sequences "
        "only",
        'the N-d rows (`"auto"`: per-channel scaling); every other contender gets them flat',
    ),
)


def contenders_table() -> str:
    lines = ["| contender | what it is | its input |", "|---|---|---|"]
    lines += [f"| {name} | {what} | {inputs} |" for name, what, inputs in CONTENDER_ROWS]
    return "\n".join(lines)


def report(run: Run) -> list[str]:
    """The markdown report, one block per section (header, headline, datasets, notes)."""
    args = run.args
    header = "\n".join(
        [
            "## Predictive quality: cross-validated comparison\n",
            run.environment,
            settings_line(args) + "\n",
        ]
    )
    headline = "\n".join(
        [
            "### Headline\n",
            f"Every contender, mean over folds. Under each peer, its mean and {SAFEKERAS}'s "
            f"verdict against it: {RULE}. The last row counts the verdicts over every dataset "
            "and metric. On multiclass data (wine, digits) there is no threshold to tune: "
            '"HGB + tuned threshold" is the plain HistGradientBoostingClassifier there, and '
            "the tuned MLP does not apply. Each dataset's section below gives the paired "
            "differences behind every verdict.\n",
            headline_table(run),
            "",
            summary(run),
        ]
    )
    notes = "\n".join(
        [
            "### What scikit-learn sees of each contender\n",
            "Measured on the first dataset each contender ran on: `sklearn.base.is_classifier` "
            "of the estimator, which decides the splitter that `cross_validate(cv=5)` and "
            "`GridSearchCV(cv=5)` use (stratified only for classifiers) and how scikit-learn's "
            'scorers read probabilities; what the stock `"average_precision"` scorer made of '
            "the first fold's fitted model; whether `predict_proba` exists; the parameters "
            "`sklearn.base.clone` (which every search and cross-validation calls) did not keep; "
            "and characters printed to stdout over all cross-validations. The tables above "
            "avoid the first two problems: explicit `StratifiedKFold` folds and a scorer that "
            "calls `predict_proba` itself.\n",
            contract_table(run),
            "",
            peer_notes(run),
        ]
    )
    contenders = "\n".join(
        [
            "### Contenders\n",
            contenders_table(),
            "",
            "On the mixed-type DataFrame every peer except HGB and careful Keras (which encodes "
            "as above) gets, in front of its own steps, the smallest encoder that lets it run: "
            "a `ColumnTransformer` of "
            '`SimpleImputer(strategy="median")` on the numbers and `SimpleImputer(strategy='
            '"most_frequent")` + `OneHotEncoder(handle_unknown="ignore")` on the categories. '
            "PR-AUC is macro one-vs-rest on multiclass data; F1 is the positive class's "
            "(macro on multiclass); Brier is the mean squared error of the positive-class "
            "probability (binary, 0 to 1) or of the probability vector against the one-hot "
            "label, summed over classes (multiclass, 0 to 2); lower is better. PR-AUC and Brier "
            "need `predict_proba`: n/a without it.",
        ]
    )
    sections = [header, headline, contenders]
    sections += [report_dataset(entry, args) for entry in run.datasets]
    sections.append(notes)
    return sections
