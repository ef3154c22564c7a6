"""``python -m benchmarks [--quick] [--out DIR]`` or ``--speed``: see :mod:`benchmarks.run`."""

import sys

from benchmarks.run import main

if __name__ == "__main__":
    sys.exit(main())
