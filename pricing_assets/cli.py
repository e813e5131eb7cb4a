"""``pricing``: run the lineage through Dagster from a terminal, and open its UI.

``pricing run`` materialises ``raw_transactions`` once, registers the chosen stockcodes as
partitions, then runs the per-stockcode job for each of them in the Dagster instance at
``DAGSTER_HOME`` (the project's embedded instance when unset), so every run, materialisation
and check result is there to inspect later in ``pricing ui``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dagster import logger as dagster_logger
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .core.recommendation import short_of_best, verdict
from .outcomes import CHECK_LABELS, CHECK_ORDER, failure_reason, held_by, interrupted, stockcode_status
from .outcomes import reason as _reason
from .outcomes import severity as _severity
from .settings import SOURCES, Settings, current_settings

console = Console(stderr=True)
PROGRESS_LOGGER = "progress"
PROGRESS_LOGS = {"loggers": {PROGRESS_LOGGER: {}}}
# In a worker of ``pricing run --processes``, the stockcode in front of each step line (runs interleave).
_STEP_PREFIX = {"text": ""}


class _StepLineHandler(logging.Handler):
    """Prints what the assets log (tuning trials, verdicts) as one short line per message.

    Dagster's own events (step started, output handled...) stay in the instance for `pricing ui`;
    the terminal gets the user-level messages and errors, prefixed by the step they came from.
    """

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if meta is None:
            return
        if meta.get("dagster_event") is not None and record.levelno < logging.ERROR:
            return
        text = str(meta.get("orig_message") or record.getMessage()).strip().splitlines()
        if not text:
            return
        style = "red" if record.levelno >= logging.ERROR else "yellow" if record.levelno >= logging.WARNING else "dim"
        step = f"{escape(_STEP_PREFIX['text'])}[{style}]{meta.get('step_key') or 'run'}[/]"
        console.print(f"    {step} {escape(text[0])}", highlight=False, soft_wrap=True)


@dagster_logger(description="One line per asset log message on the pricing CLI's terminal.")
def progress_logger(_init_context) -> logging.Logger:
    log = logging.getLogger("pricing_assets.cli.progress")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [_StepLineHandler()]
    return log


class CliError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass
class StockcodeOutcome:
    stockcode: str
    success: bool
    run_id: str
    seconds: float
    checks: dict[str, bool] = field(default_factory=dict)  # check name -> passed
    check_severity: dict[str, str] = field(default_factory=dict)  # check name -> "ERROR" or "WARN"
    check_reasons: dict[str, str] = field(default_factory=dict)  # check name -> its reason in words
    stage_seconds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    recommendation: dict[str, Any] | None = None  # the list-price recommendation, as serving returns it
    error: str = ""
    interrupted: bool = False  # Ctrl-C stopped it


def _prepare_dagster_home(settings: Settings) -> Path:
    """Use DAGSTER_HOME when set (its dagster.yaml untouched), else the project's own.

    The project's own gets a dagster.yaml with telemetry off and :class:`.instance_storage.EmbeddedInstance`:
    Dagster's default SQLite storage in that folder, but keeping an engine per database file (Dagster's own
    builds one per query; a dev stockcode's lineage run went from 4.0 to 2.5 s). One that ``pricing`` wrote
    earlier (the telemetry-only one before) is rewritten to this; any other is left as it is."""
    from .instance_storage import EMBEDDED_DAGSTER_YAML, is_ours

    home = settings.dagster_home
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder should be, no permission, a read-only disk
        given = "DAGSTER_HOME" if "DAGSTER_HOME" in os.environ else "PRICING_PROJECT_DIR"
        now = os.environ.get(given) or settings.project_dir
        raise CliError(
            f"cannot make the Dagster instance's folder {home} ({exc.strerror or exc}): set {given} "
            f"(now {now}) to a folder you can write in"
        ) from exc
    if "DAGSTER_HOME" not in os.environ:
        config = home / "dagster.yaml"
        current = config.read_text() if config.exists() else None
        if current != EMBEDDED_DAGSTER_YAML and (current is None or is_ours(current)):
            from .core.store import atomic_write_bytes

            # Whole or not at all: another `pricing` process starting beside this one reads it.
            atomic_write_bytes(config, EMBEDDED_DAGSTER_YAML.encode())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@contextlib.contextmanager
def stockcode_lock(home: Path, stock_code: str) -> Iterator[None]:
    """One lineage run of a stockcode at a time from the CLIs sharing an instance.

    Two runs of the same stockcode at once would each find the other's intermediate
    materialisations and record them in their manifest. The daemon's run queue prevents that with
    a tag limit (deploy/dagster.yaml); CLIs on one machine queue on a file lock instead."""
    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{stock_code}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print(f"  {stock_code}: another run of it is in progress on this instance; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing, also when the process dies


def _check_verdict(passed: bool | None, severity: str | None, reason: str | None = None) -> str:
    """``passed``, ``warn (fairness: ...)`` or ``failed (drift: ...)``; ``-`` when the check did not run."""
    if passed is None:
        return "-"
    if passed:
        return "passed"
    word = "warn" if severity == "WARN" else "failed"
    return f"{word} ({reason})" if reason else word


def _error_message(result: Any) -> str:
    """Why a run failed, in words (see :func:`outcomes.failure_reason`)."""
    return failure_reason(result.get_asset_check_evaluations(), result.all_events)


def _stage_seconds(result: Any) -> dict[str, float]:
    stages: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key:
            data = event.event_specific_data
            duration = getattr(data, "duration_ms", None)
            if duration is not None:
                stages[event.step_key] = round(duration / 1000.0, 3)
    return stages


def _materialization_metadata(result: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        found["/".join(mat.asset_key.path)] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return found


def _recommendation_of(result: Any) -> dict[str, Any] | None:
    """The run's list-price recommendation as the bundle's manifest and serving have it; None when not made."""
    from .core.recommendation_inputs import served_part

    try:
        return served_part(result.output_for_node("list_price_recommendation"))
    except Exception:  # noqa: BLE001 - the step failed or did not run: there is no recommendation to show
        return None


def _money(value: float) -> str:
    return f"{value:+.2f}"


def recommendation_line(rec: dict[str, Any] | None) -> str:
    """``2.95 → 3.10 (increase, capped by the guardrail); margin/week +12.30 (+4.10 to +20.00), gains on 99 %
    of the elasticity's draws`` in words
    (:func:`core.recommendation.verdict`: capped, or short of the estimate's best where the gain is surest).

    A hold names its reason, and the expected change is of the move it did not make."""
    if not rec:
        return "no recommendation (the run did not reach it)"
    if rec.get("current_list_price") is None:
        return f"hold ({rec.get('hold_reason')})"
    current, chosen = rec["current_list_price"], rec["recommended_list_price"]
    change = rec["expected_change"][rec["objective"]]
    low, high = change["interval"]
    moved = f"{rec['objective']}/week {_money(change['mean'])} ({_money(low)} to {_money(high)})"
    if rec.get("gain_probability") is not None:  # bundles before it do not say
        moved += f", gains on {100 * rec['gain_probability']:.0f} % of the elasticity's draws"
    cost = f"; unit cost {rec['unit_cost']:.2f}{' (assumed)' if rec['cost_assumed'] else ''}"
    if rec["hold"]:
        best = rec["best_list_price_in_band"]
        return f"{current:.2f} → {chosen:.2f} (hold: {rec['hold_reason']}); moving to {best:.2f}: {moved}{cost}"
    return f"{current:.2f} → {chosen:.2f} ({verdict(rec)}); {moved}{cost}"


def recommendation_cells(rec: dict[str, Any] | None) -> tuple[str, str, str]:
    """The summary table's list price (current → recommended), expected weekly change and decision cells."""
    if not rec:
        return "-", "-", "-"
    if rec.get("current_list_price") is None:
        return "-", "-", escape(f"hold ({rec.get('hold_reason')})")
    change = rec["expected_change"][rec["objective"]]
    low, high = change["interval"]
    moved = f"{rec['objective']} {_money(change['mean'])} ({_money(low)} to {_money(high)})"
    prices = f"{rec['current_list_price']:.2f} → {rec['recommended_list_price']:.2f}"
    if rec["hold"]:  # the change of the move not made, at the best price in the band
        return prices, f"{moved} at {rec['best_list_price_in_band']:.2f}", escape(short_hold(rec["hold_reason"]))
    short = f", short of {rec['best_list_price_in_band']:.2f}" if short_of_best(rec) else ""
    return prices, moved, f"{rec['action']}{', capped' if rec['capped'] else ''}{short}"


# A hold's reason in a few words for the table (the progress line above it has the whole sentence).
_SHORT_HOLDS = (
    ("not elastic enough", "hold: no optimum"),
    ("catalogue prior", "hold: prior only"),
    ("already the best", "hold: already best"),
    ("interval includes zero", "hold: gain uncertain"),
    ("no sale in the last", "hold: not selling"),
    ("no sale is forecast", "hold: no demand"),
)


def short_hold(reason: str | None) -> str:
    """``hold: no optimum`` and the like: a table cell that does not wrap over ten lines."""
    text = reason or ""
    return next((label for key, label in _SHORT_HOLDS if key in text), "hold (reason above)")


def _choose_stockcodes(store: Any, settings: Settings, stockcodes: str | None, top: int | None) -> list[str]:
    """The stockcodes asked for, each eligible; else the ``top`` most active eligible ones (None: all)."""
    from .core.stockcodes import eligible_stockcodes, read_history, validate_stockcode

    history = read_history(store)
    eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
    if not stockcodes:
        if not eligible:
            raise CliError(
                f"no stockcode has {settings.min_history_rows} usable lines on {settings.min_history_days} days; "
                "lower --min-history-rows / --min-history-days"
            )
        return eligible[:top]
    chosen = []
    for code in (c.strip().upper() for c in stockcodes.split(",") if c.strip()):
        validate_stockcode(code)
        if code not in history.index:
            raise CliError(
                f"stockcode {code} has no usable sales lines in the source (it is not there, or only as "
                f"cancellations, adjustments or non-product lines); the most active are {', '.join(eligible[:5])}"
            )
        if code not in eligible:
            row = history.loc[code]
            raise CliError(
                f"stockcode {code} has too little history ({int(row['rows'])} lines on {int(row['days'])} days; "
                f"need {settings.min_history_rows} on {settings.min_history_days}): lower --min-history-rows "
                "or --min-history-days"
            )
        chosen.append(code)
    return chosen


@dataclass
class RunReport:
    """What ``pricing run`` did: the raw stage's seconds, each stockcode run, what it skipped and why."""

    stages: dict[str, float]
    outcomes: list[StockcodeOutcome]
    skipped: dict[str, str] = field(default_factory=dict)  # stockcode -> why it did not run again
    held_before: list[str] = field(default_factory=list)  # skipped stockcodes that a check holds back
    not_run: list[str] = field(default_factory=list)  # chosen but not reached (interrupted)
    interrupted: bool = False
    catalogue: dict[str, Any] | None = None  # the catalogue report's summary (core/catalogue.py)
    catalogue_markdown: str = ""


def run_lineage(settings: Settings, stockcodes: str | None, top: int | None) -> RunReport:
    """Materialise the graph for the chosen stockcodes (``top`` None: every eligible one, only what
    changed or did not finish since its last run), then the catalogue report."""
    _prepare_dagster_home(settings)
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        return _run_in_instance(instance, settings, stockcodes, top)


def _raw_run_config(settings: Settings) -> dict[str, Any]:
    """The raw job's own run config (from ``settings``, as the job carries it) with the progress logger,
    given in full so the run records which source it loaded (a default Dagster fills in is not recorded)."""
    from .run_config import overlay, raw_run_config

    return overlay(raw_run_config(settings), PROGRESS_LOGS)


def _lineage_run_config(settings: Settings) -> dict[str, Any]:
    """The lineage job's own run config (every asset's, from ``settings``: the job built from them carries
    it) with the progress logger. A run config given to a partitioned job replaces the job's default, so
    the logger goes on top of it rather than alone."""
    from .run_config import lineage_run_config, overlay

    return overlay(lineage_run_config(settings), PROGRESS_LOGS)


# With PRICING_RUN_PROCESSES=0 (the default) a run of at least this many stockcodes uses a worker per
# core. A worker is a fresh interpreter that imports torch, Dagster and Evidently before its first
# stockcode: on 12 dev stockcodes two workers took 45 s against 43 s in one process, on the 597 of
# the catalogue about half the time (BENCHMARKS.md, "The whole catalogue").
AUTO_WORKERS_FROM = 20


def worker_processes(requested: int, stockcodes: int) -> int:
    """How many stockcodes run side by side: ``requested``, or with 0 one per usable core when there are
    ``AUTO_WORKERS_FROM`` stockcodes or more (else one, in this process); never more than the stockcodes."""
    if requested == 0:
        requested = len(os.sched_getaffinity(0)) if stockcodes >= AUTO_WORKERS_FROM else 1
    return max(1, min(requested, stockcodes))


def _what_to_rerun(instance: Any, defs: Any, store: Any, chosen: list[str]) -> tuple[dict[str, str], RunReport]:
    """The schedule's change detection over ``chosen``: stockcode -> why it runs, and the skipped ones."""
    from .core.stockcodes import read_history
    from .schedules import lineage_code_versions, rerun_reasons

    history = read_history(store)
    code_versions = lineage_code_versions(defs.resolve_asset_graph())
    report = RunReport(stages={}, outcomes=[])
    to_run: dict[str, str] = {}
    for row in stockcode_status(instance, store, chosen):
        code = row["stockcode"]
        reasons = rerun_reasons(instance, code_versions, code, str(history.loc[code, "fingerprint"]), row)
        if reasons:
            to_run[code] = "; ".join(reasons)
            continue
        held = held_by(row)
        if held:
            report.held_before.append(code)
            why = "; ".join(f"{CHECK_LABELS.get(k, k)}: {v}" for k, v in held.items())
            report.skipped[code] = f"held by a check with the same rows and code ({why})"
        else:
            report.skipped[code] = f"unchanged since its last successful run (promoted {row['promoted']})"
    return to_run, report


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{rest:02d}s"


def _run_in_instance(instance: Any, settings: Settings, stockcodes: str | None, top: int | None) -> RunReport:
    from .definitions import LINEAGE_JOB, RAW_JOB, REPORT_JOB, build_definitions
    from .partitions import register_stockcodes

    defs = build_definitions(settings, loggers={PROGRESS_LOGGER: progress_logger})
    store = defs.resources["store"].get_store()
    console.print(f"[bold]raw_transactions[/] from {settings.source}{' ' + settings.data if settings.data else ''}")
    started = time.perf_counter()
    raw = defs.resolve_job_def(RAW_JOB).execute_in_process(
        instance=instance,
        run_config=_raw_run_config(settings),
        raise_on_error=False,
    )
    if not raw.success:
        raise CliError(f"loading the source failed: {_error_message(raw)}")
    raw_seconds = time.perf_counter() - started
    chosen = _choose_stockcodes(store, settings, stockcodes, top)
    new = register_stockcodes(instance, chosen)
    console.print(
        f"raw_transactions done in {raw_seconds:.1f}s; {len(chosen)} stockcode(s) chosen, {len(new)} newly registered"
    )
    if top is None:  # --all: only what changed or did not finish since its last run
        to_run, report = _what_to_rerun(instance, defs, store, chosen)
        for code, why in report.skipped.items():
            console.print(f"  {code}: skipped, {escape(why)}", soft_wrap=True)
        console.print(f"{len(to_run)} to run, {len(report.skipped)} skipped")
    else:
        to_run, report = {code: "asked for" for code in chosen}, RunReport(stages={}, outcomes=[])
    report.stages["raw_transactions"] = round(raw_seconds, 3)
    codes = list(to_run)
    processes = worker_processes(settings.run_processes, len(codes))
    if processes > 1:
        console.print(f"{len(codes)} stockcode(s) in {processes} worker processes side by side")
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not codes,
        ) as progress:
            task = progress.add_task("stockcodes", total=len(codes))

            def started(number: int, code: str) -> None:
                done = [o.seconds for o in report.outcomes]
                left = len(codes) - number + 1
                eta = f", ETA {_duration(sum(done) / len(done) * left / processes)}" if done else ""
                progress.console.print(f"[{number}/{len(codes)}] {code}: running ({escape(to_run[code])}){eta}")
                progress.update(task, description=f"stockcode {code}")

            def finished(outcome: StockcodeOutcome) -> None:
                report.outcomes.append(outcome)
                if outcome.interrupted:
                    raise KeyboardInterrupt
                _print_outcome(progress.console, outcome)
                progress.advance(task)

            if processes > 1:
                _run_side_by_side(instance, settings, codes, processes, started, finished)
            else:
                job, lineage_config = defs.resolve_job_def(LINEAGE_JOB), _lineage_run_config(settings)
                for number, code in enumerate(codes, start=1):
                    started(number, code)
                    finished(_run_stockcode(instance, job, code, lineage_config))
    except KeyboardInterrupt:
        report.interrupted = True
        ran = {o.stockcode for o in report.outcomes if not o.interrupted}
        report.outcomes = [o for o in report.outcomes if not o.interrupted]
        report.not_run = [code for code in codes if code not in ran]
        console.print(
            f"[red]interrupted[/]: {len(report.outcomes)} stockcode(s) finished, {len(report.not_run)} not run "
            f"({', '.join(report.not_run[:10])}{' ...' if len(report.not_run) > 10 else ''}); a stockcode running was "
            "stopped before or after its promotion, never half-way (the pointer is switched last, in one write). "
            "`pricing run --all` carries on with what did not finish."
        )
    console.print("[bold]catalogue_report[/]")
    result = defs.resolve_job_def(REPORT_JOB).execute_in_process(
        instance=instance, run_config=PROGRESS_LOGS, raise_on_error=False
    )
    if result.success:
        report.catalogue = result.output_for_node("catalogue_report")
        from .core import catalogue

        report.catalogue_markdown = catalogue.markdown(catalogue.CatalogueSummary(**report.catalogue))
    else:
        console.print(f"[red]the catalogue report failed[/]: {escape(_error_message(result))}", soft_wrap=True)
    return report


