"""Chronological splits of a stockcode's features, and the preprocessor fit on its train rows."""

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, Config, DataVersion, MetadataValue, Output, asset

from ..core import splits
from ..core.stockcodes import validate_stockcode
from ..core.store import ArtifactStore, frame_content_hash, sha256_hex
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from ..settings import current_settings
from .common import code_version_of, table_metadata
from .drift import drift_report
from .transactions import GROUP


class SplitsConfig(Config):
    """Fractions of rows by time, or both cut-off dates; defaults from PRICING_SPLIT_* (settings.py)."""

    train_fraction: float = current_settings().split_train_fraction
    validation_fraction: float = current_settings().split_validation_fraction
    train_end: str | None = current_settings().split_train_end
    validation_end: str | None = current_settings().split_validation_end


def preprocessor_key(stock_code: str) -> str:
    return f"artifacts/training_splits/{validate_stockcode(stock_code)}/preprocessor.json"


def load_preprocessor(store: ArtifactStore, stock_code: str) -> splits.Preprocessor:
    return splits.Preprocessor.from_json(store.get_bytes(preprocessor_key(stock_code)))


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(splits),
    deps=[AssetDep(drift_report)],
    description=(
        "Chronological train / validation / test split of the stockcode's demand features (a "
        "'split' column), after its drift check passed. The preprocessor (standard scaling, "
        "one-hot encoding, output names kept for SHAP) is fit on train rows only and stored as JSON."
    ),
)
def training_splits(
    context: AssetExecutionContext,
    config: SplitsConfig,
    demand_features: pd.DataFrame,
    store: ArtifactStoreResource,
) -> Output[pd.DataFrame]:
    stock_code = validate_stockcode(context.partition_key)
    cfg = splits.SplitConfig(**config.model_dump())
    frame = splits.split_chronologically(demand_features, cfg)
    preprocessor = splits.Preprocessor.fit(frame[frame[splits.SPLIT_COLUMN] == "train"])
    data = preprocessor.to_json()
    uri = store.get_store().put_bytes(preprocessor_key(stock_code), data)
    metadata, _ = table_metadata(frame)
    for name in splits.SPLITS:
        rows = frame[frame[splits.SPLIT_COLUMN] == name]
        metadata[f"{name}_rows"] = MetadataValue.int(len(rows))
        metadata[f"{name}_dates"] = MetadataValue.text(f"{rows['invoice_date'].min()} to {rows['invoice_date'].max()}")
    metadata["preprocessor"] = MetadataValue.path(uri)
    metadata["preprocessor_sha256"] = MetadataValue.text(sha256_hex(data))
    metadata["model_features"] = MetadataValue.json(preprocessor.feature_names)
    version = frame_content_hash(frame) + sha256_hex(data)[:8]
    return Output(frame, metadata=metadata, data_version=DataVersion(version))
