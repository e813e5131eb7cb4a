"""The price curve of the champion and the promoted serving bundle."""

import json
import time

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ..core import bundle, pricing, recommendation_inputs
from ..core.stockcodes import validate_stockcode
from ..core.store import ArtifactNotFoundError, frame_to_parquet, parquet_to_frame
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting, table_metadata
from .models import load_candidate, load_champion
from .training import preprocessor_from
from .transactions import GROUND_TRUTH_KEY, GROUP

# Everything upstream of promoted_model, for the lineage manifest.


class ScenarioConfig(SettingsConfig):
    """How many recent days of lines the curve reprices (a setting, see common.setting)."""

    recent_days: int = setting("pricing_recent_days")


class PriceGridConfig(SettingsConfig):
    """How many prices the curve's grid has (a setting, see common.setting)."""

    bins: int = setting("price_bins")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(pricing),
    description=(
        "The stockcode's latest order lines (those of the last recent_days, at least 30, at most 200) "
        "that price_curve reprices at every grid price; promoted_model bundles them so serving scores "
        "a requested grid on the same lines."
    ),
)
def price_scenario(config: ScenarioConfig, demand_features: pd.DataFrame) -> Output[pd.DataFrame]:
    scenario = pricing.scenario_rows(demand_features, config.recent_days)
    metadata, version = table_metadata(scenario)
    metadata["recent_days"] = MetadataValue.int(config.recent_days)
    return Output(scenario, metadata=metadata, data_version=version)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(pricing),
    description=(
        "Predicted quantity per order line (with a validation-residual interval) and sales over a "
        "price grid spanning the prices of price_scenario, every price-derived feature recomputed "
        "at each grid price; the sales-maximising price and whether it sits on the grid's edge. "
        "On the synthetic source, the revenue regret against the true optimum."
    ),
)
def price_curve(
    context: AssetExecutionContext,
    config: PriceGridConfig,
    price_scenario: pd.DataFrame,
    model_evaluation: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[pd.DataFrame]:
    stock_code = validate_stockcode(context.partition_key)
    artifact_store = store.get_store()
    champion, model, fitted = load_champion(artifact_store, model_evaluation, preprocessor)
    scenario = price_scenario
    prices = pricing.price_grid(scenario, config.bins)
    curve = pricing.predict_curve(model, fitted, scenario, prices, model_evaluation["residual_quantiles"][champion])
    summary = curve.summary()
    metadata, version = table_metadata(curve.curve, time_column="")
    metadata.update(
        {
            "optimal_price": MetadataValue.float(curve.optimal_price),
            "optimal_sales_per_line": MetadataValue.float(curve.optimal_sales),
            "optimum_on_edge": MetadataValue.bool(curve.optimum_on_edge),
            "price_range": MetadataValue.text(f"{summary['price_min']:.2f} to {summary['price_max']:.2f}"),
            "model": MetadataValue.text(champion),
            "scenario_rows": MetadataValue.int(len(scenario)),
        }
    )
    truth = _ground_truth(artifact_store, stock_code)
    if truth is not None and "shape" in truth:  # the synthetic source's closed-form curves
        regret = pricing.revenue_regret(truth["shape"], truth["a"], truth["b"], curve.optimal_price)
        metadata["true_optimal_price"] = MetadataValue.float(float(truth["optimal_price"]))
        metadata["revenue_regret"] = MetadataValue.float(regret)
        context.log.info(f"optimal {curve.optimal_price:.2f} vs true {truth['optimal_price']:.2f}: regret {regret:.2%}")
    if curve.optimum_on_edge:
        context.log.warning(f"the optimum {curve.optimal_price:.2f} sits on the edge of the recent price range")
    return Output(curve.curve, metadata=metadata, data_version=version)


def _ground_truth(store, stock_code: str) -> pd.Series | None:
    """The true demand curve of a synthetic product (None on real data)."""
    try:
        truth = parquet_to_frame(store.get_bytes(GROUND_TRUTH_KEY))
    except ArtifactNotFoundError:
        return None
    rows = truth[truth["stock_code"] == stock_code]
    return rows.iloc[0] if len(rows) else None


def _outcome(report: dict) -> dict:
    """A gate's outcome for the manifest: passed, whether it blocks promotion, and why."""
    return {"passed": bool(report["passed"]), "blocks": bool(report["blocks"]), "reason": report["reason"]}


def _upstream_versions(context: AssetExecutionContext, stock_code: str) -> dict[str, dict]:
    """Data version, code version, run and time of the latest materialisation of each upstream asset.

    The upstream set is read from the asset graph, so an asset added to the lineage is recorded
    without anyone keeping a list; an unpartitioned one (raw_transactions, catalogue_price_response)
    by its latest materialisation, a partitioned one by this stockcode's."""
    graph = context.job_def.asset_layer.asset_graph
    found = {}
    for key in sorted(graph.get_ancestor_asset_keys(context.asset_key), key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        partitions = [stock_code] if graph.get(key).partitions_def is not None else None
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=partitions), limit=1
        ).records
        if not records:
            raise Failure(f"{name} has no materialisation for {stock_code}; materialise the lineage first")
        record = records[0]
        tags = record.asset_materialization.tags or {}
        found[name] = {
            "data_version": tags.get("dagster/data_version"),
            "code_version": tags.get("dagster/code_version"),
            "run_id": record.run_id,
            "materialized_at": record.timestamp,
        }
    return found


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(bundle, recommendation_inputs),
    description=(
        "The serving bundle: champion, fallback models, preprocessor, pricing inputs, the list-price "
        "recommendation and a lineage "
        "manifest (upstream data and code versions, SHA-256 of every file, run id, check outcomes). "
        "Materialised only when none of no_feature_drift, fairness_within_threshold and "
        "candidate_no_worse_than_serving failed with ERROR severity (a warning is recorded in the "
        "manifest); written atomically (files, then manifest, then the pointer serving reads)."
    ),
)
def promoted_model(
    context: AssetExecutionContext,
    drift_report: dict,
    model_evaluation: dict,
    shap_explanations: dict,
    fairness_report: dict,
    challenger_comparison: dict,
    price_curve: pd.DataFrame,
    price_scenario: pd.DataFrame,
    preprocessor: dict,
    list_price_recommendation: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    stock_code = validate_stockcode(context.partition_key)
    # The blocking checks already stop this asset in a run; this guards a materialisation on its own.
    # A check that failed with a warning (``blocks`` false) is recorded in the manifest, not enforced.
    checks = {
        "no_feature_drift": _outcome(drift_report),
        "fairness_within_threshold": _outcome(fairness_report),
        "candidate_no_worse_than_serving": _outcome(challenger_comparison),
    }
    failed = [name for name, outcome in checks.items() if outcome["blocks"]]
    if failed:
        reasons = "; ".join(f"{name}: {checks[name]['reason']}" for name in failed)
        raise Failure(
            f"not promoted: {', '.join(failed)} failed for {stock_code} ({reasons}); "
            "the previous bundle stays in service"
        )
    artifact_store = store.get_store()
    champion = model_evaluation["champion"]
    chain = [champion, *model_evaluation["fallback_chain"]]
    files: dict[str, bytes] = {}
    models = []
    for kind in chain:
        card = model_evaluation["candidates"][kind]
        load_candidate(artifact_store, card)  # refuses a file whose hash changed since training
        for name, entry in card["files"].items():
            files[f"models/{kind}/{name}"] = artifact_store.get_bytes(entry["key"])
        models.append(
            {
                "kind": kind,
                "role": "champion" if kind == champion else "fallback",
                "explainer": card["explainer"],
                "files": sorted(card["files"]),
                "validation": model_evaluation["metrics"][kind]["validation"],
                "test": model_evaluation["metrics"][kind]["test"],
                "residual_quantiles": model_evaluation["residual_quantiles"][kind],
                "tuning": card["tuning"],
            }
        )
    files["preprocessor.json"] = preprocessor_from(preprocessor).to_json()
    files["scenario.parquet"] = frame_to_parquet(price_scenario)
    files["price_curve.parquet"] = frame_to_parquet(price_curve)
    files["recommendation.json"] = json.dumps(list_price_recommendation, sort_keys=True, default=float).encode()
    best = price_curve.loc[price_curve["sales"].idxmax()]
    manifest = {
        "created_at": time.time(),
        "champion": champion,
        "fallback_chain": model_evaluation["fallback_chain"],
        "models": models,
        "metric_scale": model_evaluation["metric_scale"],
        "pricing": {
            "scenario_rows": len(price_scenario),
            "bins": len(price_curve),
            "price_min": float(price_curve["unit_price"].min()),
            "price_max": float(price_curve["unit_price"].max()),
            "optimal_price": float(best["unit_price"]),
            "interval_quantiles": model_evaluation["interval_quantiles"],
        },
        "checks": checks,
        "fairness": {
            k: fairness_report[k]
            for k in ("excess_outcome_difference", "excess_standard_error", "threshold", "scale", "groups")
        },
        "challenger": {
            k: challenger_comparison[k]
            for k in ("basis", "candidate_rmsle", "serving_rmsle", "serving_version", "baseline_rmsle", "window")
        },
        "data_window": challenger_comparison["data_window"],
        # The list-price answer (recommendation.json has it with its curve and the inputs it was made
        # from, from which serving makes it again for another objective or guardrail); serving returns this part.
        "recommendation": recommendation_inputs.served_part(list_price_recommendation),
        "shap_top_features": dict(list(shap_explanations["importance"].items())[:10]),
        "upstream": _upstream_versions(context, stock_code),
        "code_version": context.assets_def.code_versions_by_key[context.asset_key],
    }
    pointer = bundle.write_bundle(artifact_store, stock_code, files, manifest, context.run_id)
    context.log.info(f"promoted {champion} as {pointer['version']} for {stock_code}")
    return Output(
        {**pointer, "champion": champion, "fallback_chain": model_evaluation["fallback_chain"]},
        metadata={
            "version": MetadataValue.text(pointer["version"]),
            "champion": MetadataValue.text(champion),
            "fallback_chain": MetadataValue.json(model_evaluation["fallback_chain"]),
            "optimal_price": MetadataValue.float(float(best["unit_price"])),
            "manifest": MetadataValue.path(artifact_store.uri(pointer["manifest_key"])),
            "manifest_sha256": MetadataValue.text(pointer["manifest_sha256"]),
        },
        data_version=DataVersion(pointer["manifest_sha256"][:16]),
    )