def _run_stockcode(instance: Any, job: Any, code: str, run_config: dict[str, Any]) -> StockcodeOutcome:
    """One stockcode's lineage run, in this process, and what it left."""
    t0 = time.perf_counter()
    with stockcode_lock(Path(instance.root_directory), code):
        result = job.execute_in_process(
            instance=instance, partition_key=code, run_config=run_config, raise_on_error=False
        )
    evaluations = result.get_asset_check_evaluations()
    return StockcodeOutcome(
        stockcode=code,
        success=result.success,
        run_id=result.run_id,
        seconds=round(time.perf_counter() - t0, 3),
        checks={e.check_name: e.passed for e in evaluations},
        check_severity={e.check_name: _severity(e) for e in evaluations},
        check_reasons={e.check_name: _reason(e) for e in evaluations},
        stage_seconds=_stage_seconds(result),
        metadata=_materialization_metadata(result),
        recommendation=_recommendation_of(result),
        error="" if result.success else _error_message(result),
        interrupted=not result.success and interrupted(result.all_events),
    )


# What each worker process of ``pricing run --processes`` keeps between its stockcodes.
_WORKER: dict[str, Any] = {}


def _worker_start(settings: Settings, instance_ref: Any) -> None:
    """A worker's set-up, once: the instance, the code location and the lineage job's run config.

    An idle worker ignores Ctrl-C (the terminal sends it to every process of the group): Dagster
    installs its own handler while a run executes, so a running stockcode is still stopped
    before or after its promotion and comes back as interrupted; the parent stops giving out more.
    """
    import signal

    from dagster import DagsterInstance

    from .definitions import LINEAGE_JOB, build_definitions

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    defs = build_definitions(settings, loggers={PROGRESS_LOGGER: progress_logger})
    _WORKER.update(
        instance=DagsterInstance.from_ref(instance_ref),
        job=defs.resolve_job_def(LINEAGE_JOB),
        config=_lineage_run_config(settings),
    )


