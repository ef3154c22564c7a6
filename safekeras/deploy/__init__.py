"""Stage 5: ship a fitted estimator: ``save``/``load`` (bounded reads, allow-lists,
weight-shape checks) and the export to one Keras model.

Internal: the public names are re-exported by :mod:`safekeras` and its documented
modules (``safekeras.metrics``, ``safekeras.schema``, ...). Nothing is imported here,
so importing a stage costs nothing beyond the module asked for.
"""
