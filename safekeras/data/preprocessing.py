"""The preprocessing step fitted in ``fit`` and reused unchanged at predict time.

``preprocessor="auto"`` builds a :class:`~sklearn.compose.ColumnTransformer`
from the training data:

* numeric and boolean columns: median imputation, then standard scaling;
* string, object and category columns: most-frequent imputation, then one-hot
  encoding, unknown categories ignored at predict time and rare categories
  grouped once a column has more than ``MAX_CATEGORIES`` of them;
* with ``numeric_embeddings="splines"`` (the regressor's default network's
  ``"auto"``), also a spline embedding of each numeric column with at least
  ``SPLINE_MIN_DISTINCT`` distinct training values: median imputation, then
  scikit-learn's :class:`~sklearn.preprocessing.SplineTransformer` (cubic
  B-splines on ``SPLINE_KNOTS`` knots at the training quantiles, constant
  beyond the training range), appended after the other columns. The
  network then fits a smooth per-column shape as easily as a slope; the
  measurements that chose it are in ``docs/defaults.md`` ("Numeric embeddings").

It works on numpy arrays (numeric, or object arrays whose columns hold numbers
or strings) and on pandas DataFrames with mixed dtypes. For N-dimensional
``X`` (images, series) ``"auto"`` is a per-channel
:class:`~safekeras.data.channel_scaling.ChannelScaler`; integer token ids
for an ``Embedding`` are categorical codes and are never scaled. The network then sees
scaled inputs whatever scale the caller's data comes in, which removes the
"trained on 0-1 pixels, fed 0-255" pitfall at its root.
"""

from __future__ import annotations

import contextlib

import numpy as np
from sklearn import config_context
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    SplineTransformer,
    StandardScaler,
)

from ..exceptions import MissingDependencyError
from .channel_scaling import ChannelScaler

__all__ = [
    "MAX_CATEGORIES",
    "SPLINE_KNOTS",
    "SPLINE_MIN_DISTINCT",
    "as_categories",
    "as_pandas_frame",
    "fit_preprocessor",
    "is_dataframe",
    "make_auto_preprocessor",
    "one_hot_blocks",
    "resolve_preprocessor",
    "strings_or_nan",
    "take_rows",
    "weighted_median",
]

#: One-hot columns kept per categorical feature; rarer categories share one column.
MAX_CATEGORIES = 50
#: Knots of a numeric column's spline embedding, at the training quantiles (8 cubic B-splines).
SPLINE_KNOTS = 6
#: Distinct training values a numeric column needs to get a spline embedding; below, a
#: column is a flag or a code, which the scaled column already carries.
SPLINE_MIN_DISTINCT = 10