def _worker_run(code: str) -> StockcodeOutcome:
    """One stockcode's lineage run in a worker; its metadata as plain JSON values for the way back."""
    _STEP_PREFIX["text"] = f"{code} "
    outcome = _run_stockcode(_WORKER["instance"], _WORKER["job"], code, _WORKER["config"])
    outcome.metadata = json.loads(json.dumps(outcome.metadata, default=str))
    return outcome


def _run_side_by_side(
    instance: Any,
    settings: Settings,
    codes: list[str],
    processes: int,
    started: Any,
    finished: Any,
) -> None:
    """``codes`` over ``processes`` worker processes (spawned: a fresh interpreter each, set up once),
    at most one stockcode per worker at a time, each finished one reported as it comes back.

    Why processes and not threads: a lineage step is mostly single-threaded Python, so one process
    leaves the second core idle much of the time (BENCHMARKS.md, "The whole catalogue": 8.5 stockcodes
    a minute in one process, 11.9 with two workers); the instance (SQLite or
    PostgreSQL) takes runs from several processes, as under the daemon, and ``stockcode_lock`` keeps
    two runs of one stockcode apart. On Ctrl-C nothing new starts and the running ones come back
    interrupted.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    queue = list(enumerate(codes, start=1))
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_worker_start, initargs=(settings, instance.get_ref())
    ) as pool:
        running = {}
        try:
            while queue or running:
                while queue and len(running) < processes:
                    number, code = queue.pop(0)
                    started(number, code)
                    try:
                        running[pool.submit(_worker_run, code)] = code
                    except Exception as exc:  # noqa: BLE001 - the pool broke (a worker died): this one cannot run
                        finished(_worker_died(code, exc))
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(_collected(future, running.pop(future)))
        except KeyboardInterrupt:
            queue.clear()
            for future, code in running.items():  # their runs stop at their next step and come back interrupted
                with contextlib.suppress(KeyboardInterrupt):  # each is recorded before it is raised
                    finished(_collected(future, code))
            raise


def _collected(future: Any, code: str) -> StockcodeOutcome:
    """A worker's outcome; a worker that died (killed, out of memory) is that stockcode failing, in words."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - whatever ended the worker, the stockcode did not finish
        return _worker_died(code, exc)


