"""The code in README.md and docs/ runs as written, so it cannot rot."""

import re
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
    exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = '<!-- ci:demo -->\n```bash\npip install -e ".[plot]" && python -m safekeras demo'
    assert demo in readme
    assert '<!-- ci:test -->\n```bash\npip install -e ".[test]" && python -m pytest' in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_command demo" in ci and "readme_command test" in ci
    # The second job: the backend-independent tests (tests/conftest.py) under JAX.
    assert 'KERAS_BACKEND=jax python -m pytest -m "core and not tensorflow_only' in ci
