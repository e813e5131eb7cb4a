"""Sensors: register stockcodes as partitions once they have enough history."""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from .assets.transactions import HISTORY_KEY
from .core.stockcodes import eligible_stockcodes
from .core.store import parquet_to_frame
from .partitions import STOCKCODE_PARTITIONS_NAME, stockcode_partitions
from .resources import ArtifactStoreResource
from .settings import current_settings


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "After each new raw_transactions materialisation, registers every stockcode with at least "
        "PRICING_MIN_HISTORY_ROWS usable lines on PRICING_MIN_HISTORY_DAYS days as a partition."
    ),
)
def stockcode_discovery_sensor(context: SensorEvaluationContext, store: ArtifactStoreResource):
    records = context.instance.fetch_materializations(AssetKey("raw_transactions"), limit=1).records
    event = records[0] if records else None
    if event is None:
        return SkipReason("raw_transactions has not been materialised yet")
    if context.cursor and int(context.cursor) >= event.storage_id:
        return SkipReason("no new raw_transactions materialisation since the last tick")
    settings = current_settings()
    history = parquet_to_frame(store.get_store().get_bytes(HISTORY_KEY)).set_index("stock_code")
    eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
    known = set(context.instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME))
    new = [code for code in eligible if code not in known]
    context.log.info(f"{len(eligible)} eligible stockcodes, {len(new)} new")
    return SensorResult(
        dynamic_partitions_requests=[stockcode_partitions.build_add_request(new)] if new else [],
        cursor=str(event.storage_id),
    )
