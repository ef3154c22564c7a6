"""Every dataset the benchmarks read, one definition each; nothing is downloaded.

The scikit-learn bundled sets (relabelled or cut where a benchmark needs a minority
positive class), the generated ``make_classification`` sets and the generated mixed
DataFrames. A benchmark chooses among them in its own ``load_datasets``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
)
from sklearn.model_selection import train_test_split

SEED = 0  # the seed of the speed benchmarks' generated data
POSITIVE = 1  # every binary dataset is coded so that the minority class is 1


def make_data(rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    informative = min(10, features)
    return make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=informative,
        # scikit-learn's default of 2 redundant features, when there is room for them.
        n_redundant=min(2, features - informative),
        random_state=SEED,
    )


BREAST_CANCER_COUNTS = {"benign": 357, "malignant": 40}  # 1:9, about 10 % positive


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset.

    Attributes
    ----------
    name : str
        Its key in ``DATASETS``.
    description : str
        How it was made, for the report.
    X : ndarray or pandas.DataFrame
    y : ndarray
        Integer labels; for binary data 1 is the minority, positive class.
    mixed : bool
        Whether ``X`` is a DataFrame with categorical and missing values, for
        which the peers need an encoder.
    tensor : ndarray or None
        The same rows in their image or sequence shape ``(n, ...)``, channels
        last, for a network that takes that shape; ``X`` is then its flat view
        ``tensor.reshape(n, -1)``, which the flat contenders get. None for tables.
    """

    name: str
    description: str
    X: object
    y: np.ndarray
    mixed: bool = False
    tensor: np.ndarray | None = None

    @property
    def binary(self) -> bool:
        return len(np.unique(self.y)) == 2

    @property
    def summary(self) -> str:
        rows, columns = self.X.shape
        if self.binary:
            positives = int(np.sum(self.y == POSITIVE))
            labels = f"{positives} positive ({positives / rows:.1%})"
        else:
            counts = np.bincount(self.y)
            labels = f"{len(counts)} classes ({counts.min()} to {counts.max()} rows each)"
        shape = "" if self.tensor is None else f" (as {' x '.join(map(str, self.tensor.shape))})"
        return f"{rows} rows x {columns} columns{shape}, {labels}"


def make_breast_cancer(seed: int) -> Dataset:
    X, y = imbalanced_breast_cancer(BREAST_CANCER_COUNTS, seed)
    return Dataset(
        "breast-cancer",
        "load_breast_cancer relabelled 1 = malignant, made 1:9 with make_imbalance("
        f"{BREAST_CANCER_COUNTS['benign']} benign, {BREAST_CANCER_COUNTS['malignant']} "
        f"malignant, random_state={seed})",
        X,
        y,
    )


def make_wine(seed: int) -> Dataset:
    X, y = load_wine(return_X_y=True)
    return Dataset("wine", "load_wine (multiclass)", X, y)


def make_digits(seed: int) -> Dataset:
    X, y = load_digits(return_X_y=True)
    return Dataset("digits", "load_digits, pixels 0 to 16 (multiclass)", X, y)


def make_digit_image_dataset(seed: int) -> Dataset:
    """``load_digits`` as 8 x 8 x 1 images (pixels 0 to 16), with the 64 pixels as its flat view."""
    digits = load_digits()
    images = digits.images[..., np.newaxis]  # channels last: (n, 8, 8, 1)
    return Dataset(
        "digits-images",
        "load_digits as (n, 8, 8, 1) images, pixels 0 to 16 (multiclass); flat contenders get "
        "the same 64 pixels as columns",
        images.reshape(len(images), -1),
        digits.target,
        tensor=images,
    )


# The generated sequence task: one ramp-shaped bump per series, rising slowly and falling
# sharply (class 1) or the mirror image (class 0), at a uniformly random position. Both
# classes hold the same values, so neither the series' mean, spread nor maximum tells them
# apart: only the order of neighbouring values does, wherever the bump sits.
SEQUENCE_LENGTH = 50
BUMP_WIDTH = 10
BUMP_HEIGHT = 1.0
SEQUENCE_NOISE = 0.3  # standard deviation of the Gaussian noise around the bump


