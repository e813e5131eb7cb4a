"""The week to forecast (``price_scenario``) and the champion's forecast of it (``demand_forecast``)."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import demand_index, forecast, weekly_features
from ..core.price_response import elasticity_of
from ..core.stockcodes import validate_stockcode
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting, table_metadata
from .models import load_candidate
from .training import preprocessor_from
from .transactions import GROUP


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(weekly_features, demand_index),
    description=(
        "The week after the catalogue's last complete week, one row per price list at the list now in force, "
        "with its features "
        "from the weeks before (core/weekly_features.py): what demand_forecast forecasts, and what "
        "promoted_model bundles so serving can forecast it again with a fallback model."
    ),
)
def price_scenario(
    weekly_demand: pd.DataFrame, stockcode_price_response: dict, catalogue_demand_index: pd.DataFrame
) -> Output[pd.DataFrame]:
    rows = weekly_features.next_week_rows(
        weekly_demand, elasticity_of(stockcode_price_response), catalogue_demand_index
    )
    metadata, version = table_metadata(rows, time_column=weekly_features.TIME_COLUMN)
    return Output(rows, metadata=metadata, data_version=version)


class ForecastConfig(SettingsConfig):
    """The seed of the forecast level's draws (a setting, see common.setting)."""

    seed: int = setting("seed")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(forecast, weekly_features),  # the level features bound the forecast
    description=(
        "Next week's expected units per price list at the current list, from the champion weekly model: an "
        "expectation over its validation residuals (not expm1 of a mean log), with the level's 95 % "
        "interval and draws that the recommendation's intervals carry (core/forecast.py). A champion that fails "
        "to load or forecasts non-finite or implausible units (far above the product's levels) gives way to the "
        "next model of the fallback chain, as in serving; the metadata names it (skipped_models)."
    ),
)
def demand_forecast(
    context: AssetExecutionContext,
    config: ForecastConfig,
    price_scenario: pd.DataFrame,
    model_evaluation: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    stock_code = validate_stockcode(context.partition_key)
    artifact_store = store.get_store()
    fitted = preprocessor_from(preprocessor)
    chain = forecast.model_chain(model_evaluation["champion"], model_evaluation["fallback_chain"])

    def attempt(kind: str) -> forecast.WeeklyForecast:
        # A file that fails its hash or cannot be read is skipped, as serving does.
        model = load_candidate(artifact_store, model_evaluation["candidates"][kind])
        residuals = model_evaluation["validation_residuals"][kind]
        return forecast.forecast_next_week(model, fitted, price_scenario, residuals, config.seed)

    try:
        result, _, skipped = forecast.first_answer(chain, attempt, what=stock_code)
    except forecast.NoModelAnsweredError as exc:
        raise RuntimeError(
            f"{exc}; the stockcode is not promoted until its models are retrained on data that supports a forecast"
        ) from exc
    for kind, why in skipped.items():
        context.log.warning(f"{stock_code}: {kind} skipped: {why}")
    low, high = result.units_interval
    context.log.info(
        f"{stock_code}: week of {result.week} at list {result.list_price:.2f}: {result.units:.1f} units expected "
        f"({low:.1f} to {high:.1f}; registered {result.registered_units:.1f}, guest {result.guest_units:.1f}) "
        f"by {result.model}"
    )
    return Output(
        result.to_dict(),
        metadata={
            "week": MetadataValue.text(result.week),
            "model": MetadataValue.text(result.model),
            **({"skipped_models": MetadataValue.json(skipped)} if skipped else {}),
            "list_price": MetadataValue.float(result.list_price),
            "expected_units": MetadataValue.float(round(result.units, 3)),
            "units_interval_95": MetadataValue.text(f"{low:.1f} to {high:.1f}"),
            "registered_units": MetadataValue.float(round(result.registered_units, 3)),
            "guest_units": MetadataValue.float(round(result.guest_units, 3)),
        },
    )
