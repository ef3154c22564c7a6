"""The code in README.md and docs/ runs as written, so it cannot rot.

Every ```python block runs, each in a fresh namespace. A block whose first lines say
``# requires: NAME`` (code for a library safekeras does not depend on, such as SciKeras on the
migration page) is skipped where NAME cannot be imported. Output and code that must not run
(shell commands, cluster addresses) go in other fences: ```text, ```bash.
The site itself (mkdocs.yml) must build with ``mkdocs build --strict``.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _python_blocks(path):
    text = path.read_text(encoding="utf-8")
    for number, block in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S), 1):
        yield pytest.param(block, id=f"{path.relative_to(ROOT)}-block{number}")


@pytest.mark.slow
@pytest.mark.parametrize("code", [b for doc in DOCUMENTS for b in _python_blocks(doc)])
def test_documented_code_runs(code):
    for module in re.findall(r"^# requires: ([\w.]+)", code, flags=re.M):
        pytest.importorskip(module, reason=f"the block needs {module}")
    exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    """No broken link or anchor, no page outside the nav, no docstring the API pages cannot read."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if not _installed(module):
            pytest.skip(f'{module} is not installed (pip install -e ".[docs]")')
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (tmp_path / "reference" / "estimators" / "index.html").exists()
    api = (tmp_path / "reference" / "estimators" / "index.html").read_text(encoding="utf-8")
    assert "predict_proba" in api and ":class:`" not in api  # rendered, roles rewritten


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = '<!-- ci:demo -->\n```bash\npip install -e ".[plot]" && python -m safekeras demo'
    assert demo in readme
    assert '<!-- ci:test -->\n```bash\npip install -e ".[test]" && python -m pytest' in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_command demo" in ci and "readme_command test" in ci
    # The second job: the backend-independent tests (tests/conftest.py) under JAX.
    assert 'KERAS_BACKEND=jax python -m pytest -m "core and not tensorflow_only' in ci
    # The third: the documentation site, with the [docs] extra.
    assert 'pip install -e ".[docs]"' in ci and "mkdocs build --strict" in ci
