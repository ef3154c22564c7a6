"""The spline embeddings as a Keras layer, for :func:`~safekeras.deploy.export.to_keras`.

A fitted :class:`~sklearn.preprocessing.SplineTransformer` evaluates each
column's B-spline basis with SciPy's de Boor recursion, which Keras has no
operation for. Between two consecutive distinct knots every basis function
is one polynomial of the spline's degree, so :func:`spline_pieces` reads
those polynomials off the fitted transformer itself (``degree + 1`` values
inside each piece, solved exactly) and :class:`SplineBasis` evaluates them
with ``keras.ops``: find the piece, then Horner's rule. Reading the
transformer's own outputs, rather than re-deriving the recursion, keeps
every convention of scikit-learn's: repeated knots, right-continuity at a
knot, the closed upper end, and ``extrapolation="constant"``'s rows below and
above the training range (scikit-learn fills only the first and last
``degree`` columns there, which is not the basis at the boundary where the
boundary knot repeats). The layer agrees with ``transform`` to rounding
(about 1e-15), not to the bit.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["SplineBasis", "spline_pieces"]


@keras.saving.register_keras_serializable(package="safekeras")
class SplineBasis(keras.layers.Layer):
    """Spline embeddings of numeric columns, in float64, from their polynomial pieces.

    Each column's missing values take ``fill``; a value below ``lower`` or
    above ``upper`` gives the row ``below`` or ``above``, ``upper`` itself
    gives ``at_upper``, and a value within gives the polynomial of its piece.

    Parameters
    ----------
    fill, lower, upper : sequence of float
        Per column: the value a NaN takes, and the training range.
    breaks : sequence of sequence of float
        Per column, the pieces' left ends (``lower`` first), padded with
        ``inf`` to one length.
    inverse_widths : sequence of sequence of float
        Per column and piece, one over the piece's width (0 for padding).
    coefficients : nested sequence of float, shape (columns, pieces, splines, degree + 1)
        Per piece and basis function, the polynomial in the position within
        the piece scaled to [0, 1], constant term first.
    below, above, at_upper : sequence of sequence of float
        Per column, the basis values of those rows.
    positions : sequence of int or None, default=None
        Input columns to read, in output order; None reads them all in order.
    """

    def __init__(
        self,
        fill,
        lower,
        upper,
        breaks,
        inverse_widths,
        coefficients,
        below,
        above,
        at_upper,
        positions=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.fill = [float(v) for v in fill]
        self.lower = [float(v) for v in lower]
        self.upper = [float(v) for v in upper]
        self.breaks = np.asarray(breaks, dtype=np.float64).tolist()
        self.inverse_widths = np.asarray(inverse_widths, dtype=np.float64).tolist()
        self.coefficients = np.asarray(coefficients, dtype=np.float64).tolist()
        self.below = np.asarray(below, dtype=np.float64).tolist()
        self.above = np.asarray(above, dtype=np.float64).tolist()
        self.at_upper = np.asarray(at_upper, dtype=np.float64).tolist()
        self.positions = None if positions is None else [int(p) for p in positions]
        shape = np.shape(self.coefficients)
        if len(shape) != 4 or not len(self.fill) == len(self.lower) == shape[0]:
            raise ValueError(
                "coefficients must have shape (columns, pieces, splines, degree + 1), with "
                "one fill, lower and upper value per column."
            )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.positions is not None:
            x = ops.take(x, np.asarray(self.positions, dtype=np.int32), axis=1)
        x = ops.where(ops.isnan(x), np.asarray(self.fill), x)
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        inside = ops.clip(x, lower, upper)
        breaks = np.asarray(self.breaks)  # (columns, pieces)
        # The piece: the number of left ends at or below x, less one (padding is inf).
        piece = ops.sum(ops.cast(inside[..., None] >= breaks[None, :, 1:], "int32"), axis=-1)
        choose = ops.one_hot(piece, breaks.shape[1], dtype=self.compute_dtype)  # rows, cols, pieces
        left = ops.sum(choose * np.where(np.isinf(breaks), 0.0, breaks), axis=-1)
        position = (inside - left) * ops.sum(choose * np.asarray(self.inverse_widths), axis=-1)
        terms = ops.einsum("rcp,cpsk->rcsk", choose, np.asarray(self.coefficients))
        values = terms[..., -1]
        for k in range(terms.shape[-1] - 2, -1, -1):  # Horner's rule, highest power first
            values = values * position[..., None] + terms[..., k]
        x = x[..., None]
        values = ops.where(x == upper[:, None], np.asarray(self.at_upper), values)
        values = ops.where(x < lower[:, None], np.asarray(self.below), values)
        values = ops.where(x > upper[:, None], np.asarray(self.above), values)
        return ops.reshape(values, (-1, values.shape[1] * values.shape[2]))

    def compute_output_shape(self, input_shape):
        columns, _, splines, _ = np.shape(self.coefficients)
        return (input_shape[0], columns * splines)

    def get_config(self):
        config = super().get_config()
        config.update(
            fill=self.fill,
            lower=self.lower,
            upper=self.upper,
            breaks=self.breaks,
            inverse_widths=self.inverse_widths,
            coefficients=self.coefficients,
            below=self.below,
            above=self.above,
            at_upper=self.at_upper,
            positions=self.positions,
        )
        return config


def spline_pieces(splines, fill) -> dict:
    """The keyword arguments of :class:`SplineBasis` for a fitted ``SplineTransformer``.

    Parameters
    ----------
    splines : SplineTransformer
        Fitted, with ``extrapolation="constant"`` and dense output.
    fill : sequence of float
        The value a missing entry of each column takes.

    Returns
    -------
    dict
        ``fill``, ``lower``, ``upper``, ``breaks``, ``inverse_widths``,
        ``coefficients``, ``below``, ``above`` and ``at_upper``.
    """
    degree = splines.degree
    # Where, inside a piece scaled to [0, 1], the transformer is read: away from the ends,
    # where a repeated knot may make the basis jump.
    nodes = np.linspace(0.125, 0.875, degree + 1)
    vandermonde = nodes[:, None] ** np.arange(degree + 1)
    lower = np.array([spline.t[degree] for spline in splines.bsplines_])
    upper = np.array([spline.t[-degree - 1] for spline in splines.bsplines_])
    columns = []
    for j, spline in enumerate(splines.bsplines_):
        ends = np.unique(spline.t[(spline.t >= lower[j]) & (spline.t <= upper[j])])
        widths = np.diff(ends)
        inside = (ends[:-1, None] + nodes * widths[:, None]).ravel()
        edges = [np.nextafter(lower[j], -np.inf), np.nextafter(upper[j], np.inf), upper[j]]
        values = _column_basis(splines, lower, j, np.concatenate([inside, edges]))
        pieces = values[: len(inside)].reshape(len(widths), degree + 1, -1)
        columns.append((ends[:-1], 1.0 / widths, np.linalg.solve(vandermonde, pieces), values[-3:]))
    longest = max(len(c[0]) for c in columns)
    return {
        "fill": list(fill),
        "lower": lower.tolist(),
        "upper": upper.tolist(),
        "breaks": [_pad(c[0], longest, np.inf) for c in columns],
        "inverse_widths": [_pad(c[1], longest, 0.0) for c in columns],
        "coefficients": [
            np.concatenate([c[2], np.zeros((longest - len(c[2]), *c[2].shape[1:]))])
            .transpose(0, 2, 1)
            .tolist()
            for c in columns
        ],
        "below": [c[3][0].tolist() for c in columns],
        "above": [c[3][1].tolist() for c in columns],
        "at_upper": [c[3][2].tolist() for c in columns],
    }


def _column_basis(splines, lower, column: int, x: np.ndarray) -> np.ndarray:
    """The transformer's output block of ``column`` at the values ``x`` (others at their lower)."""
    probe = np.tile(lower, (len(x), 1))
    probe[:, column] = x
    width = splines.bsplines_[column].c.shape[1]
    return splines.transform(probe)[:, column * width : (column + 1) * width]


def _pad(values: np.ndarray, length: int, value: float) -> list:
    return np.concatenate([values, np.full(length - len(values), value)]).tolist()