def _worker_died(code: str, exc: Exception) -> StockcodeOutcome:
    error = f"its worker process stopped before it finished ({exc or 'no message'}); run it again"
    return StockcodeOutcome(stockcode=code, success=False, run_id="", seconds=0.0, error=error)


def _print_outcome(out: Console, outcome: StockcodeOutcome) -> None:
    if _failed(outcome):
        verdict = "FAILED"
    elif _held(outcome):
        verdict = f"HELD by {', '.join(_holding_checks(outcome))}"
    else:
        verdict = "ok with warnings" if _warnings(outcome) else "ok"
    verdicts = {
        name: _check_verdict(passed, outcome.check_severity.get(name)) for name, passed in outcome.checks.items()
    }
    code = outcome.stockcode
    out.print(f"  {code}: {verdict} in {outcome.seconds:.1f}s  checks {escape(str(verdicts))}", soft_wrap=True)
    out.print(f"  {code}: list price {escape(recommendation_line(outcome.recommendation))}", soft_wrap=True)


def _holding_checks(outcome: StockcodeOutcome) -> list[str]:
    """The checks that failed with ERROR severity (a WARN failure does not block), by label."""
    return [
        CHECK_LABELS.get(name, name)
        for name, passed in outcome.checks.items()
        if not passed and outcome.check_severity.get(name, "ERROR") != "WARN"
    ]


