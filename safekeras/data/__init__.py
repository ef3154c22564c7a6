"""Stage 1 of the data path: the target, the input schema and drift guard, preprocessing
(and its compiled numpy plan) and resampling of the training split.

Internal: the public names are re-exported by :mod:`safekeras` and its documented
modules (``safekeras.metrics``, ``safekeras.schema``, ...). Nothing is imported here,
so importing a stage costs nothing beyond the module asked for.
"""
