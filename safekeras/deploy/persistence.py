"""Saving a fitted estimator to one file and loading it back, safely.

Two ways to persist an estimator
--------------------------------
* ``pickle`` / ``joblib`` / ``cloudpickle``: the estimator pickles its network
  as a ``.keras`` archive
  (:func:`~safekeras.deploy.network_bytes.model_to_bytes`) and reloads it with
  Keras's safe mode on (:func:`~safekeras.deploy.network_bytes.model_from_bytes`);
  Keras's own pickle support would reload with ``safe_mode=False``. Unpickling
  runs code by design, so pickles are for files you made yourself or fully
  trust.
* :func:`~safekeras.deploy.saving.save` / :func:`~safekeras.deploy.loading.load`:
  one file that loading never runs code from.

The file format
---------------
A zip archive (format ``"safekeras.estimator"``, version
:data:`~safekeras.deploy.file_format.FORMAT_VERSION`) with these members, in
this order:

``manifest.json``
    Format name and version, the estimator's class, the members and their
    SHA-256 digests, and the versions of safekeras, scikit-learn, Keras, the
    Keras backend, NumPy, skops and Python that wrote the file.
``model.keras``
    The fitted network (``estimator.model_``) as a plain Keras ``.keras``
    archive: unzip it and ``keras.saving.load_model`` opens it on its own.
``estimator.skops``
    The rest of the fitted estimator (preprocessor, target encoding, input
    schema, decision threshold, parameters) in the skops format, with the
    network replaced by a placeholder that
    :func:`~safekeras.deploy.loading.load` resolves to the model it loaded
    from ``model.keras``.
``keras/<attribute>.keras``, ``keras/<attribute>.json``
    Only for estimators whose parameters or fitted attributes hold Keras
    objects (``model=`` a ``keras.Model``, ``optimizer=`` or ``loss=`` Keras
    instances and the ``loss_`` they give, ``activation=`` a Keras function): a
    ``.keras`` archive or a Keras JSON config, checked and loaded like
    ``model.keras``.

Writes are atomic: the file is written under a temporary name in the target's
folder and moved over the target with :func:`os.replace`, so an error or an
interruption leaves any previous file intact and removes the temporary file.

Loading
-------
:func:`~safekeras.deploy.loading.load` checks the whole file before anything
in it is deserialised: the container and the manifest (every zip archive,
nested ones included, is read within bounds decided from its central
directory before anything is inflated, see :mod:`safekeras.deploy.archive`),
then every name the Keras configs and the skops payload hold against the
allow-lists of :mod:`safekeras.deploy.allowlist`, whose docstring describes
the threat model (the CVEs and what each check stops). A file that could make
the loader run code raises :class:`~safekeras.exceptions.UnsafeFileError`.
Only then does Keras load the network (``safe_mode=True, compile=False``) and
skops load the rest. A foreign, truncated or corrupt file raises
:class:`~safekeras.exceptions.PersistenceError`; nothing is returned
half-loaded. Files written by other library versions load with a
:class:`~safekeras.exceptions.VersionMismatchWarning`.

The modules
-----------
This module gathers the public names (:mod:`safekeras.persistence` is their
documented path). The work is done by :mod:`safekeras.deploy.file_format`
(the names above), :mod:`safekeras.deploy.archive` (the bounded zip reader),
:mod:`safekeras.deploy.network_bytes` (the network as ``.keras`` bytes, for
pickles, saving and loading), :mod:`safekeras.deploy.saving`,
:mod:`safekeras.deploy.container` (the manifest and the members, read back)
and :mod:`safekeras.deploy.loading`; the checks by name are in
:mod:`safekeras.deploy.allowlist` and :mod:`safekeras.deploy.type_names`, on
the weights in :mod:`safekeras.deploy.weights_check`, and on the loaded parts
in :mod:`safekeras.deploy.load_checks`.
"""

from __future__ import annotations

from .file_format import FORMAT_NAME, FORMAT_VERSION, MIN_KERAS_VERSION
from .loading import load
from .network_bytes import model_from_bytes, model_to_bytes
from .saving import save

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MIN_KERAS_VERSION",
    "load",
    "model_from_bytes",
    "model_to_bytes",
    "save",
]
