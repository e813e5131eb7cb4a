"""The Dagster UI at catalogue size (issue 15, item 5): GraphQL and page loads over every eligible stockcode.

    .venv/bin/python bench/ui_scale.py                     # the dev file's ~600 eligible stockcodes, SQLite
    .venv/bin/python bench/ui_scale.py --storage sqlite,postgres
    .venv/bin/python bench/ui_scale.py --quick             # smoke run: the 4-product synthetic source

What a user of ``pricing ui`` (SQLite) or of the production webserver (PostgreSQL, deploy/dagster.yaml)
meets once every eligible stockcode of the dev file is a partition with results: does the asset's
partitions page load, do its checks pages load, and how long does the GraphQL query for every
partition's check results take?

Building it without running ~600 lineages (about 1.5 hours): one real lineage run of the most active
stockcode (``pricing run --top 1`` at the suite's reduced budget) gives a *template*, every
materialisation and check evaluation that run recorded, with its real metadata (tables, plots, reasons).
Every other eligible stockcode is then registered as a partition and given the same results as runless
events reported through the instance (``DagsterInstance.report_runless_asset_event`` with
``AssetMaterialization`` and ``AssetCheckEvaluation`` carrying the partition), with a seeded mix of check
outcomes so every status the pages show occurs: a failed blocking check stops the materialisations
after it (no promoted_model), a WARN does not. The mix is chosen to exercise the pages, not measured.
Everything lives in a temporary folder (DAGSTER_HOME, project, store) outside the repository; a
PostgreSQL instance gets a database of its own, dropped afterwards.

Measured on ``dagster-webserver`` (the same binary ``pricing ui`` starts), each ``--repeats`` times with
the median reported; the first round after the webserver starts is kept apart (``first``), since Dagster
computes and stores the partition status caches on their first read:

- GraphQL, wall time of one HTTP request each: every check's per-partition status
  (``partitionStatuses``), every partition's check executions with their evaluations (one
  ``assetCheckExecutions`` per check, unfiltered), the partition status of the main assets
  (``assetPartitionStatuses`` and ``partitionStats``), and, for comparison, the per-partition query
  deploy/OPERATIONS.md gives operators (three checks, one partition), on a sample of partitions.
  Each answer is checked against what was recorded (every partition present, the failures counted).
- Headless Chromium (Debian's, driven by playwright), a fresh browser context per page load (no
  cached JavaScript, like a first visit): from navigation until the content is on screen (text
  polled every animation frame) for the asset's partitions page, its checks page, and the check's
  partitions tab (from the click).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from benchlib import QUICK_BUDGET, REDUCED_BUDGET, REPO, RESULTS, UCI_DEV, begin, finish, log, stats, write_json

BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
LOCATION = "pricing_assets"
STARTUP_SECONDS = 240.0  # the code server imports torch, evidently, shap...
PAGE_TIMEOUT_MS = 180_000

ASSET = "drift_report"  # the asset whose pages are loaded: partitioned, with a blocking check
CHECKS = {  # check -> the asset it checks
    "no_feature_drift": "drift_report",
    "fairness_within_threshold": "fairness_report",
    "candidate_no_worse_than_serving": "challenger_comparison",
}
MAIN_ASSETS = (
    "cleaned_transactions",
    "drift_report",
    "fairness_report",
    "challenger_comparison",
    "list_price_recommendation",
    "promoted_model",
)
# Check outcome mix for the recorded partitions: (probability, passed, severity, reason). Chosen so every
# status the pages show occurs; not a measurement of the catalogue.
OUTCOME_MIX: dict[str, list[tuple[float, bool, str, str]]] = {
    "no_feature_drift": [
        (0.03, False, "ERROR", "list price x2.1 against the same weeks a year earlier: the feed looks broken"),
        (0.07, False, "WARN", "only order lines per week moved against the season (-38 %)"),
    ],
    "fairness_within_threshold": [
        (0.01, False, "ERROR", "the whole 95 % interval of the excess difference lies beyond 0.25"),
        (0.06, False, "WARN", "too few guest checkouts on the test split (11) to judge"),
    ],
    "candidate_no_worse_than_serving": [
        (0.12, False, "ERROR", "first promotion: the candidate forecasts the newest weeks 2.1 % worse than "
         "the recent-mean baseline"),
    ],
}  # fmt: skip

CHECK_STATUSES = """
query CheckStatuses($assetKeys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $assetKeys) {
    assetKey { path }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          partitionStatuses {
            __typename
            ... on AssetCheckDefaultPartitionStatuses {
              succeededPartitions failedPartitions inProgressPartitions skippedPartitions executionFailedPartitions
            }
          }
        }
      }
    }
  }
}
"""
CHECK_EXECUTIONS_ALL = (
    "query AllCheckExecutions($limit: Int!) {\n"
    + "\n".join(
        f'  {check}: assetCheckExecutions(assetKey: {{path: ["{asset}"]}}, checkName: "{check}", limit: $limit) '
        "{ ...Execution }"
        for check, asset in CHECKS.items()
    )
    + """
}
fragment Execution on AssetCheckExecution {
  runId partition status timestamp
  evaluation { success severity partition metadataEntries { label ... on TextMetadataEntry { text } } }
}
"""
)
# deploy/OPERATIONS.md's query for one stockcode, for the three checks at once.
CHECK_EXECUTIONS_ONE = (
    "query PartitionCheckExecutions($partition: String!) {\n"
    + "\n".join(
        f'  {check}: assetCheckExecutions(assetKey: {{path: ["{asset}"]}}, checkName: "{check}", '
        "partition: $partition, limit: 5) { runId status partition evaluation { success partition "
        "metadataEntries { label ... on TextMetadataEntry { text } } } }"
        for check, asset in CHECKS.items()
    )
    + "\n}\n"
)
ASSET_STATUSES = """
query AssetPartitionStatuses($assetKeys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $assetKeys) {
    assetKey { path }
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    assetPartitionStatuses {
      __typename
      ... on DefaultPartitionStatuses {
        materializedPartitions failedPartitions materializingPartitions unmaterializedPartitions
      }
    }
  }
}
"""
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { location { name } } } } }"
# Until every one of these texts is on the page (polled each animation frame).
NO_CHROMIUM = "Chromium is missing, the page loads were not measured; to measure them: apt-get install -y chromium"
TEXTS_ON_PAGE = "texts => !!document.body && texts.every(text => document.body.innerText.includes(text))"


@dataclass
class Recorded:
    """What the instance holds, to check every answer against."""

    partitions: list[str]
    template: str
    evaluated: dict[str, set[str]] = field(default_factory=dict)  # check -> partitions where it ran
    failed: dict[str, set[str]] = field(default_factory=dict)  # check -> partitions where it failed
    materialized: dict[str, set[str]] = field(default_factory=dict)  # asset -> partitions
    events: int = 0
    seconds: float = 0.0


# --- the instance -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def instance_home(workdir: Path, storage: str) -> Iterator[dict[str, str]]:
    """DAGSTER_HOME for the storage (SQLite: pricing ui's default; postgres: deploy/dagster.yaml on a new database)."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True)
    if storage == "sqlite":
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        yield {"DAGSTER_HOME": str(home)}
        return
    import psycopg2

    database = f"pricing_ui_scale_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    try:
        yield {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": PG["host"],
            "DAGSTER_PG_PORT": str(PG["port"]),
            "DAGSTER_PG_USER": PG["user"],
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": database,
        }
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def environment(workdir: Path, home_env: dict[str, str], quick: bool) -> dict[str, str]:
    """The processes' environment: this benchmark's settings only, none of the caller's PRICING_* or DAGSTER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRICING_", "DAGSTER_"))}
    env.update(home_env)
    env.update(QUICK_BUDGET if quick else REDUCED_BUDGET)
    env["PRICING_PROJECT_DIR"] = str(workdir / "project")
    if quick:
        env["PRICING_SYNTHETIC_PRODUCTS"] = "4"
    return env


def source_args(quick: bool, data: Path) -> list[str]:
    return ["--source", "synthetic"] if quick else ["--source", "uci", "--data", str(data)]


def template_run(env: dict[str, str], args: list[str]) -> float:
    """One real lineage run (the most active stockcode), whose events every other partition copies."""
    project = Path(env["PRICING_PROJECT_DIR"])
    project.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "pricing"), "run", "--top", "1", "--json", str(project / "template.json"), *args],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    outcome_file = project / "template.json"
    if proc.returncode not in (0, 1) or not outcome_file.exists():  # 1: also when a check held it back
        raise SystemExit(f"pricing run --top 1 failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    log(f"[ui_scale] template lineage run in {seconds:.0f} s")
    return seconds


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """This process's environment as ``env`` for a while (the instance and the settings read it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def outcome(rng: random.Random, check: str) -> tuple[bool, str, str | None]:
    draw, edge = rng.random(), 0.0
    for probability, passed, severity, reason in OUTCOME_MIX[check]:
        edge += probability
        if draw < edge:
            return passed, severity, reason
    return True, "ERROR", None


def populate(env: dict[str, str], seed: int) -> Recorded:
    """Register every eligible stockcode and give each the template run's results as runless events.

    In the order the template run recorded them. A check evaluation targets its asset's materialisation
    of the same partition (its storage id), as a run's does: Dagster counts a check result in the
    partition status only while it targets the asset's latest materialisation. A failed blocking
    (ERROR) check stops the materialisations after it, and the checks of assets that were not
    materialised are not evaluated, as in a run."""
    with environ(env):
        from dagster import (
            AssetCheckEvaluation,
            AssetCheckSeverity,
            AssetMaterialization,
            AssetRecordsFilter,
            DagsterEventType,
            DagsterInstance,
            MetadataValue,
            RunsFilter,
        )
        from dagster._core.definitions.asset_checks.asset_check_evaluation import (
            AssetCheckEvaluationTargetMaterializationData,
        )

        from pricing_assets.core.stockcodes import eligible_stockcodes, read_history
        from pricing_assets.core.store import open_store
        from pricing_assets.jobs import LINEAGE_JOB
        from pricing_assets.partitions import register_stockcodes
        from pricing_assets.settings import Settings

        settings = Settings.from_env()
        history = read_history(open_store(settings))
        eligible = eligible_stockcodes(history, settings.min_history_rows, settings.min_history_days)
        with DagsterInstance.get() as instance:
            (run,) = instance.get_runs(filters=RunsFilter(job_name=LINEAGE_JOB))
            template = run.tags["dagster/partition"]
            register_stockcodes(instance, eligible)
            kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
            events = [entry.dagster_event for entry in instance.all_logs(run.run_id, of_type=kinds)]
            recorded = Recorded(partitions=sorted(eligible), template=template)
            recorded.failed = {check: set() for check in CHECKS}
            recorded.evaluated = {check: set() for check in CHECKS}
            for event in events:  # the template partition's own, real results
                if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                    recorded.evaluated[event.event_specific_data.check_name].add(template)
                    if not event.event_specific_data.passed:
                        recorded.failed[event.event_specific_data.check_name].add(template)
                else:
                    name = event.step_materialization_data.materialization.asset_key.to_user_string()
                    recorded.materialized.setdefault(name, set()).add(template)
            rng = random.Random(seed)
            started = time.perf_counter()
            for number, code in enumerate(c for c in eligible if c != template):
                blocked, targets = False, {}
                for event in events:
                    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                        real = event.event_specific_data
                        if real.asset_key not in targets:
                            continue  # its asset did not run in this partition
                        passed, severity, reason = outcome(rng, real.check_name)
                        metadata = dict(real.metadata)
                        if reason:
                            metadata["reason"] = MetadataValue.text(reason)
                            metadata["blocks_promotion"] = MetadataValue.bool(severity == "ERROR")
                        instance.report_runless_asset_event(
                            AssetCheckEvaluation(
                                asset_key=real.asset_key,
                                check_name=real.check_name,
                                passed=passed,
                                metadata=metadata,
                                severity=AssetCheckSeverity(severity),
                                description=real.description,
                                blocking=real.blocking,
                                partition=code,
                                target_materialization_data=targets[real.asset_key],
                            )
                        )
                        recorded.evaluated[real.check_name].add(code)
                        if not passed:
                            recorded.failed[real.check_name].add(code)
                            blocked = blocked or severity == "ERROR"
                    elif not blocked:
                        real = event.step_materialization_data.materialization
                        tags = {k: v for k, v in (real.tags or {}).items() if "input_event_pointer" not in k}
                        instance.report_runless_asset_event(
                            AssetMaterialization(
                                asset_key=real.asset_key,
                                partition=code,
                                metadata=dict(real.metadata),
                                description=real.description,
                                tags=tags,
                            )
                        )
                        recorded.materialized.setdefault(real.asset_key.to_user_string(), set()).add(code)
                        if real.asset_key.to_user_string() in CHECKS.values():
                            records = instance.fetch_materializations(
                                AssetRecordsFilter(asset_key=real.asset_key, asset_partitions=[code]), limit=1
                            ).records
                            targets[real.asset_key] = AssetCheckEvaluationTargetMaterializationData(
                                storage_id=records[0].storage_id, run_id="", timestamp=records[0].timestamp
                            )
                    else:
                        continue
                    recorded.events += 1
                if number % 100 == 0:
                    log(f"[ui_scale] recording partition {number + 1} of {len(eligible) - 1}")
            recorded.seconds = time.perf_counter() - started
    log(f"[ui_scale] {recorded.events} runless events for {len(eligible)} partitions in {recorded.seconds:.0f} s")
    return recorded


# --- the webserver ------------------------------------------------------------------------------------


def graphql(url: str, query: str, variables: dict | None = None) -> tuple[dict, float]:
    """One POST, timed from send to the whole body parsed; GraphQL errors raise."""
    started = time.perf_counter()
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=600.0)
    body = answer.json()
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"], seconds


