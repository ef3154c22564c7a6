"""The fitted ``"auto"`` preprocessor as plain arrays, applied without scikit-learn's overhead.

A fitted :class:`~sklearn.compose.ColumnTransformer` costs about 0.4 ms per
``transform`` on one numeric row and 1.5 ms on a one-row DataFrame, whatever
the work: column selection, validation and ``set_output`` machinery run on
every call. The ``"auto"`` preprocessor (see :mod:`safekeras.data.preprocessing`)
only ever does four things, so :class:`PreprocessingPlan` keeps their fitted
numbers and does them on the batch :meth:`InputSchema.decode
<safekeras.schema.InputSchema.decode>` has already read:

* numeric columns: missing values replaced by the training medians, then
  ``(x - mean) / scale``, the same floating-point operations in the same
  order as :class:`~sklearn.impute.SimpleImputer` and
  :class:`~sklearn.preprocessing.StandardScaler`, so the result is identical
  to the bit;
* categorical columns: missing values replaced by the most frequent training
  category, then one-hot columns in :class:`~sklearn.preprocessing.OneHotEncoder`'s
  order, rare and unknown categories in the "infrequent" column when the
  column has one, all zeros otherwise;
* the regressor's spline embeddings: missing values replaced by the training
  medians, then what the fitted :class:`~sklearn.preprocessing.SplineTransformer`
  computes with ``extrapolation="constant"``: each column's SciPy ``BSpline``
  called on the values within its training range, and the transformer's
  boundary rows beyond it (computed once here, where ``transform`` computes
  them on every call), written after the one-hot blocks. Its ``transform``
  costs 0.5 ms of validation and bookkeeping on one row; the plan calls the
  same SciPy objects on the same values, so the result is the same to the bit.

The plan is also what :meth:`to_keras <safekeras.SafeKerasClassifier.to_keras>`
turns into Keras layers. :meth:`PreprocessingPlan.from_fitted` returns None
for any other preprocessor, which then runs through scikit-learn as fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CategoricalEncoding", "PreprocessingPlan", "SplineEmbedding"]


@dataclass(frozen=True)
class CategoricalEncoding:
    """How one categorical input column becomes its one-hot block.

    Attributes
    ----------
    position : int
        The column's position in the raw input.
    fill : str
        The value a missing entry takes (the most frequent training category).
    categories : tuple of str
        The categories that have their own output column, in output order.
    infrequent : tuple of str
        Training categories grouped in the block's last column (empty when
        the column has no such group).
    """

    position: int
    fill: str
    categories: tuple
    infrequent: tuple

    @property
    def width(self) -> int:
        """Output columns of the block."""
        return len(self.categories) + (1 if self.infrequent else 0)

    @property
    def default_column(self) -> int | None:
        """Output column of an unknown or infrequent category (None: all zeros)."""
        return len(self.categories) if self.infrequent else None


@dataclass(frozen=True)
class SplineEmbedding:
    """How numeric input columns become their spline embeddings.

    Attributes
    ----------
    positions : tuple of int
        The embedded columns' positions in the raw input, in output order.
    fill : ndarray of shape (n_embedded,), float64
        The value a missing entry takes (the training median).
    splines : SplineTransformer
        The fitted transformer: ``splines.n_features_out_`` columns, those
        of one input column side by side.
    """

    positions: tuple
    fill: np.ndarray
    splines: object

    @property
    def width(self) -> int:
        """Output columns of the embeddings."""
        return int(self.splines.n_features_out_)

    def boundaries(self) -> list:
        """Per column: ``(lower, upper, below, above)``, the training range and the rows beyond it.

        ``below`` fills the first ``degree`` basis columns of a value under
        ``lower``, ``above`` the last ``degree`` of a value over ``upper``, as
        :class:`~sklearn.preprocessing.SplineTransformer` does.
        """
        degree = self.splines.degree
        rows = []
        for spline in self.splines.bsplines_:
            lower, upper = spline.t[degree], spline.t[-degree - 1]
            rows.append((lower, upper, spline(lower)[:degree], spline(upper)[-degree:]))
        return rows


class PreprocessingPlan:
    """The ``"auto"`` ColumnTransformer's fitted numbers; see the module docstring.

    Attributes
    ----------
    numeric_positions : tuple of int
        Raw input positions of the numeric columns, in output order.
    fill, mean, scale : ndarray of shape (n_numeric,), float64
        Imputation values and standardisation of the numeric columns.
    categorical : tuple of CategoricalEncoding
        One per categorical column, in output order (after the numeric ones).
    splines : SplineEmbedding or None
        The spline embeddings, in output order after the one-hot blocks.
    n_features_out : int
        Width of the preprocessed output.
    """

    def __init__(self, numeric_positions, fill, mean, scale, categorical, splines=None):
        self.numeric_positions = tuple(numeric_positions)
        self.fill = np.asarray(fill, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.categorical = tuple(categorical)
        self.splines = splines
        self.n_features_out = (
            len(self.numeric_positions)
            + sum(c.width for c in self.categorical)
            + (0 if splines is None else splines.width)
        )
        # Where each embedded column sits in a decoded batch's numeric block.
        self._spline_columns = (
            None
            if splines is None
            else np.array(
                [self.numeric_positions.index(p) for p in splines.positions], dtype=np.intp
            )
        )
        # Computed at the first transform, not here: a loaded estimator builds its plan while
        # skops restores it, before load has checked the B-splines it would evaluate.
        self._spline_boundaries = None
        # Category -> output column within the block; unknowns go to default_column.
        self._lookups = [
            {category: j for j, category in enumerate(encoding.categories)}
            | {category: encoding.default_column for category in encoding.infrequent}
            for encoding in self.categorical
        ]

    @classmethod
    def from_fitted(cls, preprocessor, schema) -> PreprocessingPlan | None:
        """The plan of a fitted ``"auto"`` preprocessor, or None for anything else.

        Parameters
        ----------
        preprocessor : transformer or None
            The estimator's ``preprocessor_``.
        schema : InputSchema
            The estimator's ``input_schema_``; the plan reads the columns in
            the order the schema decodes them, and refuses a preprocessor
            whose columns are split otherwise.
        """
        from sklearn.compose import ColumnTransformer

        if type(preprocessor) is not ColumnTransformer or preprocessor.remainder != "drop":
            return None
        fitted = {name: (step, columns) for name, step, columns in preprocessor.transformers_}
        if set(fitted) - {"numeric", "categorical", "splines", "remainder"}:
            return None
        positions = {name: j for j, name in enumerate(_column_names(schema))}
        numeric_columns = fitted.get("numeric", (None, []))[1]
        categorical_columns = fitted.get("categorical", (None, []))[1]
        numeric_positions = [positions.get(c, c) for c in numeric_columns]
        categorical_positions = [positions.get(c, c) for c in categorical_columns]
        if numeric_positions != list(schema._numeric_positions) or categorical_positions != [
            schema._positions[p.name] for p in schema._categorical
        ]:
            return None
        if numeric_positions and preprocessor.output_indices_["numeric"].start != 0:
            return None  # the plan writes the numeric block first
        numeric = _numeric_numbers(fitted["numeric"][0]) if numeric_positions else ([], [], [])
        if numeric is None:
            return None
        encodings = []
        if categorical_positions:
            encodings = _categorical_encodings(fitted["categorical"][0], categorical_positions)
            if encodings is None:
                return None
        splines = None
        if "splines" in fitted:
            step, columns = fitted["splines"]
            splines = _spline_embedding(step, [positions.get(c, c) for c in columns])
            start = len(numeric_positions) + sum(e.width for e in encodings)
            if (
                splines is None
                or not set(splines.positions) <= set(numeric_positions)
                or preprocessor.output_indices_["splines"].start != start
            ):
                return None  # the plan writes the embeddings last, from the numeric block
        return cls(numeric_positions, *numeric, encodings, splines)

    @classmethod
    def for_input(cls, preprocessor, schema, kind: str) -> PreprocessingPlan | None:
        """:meth:`from_fitted` for inputs of ``kind``: a plan reads table columns only.

        Tensors and token ids go through their own preprocessor (or none).

        Parameters
        ----------
        preprocessor : transformer or None
        schema : InputSchema, TensorSchema or TokenSchema
        kind : {"table", "tensor", "tokens"}
            How the fit reads ``X`` (``input_kind_``).
        """
        return cls.from_fitted(preprocessor, schema) if kind == "table" else None

    def transform(self, batch, rows: slice = slice(None)) -> np.ndarray:
        """The preprocessed rows ``rows`` of a decoded batch, float64.

        Parameters
        ----------
        batch : DecodedBatch
            The batch as :meth:`InputSchema.decode` read it.
        rows : slice, default=slice(None)
            The rows to transform (``predict`` streams large batches).
        """
        numeric = batch.numeric[rows]
        out = np.zeros((numeric.shape[0], self.n_features_out), dtype=np.float64)
        width = len(self.numeric_positions)
        if width:
            block = out[:, :width]
            np.copyto(block, numeric)
            np.copyto(block, self.fill, where=np.isnan(block))
            block -= self.mean
            block /= self.scale
        if self.categorical:
            self._one_hot(batch.categorical[rows], out, width)
        if self.splines is not None:
            values = numeric[:, self._spline_columns]  # a copy: the batch is left as read
            np.copyto(values, self.splines.fill, where=np.isnan(values))
            self._embed(values, out[:, self.n_features_out - self.splines.width :])
        return out

    def _embed(self, values: np.ndarray, out: np.ndarray) -> None:
        """What SplineTransformer.transform gives for ``values`` (dense, constant), into ``out``."""
        degree = self.splines.splines.degree
        bsplines = self.splines.splines.bsplines_
        width = bsplines[0].c.shape[1]
        if self._spline_boundaries is None:
            self._spline_boundaries = self.splines.boundaries()
        for j, (spline, (lower, upper, below, above)) in enumerate(
            zip(bsplines, self._spline_boundaries, strict=True)
        ):
            x = values[:, j]
            block = out[:, j * width : (j + 1) * width]
            inside = (lower <= x) & (x <= upper)
            block[inside] = spline(x[inside])
            block[x < lower, :degree] = below
            block[x > upper, width - degree :] = above

    def _one_hot(self, values: np.ndarray, out: np.ndarray, start: int) -> None:
        row_index = np.arange(values.shape[0])
        for k, encoding in enumerate(self.categorical):
            lookup = self._lookups[k]
            fill = encoding.fill
            default = encoding.default_column
            # Missing values are NaN (a float); every present value is a string.
            columns = np.array(
                [
                    lookup.get(value if isinstance(value, str) else fill, default)
                    for value in values[:, k]
                ],
                dtype=object,
            )
            known = columns != None  # noqa: E711 (elementwise on an object array)
            if known.any():
                out[row_index[known], start + columns[known].astype(np.intp)] = 1.0
            start += encoding.width


def _column_names(schema) -> list:
    return [profile.name for profile in schema.columns]


def _numeric_numbers(pipeline):
    """(fill, mean, scale) of the numeric pipeline, or None if it is not the "auto" one."""
    from sklearn.preprocessing import StandardScaler

    found = _median_imputed(pipeline, StandardScaler)
    if found is None:
        return None
    imputer, scaler = found
    width = len(imputer.statistics_)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(width)
    scale = scaler.scale_ if scaler.with_std else np.ones(width)
    return imputer.statistics_, mean, scale


def _spline_embedding(pipeline, positions):
    """The SplineEmbedding of the spline pipeline, or None if it is not the "auto" one."""
    from sklearn.preprocessing import SplineTransformer

    found = _median_imputed(pipeline, SplineTransformer)
    if found is None:
        return None
    imputer, splines = found
    if splines.extrapolation != "constant" or splines.sparse_output or not splines.include_bias:
        return None
    return SplineEmbedding(tuple(int(p) for p in positions), imputer.statistics_.copy(), splines)


def _median_imputed(pipeline, last_kind):
    """(imputer, last step) of the "auto" floats-then-median pipeline ending in ``last_kind``.

    None for any other pipeline, or one whose imputer leaves a NaN.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer

    from .preprocessing import _as_float

    steps = _steps(pipeline, (FunctionTransformer, SimpleImputer, last_kind))
    if steps is None:
        return None
    as_float, imputer, last = steps
    if (
        as_float.func is not _as_float
        or as_float.inverse_func is not None
        or imputer.strategy != "median"
        or imputer.add_indicator
        or not _imputes_nan(imputer)
        or len(imputer.statistics_) != last.n_features_in_
        or np.isnan(imputer.statistics_).any()
    ):
        return None
    return imputer, last


