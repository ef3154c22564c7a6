"""The code in README.md and docs/ runs as written, and prints what the pages say it prints.

Every ```python block runs, each in a fresh namespace. A block whose first lines say
``# requires: NAME`` (code for a library safekeras does not depend on, such as SciKeras on the
migration page) is skipped where NAME cannot be imported. Output and code that must not run
(shell commands, cluster addresses) go in other fences: ```text, ```bash.

What a block prints, where a page shows it, is compared with what it printed:

* ``print(...)  # -> EXPECTED``: the output of the statement carrying the comment must end with
  EXPECTED (a note may follow as ``  # note``);
* a ```text fence right after a ``<!-- output -->`` line: its lines must be consecutive lines of
  the output of the ```python block above it on the page (several such fences: in order).

In both, ``...`` stands for any text (a line of its own: any number of lines), and numbers
match within :data:`ABS_TOL` or :data:`REL_TOL`: the pages round, and the last digits of a
trained network's numbers vary between CPUs. Every number in the symptom column of the
pitfalls index must be one that the linked page's checked outputs show.
A block raises no safekeras warning (``ThresholdWarning``, ``DriftWarning``, ...) on the way:
a warning on an ordinary example teaches readers to ignore warnings. A block that shows one
on purpose says so with a ``# warns: NAME`` line, and must then raise it.
The site itself (mkdocs.yml) must build with ``mkdocs build --strict``.
"""

import contextlib
import html
import importlib.util
import io
import os
import re
import subprocess
import sys
import tokenize
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
# A printed number matches a typed one within either tolerance: 0.37 stands for 0.35 to 0.39
# (a platform's last digits), 695 for 660 to 730 (a ratio of two small losses).
ABS_TOL = 0.02
REL_TOL = 0.05

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
_OUTPUT_MARK = "<!-- output -->"
# Not inside a word ("f1", "l2"); a minus sign only after a space or bracket ("0-1" is 0 and 1).
_NUMBER = r"(?<![\w.])-?(?<![\w.]-)\d+(?:\.\d*)?(?:e[-+]?\d+)?"


def _blocks(path):
    """(python code, [expected outputs]) for each ```python block of a page."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for fence in _FENCE.finditer(text):
        language, body = fence.groups()
        if language == "python":
            blocks.append((body, []))
        elif text[: fence.start()].endswith(_OUTPUT_MARK + "\n"):
            if not blocks:
                raise AssertionError(f"{path}: an {_OUTPUT_MARK} fence before any python block")
            blocks[-1][1].append(body)
    return blocks


def _python_blocks(path):
    for number, (code, outputs) in enumerate(_blocks(path), 1):
        yield pytest.param(code, outputs, id=f"{path.relative_to(ROOT)}-block{number}")


def _line_pattern(expected: str) -> tuple[re.Pattern, list[float]]:
    """A regex for one expected line (``...`` any text, numbers captured) and its numbers."""
    parts, numbers = [], []
    for token in re.split(rf"(\.\.\.|{_NUMBER}|\s+)", expected.strip()):
        if token == "...":
            parts.append(".*?")
        elif re.fullmatch(_NUMBER, token):
            parts.append(f"({_NUMBER})")
            numbers.append(float(token))
        elif token.isspace():
            parts.append(r"\s+")
        elif token:
            parts.append(re.escape(token))
    return re.compile("".join(parts)), numbers


def _close(printed: float, typed: float) -> bool:
    return abs(printed - typed) <= max(ABS_TOL, REL_TOL * abs(typed))


def _line_matches(expected: str, printed: str, *, tail: bool = False) -> bool:
    """Whether ``printed`` is ``expected`` (or, with ``tail``, ends with it)."""
    pattern, numbers = _line_pattern(expected)
    text = " ".join(printed.split())
    # The tail starts at a word: "0.37" is not the end of "10.37".
    starts = [0, *(m.end() for m in re.finditer(r"\s", text))] if tail else [0]
    for start in starts:
        match = pattern.fullmatch(text, start)
        if match and all(_close(float(g), n) for g, n in zip(match.groups(), numbers, strict=True)):
            return True
    return False


def _lines_match(expected: list[str], printed: list[str]) -> bool:
    """Whether ``printed`` is ``expected``, a line ``...`` standing for any number of lines."""
    if not expected:
        return not printed
    if expected[0].strip() == "...":
        return any(_lines_match(expected[1:], printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and (
        _line_matches(expected[0], printed[0]) and _lines_match(expected[1:], printed[1:])
    )


def _check_output_fences(fences: list[str], printed: str) -> None:
    """Each fence matches consecutive printed lines, the fences in order."""
    lines = printed.splitlines()
    position = 0
    for fence in fences:
        expected = fence.rstrip("\n").splitlines()
        found = next(
            (
                start + length
                for start in range(position, len(lines) + 1)
                for length in range(len(lines) - start + 1)
                if _lines_match(expected, lines[start : start + length])
            ),
            None,
        )
        assert found is not None, (
            f"the page shows\n{fence}\nbut the block printed\n{printed}\n(numbers within "
            f"{ABS_TOL} or {REL_TOL:.0%}; '...' for any text)"
        )
        position = found


def _expectations(code: str) -> list[tuple[int, int, str]]:
    """(first line, last line, expected) of each statement carrying a ``# -> `` comment."""
    import ast

    statements = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.stmt) and not hasattr(node, "body")
    ]
    found = []
    lines = code.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type != tokenize.COMMENT or not token.string.startswith("# -> "):
            continue
        row = token.start[0]
        if not lines[row - 1][: token.start[1]].strip():
            raise AssertionError(f"'{token.string}' must follow the statement it describes")
        expected = token.string[len("# -> ") :].split("  # ")[0]
        owner = min(
            (s for s in statements if s.lineno <= row <= s.end_lineno),
            key=lambda s: s.end_lineno - s.lineno,
        )
        found.append((owner.lineno, owner.end_lineno, expected))
    return found


