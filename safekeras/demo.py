"""``python -m safekeras demo``: each "predict wrong" pitfall, raw Keras beside safekeras.

Five scenarios, one per pitfall of the articles safekeras was built from, on
data that ships with scikit-learn (no download). Each trains what a tutorial
would write in raw Keras, shows how it goes wrong, then does the same with
safekeras and shows the pitfall prevented or caught:

============================  =============================================
pitfall                       data
============================  =============================================
preprocessing mismatch        digits as 8x8x1 images, a CNN, 0-1 vs 0-16 pixels
wrong activation or loss      breast cancer, a 1-unit softmax head
labels read the other way     breast cancer with "malignant"/"benign" labels
threshold and accuracy        generated, 5 % positive
over- and underfitting        breast cancer, a wide network and few rows
============================  =============================================

The raw-Keras side is seeded through its initialisers and trains without
shuffling, so that the demo changes no global random state.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["PitfallResult", "run_demo"]


@dataclass
class PitfallResult:
    """What one scenario showed.

    Attributes
    ----------
    pitfall : str
        Its name.
    naive : str
        What raw Keras did, in a few words with the numbers.
    safe : str
        What safekeras did.
    prevented : bool
        Whether safekeras prevented or caught the pitfall as it should.
    plots : list of pathlib.Path
        PNG files written for this scenario.
    """

    pitfall: str
    naive: str
    safe: str
    prevented: bool
    plots: list = field(default_factory=list)


@dataclass(frozen=True)
class _Settings:
    epochs: int
    seed: int
    out: Path | None
    fast: bool


def run_demo(*, epochs=200, seed=0, out=None, fast=False, progress=print) -> list[PitfallResult]:
    """Run every scenario; return their results.

    Parameters
    ----------
    epochs : int, default=200
        Epoch budget of the safekeras fits (early stopping ends them sooner).
    seed : int, default=0
        Seeds the data splits and both sides' networks.
    out : path-like or None, default=None
        Folder for the PNG plots (created); None draws nothing.
    fast : bool, default=False
        Smaller data and fewer epochs, for a smoke run in a few seconds.
    progress : callable, default=print
        Receives one line per step.
    """
    settings = _Settings(
        epochs=min(epochs, 20) if fast else epochs,
        seed=seed,
        out=None if out is None else Path(out),
        fast=fast,
    )
    if settings.out is not None:
        settings.out.mkdir(parents=True, exist_ok=True)
    scenarios = [
        _preprocessing_mismatch,
        _wrong_head,
        _inverted_labels,
        _threshold_and_accuracy,
        _over_and_underfitting,
    ]
    results = []
    for number, scenario in enumerate(scenarios, 1):
        start = time.perf_counter()
        name = scenario.__doc__.splitlines()[0].rstrip(".")
        progress(f"[{number}/{len(scenarios)}] {name} ...")
        result = scenario(settings)
        results.append(result)
        status = "prevented" if result.prevented else "NOT PREVENTED"
        progress(f"      {status} ({time.perf_counter() - start:.1f} s)")
    return results


# -- the scenarios -----------------------------------------------------------------------


def _preprocessing_mismatch(settings: _Settings) -> PitfallResult:
    """Preprocessing mismatch: a CNN trained on 0-1 pixels, fed raw 0-16 ones."""
    from sklearn.datasets import load_digits
    from sklearn.metrics import accuracy_score

    from safekeras import DriftWarning, SafeKerasClassifier

    digits = load_digits()
    images, y = digits.images[..., np.newaxis], digits.target  # (n, 8, 8, 1), pixels 0-16
    train, test = _split(y, settings)
    # The tutorial: scale the pixels to 0-1 by hand for training, forget it at predict time.
    network = _raw_cnn(settings.seed)
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    network.fit(images[train] / 16, y[train], epochs=_raw_epochs(settings, 20), **_FIT)
    scaled, raw = _predict(network, images[test] / 16), _predict(network, images[test])
    scaled_acc, raw_acc = (accuracy_score(y[test], p.argmax(axis=1)) for p in (scaled, raw))
    # A ReLU network barely changes its labels when every pixel is 16 times larger: what goes
    # wrong, silently, is every probability it gives.
    sure_scaled, sure_raw = (float(np.mean(p.max(axis=1) >= 0.999)) for p in (scaled, raw))

    # safekeras takes the pixels as they come: preprocessor="auto" fits a per-channel scaler
    # inside, and predict applies it. The same images from a 0-255 source are then caught.
    clf = SafeKerasClassifier(
        _raw_cnn(settings.seed),
        epochs=settings.epochs,
        # A CNN this small learns slowly at Adam's default rate: with 0.01, early stopping
        # ends the fit after about 100 epochs instead of running all 200.
        learning_rate=0.01,
        random_state=settings.seed,
    )
    clf.fit(images[train], y[train])
    inside_acc = accuracy_score(y[test], clf.predict(images[test]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DriftWarning)
        clf.predict(np.round(images[test] * 255 / 16))
    drift = [w for w in caught if issubclass(w.category, DriftWarning)]
    caught_what = _drift_summary(drift[0].message) if drift else "no warning"
    return PitfallResult(
        pitfall="preprocessing mismatch",
        naive=(
            f"CNN accuracy {scaled_acc:.2f} on 0-1 pixels, {raw_acc:.2f} on raw 0-16 ones, "
            f"where {sure_raw:.0%} of its answers claim >= 99.9 % confidence ({sure_scaled:.0%} "
            "on 0-1 pixels), without a word"
        ),
        safe=(
            f"scaling fitted inside ({type(clf.preprocessor_).__name__}): accuracy "
            f"{inside_acc:.2f} on raw pixels; 0-255 pixels: DriftWarning: {caught_what}"
        ),
        prevented=bool(drift) and inside_acc > 0.9,
    )


def _wrong_head(settings: _Settings) -> PitfallResult:
    """Wrong output activation or loss: a softmax over one unit."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    from safekeras import ModelSpecError, SafeKerasClassifier

    X, y = load_breast_cancer(return_X_y=True)
    train, test = _split(y, settings)
    scaler = StandardScaler().fit(X[train])
    with warnings.catch_warnings():
        # Keras notes the softmax over one unit in a UserWarning among the logs, and trains.
        warnings.simplefilter("ignore", UserWarning)
        network = _raw_network(X.shape[1], 1, "softmax", settings.seed)
        network.compile(optimizer="adam", loss="binary_crossentropy")
        network.fit(scaler.transform(X[train]), y[train], epochs=_raw_epochs(settings, 30), **_FIT)
        proba = _predict(network, scaler.transform(X[test]))[:, 0]
    naive_bacc = balanced_accuracy_score(y[test], (proba > 0.5).astype(int))

    def tutorial_model(meta):  # the same network, handed to safekeras
        return _raw_network(meta["n_features_in_"], 1, "softmax", settings.seed)

    clf = SafeKerasClassifier(tutorial_model, epochs=settings.epochs, random_state=settings.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Keras's note, shown above
            clf.fit(X[train], y[train])
        refused = ""
    except ModelSpecError as exc:
        refused = str(exc).split(". ")[0]
    default = SafeKerasClassifier(epochs=settings.epochs, random_state=settings.seed)
    default.fit(X[train], y[train])
    default_bacc = balanced_accuracy_score(y[test], default.predict(X[test]))
    return PitfallResult(
        pitfall="wrong activation/loss",
        naive=(
            f"trains without error; P(class 1) is {proba.min():.2f} for every row: "
            f"balanced accuracy {naive_bacc:.2f}"
        ),
        safe=(
            f"ModelSpecError: {refused or 'none raised'}; default head: balanced accuracy "
            f"{default_bacc:.2f}"
        ),
        prevented=bool(refused) and default_bacc > 0.9,
    )


def _inverted_labels(settings: _Settings) -> PitfallResult:
    """Labels read the other way round."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score
    from sklearn.preprocessing import StandardScaler

    from safekeras import SafeKerasClassifier

    X, y01 = load_breast_cancer(return_X_y=True)
    y = np.array(["malignant", "benign"])[y01]
    train, test = _split(y01, settings)
    # Encoded in training as "the disease is class 0" ...
    encode = {"malignant": 0, "benign": 1}
    scaler = StandardScaler().fit(X[train])
    network = _raw_network(X.shape[1], 1, "sigmoid", settings.seed)
    network.compile(optimizer="adam", loss="binary_crossentropy")
    y_train = np.array([encode[label] for label in y[train]])
    network.fit(scaler.transform(X[train]), y_train, epochs=_raw_epochs(settings, 30), **_FIT)
    # ... and read at predict time with the labels in sorted order, as LabelEncoder has them.
    decoded = np.array(sorted(set(y)))[
        (_predict(network, scaler.transform(X[test]))[:, 0] > 0.5).astype(int)
    ]
    naive_acc = accuracy_score(y[test], decoded)

    clf = SafeKerasClassifier(
        pos_label="malignant", epochs=settings.epochs, random_state=settings.seed
    )
    safe_acc = accuracy_score(y[test], clf.fit(X[train], y[train]).predict(X[test]))
    return PitfallResult(
        pitfall="labels read the other way",
        naive=f"accuracy {naive_acc:.2f}: nearly every prediction inverted",
        safe=(
            f"labels in, labels out (classes_ {[str(c) for c in clf.classes_]}): "
            f"accuracy {safe_acc:.2f}"
        ),
        prevented=safe_acc > 0.9,
    )


def _threshold_and_accuracy(settings: _Settings) -> PitfallResult:
    """Threshold and accuracy on imbalanced data: 5 % positives."""
    from safekeras import SafeKerasClassifier

    X, y = _imbalanced_data(settings)
    train, test = _split(y, settings)
    naive_pred = _raw_keras_at_one_half(X[train], y[train], X[test], settings)
    clf = SafeKerasClassifier(epochs=settings.epochs, random_state=settings.seed)
    moved = _fit_recording_threshold_warnings(clf, X[train], y[train])
    safe_pred = clf.predict(X[test])
    naive, safe = _imbalance_scores(y[test], naive_pred), _imbalance_scores(y[test], safe_pred)
    plots = []
    if settings.out is not None:
        plots = _threshold_plots(settings.out, clf, X[test], y[test], naive_pred, safe_pred)
    return PitfallResult(
        pitfall="threshold and accuracy",
        naive=(
            f"accuracy {naive[0]:.2f} looks fine; balanced accuracy {naive[1]:.2f}, "
            f"recall {naive[2]:.2f} at 0.5"
        ),
        safe=(
            f"threshold {clf.threshold_:.2f} tuned for balanced accuracy: {safe[1]:.2f}, "
            f"recall {safe[2]:.2f} (accuracy {safe[0]:.2f})"
            + "".join(f"; ThresholdWarning: {_first_clause(w.message)}" for w in moved[:1])
        ),
        prevented=safe[1] > naive[1] and safe[2] > naive[2],
        plots=plots,
    )


def _imbalanced_data(settings: _Settings):
    """A binary problem with 5 % positives, some label noise and modest separation."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=1500 if settings.fast else 4000,
        n_features=20,
        n_informative=6,
        weights=[0.95],
        class_sep=0.8,
        flip_y=0.01,
        random_state=settings.seed,
    )


