"""The weekly schedule: re-run only the stockcodes whose inputs or code changed, like `dvc repro`.

A stockcode is re-run when
- its source lines changed since its last run (the fingerprint of its rows in the latest
  ``raw_transactions`` differs from the one ``cleaned_transactions`` recorded), or
- the ``code_version`` of any asset of its lineage differs from the one its last
  materialisation of that asset recorded (the code versions hash the core modules), or
- it was never run.
Everything else is skipped, and the tick says which stockcodes were skipped and why, so an
unchanged stockcode is reported rather than silently dropped.
"""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from .assets.transactions import GROUP
from .core.stockcodes import read_history
from .core.store import ArtifactNotFoundError, sha256_hex
from .jobs import LINEAGE_JOB
from .outcomes import held_by
from .partitions import STOCKCODE_PARTITIONS_NAME
from .resources import ArtifactStoreResource
from .settings import Settings

WEEKLY_SCHEDULE = "weekly_lineage_schedule"


def _latest(instance: DagsterInstance, key: AssetKey, partition: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def lineage_code_versions(asset_graph) -> dict[AssetKey, str]:
    """Current code version of every per-stockcode asset."""
    return {
        key: asset_graph.get(key).code_version
        for key in asset_graph.get_all_asset_keys()
        if asset_graph.get(key).group_name == GROUP
    }


def change_reasons(
    instance: DagsterInstance, code_versions: dict[AssetKey, str], stock_code: str, fingerprint: str
) -> list[str]:
    """Why this stockcode must run again (empty: nothing changed since its last run)."""
    cleaned = _latest(instance, AssetKey("cleaned_transactions"), stock_code)
    if cleaned is None:
        return ["never run"]
    reasons = []
    recorded = cleaned.metadata.get("source_fingerprint")
    if recorded is None or recorded.value != fingerprint:
        reasons.append("source rows changed")
    for key, current in sorted(code_versions.items()):
        last = _latest(instance, key, stock_code)
        # An asset never reached (a blocking check failed upstream) is decided by its inputs.
        if last is not None and last.tags.get("dagster/code_version") != current:
            reasons.append(f"code of {key.to_user_string()} changed")
    return reasons


def build_weekly_lineage_schedule(settings: Settings) -> ScheduleDefinition:
    """The weekly schedule at ``settings``' cron and timezone (the Settings the code location is built from)."""

    @schedule(
        name=WEEKLY_SCHEDULE,
        job_name=LINEAGE_JOB,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=(
            f"{settings.schedule_cron} ({settings.schedule_timezone}; PRICING_SCHEDULE_CRON / "
            "PRICING_SCHEDULE_TIMEZONE): one run per stockcode whose source rows or lineage code changed since "
            "its last run; unchanged stockcodes are listed as skipped."
        ),
    )
    def weekly_lineage_schedule(context: ScheduleEvaluationContext, store: ArtifactStoreResource):
        return lineage_run_requests(context, store)

    return weekly_lineage_schedule


def lineage_run_requests(context: ScheduleEvaluationContext, store: ArtifactStoreResource):
    """One run request per stockcode whose rows or lineage code changed, else why nothing runs."""
    try:
        history = read_history(store.get_store())
    except ArtifactNotFoundError:
        return SkipReason("raw_transactions has not been materialised yet; nothing to compare against")
    code_versions = lineage_code_versions(context.repository_def.asset_graph)
    code_digest = sha256_hex("".join(v or "" for _, v in sorted(code_versions.items())).encode())[:12]
    requests, skipped, missing = [], [], []
    for code in context.instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME):
        if code not in history.index:
            missing.append(code)
            continue
        fingerprint = str(history.loc[code, "fingerprint"])
        reasons = change_reasons(context.instance, code_versions, code, fingerprint)
        if not reasons:
            skipped.append(code)
            continue
        requests.append(
            RunRequest(
                run_key=f"weekly:{code}:{fingerprint}:{code_digest}",
                partition_key=code,
                tags={"pricing/reasons": "; ".join(reasons)[:250], "pricing/trigger": "weekly_schedule"},
            )
        )
    summary = f"{len(requests)} to run, {len(skipped)} unchanged (skipped: {', '.join(skipped) or 'none'})"
    if missing:
        summary += f", {len(missing)} not in the latest source ({', '.join(missing)})"
    context.log.info(summary)
    return requests or SkipReason(summary)


def rerun_reasons(
    instance: DagsterInstance, code_versions: dict[AssetKey, str], stock_code: str, fingerprint: str, last: dict
) -> list[str]:
    """:func:`change_reasons`, a last run that did not finish, and a promotion serving cannot use
    (``last`` is the stockcode's ``stockcode_status`` row).

    A run that failed with an error, was interrupted (Ctrl-C) or is still marked as started is
    redone; one held by a blocking check is not, unless its rows or code changed: the same inputs
    would be held again for the same reason. A stockcode whose pointer is damaged, or whose last run
    promoted but whose pointer is gone, is served by nothing: promoting it again is the fix (the
    challenger then judges it as at a first promotion), so it is redone whatever its rows and code."""
    reasons = change_reasons(instance, code_versions, stock_code, fingerprint)
    if last["status"] not in (None, "SUCCESS") and not held_by(last):
        error = last["error"] or "no error recorded"
        reasons = [r for r in reasons if r != "never run"]  # it ran, and stopped before cleaned_transactions
        reasons.append(f"its last run did not finish ({last['status'].lower()}: {error})")
    if last.get("serving_refused"):
        reasons.append(f"serving refuses its promotion ({last['serving_refused']})")
    elif last["promoted_in_last_run"] and not last["promoted"]:
        reasons.append("its last run promoted a bundle, but its promotion pointer is gone: nothing serves it")
    return reasons