def _held(outcome: StockcodeOutcome) -> bool:
    """A gate kept the stockcode from promotion: an outcome of the lineage, with its reason, not an error."""
    return bool(_holding_checks(outcome))


def _failed(outcome: StockcodeOutcome) -> bool:
    """The run broke (an error in a step) without a gate holding it: something to fix."""
    return not outcome.success and not _held(outcome)


def _blocked(outcome: StockcodeOutcome) -> bool:
    """Not promoted: held by a gate or failed."""
    return _held(outcome) or _failed(outcome)


def _warnings(outcome: StockcodeOutcome) -> list[str]:
    """The checks that failed with WARN severity, each as ``label: reason``."""
    return [
        f"{CHECK_LABELS.get(name, name)}: {outcome.check_reasons.get(name, '')}"
        for name, passed in outcome.checks.items()
        if not passed and outcome.check_severity.get(name) == "WARN"
    ]


def _check_cell(passed: bool | None, severity: str | None = None, reason: str | None = None) -> str:
    """A table cell: green ``passed``, yellow ``warn (...)``, red ``failed (...)``, ``-`` when not run."""
    text = escape(_check_verdict(passed, severity, reason))
    colour = {True: "green", False: "yellow" if severity == "WARN" else "red"}.get(passed)
    return f"[{colour}]{text}[/]" if colour else text


def _table_console() -> Console:
    """Stdout at the terminal's width, or wide enough for a whole table row per line in a log or pipe."""
    return Console(width=None if sys.stdout.isatty() else 240)


def _summary(outcomes: list[StockcodeOutcome]) -> Table:
    table = Table(title="pricing run")
    # Numbers, versions and the short decision are never cut or broken across lines; check reasons wrap.
    # The gates' columns say only the verdict (the reasons follow the table), so their names are short: a
    # stockcode's row fits one line of a 240-column log.
    unbroken = (
        "stockcode",
        "test WAPE",
        "beats baselines",
        "list price",
        "expected change/week",
        "decision",
        "promoted",
    )
    for column in (
        "stockcode",
        "status",
        "rows",
        "drift",
        "champion",
        "test WAPE",
        "beats baselines",
        "fairness",
        "challenger",
        "list price",
        "expected change/week",
        "decision",
        "promoted",
        "seconds",
    ):
        table.add_column(column, no_wrap=column in unbroken)
    for o in outcomes:
        evaluation = o.metadata.get("model_evaluation", {})
        promoted = o.metadata.get("promoted_model", {})
        wape = evaluation.get("champion_test_weekly_wape")
        warned = [w.split(":", 1)[0] for w in _warnings(o)]
        if _held(o):
            status = f"[yellow]held[/] ({escape(', '.join(_holding_checks(o)))})"
        elif _failed(o):
            status = f"[red]failed[/] ({escape(o.error.split(':', 1)[0] or 'a step')})"
        else:
            status = f"[yellow]warn[/] ({escape(', '.join(warned))})" if warned else "[green]ok[/]"

        def cell(name: str, o: StockcodeOutcome = o) -> str:  # each reason is printed in full under the table
            return _check_cell(o.checks.get(name), o.check_severity.get(name))

        table.add_row(
            o.stockcode,
            status,
            str(o.metadata.get("demand_features", {}).get("rows", "-")),
            cell("no_feature_drift"),
            str(evaluation.get("champion", "-")),
            _wape_cell(wape),
            beats_baselines_cell(evaluation.get("beats_baselines_on_test")),
            cell("fairness_within_threshold"),
            cell("candidate_no_worse_than_serving"),
            *recommendation_cells(o.recommendation),
            str(promoted.get("version", "not promoted")),
            f"{o.seconds:.1f}",
        )
    return table


