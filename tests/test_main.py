"""The command line and its demo (safekeras/__main__.py, safekeras/demo.py)."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import safekeras
from safekeras import SafeKerasWarning, demo
from safekeras.__main__ import _STARTUP_NOISE, _import_backend_quietly, main

PITFALLS = (
    "preprocessing mismatch",
    "wrong activation/loss",
    "labels read the other way",
    "threshold and accuracy",
    "over/underfitting",
)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One fast demo run (about 15 s on two cores), shared by the tests that read it."""
    out = tmp_path_factory.mktemp("demo")
    capture = pytest.MonkeyPatch()
    lines = []
    capture.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = main(["demo", "--fast", "--out", str(out)])
    finally:
        capture.undo()
    escaped = [w for w in caught if issubclass(w.category, SafeKerasWarning)]
    return status, "\n".join(lines), out, escaped


def test_fast_demo_prevents_every_pitfall_and_says_so(fast_run):
    status, output, _, _ = fast_run
    assert status == 0
    for pitfall in PITFALLS:
        assert f"\n{pitfall}" in output
    assert "[5/5]" in output
    assert "NOT PREVENTED" not in output
    assert "safekeras prevented or caught 5 of 5 pitfalls" in output
    # What each side did, with the evidence (the table wraps its text: compare words).
    output = " ".join(output.split())
    assert "DriftWarning: " in output and "outside their training range" in output
    # The mismatch on images: a CNN, the per-channel scaler fitted inside, the scale named.
    assert "CNN accuracy" in output and "claim >= 99.9 % confidence" in output
    assert "scaling fitted inside (ChannelScaler)" in output
    assert "about 15.9 times larger than in training" in output
    assert "ModelSpecError: The model's last layer is softmax over 1 unit" in output
    assert "classes_ ['benign', 'malignant']" in output
    assert "early stopping kept epoch" in output


def test_fast_demo_writes_the_plots_it_names(fast_run):
    _, output, out, _ = fast_run
    written = sorted(path.name for path in out.iterdir())
    assert written == [
        "overfitting_learning_curves.png",
        "threshold_confusion_matrices.png",
        "threshold_diagnosis.png",
    ]
    assert f"plots written to {out.resolve()}" in output
    for name in written:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert name in output


def test_a_pitfall_not_prevented_exits_1(monkeypatch, capsys):
    failed = demo.PitfallResult("inverted labels", naive="-", safe="-", prevented=False)
    monkeypatch.setattr(demo, "run_demo", lambda **kwargs: [failed])
    assert main(["demo", "--no-plots"]) == 1
    out = capsys.readouterr().out
    assert "NOT PREVENTED" in out and "0 of 1 pitfalls" in out


def test_no_plots_draws_nothing(monkeypatch, tmp_path):
    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return [demo.PitfallResult("x", naive="-", safe="-", prevented=True)]

    monkeypatch.setattr(demo, "run_demo", fake_run)
    assert main(["demo", "--no-plots", "--out", str(tmp_path / "plots")]) == 0
    assert seen["out"] is None and not (tmp_path / "plots").exists()


