"""Stage 3: turn probabilities into decisions: the tuned decision threshold and the
imbalance-aware metrics it is judged by.

Internal: the public names are re-exported by :mod:`safekeras` and its documented
modules (``safekeras.metrics``, ``safekeras.schema``, ...). Nothing is imported here,
so importing a stage costs nothing beyond the module asked for.
"""