def beats_baselines_cell(beaten: dict[str, bool] | None) -> str:
    """Whether the champion's weekly forecast had a lower test WAPE than each baseline's: ``yes`` (all of
    them), ``no`` (none), else the ones it beat (``recent mean only``); ``-`` when not evaluated."""
    if not isinstance(beaten, dict) or not beaten:
        return "-"
    if all(beaten.values()):
        return "yes"
    won = [name.removesuffix("_baseline").replace("_", " ") for name, ok in beaten.items() if ok]
    return f"{', '.join(won)} only" if won else "no"


def _check_costs(location: str, given_as: str) -> None:
    """Read the costs file once before anything runs, so a bad one stops the run with nothing written."""
    from .core.recommendation import read_unit_costs

    fix = f"fix the file or name another with {given_as}: a CSV with columns stockcode,unit_cost (path or s3:// URL)"
    if "://" not in location and not Path(location).is_file():
        raise CliError(f"the costs file {location!r} ({given_as}) does not exist; {fix}")
    try:
        read_unit_costs(location)
    except ValueError as exc:  # the same checks, in the same words, as the asset applies to PRICING_COSTS
        raise CliError(f"{exc} ({given_as}); {fix}") from exc
    except Exception as exc:  # noqa: BLE001 - unreadable (permissions, S3 errors): say which file and why
        raise CliError(f"the costs file {location!r} ({given_as}) cannot be read: {exc}; {fix}") from exc