def _categorical_encodings(pipeline, positions):
    """One CategoricalEncoding per column, or None if the pipeline is not the "auto" one."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    from .preprocessing import as_categories

    steps = _steps(pipeline, (FunctionTransformer, SimpleImputer, OneHotEncoder))
    if steps is None:
        return None
    as_str, imputer, encoder = steps
    if (
        as_str.func is not as_categories
        or as_str.inverse_func is not None
        or imputer.strategy != "most_frequent"
        or imputer.add_indicator
        or not _imputes_nan(imputer)
        or encoder.drop_idx_ is not None
        or encoder.handle_unknown not in ("ignore", "infrequent_if_exist")
        or encoder.sparse_output
    ):
        return None
    encodings = []
    for position, fill, categories, infrequent in zip(
        positions,
        imputer.statistics_,
        encoder.categories_,
        encoder.infrequent_categories_,
        strict=True,
    ):
        if not isinstance(fill, str) or not all(isinstance(c, str) for c in categories):
            return None
        rare = () if infrequent is None else tuple(infrequent)
        if rare and encoder.handle_unknown != "infrequent_if_exist":
            return None
        kept = tuple(c for c in categories if c not in set(rare))
        encodings.append(CategoricalEncoding(int(position), fill, kept, rare))
    return encodings


def _steps(pipeline, kinds):
    from sklearn.pipeline import Pipeline

    if type(pipeline) is not Pipeline or len(pipeline.steps) != len(kinds):
        return None
    steps = [step for _, step in pipeline.steps]
    if any(type(step) is not kind for step, kind in zip(steps, kinds, strict=True)):
        return None
    return steps


def _imputes_nan(imputer) -> bool:
    missing = imputer.missing_values
    return isinstance(missing, float) and np.isnan(missing)
