"""Sensors: register stockcodes once they have enough history, and react to new source files."""

import json
from typing import Any

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from .core import watch
from .core.stockcodes import eligible_stockcodes, read_history
from .jobs import LINEAGE_JOB, RAW_JOB
from .partitions import STOCKCODE_PARTITIONS_NAME, stockcode_partitions
from .resources import ArtifactStoreResource
from .schedules import change_reasons, lineage_code_versions
from .settings import Settings

NEW_DATA_SENSOR = "new_source_data_sensor"
DISCOVERY_SENSOR = "stockcode_discovery_sensor"


def _watched_files(settings: Settings, store: ArtifactStoreResource) -> dict[str, str]:
    if settings.watch_dir:
        return watch.local_source_files(settings.watch_dir)
    return watch.s3_source_files(store.s3.get_client(), settings.s3_bucket, settings.watch_s3_prefix)


def _new_partitions(
    instance: Any, store: ArtifactStoreResource, settings: Settings
) -> tuple[Any, list[str], set[str], list[str]]:
    """The stored stockcode history, the eligible stockcodes, the partitions known and the eligible ones not yet
    known: what both sensors register."""
    history = read_history(store.get_store())
    eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
    known = set(instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME))
    return history, eligible, known, [code for code in eligible if code not in known]


def build_sensors(settings: Settings, jobs: dict[str, Any]) -> list[SensorDefinition]:
    """The discovery and new-data sensors, reading ``settings`` (the Settings the code location is built from)
    and launching ``jobs`` (the location's, built from the same Settings: jobs.build_jobs)."""

    @sensor(
        name=DISCOVERY_SENSOR,
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
        history, eligible, known, new = _new_partitions(context.instance, store, settings)
        context.log.info(f"{len(eligible)} eligible stockcodes, {len(new)} new")
        return SensorResult(
            dynamic_partitions_requests=[stockcode_partitions.build_add_request(new)] if new else [],
            cursor=str(event.storage_id),
        )

    @sensor(
        name=NEW_DATA_SENSOR,
        jobs=[jobs[RAW_JOB], jobs[LINEAGE_JOB]],
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Watches PRICING_WATCH_DIR (or PRICING_WATCH_S3_PREFIX in PRICING_S3_BUCKET) for a new or grown "
            "source file: loads it into raw_transactions, then registers newly eligible stockcodes and runs "
            "the lineage of the stockcodes whose rows changed, and only those."
        ),
    )
    def new_source_data_sensor(context: SensorEvaluationContext, store: ArtifactStoreResource):
        """Two steps, one cursor: a changed file -> a raw_transactions run (keyed by the file's signature);
        that run's materialisation -> partitions and lineage runs (keyed by each stockcode's fingerprint),
        so a tick evaluated twice never launches anything twice."""
        if not settings.watch_dir and not (settings.watch_s3_prefix and settings.s3_bucket):
            return SkipReason(
                "nothing to watch: set PRICING_WATCH_DIR, or PRICING_WATCH_S3_PREFIX with PRICING_S3_BUCKET"
            )
        cursor = json.loads(context.cursor) if context.cursor else {"files": {}, "raw_storage_id": 0}
        run_requests: list[RunRequest] = []
        partition_requests = []
        current = _watched_files(settings, store)
        changed = watch.changed_files(cursor["files"], current)
        if changed:
            source = changed[-1]  # files are named by date: the latest one holds the whole history
            run_requests.append(
                RunRequest(
                    job_name=RAW_JOB,
                    run_key=f"raw:{source}:{current[source]}",
                    run_config={"ops": {"raw_transactions": {"config": {"source": "uci", "data": source}}}},
                    tags={"pricing/source_file": source[-250:]},
                )
            )
            cursor["files"] = current
        records = context.instance.fetch_materializations(AssetKey("raw_transactions"), limit=1).records
        latest = records[0] if records else None
        if latest is not None and latest.storage_id > cursor["raw_storage_id"]:
            cursor["raw_storage_id"] = latest.storage_id
            run = context.instance.get_run_by_id(latest.run_id)
            if run is not None and run.tags.get("dagster/sensor_name") == NEW_DATA_SENSOR:
                history, eligible, known, new = _new_partitions(context.instance, store, settings)
                if new:
                    partition_requests.append(stockcode_partitions.build_add_request(new))
                code_versions = lineage_code_versions(context.repository_def.asset_graph)
                for code in [c for c in eligible if c in known or c in new]:
                    fingerprint = str(history.loc[code, "fingerprint"])
                    reasons = [
                        r for r in change_reasons(context.instance, code_versions, code, fingerprint) if "code" not in r
                    ]
                    if reasons:  # code changes are the weekly schedule's business
                        run_requests.append(
                            RunRequest(
                                job_name=LINEAGE_JOB,
                                partition_key=code,
                                run_key=f"new-data:{code}:{fingerprint}",
                                tags={"pricing/reasons": "; ".join(reasons), "pricing/trigger": NEW_DATA_SENSOR},
                            )
                        )
                context.log.info(f"{len(new)} new stockcodes, {len(run_requests)} lineage runs for changed rows")
        if not run_requests and not partition_requests:
            return SensorResult(skip_reason=SkipReason("no new or changed source file"), cursor=json.dumps(cursor))
        return SensorResult(
            run_requests=run_requests, dynamic_partitions_requests=partition_requests, cursor=json.dumps(cursor)
        )

    return [stockcode_discovery_sensor, new_source_data_sensor]
