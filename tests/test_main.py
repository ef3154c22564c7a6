"""The command line (safekeras/__main__.py)."""

import subprocess
import sys

import pytest

from safekeras.__main__ import main


@pytest.mark.slow
def test_demo_prints_imbalance_aware_scores(capsys):
    assert main(["demo", "--epochs", "15"]) == 0
    out = capsys.readouterr().out
    for name in ("balanced accuracy", "PR-AUC", "ROC-AUC", "F1"):
        assert name in out
    assert "diagnose(X_test, y_test):" in out
    assert "(x1000): DriftWarning: 30 of 30 column(s) fall outside their training range" in out


def test_help_and_usage_errors_have_meaningful_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "safekeras", "--help"], capture_output=True)
    assert ok.returncode == 0 and b"demo" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "safekeras", "nope"], capture_output=True)
    assert bad.returncode == 2
