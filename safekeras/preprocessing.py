"""The preprocessing step fitted in ``fit`` and reused unchanged at predict time.

``preprocessor="auto"`` builds a :class:`~sklearn.compose.ColumnTransformer`
from the training data:

* numeric and boolean columns: median imputation, then standard scaling;
* string, object and category columns: most-frequent imputation, then one-hot
  encoding, unknown categories ignored at predict time and rare categories
  grouped once a column has more than ``MAX_CATEGORIES`` of them.

It works on numpy arrays (numeric, or object arrays whose columns hold numbers
or strings) and on pandas DataFrames with mixed dtypes. The network then sees
scaled inputs whatever scale the caller's data comes in, which removes the
"trained on 0-1 pixels, fed 0-255" pitfall at its root.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

__all__ = [
    "MAX_CATEGORIES",
    "as_categories",
    "is_dataframe",
    "make_auto_preprocessor",
    "one_hot_blocks",
    "resolve_preprocessor",
    "strings_or_nan",
]

#: One-hot columns kept per categorical feature; rarer categories share one column.
MAX_CATEGORIES = 50


def is_dataframe(X) -> bool:
    """True for pandas-like frames (columns with their own dtypes)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def resolve_preprocessor(preprocessor, X):
    """Return an unfitted transformer for ``preprocessor``, or None for no preprocessing.

    Parameters
    ----------
    preprocessor : "auto", "passthrough", None or transformer
        The estimator's ``preprocessor`` parameter.
    X : array-like or DataFrame
        Training features, used by ``"auto"`` to decide each column's kind.
    """
    if preprocessor is None or (isinstance(preprocessor, str) and preprocessor == "passthrough"):
        return None
    if isinstance(preprocessor, str):  # "auto"; other strings are rejected by validation
        return make_auto_preprocessor(X)
    return clone(preprocessor)


def make_auto_preprocessor(X) -> ColumnTransformer:
    """Build the ``"auto"`` ColumnTransformer for the columns of ``X``."""
    numeric, categorical = split_columns(X)
    transformers = []
    if numeric:
        transformers.append(("numeric", _numeric_pipeline(), numeric))
    if categorical:
        transformers.append(("categorical", _categorical_pipeline(), categorical))
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


def _converts_to_float(column: np.ndarray) -> bool:
    try:
        column.astype(np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _numeric_pipeline() -> Pipeline:
    return Pipeline(
        [
            ("as_float", FunctionTransformer(_as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )


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
