"""One asset per candidate weekly demand model: the tuned network, the tuned backups, the catalogue-level
forecast and the two baselines.

Each tuned model, once tuned, forecasts its average with the four-week mean (``core/models/combination.py``);
its files hold the average's weight beside the model's own.

Each asset sees the train and validation rows only (the test rows are dropped before anything
else happens), writes its model files to the store, and returns a model card (kind, files with
SHA-256, tuning summary) that model_evaluation loads the model back from.
"""

import json
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, DataVersion, MetadataValue, Output, asset

from ..core import splits, tuning
from ..core import weekly_features as weekly_features_module
from ..core.models import TRAINERS, DemandModel, load_model
from ..core.models import base as model_base
from ..core.models import combination as model_combination
from ..core.models import dfn as dfn_module
from ..core.models import gbm as gbm_module
from ..core.models import linear as linear_module
from ..core.models import svr as svr_module
from ..core.stockcodes import validate_stockcode
from ..core.store import ArtifactStore, sha256_hex
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting
from .training import preprocessor_from
from .transactions import GROUP

# kind -> (asset name, module holding its trainer, description). Each tuned model then forecasts its average
# with the four-week mean, stored beside its own files as recent_mean_average.json (core/models/combination.py).
MODEL_ASSETS: dict[str, tuple[str, Any, str]] = {
    "dfn": (
        "dfn_model",
        dfn_module,
        "PyTorch feed-forward demand network tuned with Optuna (seeded TPE, median pruning, bounded "
        "trials and seconds); early stopping on validation restores the best epoch. Stored as a "
        "state_dict (weights_only loadable) and a JSON of hyperparameters. Forecasts the equal average, in "
        "log1p units, of its own forecast and the four-week mean's (recent_mean_average.json).",
    ),
    "lightgbm": (
        "lightgbm_model",
        gbm_module,
        "LightGBM backup tuned with Optuna, early stopping on validation; LightGBM text model. Forecasts "
        "its average with the four-week mean, as every tuned model.",
    ),
    "elasticnet": (
        "elasticnet_model",
        linear_module,
        "ElasticNet backup tuned with Optuna; coefficients as JSON. Forecasts its average with the four-week "
        "mean, as every tuned model.",
    ),
    "svr": (
        "svr_model",
        svr_module,
        "RBF support vector regression backup tuned with Optuna; arrays as .npz. Forecasts its average with "
        "the four-week mean, as every tuned model.",
    ),
    "catalogue_level": (
        "catalogue_level_model",
        linear_module,
        "The catalogue-level forecast, fit to nothing: the product's mean units of the 26 weeks before, each "
        "week divided by the catalogue's weekly demand index, times the index's last week (per price list, at "
        "the current list). A member of the champion's mean beside the tuned models (core/models/linear.py).",
    ),
    "recent_mean_baseline": (
        "recent_mean_baseline",
        linear_module,
        "Baseline: next week's units are the mean of the four weeks before (per price list, at the current list).",
    ),
    "seasonal_naive_baseline": (
        "seasonal_naive_baseline",
        linear_module,
        "Baseline: next week's units are those of the same week a year before, or of last week where the "
        "history is shorter than a year (per price list, at the current list).",
    ),
}


class TuningConfig(SettingsConfig):
    """Tuning budget of one backup model (settings, see common.setting)."""

    trials: int = setting("backup_trials")
    seconds: float = setting("tuning_seconds")
    seed: int = setting("seed")


class NetworkTuningConfig(SettingsConfig):
    """Tuning budget of the network (settings, see common.setting)."""

    trials: int = setting("dfn_trials")
    seconds: float = setting("tuning_seconds")
    seed: int = setting("seed")
    max_epochs: int = setting("dfn_max_epochs")


def candidate_key(asset_name: str, stock_code: str, file_name: str) -> str:
    return f"artifacts/{asset_name}/{validate_stockcode(stock_code)}/{file_name}"


def load_candidate(store: ArtifactStore, card: dict[str, Any]) -> DemandModel:
    """Load a model from its card, refusing any file whose SHA-256 changed since it was written."""
    files = {}
    for name, entry in card["files"].items():
        data = store.get_bytes(entry["key"])
        if sha256_hex(data) != entry["sha256"]:
            raise RuntimeError(f"{entry['key']} does not match the SHA-256 in its model card; re-materialise it")
        files[name] = data
    return load_model(card["kind"], files)


def load_champion(
    store: ArtifactStore, model_evaluation: dict[str, Any], preprocessor: dict[str, Any]
) -> tuple[str, DemandModel, splits.Preprocessor]:
    """The champion's kind, the model (hash-checked) and the preprocessor it was trained with (the asset's value)."""
    champion = model_evaluation["champion"]
    model = load_candidate(store, model_evaluation["candidates"][champion])
    return champion, model, preprocessor_from(preprocessor)


def _build_model_asset(kind: str) -> AssetsDefinition:
    asset_name, module, description = MODEL_ASSETS[kind]
    config_class = NetworkTuningConfig if kind == "dfn" else TuningConfig

    @asset(
        name=asset_name,
        partitions_def=stockcode_partitions,
        group_name=GROUP,
        code_version=code_version_of(
            module, model_base, model_combination, linear_module, weekly_features_module, tuning, splits
        ),
        description=description,
    )
    def _model(
        context: AssetExecutionContext,
        config: config_class,  # type: ignore[valid-type]
        training_splits: pd.DataFrame,
        preprocessor: dict,
        store: ArtifactStoreResource,
    ) -> Output[dict]:
        stock_code = validate_stockcode(context.partition_key)
        artifact_store = store.get_store()
        # The test rows never reach a trainer: not for fitting, tuning nor early stopping.
        seen = training_splits[training_splits[splits.SPLIT_COLUMN] != "test"]
        data = splits.design_matrices(seen, preprocessor_from(preprocessor), ("train", "validation"))
        budget = tuning.TuningBudget(config.trials, config.seconds)
        extra = {"max_epochs": config.max_epochs} if kind == "dfn" else {}
        candidate = TRAINERS[kind](data, budget, config.seed, context.log.info, **extra)
        files = {}
        for name, blob in sorted(candidate.model.files().items()):
            key = candidate_key(asset_name, stock_code, name)
            artifact_store.put_bytes(key, blob)
            files[name] = {"key": key, "sha256": sha256_hex(blob)}
        card = {
            "kind": kind,
            "asset": asset_name,
            "explainer": candidate.model.explainer,
            "files": files,
            "tuning": candidate.tuning,
            "feature_names": data.feature_names,
            "train_rows": len(data.y["train"]),
            "validation_rows": len(data.y["validation"]),
        }
        metadata = {
            "validation_mse_log1p": MetadataValue.float(float(candidate.tuning["best_validation_mse_log1p"])),
            "best_params": MetadataValue.json(candidate.tuning.get("best_params", {})),
            "files": MetadataValue.json({name: f["sha256"] for name, f in files.items()}),
        }
        for field in ("trials_run", "trials_pruned", "seconds", "stopped_by_time", "trials_not_converged"):
            if field in candidate.tuning:
                metadata[field] = candidate.tuning[field]
        version = sha256_hex(json.dumps({n: f["sha256"] for n, f in files.items()}, sort_keys=True).encode())[:16]
        return Output(card, metadata=metadata, data_version=DataVersion(version))

    return _model


model_assets = [_build_model_asset(kind) for kind in MODEL_ASSETS]
MODEL_ASSET_NAMES = [name for name, _, _ in MODEL_ASSETS.values()]