@contextlib.contextmanager
def webserver(env: dict[str, str], logs: Path) -> Iterator[str]:
    """dagster-webserver in a process group of its own (its code server goes with it), until the location loads."""
    port = free_port()
    command = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with logs.open("wb") as output:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"dagster-webserver exited {proc.returncode}:\n{logs.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError, RuntimeError, ValueError):
                nodes = graphql(url, REPOSITORIES)[0]["repositoriesOrError"].get("nodes", [])
                if any(node["location"]["name"] == LOCATION for node in nodes):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the webserver did not load {LOCATION} in {STARTUP_SECONDS:.0f} s")
            time.sleep(1.0)
        graphql(url, "mutation { setNuxSeen }")  # the welcome dialog would cover the pages
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
                break


# --- GraphQL --------------------------------------------------------------------------------------------


def asset_keys(names: list[str] | tuple[str, ...]) -> dict:
    return {"assetKeys": [{"path": [name]} for name in names]}


def graphql_round(url: str, recorded: Recorded, sample: list[str]) -> dict[str, float]:
    """Each query once, its answer checked against what was recorded; returns seconds per query."""
    n = len(recorded.partitions)
    seconds: dict[str, float] = {}

    data, seconds["check_partition_statuses"] = graphql(url, CHECK_STATUSES, asset_keys(sorted(set(CHECKS.values()))))
    for node in data["assetNodes"]:
        for check in node["assetChecksOrError"]["checks"]:
            statuses = check["partitionStatuses"]
            failed = set(statuses["failedPartitions"])
            expected = recorded.failed[check["name"]]
            assert failed == expected, (check["name"], statuses, expected)
            evaluated = failed | set(statuses["succeededPartitions"])
            assert evaluated == recorded.evaluated[check["name"]], (check["name"], statuses)

    data, seconds["check_executions_every_partition"] = graphql(url, CHECK_EXECUTIONS_ALL, {"limit": n + 100})
    for check, executions in data.items():
        assert sorted(e["partition"] for e in executions) == sorted(recorded.evaluated[check]), check
        assert {e["partition"] for e in executions if not e["evaluation"]["success"]} == recorded.failed[check]

    data, seconds["asset_partition_statuses"] = graphql(url, ASSET_STATUSES, asset_keys(MAIN_ASSETS))
    for node in data["assetNodes"]:
        name = node["assetKey"]["path"][0]
        materialized = set(node["assetPartitionStatuses"]["materializedPartitions"])
        assert materialized == recorded.materialized.get(name, set()), name
        assert node["partitionStats"]["numPartitions"] == n, name

    per_partition = []
    for code in sample:
        data, took = graphql(url, CHECK_EXECUTIONS_ONE, {"partition": code})
        for check in CHECKS:
            assert [e["partition"] for e in data[check]] == [code] * (code in recorded.evaluated[check]), code
        per_partition.append(took)
    seconds["check_executions_one_partition"] = sorted(per_partition)[len(per_partition) // 2]
    return seconds


# --- pages ----------------------------------------------------------------------------------------------


def page_round(browser: Any, url: str, recorded: Recorded, shots: Path | None) -> dict[str, float]:
    """Each page once, each in a new browser context (a first visit: no cached scripts); seconds until shown."""
    n = len(recorded.partitions)
    materialized = len(recorded.materialized.get(ASSET, ()))
    check = next(c for c, a in CHECKS.items() if a == ASSET)
    failed, evaluated = len(recorded.failed[check]), len(recorded.evaluated[check])
    pages = {
        "asset_partitions_page": (
            f"{url}/assets/{ASSET}?view=partitions",
            [f"{n} Partitions Selected", f"Materialized ({materialized})", recorded.partitions[0]],
        ),
        "asset_checks_page": (
            f"{url}/assets/{ASSET}?view=checks&checkDetail={check}",
            [check, "Latest execution", "Evaluation result"],
        ),
    }
    seconds: dict[str, float] = {}
    for name, (address, texts) in pages.items():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            started = time.perf_counter()
            page.goto(address, wait_until="commit")
            page.wait_for_function(TEXTS_ON_PAGE, arg=texts, polling="raf", timeout=PAGE_TIMEOUT_MS)
            seconds[name] = time.perf_counter() - started
            if shots:
                page.screenshot(path=shots.with_name(f"{shots.name}_{name}.png"))
            if name == "asset_checks_page":  # then the check's partitions tab, from the click
                started = time.perf_counter()
                page.get_by_role("tab", name="Partitions", exact=True).last.click()
                wanted = [f"Passed ({evaluated - failed})", f"Failed ({failed})", f"Missing ({n - evaluated})"]
                page.wait_for_function(TEXTS_ON_PAGE, arg=wanted, polling="raf", timeout=PAGE_TIMEOUT_MS)
                seconds["check_partitions_tab"] = time.perf_counter() - started
                if shots:
                    page.screenshot(path=shots.with_name(f"{shots.name}_check_partitions_tab.png"))
        finally:
            context.close()
    return seconds


def chromium() -> str | None:
    """Debian's Chromium; missing, the page loads are not measured (and with ``CI`` set that is a failure)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and os.environ.get("CI"):
        raise SystemExit(f"CI is set, so this is a failure: {NO_CHROMIUM}")
    return found


# --- one storage ------------------------------------------------------------------------------------------


def measure(storage: str, args: argparse.Namespace, shots_dir: Path | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    workdir = Path(tempfile.mkdtemp(prefix=f"ui_scale_{storage}_"))
    try:
        with instance_home(workdir, storage) as home_env:
            env = environment(workdir, home_env, args.quick)
            template_seconds = template_run(env, source_args(args.quick, args.data))
            recorded = populate(env, args.seed)
            rng = random.Random(args.seed)
            sample = rng.sample(recorded.partitions, min(args.sample, len(recorded.partitions)))
            rounds_graphql, rounds_pages = [], []
            with webserver(env, workdir / "webserver.log") as url, sync_playwright() as playwright:
                browser = executable and playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
                try:
                    for repeat in range(args.repeats + 1):  # round 0: the first after start-up, kept apart
                        rounds_graphql.append(graphql_round(url, recorded, sample))
                        shots = shots_dir / f"ui_scale_{storage}" if shots_dir and repeat == 1 else None
                        rounds_pages.append(page_round(browser, url, recorded, shots) if browser else {})
                        log(f"[ui_scale] {storage} round {repeat}: {rounds_graphql[-1]} {rounds_pages[-1]}")
                finally:
                    if browser:
                        browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
        return {
            name: {"first": round(rounds[0][name], 3), **stats([r[name] for r in rounds[1:]], 3)} for name in rounds[0]
        }

    return {
        "storage": storage,
        "partitions": len(recorded.partitions),
        "template_stockcode": recorded.template,
        "template_run_seconds": round(template_seconds, 1),
        "runless_events": recorded.events,
        "record_seconds": round(recorded.seconds, 1),
        "failed_by_check": {check: len(codes) for check, codes in recorded.failed.items()},
        "materialized": {asset: len(recorded.materialized.get(asset, ())) for asset in MAIN_ASSETS},
        "per_partition_sample": len(sample),
        "graphql_seconds": summary(rounds_graphql),
        "page_seconds": summary(rounds_pages) if executable else {},
        "pages_not_measured": None if executable else NO_CHROMIUM,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 synthetic products, one round")
    parser.add_argument("--data", type=Path, default=UCI_DEV, help="the real file (default PRICING_DEV_DATA)")
    parser.add_argument("--storage", default="sqlite", help="comma-separated: sqlite (pricing ui), postgres")
    parser.add_argument("--repeats", type=int, help="measured rounds after the first (default 5; quick 1)")
    parser.add_argument("--sample", type=int, default=20, help="partitions timed with the one-partition query")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--output", type=Path, default=RESULTS / "ui_scale.json")
    args = parser.parse_args(argv)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    storages = [s.strip() for s in args.storage.split(",") if s.strip()]
    if unknown := set(storages) - {"sqlite", "postgres"}:
        parser.error(f"unknown storage {sorted(unknown)}")
    if not args.quick and not args.data.is_file():
        parser.error(f"the real file {args.data} is missing (PRICING_DEV_DATA)")
    record = begin("ui_scale", args.quick)
    record.update(
        source="synthetic (4 products)" if args.quick else f"uci: {args.data.name}",
        budget=QUICK_BUDGET if args.quick else REDUCED_BUDGET,
        repeats=args.repeats,
        outcome_mix={c: [[p, s, r] for p, _, s, r in mix] for c, mix in OUTCOME_MIX.items()},
    )
    shots_dir = None if args.quick else args.output.parent
    record["storages"] = {storage: measure(storage, args, shots_dir) for storage in storages}
    write_json(args.output, finish(record))
    log(f"[ui_scale] wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