def _raw_keras_at_one_half(X_train, y_train, X_test, settings: _Settings) -> np.ndarray:
    """The tutorial's labels for ``X_test``: a scaled sigmoid network thresholded at 0.5."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    network = _raw_network(X_train.shape[1], 1, "sigmoid", settings.seed)
    network.compile(optimizer="adam", loss="binary_crossentropy")
    network.fit(scaler.transform(X_train), y_train, epochs=_raw_epochs(settings, 30), **_FIT)
    return (_predict(network, scaler.transform(X_test))[:, 0] > 0.5).astype(int)


def _fit_recording_threshold_warnings(clf, X, y) -> list:
    """Fit ``clf``; return its ThresholdWarnings and re-emit every other warning."""
    from safekeras import ThresholdWarning

    with warnings.catch_warnings(record=True) as caught:
        # fit says when the tuned threshold moves many predictions: part of the story told
        # in the table, rather than a warning between the progress lines.
        warnings.simplefilter("always", ThresholdWarning)
        clf.fit(X, y)
    moved = [w for w in caught if issubclass(w.category, ThresholdWarning)]
    for other in (w for w in caught if not issubclass(w.category, ThresholdWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return moved


def _imbalance_scores(y_true, pred) -> tuple[float, float, float]:
    """Accuracy, balanced accuracy and recall of the positive class."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score

    return (
        accuracy_score(y_true, pred),
        balanced_accuracy_score(y_true, pred),
        recall_score(y_true, pred),
    )


