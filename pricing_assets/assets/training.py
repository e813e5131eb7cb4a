"""Chronological splits of a stockcode's weekly rows, and the preprocessor fit on its train rows.

One step, two assets: the preprocessor is fit on the rows this step splits off as train, so it is
made here, and every asset that needs it takes it as an input (a graph edge through the IO
manager) rather than reading a store key of its own making.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, AssetOut, DataVersion, MetadataValue, Output, multi_asset

from ..core import splits
from ..core.store import frame_content_hash, sha256_hex
from ..partitions import stockcode_partitions
from .common import SettingsConfig, code_version_of, setting, table_metadata
from .drift import drift_report
from .transactions import GROUP


class SplitsConfig(SettingsConfig):
    """Fractions of rows by time, or both cut-off dates (the PRICING_SPLIT_* settings, see common.setting)."""

    train_fraction: float = setting("split_train_fraction")
    validation_fraction: float = setting("split_validation_fraction")
    train_end: str | None = setting("split_train_end")
    validation_end: str | None = setting("split_validation_end")
    min_rows_per_split: int = setting("split_min_rows")


def preprocessor_from(value: dict) -> splits.Preprocessor:
    """The ``preprocessor`` asset's value (its JSON, as the IO manager hands it on) as a Preprocessor."""
    return splits.Preprocessor.from_dict(value)


@multi_asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    outs={
        "training_splits": AssetOut(
            code_version=code_version_of(splits),
            description=(
                "Chronological train / validation / test split of the stockcode's weekly rows per price list "
                "(weekly_features, a 'split' column; a week's rows never straddle a boundary), after its drift "
                "check passed."
            ),
        ),
        "preprocessor": AssetOut(
            code_version=code_version_of(splits),
            description=(
                "The preprocessor (standard scaling, one-hot encoding, output names kept for SHAP) fit on "
                "the train rows of training_splits only: every model, evaluation and the bundle take it from here."
            ),
        ),
    },
    deps=[AssetDep(drift_report)],
)
def training_splits(
    context: AssetExecutionContext,
    config: SplitsConfig,
    weekly_features: pd.DataFrame,
) -> Iterator[Output]:
    cfg = splits.SplitConfig(**config.model_dump())
    frame = splits.split_chronologically(weekly_features, cfg)
    preprocessor = splits.Preprocessor.fit(frame[frame[splits.SPLIT_COLUMN] == "train"])
    data = preprocessor.to_json()
    metadata, _ = table_metadata(frame, time_column="week")
    for name in splits.SPLITS:
        rows = frame[frame[splits.SPLIT_COLUMN] == name]
        metadata[f"{name}_rows"] = MetadataValue.int(len(rows))
        metadata[f"{name}_weeks"] = MetadataValue.text(f"{rows['week'].min().date()} to {rows['week'].max().date()}")
    yield Output(frame, "training_splits", metadata=metadata, data_version=DataVersion(frame_content_hash(frame)))
    yield Output(
        preprocessor.to_dict(),
        "preprocessor",
        metadata={
            "fitted_rows": MetadataValue.int(preprocessor.fitted_rows),
            "preprocessor_sha256": MetadataValue.text(sha256_hex(data)),
            "model_features": MetadataValue.json(preprocessor.feature_names),
        },
        data_version=DataVersion(sha256_hex(data)[:16]),
    )
