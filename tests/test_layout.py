"""The package's layout: no import circles, modules and functions a reader can hold in their head.

The import graph is read from the source (``ast``), so an ``import`` inside a function counts
as much as one at the top of a module: a circle kept apart only by a function-level import is
still a circle. The one exception is the lazy ``__getattr__`` of ``safekeras/__init__.py``,
which loads the public names on first use.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "safekeras"
# Limits from the layout issue: a module a newcomer can read in one sitting, a function that
# fits on a screen. Docstrings count towards a module, not towards a function's body.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _modules(root: pathlib.Path = PACKAGE) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, a package named by its ``__init__.py``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: pathlib.Path) -> set[str]:
    """Every dotted name ``module`` imports, anywhere in its source, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            # ``from package import module`` imports the module.
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (the top-level package's lazy loader excluded)."""
    modules = _modules(root)
    top = root.name

    def owner(name: str) -> str | None:
        # ``a.b.NAME`` is module ``a.b``'s name; walk up to the longest module prefix.
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        if module == top:
            graph[module] = set()  # the lazy loader: imports on attribute access only
            continue
        targets = {owner(name) for name in _imported_names(module, path) if name.startswith(top)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_package_has_no_import_cycle():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_sees_function_level_and_relative_imports(tmp_path):
    # A negative control: a circle closed only by an import inside a function is found.
    package = tmp_path / "pkg"
    (package / "stage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage" / "__init__.py").write_text("")
    (package / "stage" / "a.py").write_text("from ..b import thing\n")
    (package / "b.py").write_text("def thing():\n    from .stage import a\n    return a\n")
    (package / "c.py").write_text("from . import b\n")
    graph = import_graph(package)
    assert graph["pkg.stage.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.stage", "pkg.stage.a"}
    assert import_cycles(graph) == [["pkg.b", "pkg.stage.a"]]


def _function_lengths(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            if body:
                yield node.name, node.lineno, body[-1].end_lineno - body[0].lineno + 1


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_and_functions_stay_small(module):
    path = _modules()[module]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines; split it by concept"
    long_functions = [
        f"{name} (line {line}: {length} lines)"
        for name, line, length in _function_lengths(path)
        if length > MAX_FUNCTION_LINES
    ]
    assert not long_functions, f"{path.name}: split " + ", ".join(long_functions)


def test_the_contributing_page_names_every_module():
    # The page that maps the layout must not drift from it: every module and sub-package of a
    # stage is named in its stage's paragraph.
    page = (PACKAGE.parent / "docs" / "contributing.md").read_text(encoding="utf-8")
    stages = sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    missing = []
    for stage in stages:
        assert f"`{stage.name}/`" in page, f"stage {stage.name}/ is not described"
        for entry in sorted(stage.iterdir()):
            if entry.name == "__init__.py" or entry.name == "__pycache__":
                continue
            name = entry.name if entry.suffix == ".py" else f"{entry.name}/"
            if entry.suffix == ".py" or (entry / "__init__.py").is_file():
                if f"`{name}`" not in page and f"`{stage.name}/{name}`" not in page:
                    missing.append(f"{stage.name}/{name}")
    assert not missing, f"docs/contributing.md does not name: {missing}"


# The data path, in order: a stage may import the stages before it, never one after it.
STAGES = ("data", "network", "decision", "inspection", "deploy", "estimators")
# The one exception, and why: the fitted network pickles itself through deploy's safe
# ``.keras`` reader, so that unpickling (and skops) gets the same checks as ``load``.
ALLOWED_BACKWARD = {("safekeras.network.fitted", "safekeras.deploy.network_bytes")}


def _stage_rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return 1 + STAGES.index(parts[1])
    if module in ("safekeras.exceptions", "safekeras._version"):
        return 0  # imported by every stage
    return len(STAGES) + 1  # the package root, its public modules, the demo and the CLI


def test_stages_import_only_the_stages_before_them():
    backward = [
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if _stage_rank(target) > _stage_rank(module) and (module, target) not in ALLOWED_BACKWARD
    ]
    assert not backward, f"imports against the data path: {sorted(backward)}"