def _threshold_plots(out: Path, clf, X_test, y_test, naive_pred, safe_pred) -> list[Path]:
    """The two confusion matrices side by side, and the fitted classifier's diagnosis."""
    from sklearn.metrics import confusion_matrix

    matrices = {
        "raw Keras, threshold 0.5": confusion_matrix(y_test, naive_pred),
        f"safekeras, threshold {clf.threshold_:.2f}": confusion_matrix(y_test, safe_pred),
    }
    return [
        _confusion_plot(out / "threshold_confusion_matrices.png", matrices),
        _diagnosis_plot(out / "threshold_diagnosis.png", clf, X_test, y_test),
    ]


def _over_and_underfitting(settings: _Settings) -> PitfallResult:
    """Over- and underfitting: a wide network, few rows, a fixed number of epochs."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import log_loss
    from sklearn.preprocessing import StandardScaler

    from safekeras import SafeKerasClassifier

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(settings.seed)
    y = np.where(rng.rand(len(y)) < 0.1, 1 - y, y)  # 10 % label noise to memorise
    train, test = _split(y, settings, test_size=0.5)
    scaler = StandardScaler().fit(X[train])
    epochs = _raw_epochs(settings, 150)
    network = _raw_network(X.shape[1], 1, "sigmoid", settings.seed, units=256)
    network.compile(optimizer="adam", loss="binary_crossentropy")
    history = network.fit(
        scaler.transform(X[train]),
        y[train],
        epochs=epochs,
        validation_data=(scaler.transform(X[test]), y[test]),
        **_FIT,
    ).history
    naive_loss = log_loss(y[test], _predict(network, scaler.transform(X[test]))[:, 0])

    clf = SafeKerasClassifier(epochs=settings.epochs, random_state=settings.seed)
    clf.fit(X[train], y[train])
    safe_loss = log_loss(y[test], clf.predict_proba(X[test])[:, 1])
    plots = []
    if settings.out is not None:
        plots.append(
            _learning_curves_plot(
                settings.out / "overfitting_learning_curves.png", history, clf, epochs
            )
        )
    best = int(np.argmin(history["val_loss"])) + 1
    return PitfallResult(
        pitfall="over/underfitting",
        naive=(
            f"{epochs} fixed epochs: held-out loss {naive_loss:.2f} (its best, "
            f"{min(history['val_loss']):.2f}, was at epoch {best})"
        ),
        safe=(
            f"early stopping kept epoch {clf.best_epoch_} of {clf.n_epochs_}: "
            f"held-out loss {safe_loss:.2f}"
        ),
        prevented=safe_loss < naive_loss,
        plots=plots,
    )


# -- raw Keras, as the tutorials write it ---------------------------------------------------

# No shuffling: Keras would draw the order from TensorFlow's global generator.
_FIT = dict(batch_size=32, shuffle=False, verbose=0)


def _raw_network(n_features, units_out, activation, seed, units=32):
    import keras

    def dense(units, activation, offset):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + offset),
        )

    return keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            dense(units, "relu", 1),
            dense(units_out, activation, 2),
        ]
    )


def _raw_cnn(seed):
    """A small CNN for 8 x 8 x 1 images: one convolution, a softmax over 10 digits."""
    import keras

    def seeded(offset):
        return keras.initializers.GlorotUniform(seed=seed + offset)

    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=seeded(1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", kernel_initializer=seeded(2)),
        ]
    )


def _raw_epochs(settings: _Settings, epochs: int) -> int:
    return max(5, epochs // 5) if settings.fast else epochs


def _predict(network, x):
    """The network's outputs, from an eager call: no predict function traced per network."""
    import keras

    return keras.ops.convert_to_numpy(network(np.asarray(x, dtype="float32"), training=False))


