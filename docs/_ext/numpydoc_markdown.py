"""A griffe extension for the API reference: numpydoc's reStructuredText bits as Markdown.

safekeras's docstrings are numpydoc. mkdocstrings renders them as Markdown, where two things
would show as raw text, so they are rewritten before the docstring is parsed:

* Sphinx roles (``:class:`~safekeras.schema.InputSchema```) become code spans: ``~a.b.C``
  as `C`, ``a.b.C`` as `a.b.C`, ``title <a.b.C>`` as `title`;
* the ``name : description`` lines of a "See Also" section become a bulleted list (one
  paragraph otherwise);
* reStructuredText simple tables (columns under ``====  ====`` borders) become Markdown
  tables; a row whose first cell is empty continues the row above.

mkdocs.yml loads it (``extensions`` of the Python handler); it is not a documentation page.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const|term):`([^`]+)`")


def _as_code(match: re.Match) -> str:
    target = match.group(1).strip()
    titled = re.fullmatch(r"(.*?)\s*<(.+)>", target)
    if titled:
        return f"`{titled.group(1)}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


_SEE_ALSO = re.compile(
    r"^(?P<indent>[ \t]*)See Also\n(?P=indent)-+\n(?P<body>(?:(?P=indent)\S.*\n?)+)", re.M
)
_SEE_ALSO_ENTRY = re.compile(r"^(?P<indent>[ \t]*)(?P<name>[\w.]+) : (?P<text>.*)$", re.M)


def _see_also_list(match: re.Match) -> str:
    body = _SEE_ALSO_ENTRY.sub(r"\g<indent>- `\g<name>`: \g<text>", match.group("body"))
    return match.group(0).replace(match.group("body"), body)


_BORDER = re.compile(r"^=+(?: +=+)+ *$")


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    last = len(spans) - 1
    return [line[a : (None if i == last else b)].strip() for i, (a, b) in enumerate(spans)]


def _markdown_table(lines: list[str]) -> list[str]:
    """``lines``: a simple table from its top border to its bottom border."""
    spans = [match.span() for match in re.finditer(r"=+", lines[0])]
    rows: list[list[str]] = []
    for line in lines[1:-1]:
        if _BORDER.match(line):
            continue
        cells = _cells(line, spans)
        if rows and not cells[0]:  # a continuation line
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        elif any(cells):
            rows.append(cells)
    header, *body = ([cell.replace("|", "\\|") for cell in row] for row in rows)
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return table + ["| " + " | ".join(row) + " |" for row in body]


def _simple_tables(text: str) -> str:
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        # A table: top border, header, border under the header, rows, bottom border.
        if _BORDER.match(lines[i]) and i + 2 < len(lines) and _BORDER.match(lines[i + 2]):
            end = next((j for j in range(i + 3, len(lines)) if _BORDER.match(lines[j])), None)
            if end is not None:
                out += _markdown_table(lines[i : end + 1])
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def as_markdown(text: str) -> str:
    return _simple_tables(_SEE_ALSO.sub(_see_also_list, _ROLE.sub(_as_code, text)))


class NumpydocMarkdown(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