def is_dataframe(X) -> bool:
    """True for pandas-like frames (columns with their own dtypes)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def take_rows(X, indices):
    """The rows ``indices`` of an array or a frame (by position)."""
    if is_dataframe(X):
        return X.iloc[indices]
    return X[indices]


def as_pandas_frame(X):
    """``X`` itself, or a dataframe of another library as a pandas DataFrame.

    A polars DataFrame, a pyarrow Table or any frame exposing the Arrow
    PyCapsule stream (``__arrow_c_stream__``) or the dataframe interchange
    protocol (``__dataframe__``) names its columns; read as an array it would
    lose them, and a batch with its columns reordered would be predicted
    silently wrong. Such frames are converted once, through Arrow, to the
    pandas DataFrame that the schema and the preprocessing read, so that their
    names, dtypes (categorical, string, nullable) and missing values are
    checked exactly as a pandas DataFrame's.

    Parameters
    ----------
    X : object
        The features as given to ``fit`` or ``predict``.

    Returns
    -------
    X : object
        A pandas DataFrame for a frame of another library, else ``X`` unchanged.

    Raises
    ------
    MissingDependencyError
        ``X`` is such a frame and pandas (or, for an Arrow stream, pyarrow)
        is not installed.
    """
    if is_dataframe(X) or isinstance(X, np.ndarray) or not _is_foreign_frame(X):
        return X
    kind = type(X).__module__.split(".")[0] + "." + type(X).__name__
    arrow = hasattr(X, "__arrow_c_stream__")
    needed = "pandas and pyarrow" if arrow else "pandas"
    try:
        import pandas  # noqa: F401 (the conversion's target)

        if arrow:
            import pyarrow
    except ImportError as exc:
        raise MissingDependencyError(
            f"Reading a {kind} keeps its column names and dtypes through pandas, which needs "
            f"{needed} (pip install {needed.replace(' and ', ' ')}). Install them, or pass "
            "a pandas DataFrame."
        ) from exc
    if arrow:
        # Zero-copy into Arrow, one copy into pandas.
        return pyarrow.table(X).to_pandas()
    from pandas.api.interchange import from_dataframe

    return from_dataframe(X)


def _is_foreign_frame(X) -> bool:
    """A 2-d frame with named columns behind the Arrow stream or the interchange protocol."""
    named = hasattr(X, "columns") or hasattr(X, "column_names")
    return named and (hasattr(X, "__arrow_c_stream__") or hasattr(X, "__dataframe__"))


def resolve_preprocessor(preprocessor, X, kind: str = "table", numeric_splines: bool = False):
    """Return an unfitted transformer for ``preprocessor``, or None for no preprocessing.

    Parameters
    ----------
    preprocessor : "auto", "passthrough", None or transformer
        The estimator's ``preprocessor`` parameter.
    X : array-like or DataFrame
        Training features, used by ``"auto"`` to decide each column's kind.
    kind : {"table", "tensor", "tokens"}, default="table"
        How ``fit`` reads ``X``: ``"auto"`` is the column transformer for a
        table, a :class:`ChannelScaler` for a tensor, and nothing for token
        ids (codes, which scaling would corrupt).
    numeric_splines : bool, default=False
        Whether a table's ``"auto"`` preprocessor adds spline embeddings of
        its numeric columns (the regressor's; see :func:`make_auto_preprocessor`).

    Returns
    -------
    transformer or None
    """
    if preprocessor is None or (isinstance(preprocessor, str) and preprocessor == "passthrough"):
        return None
    if isinstance(preprocessor, str):  # "auto"; other strings are rejected by validation
        if kind == "tensor":
            return ChannelScaler()
        return None if kind == "tokens" else make_auto_preprocessor(X, numeric_splines)
    return clone(preprocessor)


def fit_preprocessor(preprocessor, X, sample_weight=None) -> np.ndarray:
    """Fit ``preprocessor`` on ``X``, weighting the ``"auto"`` statistics; return ``X`` transformed.

    A row of integer weight ``k`` counts as ``k`` copies of the row, as in
    the network's loss: the ``"auto"`` preprocessor's numeric medians (the
    imputed value) and means and standard deviations (the scaling), and its
    categorical columns' most frequent values, are weighted. The one-hot
    categories are the values of the rows given (the estimator passes only
    rows of positive weight); the grouping of rare categories, used only
    beyond :data:`MAX_CATEGORIES` categories, counts rows. The spline
    embeddings' medians and knots (weighted quantiles) are weighted too. A
    :class:`ChannelScaler` (the ``"auto"`` preprocessor of tensors) weights
    its per-channel means and deviations the same way. Another
    preprocessor is fitted without the weights: scikit-learn transformers
    take ``sample_weight`` only through metadata routing, which is a global
    setting safekeras leaves alone.

    Parameters
    ----------
    preprocessor : transformer
        An unfitted transformer from :func:`resolve_preprocessor`.
    X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, ...)
    sample_weight : ndarray of shape (n_samples,), default=None
        Positive weights; None or all equal fits without weights, exactly as
        ``preprocessor.fit_transform(X)``.

    Returns
    -------
    ndarray of shape (n_samples, n_features_out), or X's shape for a ChannelScaler
    """
    weighted = sample_weight is not None and np.ptp(sample_weight) > 0
    if type(preprocessor) is ChannelScaler:
        return preprocessor.fit(X, sample_weight=sample_weight if weighted else None).transform(X)
    # The "auto" preprocessor's parameters are ours and valid: scikit-learn need not check
    # them again in each of its five estimators (about 0.5 ms a fit; the setting is
    # thread-local and restored on exit).
    auto = _is_auto(preprocessor, fitted=False)
    with config_context(skip_parameter_validation=True) if auto else contextlib.nullcontext():
        transformed = preprocessor.fit_transform(X)
    if not weighted or not auto:
        return transformed
    for name, pipeline, columns in preprocessor.transformers_:
        if name in ("numeric", "splines"):
            _weight_numeric(pipeline, _select(X, columns), sample_weight)
        elif name == "categorical":
            _weight_categorical(pipeline, _select(X, columns), sample_weight)
    return preprocessor.transform(X)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values`` where a value of weight ``k`` counts ``k`` times.

    With integer weights this is the median of the values repeated (the
    mean of the two middle values when the total weight is even). Missing
    values (NaN) and weights of 0 are left out; NaN when nothing remains.

    Parameters
    ----------
    values : ndarray of shape (n,), float
    weights : ndarray of shape (n,), non-negative
    """
    kept = ~np.isnan(values) & (weights > 0)
    order = np.argsort(values[kept], kind="stable")
    values, weights = values[kept][order], weights[kept][order]
    if not len(values):
        return float("nan")
    cumulative = np.cumsum(weights)
    half = cumulative[-1] / 2
    middle = int(np.searchsorted(cumulative, half, side="left"))
    if cumulative[middle] == half:  # an even split: between this value and the next
        return float((values[middle] + values[middle + 1]) / 2)
    return float(values[middle])


