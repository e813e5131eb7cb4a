"""Source table, per-stockcode cleaned lines, and demand features."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import cleaning, features, schema, simulated_store, sources, stockcodes, synthetic
from ..core.store import frame_content_hash, frame_to_parquet
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting, table_metadata

GROUP = "stockcode_lineage"
GROUND_TRUTH_KEY = "artifacts/raw_transactions/ground_truth.parquet"
TRUE_CURVES_KEY = "artifacts/raw_transactions/true_curves.parquet"


class SourceConfig(SettingsConfig):
    """Which data to load (settings, see common.setting)."""

    source: str = setting("source")
    data: str | None = setting("data")
    seed: int = setting("seed")
    synthetic_products: int = setting("synthetic_products")


@asset(
    group_name="source",
    code_version=code_version_of(sources, schema, synthetic, simulated_store, stockcodes),
    description=(
        "All transactions of the configured source (synthetic generator, simulated store or the UCI "
        "Online Retail file), with snake_case columns and checked types. Side artifacts: "
        "per-stockcode history (used to register partitions) and, for the simulated sources, the "
        "ground truth (true demand, costs and optimal prices; the store's true curves too)."
    ),
)
def raw_transactions(
    context: AssetExecutionContext, config: SourceConfig, store: ArtifactStoreResource
) -> Output[pd.DataFrame]:
    data = sources.load_source(config.source, config.data, config.seed, config.synthetic_products)
    artifact_store = store.get_store()
    history = stockcodes.stockcode_history(data.transactions)
    history_uri = stockcodes.write_history(artifact_store, history)
    metadata, version = table_metadata(data.transactions)
    metadata.update(
        {
            "source": MetadataValue.text(data.description),
            "stockcodes": MetadataValue.int(int(data.transactions["stock_code"].nunique())),
            "stockcode_history": MetadataValue.path(history_uri),
        }
    )
    # Always written (empty for real data), so no earlier source's truth is ever scored against.
    truth = data.ground_truth if data.ground_truth is not None else pd.DataFrame({"stock_code": pd.Series(dtype=str)})
    artifact_store.put_bytes(GROUND_TRUTH_KEY, frame_to_parquet(truth))
    if data.ground_truth is not None:
        metadata["ground_truth"] = MetadataValue.path(artifact_store.uri(GROUND_TRUTH_KEY))
        metadata["ground_truth_hash"] = MetadataValue.text(frame_content_hash(data.ground_truth))
    curves = data.true_curves if data.true_curves is not None else pd.DataFrame({"stock_code": pd.Series(dtype=str)})
    artifact_store.put_bytes(TRUE_CURVES_KEY, frame_to_parquet(curves))
    if data.true_curves is not None:
        metadata["true_curves"] = MetadataValue.path(artifact_store.uri(TRUE_CURVES_KEY))
    context.log.info(f"loaded {len(data.transactions)} rows from {data.description}")
    return Output(data.transactions, metadata=metadata, data_version=version)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(cleaning),
    description=(
        "One stockcode's order lines after the documented cleaning rules (cancellations with the "
        "lines they cancel, returns, non-positive prices, non-product codes, duplicates, outliers "
        "judged against earlier lines only) and imputation (guest checkouts). Metadata: rows "
        "dropped per rule."
    ),
)
def cleaned_transactions(context: AssetExecutionContext, raw_transactions: pd.DataFrame) -> Output[pd.DataFrame]:
    stock_code = stockcodes.validate_stockcode(context.partition_key)
    cleaned, report = cleaning.clean_transactions(raw_transactions, stock_code)
    if cleaned.empty:
        raise ValueError(
            f"stockcode {stock_code} has no usable rows after cleaning ({report.rows_in} raw rows, "
            f"dropped {report.dropped}); remove the partition or check the source"
        )
    metadata, version = table_metadata(cleaned)
    metadata["rows_in"] = MetadataValue.int(report.rows_in)
    rows = raw_transactions[raw_transactions["stock_code"] == stock_code]
    metadata["source_fingerprint"] = MetadataValue.text(stockcodes.source_fingerprints(rows).get(stock_code, ""))
    metadata.update({f"dropped_{rule}": MetadataValue.int(n) for rule, n in report.dropped.items()})
    metadata.update({f"imputed_{name}": MetadataValue.int(n) for name, n in report.imputed.items()})
    return Output(cleaned, metadata=metadata, data_version=version)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(features),
    description=(
        "Demand features per order line with no look-ahead (every statistic at time t uses only "
        "lines strictly before t), target log1p(quantity)."
    ),
)
def demand_features(cleaned_transactions: pd.DataFrame) -> Output[pd.DataFrame]:
    table = features.build_demand_features(cleaned_transactions)
    metadata, version = table_metadata(table)
    metadata["features"] = MetadataValue.json(
        {"numeric": list(features.NUMERIC_FEATURES), "categorical": list(features.CATEGORICAL_FEATURES)}
    )
    metadata["target"] = MetadataValue.text(features.TARGET)
    return Output(table, metadata=metadata, data_version=version)
