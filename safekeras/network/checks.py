"""Checks at the network's boundary: the numbers that go in, the predictions that come out.

Preprocessed features must be finite numbers the network's dtype can hold
(:func:`as_network_input`, :func:`check_network_input`); a prediction that is
NaN or infinite is never returned (:func:`finite_predictions`), and the error
says whether the weights or the rows are to blame.
"""

from __future__ import annotations

import functools

import numpy as np

from ..data.schema import check_representable
from ..exceptions import InputError, TrainingError
from .fitted import input_dtype
from .inference import as_numpy

__all__ = [
    "as_network_input",
    "check_network_input",
    "check_token_ids",
    "concatenated",
    "finite_predictions",
    "network_input_names",
]


def as_network_input(X, *, keep_integers: bool = False) -> np.ndarray:
    """Preprocessed features as a finite float array (cast to the network's dtype later).

    ``keep_integers`` keeps integer token ids as they are: an ``Embedding``
    reads them as codes.
    """
    X = np.asarray(X)
    if keep_integers and X.dtype.kind in "iu":
        return X
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "The preprocessed features are not numeric. With preprocessor='passthrough' "
                "or a custom transformer, its output must be numbers; use "
                "preprocessor='auto' to encode string columns."
            ) from exc
    if not np.isfinite(X).all():
        raise InputError(
            "The preprocessed features contain NaN or infinity. Use preprocessor='auto' "
            "(which imputes missing values) or clean the data first."
        )
    return X if X.dtype.kind == "f" else X.astype(np.float32)


def check_network_input(schema, preprocessor, dtype, *features) -> None:
    """InputError naming the preprocessed columns with numbers ``dtype`` cannot hold.

    ``features`` are preprocessed arrays (None entries are skipped); their
    columns are named after ``preprocessor``'s output, or ``schema``'s columns
    when there is no preprocessor.
    """
    for x in features:
        if x is None:
            continue
        if x.ndim > 2:  # a tensor: one column per channel (last axis), whatever its shape
            names = [f"channel {k}" for k in range(x.shape[-1])]
            check_representable(x.reshape(-1, x.shape[-1]), names, dtype, preprocessed=True)
        else:
            names = functools.partial(network_input_names, schema, preprocessor, x.shape[1])
            check_representable(x, names, dtype, preprocessed=True)


def check_token_ids(x: np.ndarray, input_dim: int | None) -> None:
    """InputError when a token id is beyond the network's ``Embedding`` vocabulary.

    An id at or above ``input_dim`` has no embedding row: Keras raises on a
    CPU but silently reads zeros on a GPU, which would be a silent wrong answer.

    Parameters
    ----------
    x : ndarray of int
        Token ids as they enter the network.
    input_dim : int or None
        The Embedding's ``input_dim`` (None: the network does not start with one).
    """
    if input_dim is None or x.size == 0:
        return
    largest = int(x.max())
    if largest >= input_dim:
        rows = np.flatnonzero((x >= input_dim).any(axis=1))
        raise InputError(
            f"Token id {largest} is beyond the network's Embedding vocabulary (input_dim="
            f"{input_dim}: ids 0 to {input_dim - 1}), in {len(rows)} row(s) (e.g. row "
            f"{int(rows[0])}). Map unknown tokens to a reserved id, or build the Embedding "
            "with a larger input_dim."
        )


def concatenated(chunks: list[np.ndarray]) -> np.ndarray:
    """The chunks' rows as one array (the chunk itself when there is one)."""
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def network_input_names(schema, preprocessor, width: int) -> list:
    """Names of the columns that enter the network, for messages (positions if unknown)."""
    if preprocessor is None:
        return [profile.name for profile in schema.columns]
    try:
        names = [str(name) for name in preprocessor.get_feature_names_out()]
    except (AttributeError, TypeError, ValueError):
        return list(range(width))
    return names if len(names) == width else list(range(width))


def finite_predictions(values: np.ndarray, what: str, model) -> np.ndarray:
    """``values``, or an error naming the rows whose output is NaN or infinite.

    A NaN probability is no probability, and a label read from it (NaN >=
    threshold is False) is a silent guess: neither is ever returned. ``model``
    is the Keras network that computed ``values``: NaN weights make it a
    :class:`TrainingError`, else the rows are to blame (:class:`InputError`).
    """
    finite = np.isfinite(values)
    if finite.all():
        return values
    rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
    shown = ", ".join(str(row) for row in rows[:5])
    shown += f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    where = f"{len(rows)} of {len(values)} row(s) (at positions {shown} of the batch)"
    if not _weights_finite(model):
        raise TrainingError(
            f"The network's {what} are NaN or infinite for {where}: its weights hold NaN "
            "or infinity (training diverged, or they were changed after fit). No prediction "
            "is returned. Refit, e.g. with a smaller learning_rate; history_['loss'] shows "
            "where training diverged."
        )
    raise InputError(
        f"The network's {what} are NaN or infinite for {where}: their features drive the "
        f"network's activations beyond the range of {input_dtype(model)}. No "
        "prediction is returned. Check those rows for values far outside the training "
        "range (a unit error, a sentinel value; on_drift='raise' names the columns) and fix "
        "or drop them."
    )


def _weights_finite(model) -> bool:
    return all(np.isfinite(as_numpy(weight.value)).all() for weight in model.weights)