def _is_auto(preprocessor, fitted: bool = True) -> bool:
    """Whether a preprocessor (fitted, or not yet) is one :func:`make_auto_preprocessor` built."""
    if type(preprocessor) is not ColumnTransformer:
        return False
    expected = {
        "numeric": ("as_float", _as_float),
        "categorical": ("as_str", as_categories),
        "splines": ("as_float", _as_float),
    }
    transformers = preprocessor.transformers_ if fitted else preprocessor.transformers
    for name, pipeline, _ in transformers:
        if name == "remainder":
            continue
        if name not in expected or type(pipeline) is not Pipeline or len(pipeline.steps) != 3:
            return False
        step, func = expected[name]
        if pipeline.steps[0][0] != step or pipeline.steps[0][1].func is not func:
            return False
    return True


def _select(X, columns):
    return X[columns] if is_dataframe(X) else np.asarray(X)[:, columns]


def _weight_numeric(pipeline: Pipeline, X, sample_weight) -> None:
    """Weighted medians into the fitted imputer, then the last step refitted with the weights.

    The last step is the scaler, or the spline embedding (knots at weighted quantiles).
    """
    as_float, imputer, last = (step for _, step in pipeline.steps)
    values = as_float.transform(X)
    medians = [weighted_median(column, sample_weight) for column in values.T]
    # An empty column keeps the fill keep_empty_features gave it.
    imputer.statistics_ = np.where(np.isnan(medians), imputer.statistics_, medians)
    last.fit(imputer.transform(values), sample_weight=sample_weight)


def _weight_categorical(pipeline: Pipeline, X, sample_weight) -> None:
    """The weighted most frequent category into the fitted imputer (ties: the smallest)."""
    as_str, imputer = pipeline.steps[0][1], pipeline.steps[1][1]
    values = as_str.transform(X)
    statistics = imputer.statistics_.copy()
    for j, column in enumerate(values.T):
        present = np.array([isinstance(v, str) for v in column], dtype=bool)
        if not present.any():
            continue
        categories, codes = np.unique(column[present].astype(str), return_inverse=True)
        totals = np.bincount(codes, weights=sample_weight[present], minlength=len(categories))
        statistics[j] = categories[int(np.argmax(totals))]  # argmax: the first, the smallest
    imputer.statistics_ = statistics


def make_auto_preprocessor(X, numeric_splines: bool = False) -> ColumnTransformer:
    """Build the ``"auto"`` ColumnTransformer for the columns of ``X``.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The training features: they decide each column's kind, and which
        numeric columns get a spline embedding.
    numeric_splines : bool, default=False
        Whether to append the spline embeddings (transformer ``"splines"``,
        after the scaled numeric and the one-hot columns) of the numeric
        columns with at least :data:`SPLINE_MIN_DISTINCT` distinct values.

    Returns
    -------
    ColumnTransformer
        Unfitted; its transformers are named ``"numeric"``,
        ``"categorical"`` and ``"splines"`` (those that have columns).
    """
    numeric, categorical = split_columns(X)
    transformers = []
    if numeric:
        transformers.append(("numeric", _numeric_pipeline(), numeric))
    if categorical:
        transformers.append(("categorical", _categorical_pipeline(), categorical))
    embedded = spline_columns(X, numeric) if numeric_splines else []
    if embedded:
        transformers.append(("splines", _spline_pipeline(), embedded))
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def one_hot_blocks(preprocessor: ColumnTransformer) -> tuple[list[tuple[int, int]], list]:
    """Output column range of each categorical feature's one-hot block.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        A fitted ``"auto"`` preprocessor (see :func:`make_auto_preprocessor`).

    Returns
    -------
    blocks : list of (start, stop)
        One range per categorical input column, in output positions.
    names : list
        Those columns' names (DataFrame) or positions (array).
    """
    if "categorical" not in preprocessor.named_transformers_:
        return [], []
    encoder = preprocessor.named_transformers_["categorical"].named_steps["one_hot"]
    start = preprocessor.output_indices_["categorical"].start
    blocks = []
    for categories, infrequent in zip(
        encoder.categories_, encoder.infrequent_categories_, strict=True
    ):
        width = len(categories) if infrequent is None else len(categories) - len(infrequent) + 1
        blocks.append((start, start + width))
        start += width
    names = next(cols for name, _, cols in preprocessor.transformers_ if name == "categorical")
    return blocks, list(names)


