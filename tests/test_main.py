"""The command line and its demo (safekeras/__main__.py, safekeras/demo.py)."""

import subprocess
import sys

import pytest

from safekeras import demo
from safekeras.__main__ import main

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
        status = main(["demo", "--fast", "--out", str(out)])
    finally:
        capture.undo()
    return status, "\n".join(lines), out


def test_fast_demo_prevents_every_pitfall_and_says_so(fast_run):
    status, output, _ = fast_run
    assert status == 0
    for pitfall in PITFALLS:
        assert f"\n{pitfall}" in output
    assert "[5/5]" in output
    assert "NOT PREVENTED" not in output
    assert "safekeras prevented or caught 5 of 5 pitfalls" in output
    # What each side did, with the evidence (the table wraps its text: compare words).
    output = " ".join(output.split())
    assert "DriftWarning: " in output and "outside their training range" in output
    assert "ModelSpecError: The model's last layer is softmax over 1 unit" in output
    assert "classes_ ['benign', 'malignant']" in output
    assert "early stopping kept epoch" in output


def test_fast_demo_writes_the_plots_it_names(fast_run):
    _, output, out = fast_run
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
    zero = subprocess.run(
        [sys.executable, "-m", "safekeras", "demo", "--epochs", "0"], capture_output=True
    )
    assert zero.returncode == 2 and b"--epochs must be at least 1" in zero.stderr
