"""The quality benchmark's results and its markdown: per-dataset tables, verdicts, headline.

Part of the quality benchmark (:mod:`benchmarks.quality`): the contender and metric names
the tables use, the records a cross-validation run fills, and every table and note of the
report (:func:`report`) and of the README headline (:func:`headline_table`).
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.contenders import (
    CONTENDERS,
    HGB,
    KERAS_BATCH_SIZE,
    KERAS_WRAPPER,
    MLP,
    MLP_TUNED,
    NAIVE,
    SAFEKERAS,
    SAFEKERAS_NETWORK,
    SCIKERAS,
)
from benchmarks.datasets import Dataset
from benchmarks.quality_contract import Contract

# The headline table and plots compare these (the wrappers are in the per-dataset tables).
HEADLINE = (SAFEKERAS, NAIVE, MLP, MLP_TUNED, HGB)


METRICS = ("balanced_accuracy", "pr_auc", "f1", "brier")


METRIC_LABELS = {
    "balanced_accuracy": "balanced acc.",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "brier": "Brier",
}


HIGHER_IS_BETTER = {"balanced_accuracy": True, "pr_auc": True, "f1": True, "brier": False}


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


def paired(a: Result, b: Result, metric: str) -> str:
    """``mean ± std of the per-fold differences a - b (ahead in k/n folds)``."""
    diffs = a.values(metric) - b.values(metric)
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    ahead = int(np.sum(diffs > 0))
    return f"{np.mean(diffs):+.3f} ± {spread:.3f} (ahead in {ahead}/{len(diffs)} folds)"


def dataset_verdict(results: list[Result]) -> str:
    """Safekeras against each headline peer, as paired per-fold differences."""
    by_name = {r.contender: r for r in results}
    safe = by_name[SAFEKERAS]
    if safe.skipped:
        return f"**Verdict**: {SAFEKERAS} did not run ({safe.skipped})."
    parts = []
    for peer in HEADLINE[1:]:
        other = by_name.get(peer)
        if other is None or other.skipped:
            continue
        metrics = [
            f"{METRIC_LABELS[metric]} {paired(safe, other, metric)}"
            for metric in ("balanced_accuracy", "pr_auc")
            if other.available(metric)
        ]
        parts.append(f"vs {peer}: " + ", ".join(metrics))
    winners = "; ".join(
        f"best {METRIC_LABELS[metric]}: {', '.join(sorted(best_names(results, metric)))}"
        for metric in ("balanced_accuracy", "pr_auc")
    )
    return f"**Verdict** ({SAFEKERAS} minus peer, per fold): " + "; ".join(parts) + f". {winners}."


def network_verdict(results: list[Result]) -> str | None:
    """The user network against the flat contenders, per fold; None where it did not run."""
    by_name = {r.contender: r for r in results}
    network = by_name.get(SAFEKERAS_NETWORK)
    if network is None:
        return None
    if network.skipped:
        return f"**Network verdict**: {SAFEKERAS_NETWORK} did not run ({network.skipped})."
    parts = []
    for peer in (SAFEKERAS, *HEADLINE[1:]):
        other = by_name.get(peer)
        if other is None or other.skipped or not other.available("balanced_accuracy"):
            continue
        parts.append(f"vs {peer}: {paired(network, other, 'balanced_accuracy')}")
    return (
        f"**Network verdict** ({SAFEKERAS_NETWORK} on the N-d rows minus each contender on "
        "the flat rows, balanced accuracy per fold): " + "; ".join(parts) + "."
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
            f"mean ± std over folds; best mean in bold. Took {entry.seconds:.0f} s.\n",
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
    """The headline contenders, with the user network beside the default when it ran.

    On the image and sequence datasets the default is the flat MLP; the network a
    user brings for them is a column of its own ("n/a" on tables), never mixed in.
    """
    ran = any(SAFEKERAS_NETWORK in entry.by_name() for entry in run.datasets)
    return (SAFEKERAS, SAFEKERAS_NETWORK, *HEADLINE[1:]) if ran else HEADLINE


def headline_table(run: Run) -> str:
    """Per dataset, balanced accuracy and PR-AUC of the headline contenders (best in bold)."""
    columns = headline_columns(run)
    lines = [
        "| dataset | metric | " + " | ".join(columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for entry in run.datasets:
        by_name = entry.by_name()
        absent = Result(SAFEKERAS_NETWORK, entry.dataset.name, skipped="a table: no network")
        results = [by_name.get(name, absent) for name in columns]
        for metric in ("balanced_accuracy", "pr_auc"):
            best = best_names(results, metric)
            cells = []
            for r in results:
                if r.skipped:
                    cell = "n/a"
                elif not r.available(metric):
                    cell = "n/a"
                else:
                    cell = f"{r.mean(metric):.3f}"
                    if r.contender in best:
                        cell = f"**{cell}**"
                cells.append(cell)
            lines.append(
                f"| {entry.dataset.name} | {METRIC_LABELS[metric]} | {' | '.join(cells)} |"
            )
    return "\n".join(lines)


def compare(run: Run, peer: str, metric: str) -> tuple[list[str], list[str]]:
    """Datasets where safekeras's mean beat / did not beat ``peer``'s on ``metric``."""
    wins, losses = [], []
    for entry in run.datasets:
        by_name = entry.by_name()
        safe, other = by_name[SAFEKERAS], by_name[peer]
        if not (safe.available(metric) and other.available(metric)):
            continue
        (wins if safe.mean(metric) > other.mean(metric) else losses).append(entry.dataset.name)
    return wins, losses


def summary(run: Run) -> str:
    """Computed reading of the headline: who beat whom, on which datasets, by how much."""
    lines = []
    for peer in HEADLINE[1:]:
        parts = []
        for metric in ("balanced_accuracy", "pr_auc"):
            wins, losses = compare(run, peer, metric)
            total = len(wins) + len(losses)
            if total == 0:
                continue
            behind = f" (behind on {', '.join(losses)})" if losses else ""
            parts.append(f"{METRIC_LABELS[metric]} on {len(wins)} of {total} datasets{behind}")
        if parts:
            lines.append(f"- {SAFEKERAS} beat {peer} on " + "; ".join(parts) + ".")
    ahead = []
    for entry in run.datasets:
        by_name = entry.by_name()
        safe, hgb = by_name[SAFEKERAS], by_name[HGB]
        for metric in ("balanced_accuracy", "pr_auc"):
            if safe.available(metric) and hgb.available(metric):
                if hgb.mean(metric) > safe.mean(metric):
                    diffs = hgb.values(metric) - safe.values(metric)
                    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                    verdict = "clear" if np.mean(diffs) > spread else "within the fold spread"
                    ahead.append(
                        f"{entry.dataset.name} {METRIC_LABELS[metric]} "
                        f"{hgb.mean(metric):.3f} vs {safe.mean(metric):.3f} ({verdict}: per fold "
                        f"{paired(hgb, safe, metric)})"
                    )
    if ahead:
        lines.append(f"- {HGB} beat {SAFEKERAS} on: " + "; ".join(ahead) + ".")
    else:
        lines.append(f"- {HGB} did not beat {SAFEKERAS} on any dataset's mean.")
    lines += network_summary(run)
    return "\n".join(lines)


def network_summary(run: Run) -> list[str]:
    """One line per image or sequence dataset: the user network against the flat default."""
    lines = []
    for entry in run.datasets:
        by_name = entry.by_name()
        network, flat = by_name.get(SAFEKERAS_NETWORK), by_name[SAFEKERAS]
        if network is None or not (
            network.available("balanced_accuracy") and flat.available("balanced_accuracy")
        ):
            continue
        lines.append(
            f"- {SAFEKERAS_NETWORK} on {entry.dataset.name}: balanced acc. "
            f"{network.mean('balanced_accuracy'):.3f} vs {flat.mean('balanced_accuracy'):.3f} for "
            f"the flat {SAFEKERAS} (per fold {paired(network, flat, 'balanced_accuracy')})."
        )
    return lines


def peer_notes(run: Run) -> str:
    """What the Keras wrappers did, measured in this run."""
    lines = []
    for name in (KERAS_WRAPPER, SCIKERAS):
        results = [entry.by_name()[name] for entry in run.datasets]
        ran = [r for r in results if not r.skipped]
        if not ran:
            reasons = sorted({r.skipped for r in results})
            lines.append(f"- **{name}**: did not run ({'; '.join(reasons)}).")
            continue
        epochs = sorted({float(e) for r in ran for e in r.values("epochs")})
        facts = [
            f"trained {', '.join(f'{e:g}' for e in epochs)} epoch(s) per fold "
            f"(asked for {run.args.keras_epochs})"
        ]
        terms = run.contracts.get(name)
        if terms is not None:
            if terms.lost_in_clone:
                facts.append(
                    f"`clone` dropped {', '.join(terms.lost_in_clone)}, so every fold trained with "
                    "`model.fit`'s defaults (the epochs above, progress bars on), and its scores "
                    "above are that network's"
                )
            if not terms.has_predict_proba:
                facts.append("no `predict_proba`, so no PR-AUC or Brier score")
            if not terms.is_classifier:
                facts.append(
                    f"scikit-learn does not see a classifier: `cv=5` means {terms.splitter}, "
                    f'and the `"average_precision"` scorer {terms.stock_scorer}'
                )
        if run.printed.get(name):
            facts.append(f"wrote {run.printed[name]} characters of progress output to stdout")
        leaked = sum(r.warnings.get("TensorFlow op determinism left on", 0) for r in ran)
        if leaked:
            facts.append(
                f"left TensorFlow's op determinism switched on after {leaked} of {len(ran)} "
                "cross-validations (switched back off by the benchmark)"
            )
        if name == SCIKERAS and run.scikeras_probe:
            facts.append(probe_note(run.scikeras_probe))
        lines.append(f"- **{name}**: " + "; ".join(facts) + ".")
    return "\n".join(lines)


def probe_note(probe: dict) -> str:
    if "error" in probe:
        return f"the fresh-process probe failed ({probe['error']})"
    if not probe.get("left_on"):
        return "in a fresh process, a seeded fit left TensorFlow's op determinism off"
    return (
        "in a fresh process where its seeded fit is the first TensorFlow code to use "
        "randomness, `random_state` left TensorFlow's op determinism switched on for the "
        f"process: a plain Keras `model.fit` afterwards gave {probe.get('keras_fit')!r}, "
        f"a seeded safekeras fit {probe.get('safekeras_fit')!r}"
    )


def contract_table(run: Run) -> str:
    lines = [
        "| contender | `is_classifier` | `cross_validate(cv=5)` splits with "
        '| `predict_proba` | scorer `"average_precision"` | parameters `clone` dropped '
        "| stdout characters during CV |",
        "|---|---|---|---|---|---|---:|",
    ]

    def flag(ok: bool, text: str | None = None) -> str:
        """``text`` (default yes/no), in bold where scikit-learn's contract is broken."""
        text = text if text is not None else ("yes" if ok else "no")
        return text if ok else f"**{text}**"

    for contender in CONTENDERS:
        terms = run.contracts.get(contender.name)
        if terms is None:
            continue
        printed = run.printed.get(contender.name, 0)
        lines.append(
            f"| {contender.name} | {flag(terms.is_classifier)} "
            f"| {flag(terms.splitter == 'StratifiedKFold', terms.splitter)} "
            f"| {flag(terms.has_predict_proba)} "
            f"| {flag(terms.stock_scorer == 'works', terms.stock_scorer)} "
            f"| {flag(not terms.lost_in_clone, ', '.join(terms.lost_in_clone) or 'none')} "
            f"| {flag(printed == 0, str(printed))} |"
        )
    return "\n".join(lines)


