"""Stage 4: look at a fitted estimator: ``diagnose()``'s checks, one per pitfall, and
the diagnosis plot.

Internal: the public names are re-exported by :mod:`safekeras` and its documented
modules (``safekeras.metrics``, ``safekeras.schema``, ...). Nothing is imported here,
so importing a stage costs nothing beyond the module asked for.
"""
