"""An MkDocs hook: links from a page to repository files outside docs/ point to GitHub.

The pages are read on GitHub too, where ``[benchmarks](../benchmarks/README.md)`` opens the
file next to docs/. The site holds only docs/, so there such a link would be broken (and
``mkdocs build --strict`` fails on it): this hook rewrites a relative link whose target lies
outside docs/ and exists in the repository into ``{repo_url}/blob/main/{path}``. Any other
missing target is left alone, so MkDocs still reports it. mkdocs.yml loads it (``hooks``).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

_LINK = re.compile(r"\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def on_page_markdown(markdown, page, config, files):
    docs_dir = Path(config["docs_dir"]).resolve()
    root = docs_dir.parent
    base = config.get("repo_url", "").rstrip("/")
    if not base:
        return markdown
    page_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join("docs", page_dir, match.group("target")))
        if target.startswith("docs/") or target.startswith("..") or not (root / target).exists():
            return match.group(0)
        return f"]({base}/blob/main/{target}{match.group('anchor') or ''})"

    return _LINK.sub(rewrite, markdown)
