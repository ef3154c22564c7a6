"""The Keras backends a speed benchmark reports, and its re-run of itself under JAX.

The Keras backend is fixed per process, so ``training.py`` and ``deploy.py`` measure
TensorFlow in their own process and start themselves again with ``KERAS_BACKEND=jax``;
the JAX process prints its sections to the same stdout and hands them back as JSON through
the internal ``--fragment`` file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "jax")
TITLES = {"tensorflow": "TensorFlow", "jax": "JAX"}


def add_backend_arguments(parser: argparse.ArgumentParser, backend_help: str) -> None:
    """``--backends`` (reported), ``--backend`` (this process) and the internal ``--fragment``."""
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="Keras backends to report, comma-separated (tensorflow,jax); jax runs in a "
        "subprocess and is skipped when not installed",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow", help=backend_help)
    # Internal: the JAX subprocess writes its sections here instead of a whole report.
    parser.add_argument("--fragment", metavar="PATH", help=argparse.SUPPRESS)


def parse_backend_list(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Set ``args.backend_list`` from ``--backends``; a parser error names the choices."""
    args.backend_list = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(args.backend_list) - set(BACKENDS)
    if unknown or not args.backend_list:
        parser.error(f"--backends: choose from {', '.join(BACKENDS)}")


def backend_versions() -> str:
    """``keras <version>, backend <name>`` (and JAX's version on JAX), for a section's text."""
    import keras

    backend = keras.backend.backend()
    versions = f"keras {keras.__version__}, backend {backend}"
    if backend == "jax":
        import jax

        versions += f", jax {jax.__version__}"
    return versions


def write_fragment(path: str, fragment: object) -> None:
    """The JAX process's sections (JSON) for the process that started it."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(fragment, handle)


def rerun_with_jax(script: str, options: list[str]) -> tuple[object | None, int | None]:
    """Run ``script`` again with ``KERAS_BACKEND=jax``; the fragment it wrote, or why none.

    Parameters
    ----------
    script : str
        The benchmark's ``__file__``.
    options : list of str
        Its command-line options that the JAX run repeats (sizes, ``--quick``, ...).

    Returns
    -------
    fragment : object or None
        What the JAX process passed to ``write_fragment``; None when it wrote nothing.
    status : int or None
        The JAX process's exit status; None when JAX is not installed (nothing ran).
    """
    if importlib.util.find_spec("jax") is None:
        return None, None
    with tempfile.TemporaryDirectory(prefix="safekeras-benchmark-") as folder:
        fragment = os.path.join(folder, "jax.json")
        command = [sys.executable, os.path.abspath(script), "--backend", "jax"]
        command += ["--backends", "jax", "--fragment", fragment, *options]
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        sys.stdout.flush()
        # The subprocess prints its own sections to the same stdout as they are ready.
        completed = subprocess.run(command, env=env, check=False)
        if completed.returncode == 0 and os.path.exists(fragment):
            with open(fragment, encoding="utf-8") as handle:
                return json.load(handle), 0
    return None, completed.returncode