class _Recorder(io.StringIO):
    """stdout that also records which line of the block printed each piece."""

    def __init__(self):
        super().__init__()
        self.by_line = []

    def write(self, text):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != "<doc>":
            frame = frame.f_back
        self.by_line.append((frame.f_lineno if frame else 0, text))
        return super().write(text)


@pytest.mark.slow
@pytest.mark.parametrize(("code", "outputs"), [b for doc in DOCUMENTS for b in _python_blocks(doc)])
def test_documented_code_runs_and_prints_what_the_page_says(code, outputs):
    for module in re.findall(r"^# requires: ([\w.]+)", code, flags=re.M):
        pytest.importorskip(module, reason=f"the block needs {module}")
    expectations = _expectations(code)
    announced = set(re.findall(r"^# warns: (\w+)", code, flags=re.M))
    recorder = _Recorder()
    with contextlib.redirect_stdout(recorder), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})
    raised = {w.category.__name__: str(w.message) for w in caught if _is_ours(w.category)}
    unannounced = {name: message for name, message in raised.items() if name not in announced}
    assert not unannounced, f"the block raised warnings it does not announce: {unannounced}"
    assert announced <= set(raised), f"the block announces {announced - set(raised)}, not raised"
    for first, last, expected in expectations:
        printed = "".join(text for line, text in recorder.by_line if first <= line <= last)
        assert printed.strip(), f"line {first} carries '# -> {expected}' but prints nothing"
        assert _line_matches(expected, printed, tail=True), (
            f"line {first}: the page says it prints ...{expected!r}, it printed {printed!r}"
        )
    _check_output_fences(outputs, recorder.getvalue())


def _is_ours(category) -> bool:
    from safekeras.exceptions import SafeKerasWarning

    return issubclass(category, SafeKerasWarning)


def _checked_numbers(path) -> list[float]:
    """The numbers a page's checked outputs show (``# -> `` comments and output fences)."""
    texts = []
    for code, outputs in _blocks(path):
        texts += [expected for _, _, expected in _expectations(code)] + outputs
    return [float(n) for text in texts for n in re.findall(_NUMBER, text)]


def _symptoms():
    index = ROOT / "docs" / "pitfalls" / "index.md"
    rows = re.findall(r"^\| \[[^\]]+\]\(([\w-]+\.md)\) \| ([^|]+) \|", index.read_text(), re.M)
    assert len(rows) == 5, "the pitfalls index lost its table"
    return [pytest.param(index.parent / page, symptom, id=page) for page, symptom in rows]


@pytest.mark.parametrize(("page", "symptom"), _symptoms())
def test_pitfalls_index_numbers_are_the_pages_checked_outputs(page, symptom):
    """'falls from 0.90 to 0.37': both numbers are printed, and checked, on the linked page."""
    shown = _checked_numbers(page)
    for match in re.finditer(rf"({_NUMBER})( %)?", symptom):
        typed, percent = match.group(1), bool(match.group(2))
        decimals = len(typed.partition(".")[2])
        candidates = shown + [100 * n for n in shown] if percent else shown
        assert any(round(n, decimals) == float(typed) for n in candidates), (
            f"{typed}{' %' if percent else ''} in the index's symptom for {page.name} is not "
            f"among the numbers its checked outputs show: {sorted(set(shown))}"
        )


@pytest.mark.parametrize(
    "page", [ROOT / "docs" / "diagnostics.md", *sorted((ROOT / "docs" / "pitfalls").glob("*.md"))]
)
def test_output_shown_on_the_output_pages_is_checked(page):
    """No ```text fence of these pages escapes the comparison: each is marked as output."""
    text = page.read_text(encoding="utf-8")
    for fence in re.finditer(r"^```text\n", text, flags=re.M):
        assert text[: fence.start()].endswith(_OUTPUT_MARK + "\n"), (
            f"{page.name}: the ```text fence at character {fence.start()} is not preceded by "
            f"{_OUTPUT_MARK}, so what it shows is never compared with what the code prints"
        )


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
    # Long signatures one parameter a line (the [docs] extra's ruff formats them), not one line.
    signature = re.search(r'class="[^"]*doc-signature[^"]*">(.*?)</code>', api, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", signature.group(1)))
    assert text.startswith("SafeKerasClassifier(\n    model=None,\n    *,\n"), text[:300]


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = '<!-- ci:demo -->\n```bash\npip install -e ".[plot]" && python -m safekeras demo'
    assert demo in readme
    # Two worker processes: CI's two cores, about half the serial time.
    test = 'pip install -e ".[test]" && python -m pytest -n 2\n'
    assert "<!-- ci:test -->\n```bash\n" + test in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "readme_command demo" in ci and "readme_command test" in ci
    # The second job: the backend-independent tests (tests/conftest.py) under JAX.
    jax = 'KERAS_BACKEND=jax python -m pytest -m "core and not tensorflow_only and not slow" -n 2'
    assert jax in ci
    # The third: the documentation site, with the [docs] extra.
    assert 'pip install -e ".[docs]"' in ci and "mkdocs build --strict" in ci
