"""Loading a benchmark script and reading its markdown report, for the benchmark smoke tests."""

import importlib.util
import re
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|nan|inf")


def load_benchmark(name):
    """``benchmarks/<name>.py`` as a module (the folder is not part of the installed package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _cells(line):
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(report):
    """Each section's table, as a list of rows {header: cell}, by section title."""
    found = {}
    for section in re.split(r"^#+ ", report, flags=re.MULTILINE)[1:]:
        lines = [line for line in section.splitlines() if line.startswith("| ")]
        if not lines:
            continue
        header = _cells(lines[0])
        rows = []
        for line in lines[1:]:  # the |---| line does not start with "| "
            cells = _cells(line)
            assert len(cells) == len(header), line
            rows.append(dict(zip(header, cells, strict=True)))
        found[section.splitlines()[0]] = rows
    return found


def numbers(cell):
    """The numbers written in a table cell."""
    return [float(x) for x in NUMBER.findall(cell)]
