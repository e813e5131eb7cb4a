"""The drift report of a stockcode and the blocking check ``no_feature_drift``."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from ..core import drift
from ..core.stockcodes import validate_stockcode
from ..core.store import sha256_hex
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from ..settings import current_settings
from .common import code_version_of
from .transactions import GROUP


class DriftWindowConfig(Config):
    """Windows and thresholds of the drift test; defaults from PRICING_DRIFT_* (settings.py)."""

    window_days: int = current_settings().drift_window_days
    reference_days: int | None = current_settings().drift_reference_days
    share_threshold: float = current_settings().drift_share_threshold
    column_threshold: float = current_settings().drift_column_threshold
    min_rows: int = current_settings().drift_min_rows


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(drift),
    description=(
        "Evidently data-drift test (DataDriftPreset, run locally) of the stockcode's latest window "
        "against its training window. Keeps the HTML report as an artifact; the verdict is checked "
        "by no_feature_drift."
    ),
)
def drift_report(
    context: AssetExecutionContext,
    config: DriftWindowConfig,
    demand_features: pd.DataFrame,
    store: ArtifactStoreResource,
) -> Output[dict]:
    stock_code = validate_stockcode(context.partition_key)
    cfg = drift.DriftConfig(**config.model_dump())
    result, html = drift.detect_drift(demand_features, cfg)
    report = result.to_dict()
    metadata: dict[str, object] = {
        "passed": MetadataValue.bool(result.passed),
        "drift_share": MetadataValue.float(float(result.drift_share)),
        "drifted_columns": MetadataValue.json(result.drifted_columns),
        "reference_rows": MetadataValue.int(result.reference_rows),
        "current_rows": MetadataValue.int(result.current_rows),
        "reason": MetadataValue.text(result.reason),
    }
    if html is not None:
        data = html.encode()
        key = f"reports/drift_report/{stock_code}/{context.run_id}.html"
        report["html_report"] = store.get_store().put_bytes(key, data)
        report["html_report_sha256"] = sha256_hex(data)
        metadata["html_report"] = MetadataValue.path(report["html_report"])
    if result.column_scores:
        rows = "\n".join(
            f"| {column} | {s['method']} | {s['score']:.3f} | {'yes' if s['drifted'] else 'no'} |"
            for column, s in result.column_scores.items()
        )
        metadata["column_scores"] = MetadataValue.md("| column | test | score | drifted |\n|---|---|---|---|\n" + rows)
    context.log.info(result.reason)
    return Output(report, metadata=metadata)


@asset_check(
    asset=drift_report,
    blocking=True,
    partitions_def=stockcode_partitions,
    description=(
        "Passes when the share of drifted columns stays below the threshold and both windows have "
        "enough rows. Blocking: a failure stops everything downstream of the drift report."
    ),
)
def no_feature_drift(drift_report: dict) -> AssetCheckResult:
    metadata = {
        "drift_share": MetadataValue.float(float(drift_report["drift_share"])),
        "drifted_columns": MetadataValue.json(drift_report["drifted_columns"]),
        "tested_columns": MetadataValue.json(drift_report["tested_columns"]),
        "share_threshold": MetadataValue.float(float(drift_report["config"]["share_threshold"])),
        "reason": MetadataValue.text(drift_report["reason"]),
    }
    if drift_report.get("html_report"):
        metadata["html_report"] = MetadataValue.path(drift_report["html_report"])
    return AssetCheckResult(passed=bool(drift_report["passed"]), severity=AssetCheckSeverity.ERROR, metadata=metadata)
