"""Stage 2: build the network from the target, train it (the engines), and run the
fitted network (numpy inference, warm start and ``partial_fit``, worker threads).

Internal: the public names are re-exported by :mod:`safekeras` and its documented
modules (``safekeras.metrics``, ``safekeras.schema``, ...). Nothing is imported here,
so importing a stage costs nothing beyond the module asked for.
"""
