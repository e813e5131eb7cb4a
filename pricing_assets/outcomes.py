"""What each stockcode's last lineage run left in the Dagster instance: status, checks, promotion.

Read by ``pricing status``, by ``pricing run --all`` (to tell a finished stockcode from one to
redo) and by the ``catalogue_report`` asset, so all three say the same thing about a stockcode.
"""

from __future__ import annotations

import re
from typing import Any

from dagster import DagsterEventType, DagsterInstance, RunsFilter

from .core.bundle import BundleIntegrityError, read_pointer
from .core.catalogue import StockcodeRecord
from .core.store import ArtifactNotFoundError, ArtifactStore
from .partitions import STOCKCODE_PARTITIONS_NAME

# What a check is called in a summary, so it reads as a reason rather than a check id.
CHECK_LABELS = {
    "no_feature_drift": "drift",
    "fairness_within_threshold": "fairness",
    "candidate_no_worse_than_serving": "challenger",
}
CHECK_ORDER = tuple(CHECK_LABELS)  # the order they run in
_RUN_EVENTS = {
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.STEP_FAILURE,
}


def severity(evaluation: Any) -> str:
    """``"ERROR"`` or ``"WARN"``: only an ERROR failure blocks promotion (Dagster's blocking rule)."""
    value = getattr(evaluation, "severity", None)
    return str(getattr(value, "value", value) or "ERROR")


def reason(evaluation: Any) -> str:
    """A check's reason in words: its ``reason`` metadata, else its description."""
    found = evaluation.metadata.get("reason")
    text = getattr(found, "value", found) or evaluation.description
    return str(text or "see the check's metadata in `pricing ui`")


def failure_reason(evaluations: list[Any], events: list[Any]) -> str:
    """Why a run failed, in words: a blocking (ERROR) check's own reason, else the failing step's message.

    A failed blocking check surfaces in Dagster as a step failure whose error is only the check's
    class and name; the reason (too few rows, which columns drifted, the gap) is in the check's
    metadata, so that is what the user reads. A check that failed with WARN severity did not stop
    the run and is not the reason. Other errors keep their message without the exception's class
    name in front. ``events`` are Dagster events (of a run's result, or read back from the instance).
    """
    for evaluation in evaluations:
        if not evaluation.passed and severity(evaluation) != "WARN":
            return f"{CHECK_LABELS.get(evaluation.check_name, evaluation.check_name)}: {reason(evaluation)}"
    if interrupted(events):
        return "interrupted (Ctrl-C or SIGTERM): stopped before its promotion or after it, never half-way"
    for event in events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error.cause is not None and "DagsterExecutionStepExecutionError" in error.cls_name:
                error = error.cause
            lines = (error.message or "").strip().splitlines()
            text = re.sub(r"^[\w.]*(Error|Exception|Failure)\w*: ", "", lines[0]) if lines else ""
            return f"{event.step_key}: {text or 'failed without a message (see the run in `pricing ui`)'}"
    return "run failed (see the run in `pricing ui`)"


def interrupted(events: list[Any]) -> bool:
    """A step stopped by a signal: Dagster turns SIGINT (and SIGTERM) into a step failure and returns."""
    for event in events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None:
                if "ExecutionInterruptedError" in (error.cls_name or ""):
                    return True
                error = error.cause
    return False


def _recommendation(metadata: dict[str, Any]) -> dict[str, Any]:
    """The summary's part of a list_price_recommendation materialisation's metadata."""
    value = {k: getattr(v, "value", v) for k, v in metadata.items()}
    return {
        "action": value.get("action", "hold"),
        "capped": bool(value.get("capped", False)),
        "hold_reason": value.get("hold_reason") or value.get("reason"),
        "objective": value.get("objective"),
        "expected_gain": value.get("expected_gain"),
    }