def run_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with ``pricing run``'s options on top: the code location is built from
    them, so every asset that reads one of these settings gets the option's value."""
    overrides: dict[str, Any] = {}
    for name in ("source", "data", "seed", "min_history_rows", "min_history_days", "costs"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.costs and "://" not in args.costs:  # the run config records where the file is, from any folder
        overrides["costs"] = str(Path(args.costs).resolve())
    if args.processes is not None:
        overrides["run_processes"] = args.processes
    return current_settings().with_(**overrides)


def _check_json_target(location: str) -> Path:
    """Where ``--json`` writes, checked before anything runs: a run of the whole catalogue takes hours,
    and finding then that its report cannot be written would lose it."""
    target = Path(location).expanduser().absolute()
    folder = target.parent
    if not folder.is_dir():
        raise CliError(f"--json {location}: the folder {folder} does not exist; create it or name a file in another")
    if target.is_dir():
        raise CliError(f"--json {location} is a folder; name a file in it, e.g. {target / 'run.json'}")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise CliError(f"--json {location}: cannot write in the folder {folder}; name a file in a folder you can write")
    return target


def _wape_cell(wape: object) -> str:
    """The champion's test WAPE, or why there is none (nothing sold in the test weeks: no error to share out)."""
    if not isinstance(wape, (int, float)):
        return "-"
    return f"{wape:.3f}" if math.isfinite(wape) else "no sales"


def _finite(value: Any) -> Any:
    """``value`` with every infinite or NaN float as None: JSON has no such numbers, and Python's ``Infinity``
    breaks a strict reader (a browser's JSON.parse, jq). A WAPE with no sales to divide by is one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """What ``--json`` writes: indented, strict JSON (no Infinity or NaN), anything else as its str."""
    return json.dumps(_finite(value), indent=2, default=str, allow_nan=False)


def _write_json(target: Path, report: dict[str, Any]) -> None:
    """Written whole or not at all (``store.atomic_write_bytes``): a reader never sees half a report, nor an old
    one lost."""
    from .core.store import atomic_write_bytes

    try:
        atomic_write_bytes(target, json_text(report).encode())
    except OSError as exc:
        raise CliError(f"--json {target}: the report could not be written ({exc.strerror or exc})") from exc


def _cmd_run(args: argparse.Namespace) -> int:
    settings = run_settings(args)
    json_target = _check_json_target(args.json) if args.json else None
    if settings.source == "uci" and not settings.data:
        raise CliError("--source uci needs --data PATH_OR_URL (for example ../shared/data/online_retail_dev.parquet)")
    if args.top < 1:
        raise CliError("--top must be at least 1")
    if settings.costs:
        _check_costs(settings.costs, "--costs" if args.costs else "PRICING_COSTS")
    started = time.perf_counter()
    run = run_lineage(settings, args.stockcodes, None if args.all else args.top)
    wall = time.perf_counter() - started
    outcomes = run.outcomes
    not_passed = [o for o in outcomes if _blocked(o)]
    compact = len(outcomes) > settings.catalogue_compact_above
    if compact:  # many stockcodes: the counts (below), and the table only for those that did not pass
        console.print(
            f"{len(outcomes)} stockcodes ran (more than PRICING_CATALOGUE_COMPACT_ABOVE="
            f"{settings.catalogue_compact_above}): the table lists the {len(not_passed)} that did not pass; "
            "--json FILE has every row"
        )
    if outcomes and (not_passed or not compact):
        _table_console().print(_summary(not_passed if compact else outcomes))
    if run.catalogue_markdown and (args.all or compact):
        _table_console().print(Markdown(run.catalogue_markdown))
    if json_target:
        report = {
            "source": settings.source,
            "data": settings.data,
            "wall_seconds": round(wall, 3),
            "stages": run.stages,
            "stockcodes": [asdict(o) for o in outcomes],
            "skipped": run.skipped,
            "not_run": run.not_run,
            "interrupted": run.interrupted,
            "catalogue": run.catalogue,
        }
        _write_json(json_target, report)
    for o in outcomes:  # a warning does not block promotion; its reason in full, in words
        for warning in _warnings(o):
            console.print(f"  [yellow]{o.stockcode}[/] warn ({escape(warning)})", soft_wrap=True)
    for o in not_passed:  # the table cuts reasons short; each one in full, in words
        colour = "yellow" if _held(o) else "red"
        console.print(f"  [{colour}]{o.stockcode}[/] {escape(o.error or 'a check did not pass')}", soft_wrap=True)
    ran = f"{len(outcomes)} stockcode(s) ran in {wall:.1f}s" + (f", {len(run.skipped)} skipped" if run.skipped else "")
    if run.interrupted:
        console.print(f"[red]interrupted[/]: {ran}, {len(run.not_run)} not run")
        return 130
    return _verdict(outcomes, run.held_before, ran, strict=args.strict)


def _verdict(outcomes: list[StockcodeOutcome], held_before: list[str], ran: str, strict: bool) -> int:
    """The closing lines and the exit status: 1 when a stockcode failed with an error, 0 otherwise.

    A stockcode held by a gate (drift, fairness, challenger) is an outcome of the lineage with its
    reason, like a promotion: its previous bundle keeps serving and nothing needs fixing in the
    code, so it does not fail the command (a weekly catalogue run would otherwise always fail);
    ``--strict`` makes a hold fail it too, for whoever wants to be paged for one.
    """
    failed = [o.stockcode for o in outcomes if _failed(o)]
    held = [o.stockcode for o in outcomes if _held(o)]
    if held or held_before:
        parts = [f"{len(held)} of {len(outcomes)} stockcode(s) held by a check: {', '.join(held)}"] if held else []
        if held_before:
            parts.append(f"{len(held_before)} skipped stockcode(s) still held by a check: {', '.join(held_before)}")
        console.print(
            f"[yellow]{'; '.join(parts)}[/]; not promoted, their previous promoted bundle (if any) stays in service. "
            "A drift hold means the latest window differs from the training window: open the drift report "
            "(path in the run's metadata, `pricing ui`), then fix the data or adjust PRICING_DRIFT_* thresholds. "
            "A fairness hold names the group and gap in its metadata (PRICING_FAIRNESS_* sets the threshold and "
            "minimum group size). A challenger hold means the new model forecast the newest weeks worse than the "
            "serving one, or than a baseline on a first promotion (PRICING_CHALLENGER_TOLERANCE).",
            soft_wrap=True,
        )
    if failed:
        console.print(
            f"[red]{len(failed)} of {len(outcomes)} stockcode(s) failed: {', '.join(failed)}[/] (the reason of each "
            "is above; their previous promoted bundle, if any, stays in service); fix it and run them again",
            soft_wrap=True,
        )
        return 1
    warned = sum(1 for o in outcomes if _warnings(o))
    note = f" ({warned} with warnings, which do not block promotion)" if warned else ""
    promoted = len(outcomes) - len(held)
    if not outcomes:
        console.print(f"{ran}; inspect with `pricing ui`", soft_wrap=True)
        return 1 if strict and held_before else 0
    if held or held_before:
        console.print(
            f"{promoted} of {len(outcomes)} stockcode(s) promoted{note}; {ran}; inspect with `pricing ui`",
            soft_wrap=True,
        )
        if strict:
            console.print("[red]--strict: a stockcode held by a check fails the command[/]")
            return 1
        return 0
    console.print(f"[green]all {len(outcomes)} stockcode(s) passed[/]{note}; {ran}; inspect with `pricing ui`")
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    """``dagster dev`` from the interpreter running this CLI, so it works without an activated venv.

    ``.venv/bin/pricing ui`` (and ``make ui``) run with a PATH that need not hold the venv's
    ``bin``; ``python -m dagster`` from ``sys.executable`` finds the Dagster installed next to us,
    and ``dagster dev`` starts its webserver, daemon and code server from the same interpreter.
    """
    settings = current_settings()
    _prepare_dagster_home(settings)
    workspace = settings.project_dir / "workspace.yaml"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "--host", args.host]
    command += ["--port", str(args.port)]
    console.print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {' '.join(command)}")
    os.chdir(settings.project_dir)
    os.execv(command[0], command)
    return 0  # not reached


def _cmd_status(args: argparse.Namespace) -> int:
    settings = current_settings()
    _prepare_dagster_home(settings)
    from dagster import DagsterInstance

    from .core.store import open_store

    with DagsterInstance.get() as instance:
        rows = stockcode_status(instance, open_store(settings))
    if args.summary:  # what the catalogue_report asset shows, from the same rows
        from .core import catalogue
        from .outcomes import record_of

        summary = catalogue.summarise([record_of(row) for row in rows], settings.catalogue_slowest)
        if args.json:
            print(json_text(summary.to_dict()))
        else:
            _table_console().print(Markdown(catalogue.markdown(summary)))
        _print_refused(rows)
        return 0
    if args.json:
        print(json_text(rows))
        return 0
    table = Table(title=f"stockcodes in {os.environ['DAGSTER_HOME']}")
    for column in ("stockcode", "last run", "status", *CHECK_ORDER, "promoted"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["stockcode"],
            (row["last_run"] or "-")[:8],
            row["status"] or "never run",
            *(_check_cell(row["checks"].get(name), row["check_severity"].get(name)) for name in CHECK_ORDER),
            "[red]refused (damaged)[/]" if row["serving_refused"] else row["promoted"] or "not promoted",
        )
    out = _table_console()
    out.print(table)
    for row in rows:  # each check's reason in words, in the order the checks run
        names = [*(n for n in CHECK_ORDER if n in row["checks"]), *sorted(set(row["checks"]) - set(CHECK_ORDER))]
        for name in names:
            verdict = _check_verdict(row["checks"][name], row["check_severity"].get(name))
            reason = row["check_reasons"].get(name, "")
            out.print(f"{row['stockcode']} {CHECK_LABELS.get(name, name)}: {verdict}: {escape(reason)}", soft_wrap=True)
    _print_refused(rows)
    if not rows:
        console.print("no stockcode is registered yet: run `pricing run` (or let the sensors register them)")
    return 0


def _print_refused(rows: list[dict]) -> None:
    """Each stockcode whose promotion serving refuses, why and the fix, on stderr (stdout may be JSON):
    nothing serves it until it is promoted again, which a status must not leave unsaid."""
    for row in rows:
        if row["serving_refused"]:
            console.print(
                f"[red]{row['stockcode']}[/] serving bundle refused: {escape(row['serving_refused'])}", soft_wrap=True
            )


def _cmd_serve(args: argparse.Namespace) -> int:
    """The serving API on what the local store (or the configured S3 bucket) holds."""
    settings = current_settings()
    command = [sys.executable, "-m", "serving", "--host", args.host, "--port", str(args.port)]
    console.print(
        f"serving promoted bundles from {settings.artifact_root if not settings.uses_s3 else settings.s3_bucket}"
    )
    console.print(f"open http://{args.host}:{args.port}/ (API docs at /docs)")
    os.execv(command[0], command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricing", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialise the lineage for some stockcodes through Dagster")
    pick = run.add_mutually_exclusive_group()
    pick.add_argument("--stockcodes", help="comma-separated stockcodes, e.g. 85123A,22423")
    pick.add_argument("--top", type=int, default=3, help="the N most active eligible stockcodes (default 3)")
    pick.add_argument(
        "--all",
        action="store_true",
        help="every eligible stockcode; a rerun runs only those whose rows or code changed, or whose last run "
        "did not finish (the weekly schedule's change detection)",
    )
    run.add_argument("--source", choices=SOURCES, help="data source (default: PRICING_SOURCE or synthetic)")
    run.add_argument("--data", help="path or URL of the UCI file (.xlsx, .csv, .parquet) for --source uci")
    run.add_argument(
        "--seed",
        type=int,
        help="seed of the synthetic source, every model, the SHAP samples and the decision (PRICING_SEED)",
    )
    run.add_argument("--min-history-rows", type=int, help="usable lines a stockcode needs to be registered")
    run.add_argument("--min-history-days", type=int, help="distinct sale days a stockcode needs to be registered")
    run.add_argument(
        "--costs",
        metavar="PATH_OR_S3_URL",
        help="CSV of stockcode,unit_cost for the recommendation's margin (default: PRICING_COSTS; "
        "a stockcode without one is costed at PRICING_ASSUMED_COST_RATIO x its list price, flagged assumed)",
    )
    run.add_argument(
        "--processes",
        type=int,
        help="stockcodes to run side by side, each in a worker process (default: PRICING_RUN_PROCESSES, 0: "
        f"one per core when {AUTO_WORKERS_FROM} or more stockcodes run, else 1)",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a check holds a stockcode back, not only when one fails with an error",
    )
    run.add_argument(
        "--json", help="also write the outcome (timings, checks, the list-price recommendation) to this JSON file"
    )
    run.set_defaults(handler=_cmd_run)
    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev) on this project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_cmd_ui)
    status = sub.add_parser("status", help="where each stockcode stands: last run, checks, promoted version")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--summary",
        action="store_true",
        help="the catalogue at a glance (as the catalogue_report asset): promoted, held by each check and why, "
        "the recommendations, the slowest stockcodes",
    )
    status.set_defaults(handler=_cmd_status)
    serve = sub.add_parser("serve", help="serve price recommendations from promoted bundles (HTTP API + web page)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=_cmd_serve)
    return parser


# Exit status when stdout's reader went away: rich's Console exits with 1 then too (Console.on_broken_pipe),
# so a table and a JSON print end the same way.
BROKEN_PIPE_EXIT = 1


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``pricing status --json | head``): stop quietly, as CLI tools do.

    stdout is pointed at /dev/null so that nothing left in its buffer is written (and fails) again."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (a captured stdout in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return BROKEN_PIPE_EXIT


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except CliError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    except ValueError as exc:  # settings and key validation say what to fix
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 2


def entrypoint() -> None:
    """The console script: run, flush, and leave without interpreter finalisation.

    pyarrow's worker threads can be caught mid-way by CPython's finalisation, which aborts the
    process ("terminate called without an active exception") after the work is done and turns a
    clean exit code into SIGABRT. Everything the CLI writes is flushed here first, and the
    Dagster instance is already closed by then.
    """
    code = main()
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _quiet_broken_pipe()
    with contextlib.suppress(BrokenPipeError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
