"""The price curve over list prices and the promoted serving bundle."""

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

from ..core import bundle, forecast, price_response, pricing, recommendation, recommendation_inputs
from ..core.stockcodes import validate_stockcode
from ..core.store import frame_to_parquet
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, png_markdown, setting, table_metadata
from .models import load_candidate
from .training import preprocessor_from
from .transactions import GROUP


class PriceGridConfig(SettingsConfig):
    """How many list prices the curve's grid has (a setting, see common.setting)."""

    bins: int = setting("price_bins")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(pricing, recommendation, price_response),
    description=(
        "Expected weekly units, revenue (sales) and margin over a grid of wholesale list prices across the "
        "guardrail band: next week's forecast (demand_forecast) moved along the stockcode's price response, "
        "the mix of list, band and guest lines charged by store policy; 95 % bands from the response's and "
        "the forecast's uncertainty. Demand never rises with the list price. A plot with the current and the "
        "recommended price, and the recommendation as a table."
    ),
)
def price_curve(
    context: AssetExecutionContext, config: PriceGridConfig, list_price_recommendation: dict
) -> Output[pd.DataFrame]:
    stock_code = validate_stockcode(context.partition_key)
    answer = list_price_recommendation
    if "inputs" not in answer:  # no price response yet (no list has moved): a hold with its reason, no curve
        reason = f"no price curve: {answer.get('hold_reason')}"
        context.log.warning(f"{stock_code}: {reason}")
        empty = pd.DataFrame({column: pd.Series(dtype=float) for column in pricing.CURVE_COLUMNS})
        metadata, version = table_metadata(empty, time_column="")
        metadata["reason"] = MetadataValue.text(reason)
        return Output(empty, metadata=metadata, data_version=version)
    inputs = recommendation_inputs.RecommendationInputs.from_dict(answer["inputs"])
    low, high = answer["guardrail"]
    curve = pricing.list_price_curve(inputs, pricing.list_price_grid(low, high, config.bins))
    objective = str(answer["objective"])
    png = recommendation.recommendation_plot(
        curve.rename(columns=pricing.CURVE_TO_RECOMMENDATION), answer, f"{stock_code}: {objective}"
    )
    metadata, version = table_metadata(curve, time_column="")
    verdict = recommendation.verdict(answer)
    table = "\n".join(
        [
            # Each elasticity draw's best price within the guardrail: a move capped by it shows the edge.
            "| current list | recommended | decision | best price in the guardrail, 95 % | guest list |",
            "|---|---|---|---|---|",
            f"| {answer['current_list_price']:.2f} | {answer['recommended_list_price']:.2f} | {verdict} "
            f"| {answer['optimal_list_price_interval'][0]:.2f} to {answer['optimal_list_price_interval'][1]:.2f} "
            f"| {answer['guest_list_price']:.2f} |",
        ]
    )
    metadata.update(
        {
            "objective": MetadataValue.text(objective),
            "price_range": MetadataValue.text(f"{low:.2f} to {high:.2f}"),
            "recommendation": MetadataValue.md(table),
            "plot": png_markdown("price curve", png),
        }
    )
    return Output(curve, metadata=metadata, data_version=version)


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
    chain = forecast.model_chain(champion, model_evaluation["fallback_chain"])
    files: dict[str, bytes] = {}
    # Each model's files by name -> path in the bundle. A file two models share (the models' mean
    # names its members' files) is stored once, under the single model's folder: so the chain is walked
    # from its end, the single models before the mean made of them.
    paths: dict[str, dict[str, str]] = {}
    stored: dict[str, str] = {}  # artifact key -> its path in the bundle
    for kind in reversed(chain):
        card = model_evaluation["candidates"][kind]
        load_candidate(artifact_store, card)  # refuses a file whose hash changed since training
        paths[kind] = {}
        for name, entry in sorted(card["files"].items()):
            if entry["key"] not in stored:
                stored[entry["key"]] = f"models/{kind}/{name}"
                files[stored[entry["key"]]] = artifact_store.get_bytes(entry["key"])
            paths[kind][name] = stored[entry["key"]]
    models = []
    for kind in chain:
        card = model_evaluation["candidates"][kind]
        models.append(
            {
                "kind": kind,
                "role": "champion" if kind == champion else "fallback",
                "explainer": card["explainer"],
                "files": paths[kind],
                "validation": model_evaluation["metrics"][kind]["validation"],
                "test": model_evaluation["metrics"][kind]["test"],
                "residual_quantiles": model_evaluation["residual_quantiles"][kind],
                "validation_residuals": model_evaluation["validation_residuals"][kind],
                "forecast": model_evaluation["forecast"][kind],
                "tuning": card["tuning"],
            }
        )
    files["preprocessor.json"] = preprocessor_from(preprocessor).to_json()
    files["scenario.parquet"] = frame_to_parquet(price_scenario)
    files["price_curve.parquet"] = frame_to_parquet(price_curve)
    files["recommendation.json"] = json.dumps(list_price_recommendation, sort_keys=True, default=float).encode()
    # The point estimate's best list price in the guardrail band (for a hold, the move not made), and the price
    # recommended (for a hold, the current one); None: no price response to act on.
    optimal = list_price_recommendation.get("best_list_price_in_band")
    recommended = list_price_recommendation.get("recommended_list_price")
    manifest = {
        "created_at": time.time(),
        "champion": champion,
        "fallback_chain": model_evaluation["fallback_chain"],
        "models": models,
        "metric_scale": model_evaluation["metric_scale"],
        "pricing": {
            "scenario_rows": len(price_scenario),
            "bins": len(price_curve),
            "price_min": float(price_curve["unit_price"].min()) if len(price_curve) else None,
            "price_max": float(price_curve["unit_price"].max()) if len(price_curve) else None,
            "optimal_price": optimal,
            "recommended_price": recommended,
            "objective": list_price_recommendation.get("objective"),
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
            **({"optimal_price": MetadataValue.float(float(optimal))} if optimal is not None else {}),
            **({"recommended_price": MetadataValue.float(float(recommended))} if recommended is not None else {}),
            "manifest": MetadataValue.path(artifact_store.uri(pointer["manifest_key"])),
            "manifest_sha256": MetadataValue.text(pointer["manifest_sha256"]),
        },
        data_version=DataVersion(pointer["manifest_sha256"][:16]),
    )