def stockcode_status(instance: DagsterInstance, store: ArtifactStore, codes: list[str] | None = None) -> list[dict]:
    """Where each registered stockcode (or each of ``codes``) stands after its last lineage run.

    Per stockcode: ``last_run``, ``status``, ``finished_at`` and ``seconds`` of the run; ``checks``
    maps each check of that run to whether it passed, ``check_severity`` to the severity it carries
    (a WARN failure does not block promotion) and ``check_reasons`` to its reason in words;
    ``promoted`` is the version serving now, ``promoted_in_last_run`` whether that run promoted,
    ``serving_refused`` why serving refuses the stockcode's pointer ("" when it does not);
    ``error`` why the run failed and ``recommendation`` the list-price decision it made."""
    wanted = sorted(instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME)) if codes is None else codes
    rows = []
    for code in wanted:
        row: dict[str, Any] = {"stockcode": code, "last_run": None, "status": None, "checks": {}}
        row.update(check_severity={}, check_reasons={}, promoted=None, promoted_in_last_run=False)
        row.update(seconds=None, error="", recommendation=None)
        records = instance.get_run_records(filters=RunsFilter(tags={"dagster/partition": code}), limit=1)
        if records:
            record = records[0]
            run = record.dagster_run
            row.update(last_run=run.run_id, status=run.status.value, finished_at=record.end_time)
            if record.start_time and record.end_time:
                row["seconds"] = round(record.end_time - record.start_time, 3)
            logs = instance.all_logs(run.run_id, of_type=_RUN_EVENTS)
            evaluations = []
            for entry in logs:
                event = entry.dagster_event
                if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                    evaluation = event.event_specific_data
                    evaluations.append(evaluation)
                    row["checks"][evaluation.check_name] = evaluation.passed
                    row["check_severity"][evaluation.check_name] = severity(evaluation)
                    row["check_reasons"][evaluation.check_name] = reason(evaluation)
                elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                    materialization = event.step_materialization_data.materialization
                    name = materialization.asset_key.to_user_string()
                    if name == "promoted_model":
                        row["promoted_in_last_run"] = True
                    elif name == "list_price_recommendation":
                        row["recommendation"] = _recommendation(materialization.metadata)
            if run.status.value == "FAILURE":
                row["error"] = failure_reason(evaluations, [entry.dagster_event for entry in logs])
        row["promoted"], row["serving_refused"] = serving_pointer(store, code)
        rows.append(row)
    return rows


def serving_pointer(store: ArtifactStore, stock_code: str) -> tuple[str | None, str]:
    """The version the stockcode's pointer names (None: nothing promoted), or None and why serving refuses it.

    A damaged pointer is that one stockcode's problem, in words with its fix (``read_pointer``'s message):
    ``pricing status`` shows it and ``pricing run --all`` reruns the stockcode, rather than both stopping
    on it for every stockcode."""
    try:
        return read_pointer(store, stock_code)["version"], ""
    except ArtifactNotFoundError:
        return None, ""
    except BundleIntegrityError as exc:
        return None, str(exc)


def held_by(row: dict) -> dict[str, str]:
    """The blocking checks that failed in the stockcode's last run, with their reasons."""
    return {
        name: row["check_reasons"].get(name, "")
        for name, passed in row["checks"].items()
        if not passed and row["check_severity"].get(name, "ERROR") != "WARN"
    }


def record_of(row: dict) -> StockcodeRecord:
    """A :func:`stockcode_status` row as the catalogue summary's record (checks by their short labels)."""
    warned = {
        name: row["check_reasons"].get(name, "")
        for name, passed in row["checks"].items()
        if not passed and row["check_severity"].get(name) == "WARN"
    }
    return StockcodeRecord(
        stockcode=row["stockcode"],
        status=row["status"],
        run_id=row["last_run"],
        seconds=row["seconds"],
        promoted=row["promoted_in_last_run"],
        serving_version=row["promoted"],
        held_by={CHECK_LABELS.get(k, k): v for k, v in held_by(row).items()},
        warnings={CHECK_LABELS.get(k, k): v for k, v in warned.items()},
        error=row["error"],
        recommendation=row["recommendation"],
    )