def settings_line(args) -> str:
    epochs = "its default (200, early stopping)" if args.epochs is None else f"max {args.epochs}"
    threads = (
        f"OpenMP/BLAS limited to {args.threads} thread(s) (TensorFlow's pools left alone)"
        if args.threads
        else "OpenMP/BLAS threads at the libraries' defaults"
    )
    return (
        f"- {args.folds} folds, seed {args.seed}; safekeras epochs: {epochs}; naive Keras and the "
        f"Keras wrappers: {args.keras_epochs} epochs, batch {KERAS_BATCH_SIZE}; MLP max_iter "
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
        NAIVE,
        "the Keras tutorial: `set_random_seed`, `Sequential` Dense(64, 32) + sigmoid/softmax, "
        "Adam, `fit(epochs=30, batch_size=32)`, threshold 0.5 / argmax",
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
        MLP,
        "`MLPClassifier(early_stopping=True, random_state=0)`, otherwise defaults",
        "`StandardScaler`",
    ),
    (
        MLP_TUNED,
        '`TunedThresholdClassifierCV(<MLP pipeline>, scoring="balanced_accuracy")`; binary only',
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
            "Mean over folds; best of these five in bold (the Keras wrappers are in each "
            "dataset's table). On multiclass data (wine, digits) there is no threshold to tune: "
            '"HGB + tuned threshold" is the plain HistGradientBoostingClassifier there, and '
            "the tuned MLP does not apply. A difference smaller than the spread of its per-fold "
            "differences (the ± in each dataset's verdict) is not a difference.\n",
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
            "On the mixed-type DataFrame every peer except HGB gets, in front of its own "
            "steps, the smallest encoder that lets it run: a `ColumnTransformer` of "
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
