"""Per-group error of the champion (registered vs guest customers) and the blocking check on it."""

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

from ..core import fairness, splits
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting
from .models import load_champion
from .transactions import GROUP


class FairnessThresholdConfig(SettingsConfig):
    """The fairness threshold and minimum group rows (settings, see common.setting)."""

    threshold: float = setting("fairness_threshold")
    min_group_rows: int = setting("fairness_min_group_rows")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(fairness),
    description=(
        "The champion's MSE, MAE, RMSLE and mean prediction per price list (registered vs guest) "
        "on the test weeks, and the excess mean outcome difference between the groups on the "
        "log1p(weekly units) scale, with a 95 % interval from standard errors clustered by week. "
        "Checked by fairness_within_threshold."
    ),
)
def fairness_report(
    context: AssetExecutionContext,
    config: FairnessThresholdConfig,
    training_splits: pd.DataFrame,
    model_evaluation: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    artifact_store = store.get_store()
    champion, model, fitted = load_champion(artifact_store, model_evaluation, preprocessor)
    test_rows = training_splits[training_splits[splits.SPLIT_COLUMN] == "test"]
    data = splits.design_matrices(training_splits, fitted, ("test",))
    cfg = fairness.FairnessConfig(config.threshold, config.min_group_rows)
    result = fairness.fairness_report(test_rows, model.predict_log(data.x["test"]), data.y["test"], cfg)
    context.log.info(result.reason)
    report = {**result.to_dict(), "champion": champion}
    rows = "\n".join(
        f"| {g} | {s['rows']} | {s['customers']} | {s.get('mse_log1p', float('nan')):.4f} "
        f"| {s.get('mae', float('nan')):.3f} "
        f"| {s.get('rmsle', float('nan')):.4f} | {s.get('mean_prediction', float('nan')):.3f} "
        f"| {s.get('mean_observed', float('nan')):.3f} |"
        for g, s in result.groups.items()
    )
    metadata = {
        "passed": MetadataValue.bool(result.passed),
        "reason": MetadataValue.text(result.reason),
        "groups": MetadataValue.md(
            "| group | rows | clusters | MSE log1p | MAE | RMSLE | mean prediction | mean observed |\n"
            "|---|---|---|---|---|---|---|---|\n" + rows
        ),
        "scale": MetadataValue.text(result.scale),
    }
    metadata["verdict"] = MetadataValue.text(result.verdict)
    if result.excess_outcome_difference is not None:
        metadata["excess_outcome_difference"] = MetadataValue.float(result.excess_outcome_difference)
        metadata["excess_standard_error"] = MetadataValue.float(result.excess_standard_error)
        metadata["excess_standard_error_iid"] = MetadataValue.float(result.excess_standard_error_iid)
    return Output(report, metadata=metadata)


@asset_check(
    asset=fairness_report,
    blocking=True,
    partitions_def=stockcode_partitions,
    description=(
        "Passes when the excess mean outcome difference between the registered and the guest price list "
        "(log1p weekly units) is within the threshold. Fails with ERROR severity, blocking promotion, "
        "only when the whole 95 % interval (standard error clustered by week) lies beyond the "
        "threshold; fails with WARN severity, not blocking, when the estimate is beyond but the "
        "interval is not, or when a group has too few test rows (the counts are in the metadata)."
    ),
)
def fairness_within_threshold(fairness_report: dict) -> AssetCheckResult:
    metadata = {
        "reason": MetadataValue.text(fairness_report["reason"]),
        "verdict": MetadataValue.text(fairness_report["verdict"]),
        "blocks_promotion": MetadataValue.bool(fairness_report["blocks"]),
        "threshold": MetadataValue.float(float(fairness_report["threshold"])),
        "group_rows": MetadataValue.json({g: s["rows"] for g, s in fairness_report["groups"].items()}),
        "scale": MetadataValue.text(fairness_report["scale"]),
    }
    if fairness_report["excess_outcome_difference"] is not None:
        metadata["excess_outcome_difference"] = MetadataValue.float(float(fairness_report["excess_outcome_difference"]))
        metadata["excess_standard_error"] = MetadataValue.float(float(fairness_report["excess_standard_error"]))
        low, high = fairness_report["excess_interval"]
        metadata["excess_interval_95"] = MetadataValue.text(f"[{low:+.3f}, {high:+.3f}]")
    return AssetCheckResult(
        passed=bool(fairness_report["passed"]),
        severity=AssetCheckSeverity.ERROR if fairness_report["blocks"] else AssetCheckSeverity.WARN,
        metadata=metadata,
        description=fairness_report["reason"],
    )
