"""The code location: every asset, check, job and sensor, with resources chosen by settings."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, Definitions, PreviewWarning

from .assets.catalogue import catalogue_report
from .assets.catalogue_price_response import catalogue_price_response
from .assets.challenger import candidate_no_worse_than_serving, challenger_comparison
from .assets.demand_forecast import demand_forecast, price_scenario
from .assets.drift import drift_report, no_feature_drift
from .assets.evaluation import model_evaluation, shap_explanations
from .assets.fairness import fairness_report, fairness_within_threshold
from .assets.models import model_assets
from .assets.price_response import list_price_recommendation, stockcode_price_response, weekly_demand
from .assets.promotion import price_curve, promoted_model
from .assets.training import training_splits
from .assets.transactions import cleaned_transactions, demand_features, raw_transactions
from .assets.weekly_features import weekly_features
from .executors import executor_for
from .instance_sqlite import use_sqlite_synchronous
from .io_manager import StoreIOManager
from .jobs import LINEAGE_JOB, RAW_JOB, REPORT_JOB, build_jobs
from .resources import ArtifactStoreResource, S3ClientResource
from .schedules import build_weekly_lineage_schedule
from .sensors import build_sensors
from .settings import Settings, current_settings

__all__ = ["LINEAGE_JOB", "RAW_JOB", "REPORT_JOB", "build_definitions", "build_resources", "defs"]

# Partitioned asset checks and data versions on Output are what the lineage is built on; they are
# marked preview/beta in Dagster 1.13, and we accept that knowingly rather than warn on every run.
warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)


def build_resources(settings: Settings) -> dict[str, object]:
    s3 = S3ClientResource(endpoint_url=settings.s3_endpoint_url)
    store = ArtifactStoreResource(
        local_root=str(settings.artifact_root),
        s3_bucket=settings.s3_bucket or "",
        s3_prefix=settings.s3_prefix,
        s3=s3,
    )
    return {"s3": s3, "store": store, "io_manager": StoreIOManager(store=store)}


def build_definitions(settings: Settings | None = None, loggers: dict | None = None) -> Definitions:
    """The code location, every part of it from ``settings``: the jobs' run config, the schedule, the
    sensors, the resources and the executor. ``loggers`` replaces Dagster's console logger (the CLI prints
    its own lines)."""
    settings = settings or current_settings()
    use_sqlite_synchronous(settings.sqlite_synchronous)  # the embedded instance's event writes (see its module)
    jobs = build_jobs(settings)
    return Definitions(
        loggers=loggers,
        assets=[
            raw_transactions,
            catalogue_price_response,  # with catalogue_demand_index: one multi-asset
            cleaned_transactions,
            weekly_demand,
            stockcode_price_response,
            demand_features,
            drift_report,
            weekly_features,
            training_splits,
            *model_assets,
            model_evaluation,
            shap_explanations,
            fairness_report,
            challenger_comparison,
            price_scenario,
            demand_forecast,
            list_price_recommendation,
            price_curve,
            promoted_model,
            catalogue_report,
        ],
        asset_checks=[no_feature_drift, fairness_within_threshold, candidate_no_worse_than_serving],
        jobs=list(jobs.values()),
        schedules=[build_weekly_lineage_schedule(settings)],
        sensors=build_sensors(settings, jobs),
        resources=build_resources(settings),
        executor=executor_for(settings),
    )


defs = build_definitions()
