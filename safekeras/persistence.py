"""Turning the fitted Keras network into bytes and back, safely.

The estimator pickles the network as a ``.keras`` archive (Keras's own,
versioned format) and reloads it with ``safe_mode=True``. Keras's built-in
pickle support reloads with ``safe_mode=False``, which would let a tampered
pickle run code through a Lambda layer; safekeras never goes that way.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["model_from_bytes", "model_to_bytes"]


def model_to_bytes(model) -> bytes:
    """Serialise a Keras model to the bytes of a ``.keras`` archive."""
    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(data: bytes):
    """Load a Keras model from ``.keras`` bytes with Keras's safe mode on."""
    import keras

    with tempfile.TemporaryDirectory(prefix="safekeras-") as folder:
        path = os.path.join(folder, "network.keras")
        with open(path, "wb") as handle:
            handle.write(data)
        return keras.saving.load_model(path, compile=False, safe_mode=True)