def _split(y, settings: _Settings, test_size=0.3):
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    return train_test_split(rows, test_size=test_size, stratify=y, random_state=settings.seed)


def _first_clause(message) -> str:
    """A warning's message up to its first bracket or semicolon, without a "Topic: " lead."""
    text = str(message).split(": ", 1)[-1]
    return re.split(r" \(|; ", text, maxsplit=1)[0]


def _drift_summary(message) -> str:
    """The first finding of a DriftWarning, without the list of columns, and its scale."""
    lines = [line.strip("- ").strip() for line in str(message).splitlines()]
    finding = next((line for line in lines[1:] if line), lines[0])
    # "Values are about 15.9 times larger than in training": the likely cause, in numbers.
    scale = re.search(r"about [\d.]+ times (?:larger|smaller) than in training", finding)
    return finding.split(" (")[0] + (f", {scale.group(0)}" if scale else "")


# -- plots ---------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: the demo may run without a display
    import matplotlib.pyplot as plt

    return plt


def _confusion_plot(path: Path, matrices: dict) -> Path:
    plt = _pyplot()
    figure = _confusion_figure(plt, matrices)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _confusion_figure(plt, matrices: dict):
    """One confusion matrix per entry of ``matrices`` (title: matrix), side by side."""
    from sklearn.metrics import ConfusionMatrixDisplay

    figure, axes = plt.subplots(1, len(matrices), figsize=(4.5 * len(matrices), 4))
    for ax, (title, matrix) in zip(np.atleast_1d(axes), matrices.items(), strict=True):
        # sklearn's display writes each count in a colour that reads on its cell.
        ConfusionMatrixDisplay(matrix).plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
        ax.set(title=title, xlabel="predicted", ylabel="true")
    figure.tight_layout()
    return figure