def split_columns(X) -> tuple[list, list]:
    """Split the columns of ``X`` into numeric (incl. boolean) and categorical ones.

    DataFrame columns are returned by name and classified by dtype; array
    columns by position, an object column counting as numeric when every value
    converts to a float.
    """
    if is_dataframe(X):
        numeric, categorical = [], []
        for name, dtype in zip(X.columns, X.dtypes, strict=True):
            kind = getattr(dtype, "kind", "O")
            is_numeric = kind in "biuf" and str(dtype) not in ("category", "boolean")
            (numeric if is_numeric else categorical).append(name)
        return numeric, categorical
    X = np.asarray(X)
    if X.dtype.kind in "biuf":
        return list(range(X.shape[1])), []
    numeric, categorical = [], []
    for j in range(X.shape[1]):
        (numeric if _converts_to_float(X[:, j]) else categorical).append(j)
    return numeric, categorical


def spline_columns(X, numeric: list) -> list:
    """The ``numeric`` columns of ``X`` with at least :data:`SPLINE_MIN_DISTINCT` distinct values.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    numeric : list
        The numeric columns (names or positions), as :func:`split_columns` gives them.

    Returns
    -------
    list
        Those of ``numeric`` to embed, in the same order.
    """
    if not numeric:
        return []
    values = _as_float(_select(X, numeric))
    return [
        column
        for column, data in zip(numeric, values.T, strict=True)
        if len(np.unique(data[~np.isnan(data)])) >= SPLINE_MIN_DISTINCT
    ]


def _converts_to_float(column: np.ndarray) -> bool:
    try:
        column.astype(np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _numeric_pipeline() -> Pipeline:
    return Pipeline([*_median_imputed_floats(), ("scale", StandardScaler())])


def _spline_pipeline() -> Pipeline:
    # Quantile knots keep n_knots + degree - 1 columns even where the quantiles tie (the
    # tied knots repeat), so a column's width does not change from one fit to the next.
    splines = SplineTransformer(
        n_knots=SPLINE_KNOTS, degree=3, knots="quantile", extrapolation="constant"
    )
    return Pipeline([*_median_imputed_floats(), ("spline", splines)])


def _median_imputed_floats() -> list:
    """The first two steps of the numeric and spline pipelines: floats, then training medians.

    One builder for both, as the preprocessing plan (``_median_imputed``) reads them alike and
    the weighted fit (:func:`_weight_numeric`) refits them alike.
    """
    return [
        ("as_float", FunctionTransformer(_as_float, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
    ]


def _categorical_pipeline() -> Pipeline:
    return Pipeline(
        [
            ("as_str", FunctionTransformer(as_categories, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            (
                "one_hot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=MAX_CATEGORIES,
                    sparse_output=False,
                    dtype=np.float32,
                ),
            ),
        ]
    )


def _as_float(X) -> np.ndarray:
    """Numeric and boolean columns as float64 (pandas NA and None become NaN)."""
    if is_dataframe(X):
        return X.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(X, dtype=np.float64)


def as_categories(X) -> np.ndarray:
    """Categorical values as strings in an object array, missing values as NaN.

    Strings make every column uniformly typed for the encoder (a column mixing
    ints and strings would otherwise fail to sort).
    """
    if is_dataframe(X):
        missing = X.isna().to_numpy()
        values = X.astype(object).to_numpy()
    else:
        values = np.asarray(X, dtype=object)
        missing = np.vectorize(_is_missing, otypes=[bool])(values) if values.size else values
    return strings_or_nan(values, missing)


def strings_or_nan(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``values`` (an object array) as strings, NaN where ``missing``: how categories are read."""
    out = values.astype(str).astype(object)
    if values.size:
        out[missing.astype(bool)] = np.nan
    return out


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
