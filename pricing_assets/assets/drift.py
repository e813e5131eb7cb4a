"""The drift report of a stockcode and the check ``no_feature_drift`` (blocks on a broken feed, warns otherwise)."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
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
from .common import SettingsConfig, code_version_of, setting
from .transactions import GROUP


class DriftWindowConfig(SettingsConfig):
    """Windows and limits of the drift verdict (the PRICING_DRIFT_* settings, see common.setting)."""

    window_days: int = setting("drift_window_days")
    reference_days: int = setting("drift_reference_days")
    price_ratio_limit: float = setting("drift_price_ratio_limit")
    order_size_ratio_limit: float = setting("drift_order_size_ratio_limit")
    vanished_share: float = setting("drift_vanished_share")
    demand_ratio_limit: float = setting("drift_demand_ratio_limit")
    min_rows: int = setting("drift_min_rows")
    column_threshold: float = setting("drift_column_threshold")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(drift),
    description=(
        "Whether the stockcode's latest window moved in what the pricing decision rests on: list "
        "price and order size (against the weeks before and each customer's own earlier orders), "
        "customer mix and order lines per week (against the same weeks a year earlier when the "
        "history has them, so the season is not mistaken for drift). Keeps Evidently's per-line "
        "distribution report (HTML) for reading; the verdict is checked by no_feature_drift."
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
        "blocks_promotion": MetadataValue.bool(result.blocks),
        "blocking_failures": MetadataValue.json(result.blocking_failures),
        "warnings": MetadataValue.json(result.warnings),
        "reference": MetadataValue.text(result.reference_kind),
        "reference_rows": MetadataValue.int(result.reference_rows),
        "current_rows": MetadataValue.int(result.current_rows),
        "reason": MetadataValue.text(result.reason),
    }
    if html is not None:
        # The page loads Evidently's script and font from one copy per version, two folders up
        # (reports/evidently/<version>/), stored before any page that refers to them.
        version = drift.evidently_version()
        shared = drift.shared_library_report(html, f"../../evidently/{version}")
        artifacts = store.get_store()
        for name, content in shared.library.items():
            library_key = f"reports/evidently/{version}/{name}"
            if not artifacts.exists(library_key):
                artifacts.put_bytes(library_key, content)
        if not shared.library:
            context.log.warning(
                "Evidently's report page is not laid out as version 0.7 lays it out: kept whole, with its "
                "3.5 MB script inside; install the evidently version pyproject.toml pins to store it once"
            )
        data = shared.page.encode()
        key = f"reports/drift_report/{stock_code}/{context.run_id}.html"
        report["html_report"] = artifacts.put_bytes(key, data)
        report["html_report_sha256"] = sha256_hex(data)
        metadata["html_report"] = MetadataValue.path(report["html_report"])
    if result.measures:
        metadata["measures"] = MetadataValue.md(_measures_table(result.measures))
    (context.log.warning if not result.passed else context.log.info)(result.reason)
    return Output(report, metadata=metadata)


def _measures_table(measures: dict[str, dict]) -> str:
    rows = []
    for name, m in measures.items():
        if name == "customer_mix":
            value = ", ".join(f"{k} {v['reference']:.0%} -> {v['current']:.0%}" for k, v in m["shares"].items())
            limit = f"below {m['floor']:.0%} of its share"
        elif name == "demand_per_week":
            value = f"{m['current']:.1f} vs expected {m['expected']:.1f} (x{m['ratio']:.2f})"
            limit = f"x{m['limit']:g}"
        else:
            value = ", ".join(f"{k} x{v['ratio']:.2f}" for k, v in m["per_type"].items()) or "too few lines"
            limit = f"x{m['limit']:g}"
        rows.append(f"| {name} | {value} | {limit} | {m['action']} | {'yes' if m['moved'] else 'no'} |")
    return "| measure | current vs reference | limit | on failure | moved |\n|---|---|---|---|---|\n" + "\n".join(rows)


@asset_check(
    asset=drift_report,
    blocking=True,
    partitions_def=stockcode_partitions,
    description=(
        "Passes when list price, order size, customer mix and order lines per week are in line "
        "with their like-for-like reference. Fails with ERROR severity, blocking promotion (the "
        "previous bundle keeps serving), when the feed looks broken: a list price x2 or /2, a "
        "customer's order size x1.5 or /1.5, a customer type vanishing. Fails with WARN severity, "
        "not blocking, when only demand per week moved against the season or when there are too "
        "few lines to compare; the reason names the measures."
    ),
)
def no_feature_drift(drift_report: dict) -> AssetCheckResult:
    metadata = {
        "reason": MetadataValue.text(drift_report["reason"]),
        "blocks_promotion": MetadataValue.bool(bool(drift_report["blocks"])),
        "blocking_failures": MetadataValue.json(drift_report["blocking_failures"]),
        "warnings": MetadataValue.json(drift_report["warnings"]),
        "reference": MetadataValue.text(drift_report["reference_kind"]),
    }
    if drift_report.get("html_report"):
        metadata["html_report"] = MetadataValue.path(drift_report["html_report"])
    return AssetCheckResult(
        passed=bool(drift_report["passed"]),
        severity=AssetCheckSeverity.ERROR if drift_report["blocks"] else AssetCheckSeverity.WARN,
        metadata=metadata,
        description=drift_report["reason"],
    )