def make_sequences(rows: int, seed: int) -> Dataset:
    """Series of shape ``(rows, 50, 1)``; the class is the direction of a bump's ramp."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(rows) % 2)  # balanced
    series = rng.normal(0.0, SEQUENCE_NOISE, (rows, SEQUENCE_LENGTH))
    ramp = np.linspace(BUMP_HEIGHT / BUMP_WIDTH, BUMP_HEIGHT, BUMP_WIDTH)
    starts = rng.integers(0, SEQUENCE_LENGTH - BUMP_WIDTH + 1, rows)
    columns = starts[:, np.newaxis] + np.arange(BUMP_WIDTH)
    series[np.arange(rows)[:, np.newaxis], columns] += np.where(
        y[:, np.newaxis] == 1, ramp, ramp[::-1]
    )
    tensor = series[..., np.newaxis]
    return Dataset(
        "sequences",
        f"generated ({rows}, {SEQUENCE_LENGTH}, 1) series, seed {seed}: Gaussian noise (sd "
        f"{SEQUENCE_NOISE}) and one ramp of width {BUMP_WIDTH} and height {BUMP_HEIGHT} at a "
        "random position, rising (class 1) or falling (class 0); flat contenders get the "
        f"{SEQUENCE_LENGTH} steps as columns",
        series,
        y,
        tensor=tensor,
    )


def make_synthetic(rows: int, seed: int) -> Dataset:
    X, y = make_classification(
        n_samples=rows,
        n_features=20,
        n_informative=6,
        weights=[0.95],
        flip_y=0.01,
        random_state=seed,
    )
    return Dataset(
        "synthetic",
        f"make_classification(n_samples={rows}, n_features=20, n_informative=6, "
        f"weights=[0.95], flip_y=0.01, random_state={seed})",
        X,
        y,
    )


def make_mixed(rows: int, seed: int) -> Dataset:
    """A customer-like DataFrame: numbers on different scales, string categories, gaps."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    regions = np.array(["north", "south", "east", "west", "centre", "coast", "hills", "islands"])
    region_shares = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.06, 0.04, 0.03])
    plans = np.array(["basic", "plus", "pro"])
    channels = np.array(["web", "store", "phone", "partner"])
    age = rng.normal(45, 12, rows).clip(18, 90).round()
    income = rng.lognormal(10.5, 0.7, rows)  # heavy right tail: thousands to millions
    visits = rng.poisson(3, rows).astype(float)
    tenure = rng.uniform(0, 20, rows)
    region = rng.choice(len(regions), rows, p=region_shares)
    plan = rng.choice(len(plans), rows, p=[0.6, 0.3, 0.1])
    channel = rng.choice(len(channels), rows, p=[0.5, 0.25, 0.15, 0.1])
    # The signal mixes numbers (on their natural scales) and categories, mostly smooth
    # (logistic in age, log income, visits, tenure) plus a step (the first two years of
    # tenure) and an interaction (plan "pro" bought through a partner), which trees find
    # easily; the intercept keeps about 10 % positive.
    logit = -4.8 + 2.0 * (
        0.035 * (age - 45)
        - 0.6 * (np.log(income) - 10.5)
        + 0.25 * (visits - 3)
        - 0.08 * (tenure - 10)
        + 0.5 * (tenure < 2)
        + np.array([0.0, 0.3, -0.2, 0.2, 0.0, 1.2, -0.5, 1.5])[region]
        + np.array([0.0, 0.5, 1.3])[plan]
        + np.array([0.0, -0.4, 0.6, 0.9])[channel]
        + 1.0 * ((plan == 2) & (channel == 3))
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "visits": visits,
            "tenure": tenure,
            "region": pd.Categorical(regions[region], categories=regions),
            "plan": pd.Categorical(plans[plan], categories=plans),
            "channel": pd.Categorical(channels[channel], categories=channels),
        }
    )
    for column, share in (("age", 0.05), ("income", 0.10), ("visits", 0.05), ("region", 0.03)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return Dataset(
        "mixed",
        f"generated DataFrame ({rows} rows, seed {seed}): age, income (lognormal), visits, "
        "tenure, and string categories region (8), plan (3), channel (4) as pandas "
        "'category' dtype; 5 to 10 % missing in age, income, visits, 3 % in region",
        frame,
        y,
        mixed=True,
    )


# Breast cancer made 1:20: all 357 benign rows, 18 malignant ones.
IMBALANCE_BREAST_CANCER_COUNTS = {"benign": 357, "malignant": 18}


@dataclass(frozen=True)
class ArrayDataset:
    name: str
    description: str
    X: np.ndarray
    y: np.ndarray  # 1 = minority / positive class


def make_imbalance_synthetic(rows: int, seed: int) -> ArrayDataset:
    X, y = make_classification(
        n_samples=rows,
        n_features=20,
        n_informative=6,
        weights=[0.95, 0.05],
        flip_y=0.01,
        random_state=seed,
    )
    return ArrayDataset(
        "synthetic",
        f"make_classification(n_samples={rows}, n_features=20, n_informative=6, "
        f"weights=[0.95, 0.05], flip_y=0.01, random_state={seed})",
        X,
        y,
    )


def imbalanced_breast_cancer(counts: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer with 1 = malignant, cut to ``counts`` ("benign", "malignant") rows."""
    from imblearn.datasets import make_imbalance

    X, y = load_breast_cancer(return_X_y=True)
    y = (y == 0).astype(int)  # scikit-learn codes malignant as 0; make it the positive 1
    return make_imbalance(
        X,
        y,
        sampling_strategy={0: counts["benign"], 1: counts["malignant"]},
        random_state=seed,
    )


def make_imbalance_breast_cancer(seed: int) -> ArrayDataset:
    X, y = imbalanced_breast_cancer(IMBALANCE_BREAST_CANCER_COUNTS, seed)
    return ArrayDataset(
        "breast-cancer",
        "load_breast_cancer relabelled 1 = malignant, made 1:20 with "
        f"make_imbalance({IMBALANCE_BREAST_CANCER_COUNTS['benign']} benign, "
        f"{IMBALANCE_BREAST_CANCER_COUNTS['malignant']} malignant, random_state={seed})",
        X,
        y,
    )


DRIFT_REGIONS = ("north", "south", "east", "west", "centre", "coast", "hills", "islands")


DRIFT_REGION_SHARES = (0.30, 0.20, 0.15, 0.10, 0.10, 0.07, 0.05, 0.03)


def make_mixed_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric columns of different scales and a categorical one, from fixed distributions."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": np.clip(rng.normal(45.0, 12.0, rows), 18.0, 90.0),
            "income": rng.lognormal(mean=10.5, sigma=1.5, size=rows),
            "visits": rng.poisson(3.0, rows).astype(np.int64),
            "ratio": rng.uniform(0.0, 1.0, rows),
            "balance": rng.normal(0.0, 1000.0, rows),
            "region": rng.choice(
                np.array(DRIFT_REGIONS, dtype=object), size=rows, p=DRIFT_REGION_SHARES
            ),
        }
    )
    region_effect = {region: (k % 3 - 1) * 0.8 for k, region in enumerate(DRIFT_REGIONS)}
    logit = (
        0.04 * (frame["age"] - 45.0)
        + 0.5 * (np.log(frame["income"]) - 10.5)
        - 0.3 * (frame["visits"] - 3.0)
        + frame["region"].map(region_effect)
    )
    y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-logit.to_numpy()))).astype(int)
    return frame, y


POSITIVE_SHARE = 0.1


def make_search_data(rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    informative = min(6, features)
    return make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=informative,
        n_redundant=min(2, features - informative),
        weights=[1 - POSITIVE_SHARE],
        flip_y=0.01,
        random_state=SEED,
    )


def make_default_path_split(rows: int, features: int, seed: int):
    X, y = make_classification(
        n_samples=rows, n_features=features, weights=[0.93], flip_y=0.01, random_state=seed
    )
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


DIGITS = "digits/16"


MIXED = "mixed frame"


BREAST_CANCER = "breast cancer"


DRIFT_MIXED_ROWS = 3000


DRIFT_CLASSIFICATION_ROWS = 4000


@dataclass(frozen=True)
class DriftDataset:
    name: str
    X: np.ndarray | pd.DataFrame
    y: np.ndarray
    regression: bool = False

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def load_drift_datasets(seed: int) -> list[DriftDataset]:
    digits_X, digits_y = load_digits(return_X_y=True)
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
    wine_X, wine_y = load_wine(return_X_y=True)
    diabetes_X, diabetes_y = load_diabetes(return_X_y=True)
    synthetic_X, synthetic_y = make_classification(
        n_samples=DRIFT_CLASSIFICATION_ROWS, n_features=20, random_state=seed
    )
    mixed_X, mixed_y = make_mixed_frame(DRIFT_MIXED_ROWS, seed)
    return [
        DriftDataset(DIGITS, digits_X / 16.0, digits_y),
        DriftDataset(BREAST_CANCER, cancer_X, cancer_y),
        DriftDataset("wine", wine_X, wine_y),
        DriftDataset("diabetes", diabetes_X, diabetes_y, regression=True),
        DriftDataset("make_classification", synthetic_X, synthetic_y),
        DriftDataset(MIXED, mixed_X, mixed_y),
    ]


# -- images: the drift guard of N-dimensional inputs ----------------------------------


def make_scaled_digit_images(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The digit images of :func:`make_digit_image_dataset`, pixels scaled from 0-16 to 0-1."""
    dataset = make_digit_image_dataset(seed)
    return dataset.tensor / 16.0, dataset.y


def make_smooth_images(
    rows: int, seed: int, size: int = 16, channels: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Generated smooth colour images, pixels 0-1 as 8-bit images divided by 255.

    Each image is a dim background plus three Gaussian blobs at random places,
    of random widths and random colours, with a little pixel noise, clipped to
    0-1 (bright overlaps saturate, as in photographs). The label says whether
    the image is redder than it is blue (channel 0 brighter on average than
    channel 2). Not fitted to anything: a second image-like distribution so
    that a drift threshold is not tuned to digits.
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    centres = rng.random((rows, 3, 2))
    widths = rng.uniform(0.08, 0.3, (rows, 3))
    colours = rng.uniform(0.1, 0.8, (rows, 3, channels))
    distance = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    blobs = np.exp(-distance / (2 * widths[..., None, None] ** 2))
    images = 0.05 + np.einsum("nbhw,nbc->nhwc", blobs, colours)
    images += rng.normal(0.0, 0.02, images.shape)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)
    y = (images[..., 0].mean(axis=(1, 2)) > images[..., -1].mean(axis=(1, 2))).astype(int)
    return images, y
