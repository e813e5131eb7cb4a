"""Every candidate scored on one scale, the champion (the models' mean), the fallbacks ranked on validation,
and the champion's SHAP values."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import evaluation, explain, metrics, splits
from ..core import models as models_package  # the members of the mean and their shares
from ..core.models import ENSEMBLE_KIND, ENSEMBLE_WEIGHTS_TEXT, validation_mse, with_ensemble
from ..core.models import ensemble as ensemble_module
from ..core.models.ensemble import ENSEMBLE_FILE, EnsembleModel
from ..core.stockcodes import validate_stockcode
from ..core.store import ArtifactStore, frame_to_parquet, sha256_hex
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, png_markdown, setting
from .models import MODEL_ASSETS, candidate_key, load_candidate, load_champion
from .training import preprocessor_from
from .transactions import GROUP


def ensemble_card(
    store: ArtifactStore, stock_code: str, ensemble: EnsembleModel, cards: dict[str, dict], data: splits.DesignMatrices
) -> dict:
    """The models' mean as a model card: its ``ensemble.json`` written here, its members' files those of
    their own cards (the same keys and SHA-256s), so loading it checks every byte as any candidate's."""
    blob = ensemble.composition()
    key = candidate_key("model_evaluation", stock_code, ENSEMBLE_FILE)
    store.put_bytes(key, blob)
    files = {ENSEMBLE_FILE: {"key": key, "sha256": sha256_hex(blob)}}
    for kind in ensemble.members:
        files.update({f"{kind}/{name}": entry for name, entry in cards[kind]["files"].items()})
    return {
        "kind": ENSEMBLE_KIND,
        "asset": "model_evaluation",
        "explainer": ensemble.explainer,
        "files": dict(sorted(files.items())),
        "tuning": {
            "members": list(ensemble.members),
            "weights": ensemble.weights,
            "best_validation_mse_log1p": validation_mse(ensemble, data),
        },
        "feature_names": data.feature_names,
    }


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(evaluation, metrics, ensemble_module, models_package),
    description=(
        "Validation and test RMSLE, MAE and MSE (log1p) of every candidate on the weekly rows per price list, "
        "and the forecast as a merchandiser reads it: weekly units (both lists, at the list in force), WAPE "
        "and RMSLE, against the recent-mean and seasonal-naive baselines. The champion is the weighted mean of "
        f"{ENSEMBLE_WEIGHTS_TEXT} "
        "(ensemble; the lowest validation RMSLE when fewer than two forecast finite values), "
        "test scores reported, never used to choose; the fallback chain orders the single models for serving "
        "by validation RMSLE, baselines last."
    ),
)
def model_evaluation(
    context: AssetExecutionContext,
    training_splits: pd.DataFrame,
    dfn_model: dict,
    lightgbm_model: dict,
    elasticnet_model: dict,
    svr_model: dict,
    catalogue_level_model: dict,
    recent_mean_baseline: dict,
    seasonal_naive_baseline: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    artifact_store = store.get_store()
    cards = {
        card["kind"]: card
        for card in (
            dfn_model,
            lightgbm_model,
            elasticnet_model,
            svr_model,
            catalogue_level_model,
            recent_mean_baseline,
            seasonal_naive_baseline,
        )
    }
    models = {kind: load_candidate(artifact_store, cards[kind]) for kind in MODEL_ASSETS}
    data = splits.design_matrices(training_splits, preprocessor_from(preprocessor), ("validation", "test"))
    models = with_ensemble(models, data)
    if ENSEMBLE_KIND in models:
        stock_code = validate_stockcode(context.partition_key)
        cards[ENSEMBLE_KIND] = ensemble_card(artifact_store, stock_code, models[ENSEMBLE_KIND], cards, data)
    result = evaluation.evaluate_candidates(models, data, training_splits)
    report = {**result.to_dict(), "candidates": cards}
    lines = [
        "| model | val RMSLE | val MAE | val MSE log1p | test RMSLE | test MAE | test MSE log1p |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in [result.champion, *result.fallback_chain]:
        v, t = result.metrics[kind]["validation"], result.metrics[kind]["test"]
        label = f"**{kind}** (champion)" if kind == result.champion else kind
        lines.append(
            f"| {label} | {v['rmsle']:.4f} | {v['mae']:.3f} | {v['mse_log1p']:.4f} "
            f"| {t['rmsle']:.4f} | {t['mae']:.3f} | {t['mse_log1p']:.4f} |"
        )
    forecast_lines = [
        "| model | val WAPE | val RMSLE | test WAPE | test RMSLE |",
        "|---|---|---|---|---|",
    ]
    for kind in [result.champion, *result.fallback_chain]:
        v, t = result.forecast[kind]["validation"], result.forecast[kind]["test"]
        label = f"**{kind}** (champion)" if kind == result.champion else kind
        forecast_lines.append(f"| {label} | {v['wape']:.3f} | {v['rmsle']:.4f} | {t['wape']:.3f} | {t['rmsle']:.4f} |")
    champion_test = result.metrics[result.champion]["test"]
    champion_forecast = result.forecast[result.champion]["test"]
    beaten = result.forecast_beats_baselines["test"]
    context.log.info(
        f"champion {result.champion}; fallbacks {result.fallback_chain}; test weekly WAPE "
        f"{champion_forecast['wape']:.3f}, beats {sorted(k for k, ok in beaten.items() if ok) or 'no baseline'}"
    )
    return Output(
        report,
        metadata={
            "champion": MetadataValue.text(result.champion),
            "fallback_chain": MetadataValue.json(result.fallback_chain),
            "metrics": MetadataValue.md("\n".join(lines)),
            "metric_scale": MetadataValue.text(metrics.SCALE),
            "champion_test_rmsle": MetadataValue.float(champion_test["rmsle"]),
            "champion_test_mae": MetadataValue.float(champion_test["mae"]),
            "weekly_forecast": MetadataValue.md("\n".join(forecast_lines)),
            "champion_test_weekly_wape": MetadataValue.float(champion_forecast["wape"]),
            "champion_test_weekly_rmsle": MetadataValue.float(champion_forecast["rmsle"]),
            "beats_baselines_on_test": MetadataValue.json(beaten),
        },
    )


class ExplainConfig(SettingsConfig):
    """Bounded, seeded SHAP samples (settings, see common.setting)."""

    background_rows: int = setting("shap_background_rows")
    explain_rows: int = setting("shap_explain_rows")
    seed: int = setting("seed")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(explain),
    description=(
        "SHAP values of the champion with the explainer of its family (deep, tree, linear, kernel; the models' "
        "weighted mean member by member, weighted alike), "
        "a seeded background sample of train rows and a seeded sample of test rows; mean |SHAP| "
        "per labelled feature, the raw values as Parquet and a PNG plot."
    ),
)
def shap_explanations(
    context: AssetExecutionContext,
    config: ExplainConfig,
    training_splits: pd.DataFrame,
    model_evaluation: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    stock_code = validate_stockcode(context.partition_key)
    artifact_store = store.get_store()
    champion, model, fitted = load_champion(artifact_store, model_evaluation, preprocessor)
    data = splits.design_matrices(training_splits, fitted, ("train", "test"))
    result = explain.explain(
        model,
        data.feature_names,
        data.x["train"],
        data.x["test"],
        config.background_rows,
        config.explain_rows,
        config.seed,
    )
    values = frame_to_parquet(result.values)
    png = explain.importance_plot(result, f"{stock_code}: SHAP importance of {champion}")
    base = f"artifacts/shap_explanations/{stock_code}"
    values_uri = artifact_store.put_bytes(f"{base}/shap_values.parquet", values)
    plot_uri = artifact_store.put_bytes(f"{base}/importance.png", png)
    importance = {name: float(v) for name, v in result.importance.items()}
    report = {
        "champion": champion,
        "explainer": result.explainer,
        "base_value": result.base_value,
        "explained_rows": len(result.values),
        "importance": importance,
        "scale": "log1p(weekly units)",
        "shap_values": {"key": f"{base}/shap_values.parquet", "sha256": sha256_hex(values)},
        "plot": {"key": f"{base}/importance.png", "sha256": sha256_hex(png)},
    }
    top = "\n".join(f"| {name} | {value:.4f} |" for name, value in list(importance.items())[:10])
    return Output(
        report,
        metadata={
            "explainer": MetadataValue.text(result.explainer),
            "champion": MetadataValue.text(champion),
            "explained_rows": MetadataValue.int(len(result.values)),
            "top_features": MetadataValue.md("| feature | mean abs SHAP |\n|---|---|\n" + top),
            "plot": png_markdown("SHAP importance", png),
            "plot_path": MetadataValue.path(plot_uri),
            "shap_values_path": MetadataValue.path(values_uri),
        },
    )
