"""Light plumbing shared by every benchmark: the run record, statistics, memory and JSON output.

Not a benchmark itself, and deliberately light: of ``pricing_assets`` it imports only
``settings`` (standard library only, no Dagster or models), so that ``bench/report.py`` (which only
renders JSON) and the parent of a benchmark that works in subprocesses start fast. The
model benchmarks call the product's own core functions (``pricing_assets.core``) in the order
the assets do, or run the real Dagster job; there is no second copy of the lineage in ``bench/``.

Every result file has the same envelope (:func:`begin` / :func:`finish`): which benchmark, quick
or not, the exact command, the date, the machine (CPU count and model, memory, Python), the load
average at the start and at the end (the machine is shared, so absolute times are noisy), the
code it measured, and the wall time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pricing_assets.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
UCI_DEV = Settings.from_env().dev_data  # PRICING_DEV_DATA, by default ../shared/data/online_retail_dev.parquet

# The tuning budget of the test suite (pricing_assets_tests/conftest.py): what the throughput and
# rows-scaling benchmarks use, so that a backfill of many stockcodes fits in minutes. The default
# budget's one-stockcode figure comes from bench/pipeline_run.py.
REDUCED_BUDGET = {
    "PRICING_DFN_TRIALS": "2",
    "PRICING_DFN_MAX_EPOCHS": "15",
    "PRICING_BACKUP_TRIALS": "3",
    "PRICING_SHAP_BACKGROUND_ROWS": "50",
    "PRICING_SHAP_EXPLAIN_ROWS": "60",
}
# --quick: the smallest budget that still runs every stage (a smoke run, not a measurement).
QUICK_BUDGET = {
    "PRICING_DFN_TRIALS": "1",
    "PRICING_DFN_MAX_EPOCHS": "2",
    "PRICING_BACKUP_TRIALS": "1",
    "PRICING_SHAP_BACKGROUND_ROWS": "20",
    "PRICING_SHAP_EXPLAIN_ROWS": "20",
}
BUDGET_VARIABLES = tuple(REDUCED_BUDGET)

# The targets of issues 4, 6 and 12, in one place: the benchmarks judge against these, report.py prints them.
TARGETS = {
    "one_stockcode_seconds": 60.0,  # raw data to a promoted bundle, default budget
    "dagster_overhead_ratio": 1.3,  # one stockcode's Dagster run / its asset bodies (Dagster's event log)
    "cached_p50_ms": 3.0,
    "uncached_p50_ms": 30.0,
    "uncached_p99_ms": 100.0,
    "speedup_p50": 5.0,  # straightforward serving implementation / ours, uncached p50
    "weekly_beats_both_share": 0.9,  # of the real stockcodes: the champion's weekly forecast beats both baselines
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command() -> str:
    """The command line as run, with the interpreter and script relative to the repository when possible."""

    def relative(path: Path, fallback: str) -> str:
        try:
            return str(path.relative_to(REPO))
        except ValueError:
            return fallback

    exe = Path(sys.executable)
    script = Path(sys.argv[0]).resolve()
    return shlex.join([relative(exe, str(exe)), relative(script, sys.argv[0]), *sys.argv[1:]])


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory = None
    cpu_model = ""
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu_model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
    }


def describe_machine(info: dict[str, Any] | str) -> str:
    """One line for BENCHMARKS.md; older result files stored the machine as a string."""
    if isinstance(info, str):
        return info
    return (
        f"{info.get('cpu_count')} CPUs ({info.get('cpu_model') or 'unknown model'}), "
        f"{info.get('memory_gib')} GiB, Python {info.get('python')}"
    )


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def code_state() -> dict[str, Any]:
    """The commit and which files of the code differ from it: the numbers belong to this code."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    dirty = [
        line[3:] for line in git("status", "--porcelain", "pricing_assets", "serving").splitlines() if line.strip()
    ]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_in_pricing_assets": dirty}


def code_record(at_start: dict[str, Any]) -> dict[str, Any]:
    """Code state at the start and end of a run: other people commit while benchmarks run."""
    at_end = code_state()
    return {**at_start, "at_end": at_end, "changed_during_run": at_end != at_start}


def begin(name: str, quick: bool) -> dict[str, Any]:
    """The envelope of a result file, filled at the start of a benchmark."""
    return {
        "benchmark": name,
        "quick": quick,
        "command": command(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_start": loadavg(),
        "code": code_state(),
        "_started": time.perf_counter(),
    }


def finish(record: dict[str, Any]) -> dict[str, Any]:
    """Close the envelope: load average at the end, code at the end, wall time."""
    started = record.pop("_started")
    record["loadavg_end"] = loadavg()
    record["code"] = code_record(record["code"])
    record["wall_seconds"] = round(time.perf_counter() - started, 1)
    return record


def stats(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median, min and max of the repetitions (and how many there were)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": len(finite),
        "median": round(float(np.median(finite)), digits),
        "min": round(min(finite), digits),
        "max": round(max(finite), digits),
    }


def quantiles(values: list[float]) -> dict[str, float | None]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"n": 0, "median": None, "mean": None, "p90": None, "max": None}
    return {
        "n": int(arr.size),
        "median": float(np.median(arr)),
        "mean": float(np.mean(arr)),
        "p90": float(np.quantile(arr, 0.9)),
        "max": float(np.max(arr)),
    }


def markdown_table(header: list[str], rows: list[list[Any]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write atomically (the product's ``store.atomic_write_bytes``): a crashed run leaves no half file."""
    from pricing_assets.core.store import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, json.dumps(data, indent=2, default=str).encode())
    return path


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def rss_mib() -> float | None:
    """Resident memory of this process now (Linux)."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float | None:
    """Peak resident memory since the start or the last :func:`reset_peak_rss` (Linux VmHWM)."""
    return _status_mib("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a stage's own peak can be read after it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def budget_from_env() -> dict[str, str]:
    """The tuning budget variables as this process sees them (unset ones are the product defaults)."""
    return {name: os.environ.get(name, "default") for name in BUDGET_VARIABLES}