def test_help_and_usage_errors_have_meaningful_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "safekeras", "--help"], capture_output=True)
    assert ok.returncode == 0 and b"demo" in ok.stdout
    demo_help = subprocess.run(
        [sys.executable, "-m", "safekeras", "demo", "--help"], capture_output=True
    )
    assert demo_help.returncode == 0
    for option in (b"--fast", b"--out", b"--no-plots", b"--epochs", b"--seed"):
        assert option in demo_help.stdout
    bad = subprocess.run([sys.executable, "-m", "safekeras", "nope"], capture_output=True)
    assert bad.returncode == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--epochs", "0", "argument --epochs: must be at least 1, got 0"),
        ("--epochs", "ten", "argument --epochs: expected an integer, got 'ten'"),
        ("--seed", "-1", "argument --seed: must be at least 0, got -1"),
    ],
)
def test_a_bad_demo_option_is_a_demo_usage_error(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    # The demo's usage and its option, not the top-level usage.
    assert err.startswith("usage: python -m safekeras demo [-h] [--epochs EPOCHS]")
    assert err.rstrip().endswith(f"python -m safekeras demo: error: {message}")


@pytest.mark.slow
def test_version_names_safekeras_keras_and_the_backend_and_starts_quiet():
    import keras

    result = subprocess.run(
        [sys.executable, "-m", "safekeras", "--version"],
        capture_output=True,
        text=True,
        env={k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 0, result.stderr
    python = ".".join(map(str, sys.version_info[:3]))
    assert result.stdout.startswith(
        f"safekeras {safekeras.__version__} (Keras {keras.__version__}, "
        f"backend {keras.config.backend()}"
    )
    assert result.stdout.rstrip().endswith(f", Python {python})")
    # TensorFlow's C++ start-up lines (absl, oneDNN, CUDA stubs) are left out.
    noise = [line for line in result.stderr.splitlines() if _STARTUP_NOISE.match(line)]
    assert noise == [] and "oneDNN" not in result.stderr and "cuInit" not in result.stderr


_FAKE_BACKEND = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written "
            b"to STDERR\\n")
os.write(2, b"I0000 00:00:1796454316.149046    5075 port.cc:153] oneDNN custom operations "
            b"are on.\\n")
os.write(2, b"E0000 00:00:1796454320.215611    5075 cuda_platform.cc:52] failed call to "
            b"cuInit: INTERNAL\\n")
os.write(2, b"E0000 00:00:1796454320.215611    5075 foo.cc:1] a real C++ error\\n")
import warnings
warnings.warn("a Python warning during the import")
{tail}
"""


@pytest.fixture
def fake_keras(tmp_path, monkeypatch):
    """A ``keras`` that writes TensorFlow's start-up lines to fd 2 when imported."""
    real = sys.modules.pop("keras", None)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # the real value comes back afterwards
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(tail=""):
        (tmp_path / "keras.py").write_text(textwrap.dedent(_FAKE_BACKEND).format(tail=tail))

    yield write
    sys.modules.pop("keras", None)
    if real is not None:
        sys.modules["keras"] = real


def test_the_quiet_import_drops_startup_lines_only(fake_keras, capfd):
    fake_keras()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda m, c, f, n, file=None, line=None: sys.stderr.write(
            f"{c.__name__}: {m}\n"
        )
        module = _import_backend_quietly()
    assert module is sys.modules["keras"]
    # (Under pytest the Python warning goes to sys.stderr directly, hence sorted.)
    assert sorted(capfd.readouterr().err.splitlines()) == [
        "E0000 00:00:1796454320.215611    5075 foo.cc:1] a real C++ error",
        "UserWarning: a Python warning during the import",
    ]


def test_a_failed_backend_import_shows_everything(fake_keras, capfd):
    fake_keras(tail="raise ImportError('libcudart.so.12: cannot open shared object file')")
    with pytest.raises(ImportError, match="libcudart"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_backend_quietly()
    err = capfd.readouterr().err
    assert "absl::InitializeLog" in err and "oneDNN" in err and "cuInit" in err


# -- the demo's plots ----------------------------------------------------------------------


def _luminance(rgb) -> float:
    r, g, b = np.asarray(rgb, dtype=float)[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_confusion_matrix_counts_read_on_dark_and_light_cells():
    plt = demo._pyplot()
    from matplotlib.colors import to_rgb

    figure = demo._confusion_figure(plt, {"raw": np.array([[425, 1], [24, 0]])})
    try:
        (ax,) = figure.axes
        image = ax.get_images()[0]
        figure.canvas.draw()
        texts = {t.get_text(): t for t in ax.texts}
        for count in (425, 1, 24, 0):
            cell = image.cmap(image.norm(count))
            text = to_rgb(texts[str(count)].get_color())
            assert abs(_luminance(cell) - _luminance(text)) > 0.5, (count, cell, text)
    finally:
        plt.close(figure)


def test_precision_recall_panel_names_the_label_the_chance_level_and_shows_both_marks():
    from safekeras.inspection.plotting import DiagnosisDisplay

    rng = np.random.RandomState(0)
    y_true = rng.rand(400) < 0.05
    y_score = np.clip(0.04 + 0.3 * y_true + 0.05 * rng.randn(400), 0, 1)
    display = DiagnosisDisplay(
        loss=[0.3, 0.2], y_true=y_true, y_score=y_score, pos_label="fraud", threshold=0.1
    ).plot()
    plt = demo._pyplot()
    try:
        ax = display.axes_[1]
        assert ax.get_title() == "Precision-recall of 'fraud' on the data given"
        assert ax.get_xlabel() == "Recall (positive label: 'fraud')"
        assert ax.get_ylabel() == "Precision (positive label: 'fraud')"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"chance (prevalence {y_true.mean():.2g})" in legend
        assert "threshold 0.5" in legend and "threshold_ 0.1" in legend
        display.figure_.canvas.draw()
        box = ax.get_legend().get_window_extent()
        # Below the frame, so no mark can sit under it, whatever the curve.
        assert box.y1 <= ax.get_window_extent().y0, (box, ax.get_window_extent())
        for line in ax.get_lines():
            if line.get_label() not in ("threshold 0.5", "threshold_ 0.1"):
                continue
            (x,), (y,) = line.get_xdata(), line.get_ydata()
            # Inside the frame, clear of the spines (2 % of the span), and not under the legend.
            for value, (low, high) in ((x, ax.get_xlim()), (y, ax.get_ylim())):
                margin = 0.02 * (high - low)
                assert low + margin < value < high - margin, (line.get_label(), value, low, high)
            assert not box.contains(*ax.transData.transform((x, y))), line.get_label()
    finally:
        plt.close(display.figure_)


def test_the_demo_tells_its_warnings_in_the_table(fast_run):
    _, output, _, escaped = fast_run
    assert escaped == []  # no SafeKerasWarning between the progress lines
    assert "<frozen runpy>" not in output
