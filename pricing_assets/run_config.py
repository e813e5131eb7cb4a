"""Each job's run config, made from the Settings its code location is built from.

Every asset config is made of settings (``assets/common.setting``); the jobs carry the config these
functions build from ``build_definitions(settings)``'s Settings as their default run config, so a run
of the location's jobs uses those Settings without any caller passing config, whatever the
environment said when the asset modules were imported (tests, ``pricing run --seed``, benchmarks build
locations from other Settings).

One thing to know when passing a run config yourself: Dagster merges a run config given to an
unpartitioned job (the raw and report jobs) with the job's default, but one given to a partitioned job
(the lineage job) *replaces* it. :func:`overlay` puts a partial run config on top of the default.
"""

from collections.abc import Mapping
from typing import Any

from .assets.catalogue import CatalogueReportConfig
from .assets.catalogue_price_response import CatalogueConfig
from .assets.challenger import ChallengerGateConfig
from .assets.common import SettingsConfig
from .assets.demand_forecast import ForecastConfig
from .assets.drift import DriftWindowConfig
from .assets.evaluation import ExplainConfig
from .assets.fairness import FairnessThresholdConfig
from .assets.models import MODEL_ASSETS, NetworkTuningConfig, TuningConfig
from .assets.price_response import RecommendationSettingsConfig
from .assets.promotion import PriceGridConfig
from .assets.training import SplitsConfig
from .assets.transactions import SourceConfig
from .settings import Settings

# The config class of every asset (op) that takes one, per job.
RAW_CONFIGS: dict[str, type[SettingsConfig]] = {
    "raw_transactions": SourceConfig,
    "catalogue_price_response": CatalogueConfig,  # the op of both catalogue assets (with catalogue_demand_index)
}
LINEAGE_CONFIGS: dict[str, type[SettingsConfig]] = {
    "list_price_recommendation": RecommendationSettingsConfig,
    "drift_report": DriftWindowConfig,
    "training_splits": SplitsConfig,
    **{name: NetworkTuningConfig if kind == "dfn" else TuningConfig for kind, (name, _, _) in MODEL_ASSETS.items()},
    "shap_explanations": ExplainConfig,
    "fairness_report": FairnessThresholdConfig,
    "challenger_comparison": ChallengerGateConfig,
    "demand_forecast": ForecastConfig,
    "price_curve": PriceGridConfig,
}
REPORT_CONFIGS: dict[str, type[SettingsConfig]] = {"catalogue_report": CatalogueReportConfig}


def _ops(configs: Mapping[str, type[SettingsConfig]], settings: Settings) -> dict[str, Any]:
    return {"ops": {op: {"config": cls.from_settings(settings).model_dump()} for op, cls in configs.items()}}


def raw_run_config(settings: Settings) -> dict[str, Any]:
    """The raw job's run config: the source to load and which stockcodes the catalogue learns from."""
    return _ops(RAW_CONFIGS, settings)


def lineage_run_config(settings: Settings) -> dict[str, Any]:
    """The lineage job's run config: every per-stockcode asset's budgets, thresholds and seeds."""
    return _ops(LINEAGE_CONFIGS, settings)


def report_run_config(settings: Settings) -> dict[str, Any]:
    """The catalogue report job's run config."""
    return _ops(REPORT_CONFIGS, settings)


def overlay(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` on top, nested mappings merged key by key (a partial run config on a
    partitioned job's default, which Dagster would otherwise replace whole)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = overlay(merged[key], value)
        else:
            merged[key] = value
    return merged
