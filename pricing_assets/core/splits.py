"""Chronological train / validation / test splits of the weekly rows and the preprocessor fit on train only.

Why chronological: a demand model is used on weeks it has not seen, so it is judged that way;
a random split would let it interpolate between neighbouring weeks of the test period. The rows
of one week (one per price list) never straddle a boundary.

The preprocessor is a small, explicit transform (standard scaling of numeric features, one-hot
encoding of categorical ones with the categories seen in train) stored as JSON: no pickle to
trust, and the output column names are kept so SHAP values carry the right labels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .weekly_features import CATEGORICAL_FEATURES, GROUP_COLUMN, NUMERIC_FEATURES, TARGET, TIME_COLUMN

if TYPE_CHECKING:
    from ..settings import Settings

SPLITS = ("train", "validation", "test")
SPLIT_COLUMN = "split"


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of rows (by time), or cut-off dates when both are given; the minimum rows per split.

    With cut-offs, train is everything before ``train_end``, validation everything from
    ``train_end`` to before ``validation_end``, test the rest. Every value comes from settings
    (PRICING_SPLIT_*), which hold the defaults.
    """

    train_fraction: float
    validation_fraction: float
    train_end: str | None
    validation_end: str | None
    min_rows_per_split: int

    def validate(self) -> None:
        """The one check of a split, used by the step and by Settings.validate (which names the variables).

        Messages name the fields by their own names (``train_end``...), so Settings can put the
        PRICING_SPLIT_* variable in their place. The fraction test is written so ``nan`` fails it.
        """
        if (self.train_end is None) != (self.validation_end is None):
            raise ValueError("give both train_end and validation_end, or neither (then fractions are used)")
        if self.train_end is not None and _cut_off("train_end", self.train_end) >= _cut_off(
            "validation_end", self.validation_end
        ):
            raise ValueError(f"train_end {self.train_end} must be before validation_end {self.validation_end}")
        fractions = (self.train_fraction, self.validation_fraction)
        if not all(0 < f < 1 for f in fractions):
            raise ValueError(
                f"train_fraction and validation_fraction must be in (0, 1), not {fractions[0]!r} and {fractions[1]!r}"
            )
        if self.train_fraction + self.validation_fraction >= 1:
            raise ValueError(
                "train_fraction + validation_fraction must leave rows for the test split (< 1), not "
                f"{fractions[0]!r} + {fractions[1]!r}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> SplitConfig:
        """The split the settings describe (PRICING_SPLIT_*)."""
        return cls(
            settings.split_train_fraction,
            settings.split_validation_fraction,
            settings.split_train_end,
            settings.split_validation_end,
            settings.split_min_rows,
        )


def _cut_off(name: str, value: str | None) -> pd.Timestamp:
    """A cut-off date, or an error naming it: pandas' own message ("Unknown datetime string format") does not."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a date such as 2011-06-01, not {value!r}") from exc
    if pd.isna(stamp) or stamp.tzinfo is not None:
        raise ValueError(f"{name} must be a date such as 2011-06-01 (no time zone), not {value!r}")
    return stamp


def _boundary(times: pd.Series, fraction: float) -> pd.Timestamp:
    """The first week at or after the given fraction of rows, so a week is never cut."""
    position = min(int(np.floor(len(times) * fraction)), len(times) - 1)
    return times.iloc[position]


def split_chronologically(features: pd.DataFrame, cfg: SplitConfig) -> pd.DataFrame:
    """The feature rows, time-ordered, with a ``split`` column of train / validation / test."""
    cfg.validate()
    frame = features.sort_values([TIME_COLUMN, GROUP_COLUMN], kind="mergesort").reset_index(drop=True)
    times = frame[TIME_COLUMN]
    if cfg.train_end is not None:
        train_end, validation_end = pd.Timestamp(cfg.train_end), pd.Timestamp(cfg.validation_end)
    else:
        train_end = _boundary(times, cfg.train_fraction)
        validation_end = _boundary(times, cfg.train_fraction + cfg.validation_fraction)
    frame[SPLIT_COLUMN] = np.select([times < train_end, times < validation_end], ["train", "validation"], "test")
    counts = frame[SPLIT_COLUMN].value_counts().reindex(SPLITS, fill_value=0)
    short = {name: int(n) for name, n in counts.items() if n < cfg.min_rows_per_split}
    if short:
        raise ValueError(
            f"too few rows in {short} (need {cfg.min_rows_per_split} per split, {len(frame)} rows from "
            f"{times.min()} to {times.max()}): move the cut-off dates or change the fractions"
        )
    return frame


@dataclass
class Preprocessor:
    """Standard scaling + one-hot encoding, fit on train rows only."""

    numeric: list[str]
    categorical: list[str]
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    fitted_rows: int = 0

    @classmethod
    def fit(cls, train: pd.DataFrame) -> Preprocessor:
        if train.empty:
            raise ValueError("cannot fit the preprocessor on an empty train split")
        numeric, categorical = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
        values = train[numeric].to_numpy(dtype=float)
        means = values.mean(axis=0)
        scales = values.std(axis=0)
        scales = np.where(scales > 1e-12, scales, 1.0)  # a constant column stays 0 after scaling
        categories = {c: sorted(map(str, train[c].dropna().unique())) for c in categorical}
        return cls(numeric, categorical, means.tolist(), scales.tolist(), categories, len(train))

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for column in self.categorical:
            names.extend(f"{column}={value}" for value in self.categories[column])
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """A float32 matrix with columns in :attr:`feature_names`; unseen categories are all-zero."""
        missing = [c for c in self.numeric + self.categorical if c not in frame.columns]
        if missing:
            raise ValueError(f"columns missing for the preprocessor: {missing}")
        numeric = (frame[self.numeric].to_numpy(dtype=float) - np.asarray(self.means)) / np.asarray(self.scales)
        blocks = [numeric]
        for column in self.categorical:
            values = frame[column].astype(str).to_numpy()
            blocks.append((values[:, None] == np.asarray(self.categories[column], dtype=object)[None, :]).astype(float))
        matrix = np.hstack(blocks)
        if not np.isfinite(matrix).all():
            raise ValueError("non-finite feature values after preprocessing; check weekly_features for NaN or inf")
        return matrix.astype(np.float32)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True).encode()

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Preprocessor:
        return cls(**data)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: bytes) -> Preprocessor:
        return cls.from_dict(json.loads(data))


@dataclass(frozen=True)
class DesignMatrices:
    """Model inputs for some splits: features on the preprocessor's scale, target log1p(weekly units)."""

    feature_names: list[str]
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    scaling: dict[str, tuple[float, float]] = field(default_factory=dict)  # numeric feature -> (mean, scale)


def design_matrices(frame: pd.DataFrame, preprocessor: Preprocessor, splits: tuple[str, ...]) -> DesignMatrices:
    """Matrices for the named splits only: a trainer asks for train and validation, never test."""
    xs, ys = {}, {}
    for name in splits:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        rows = frame[frame[SPLIT_COLUMN] == name]
        xs[name] = preprocessor.transform(rows)
        ys[name] = rows[TARGET].to_numpy(dtype=np.float32)
    scaling = {
        name: (m, s) for name, m, s in zip(preprocessor.numeric, preprocessor.means, preprocessor.scales, strict=True)
    }
    return DesignMatrices(preprocessor.feature_names, xs, ys, scaling)