def _integer_ticks(axis) -> None:
    """Ticks at whole numbers only: epochs have no halves."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _diagnosis_plot(path: Path, clf, X, y) -> Path:
    plt = _pyplot()
    display = clf.diagnose(X, y).plot()
    display.figure_.savefig(path, dpi=100)
    plt.close(display.figure_)
    return path


def _learning_curves_plot(path: Path, history: dict, clf, epochs: int) -> Path:
    plt = _pyplot()
    figure, (raw_ax, safe_ax) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    raw_epochs = np.arange(1, epochs + 1)
    raw_ax.plot(raw_epochs, history["loss"], label="training loss")
    raw_ax.plot(raw_epochs, history["val_loss"], label="held-out loss")
    raw_ax.set(title=f"raw Keras, {epochs} fixed epochs", xlabel="epoch", ylabel="loss")
    safe_epochs = np.arange(1, clf.n_epochs_ + 1)
    safe_ax.plot(safe_epochs, clf.history_["loss"], label="training loss")
    safe_ax.plot(safe_epochs, clf.history_["val_loss"], label="validation loss")
    safe_ax.axvline(clf.best_epoch_, color="grey", linestyle=":", label="kept epoch")
    safe_ax.set(title="safekeras, early stopping", xlabel="epoch")
    for ax in (raw_ax, safe_ax):
        _integer_ticks(ax.xaxis)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
