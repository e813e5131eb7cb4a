"""All configuration of the pricing lineage, in one place.

Every knob has a default that makes the embedded mode work on a fresh checkout, and an
environment variable that overrides it. The Dagster wiring, the CLI and (later) the serving
container all read their settings from here, so a value is never defaulted twice.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .core.splits import SplitConfig

SOURCES = ("synthetic", "store", "uci")
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")
# Where the developers' extract of the real UCI file sits beside a checkout; PRICING_DEV_DATA names
# another place, so a clone elsewhere (or CI) still finds it, or says which file is missing.
DEV_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "online_retail_dev.parquet"


def _project_dir(environ: Mapping[str, str]) -> Path:
    """The folder that holds the embedded instance and store.

    An editable install keeps the package inside the checkout, so the checkout (the folder
    with pyproject.toml) is the natural home; an installed wheel falls back to the working
    directory. ``PRICING_PROJECT_DIR`` overrides both.
    """
    if environ.get("PRICING_PROJECT_DIR"):
        return Path(environ["PRICING_PROJECT_DIR"]).resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd().resolve()


def _opt(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


# What each float setting allows, as (test, the words after "PRICING_X must be "). Every float field
# has a line (validate refuses a field without one), because a bare comparison such as ``<= 0`` is
# false for nan, so ``nan`` would pass it and silently switch a gate off; and no setting gives inf a
# meaning ("no limit"), so a value must also be finite. None: SplitConfig.validate checks it.
_FLOAT_RULES: dict[str, tuple[Callable[[float], bool], str] | None] = {
    **dict.fromkeys(
        ("drift_price_ratio_limit", "drift_order_size_ratio_limit", "drift_demand_ratio_limit"),
        (lambda v: v > 1, "a finite number above 1 (a ratio limit, applied both ways)"),
    ),
    "drift_vanished_share": (lambda v: 0 < v < 1, "in (0, 1): the share below which a customer type has vanished"),
    "drift_column_threshold": (lambda v: v > 0, "a finite number above 0: Evidently's per-column distance"),
    "challenger_tolerance": (lambda v: v >= 0, "a finite number >= 0: how much worse than serving is tolerated"),
    "split_train_fraction": None,
    "split_validation_fraction": None,
    "tuning_seconds": (lambda v: v > 0, "a finite number of seconds above 0: the time cap per model's study"),
    "fairness_threshold": (lambda v: v > 0, "a finite number above 0 (log1p of weekly units)"),
    "guardrail": (
        lambda v: 0 < v < 1,
        "above 0 and below 1: the largest share a list price may move either way (1 would let it fall to nothing)",
    ),
    "assumed_cost_ratio": (lambda v: 0 < v < 1, "in (0, 1): a unit cost as a share of the list price"),
    "min_own_weight": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "gain_confidence": (
        lambda v: 0.5 <= v < 1,
        "in [0.5, 1): the share of the elasticity's draws on which a move must gain (0.5: a move gains on the "
        "median draw; 0.975: on all but the lowest 2.5 %)",
    ),
    "reload_seconds": (lambda v: v >= 0, "a finite number of seconds >= 0: how often a promotion pointer is re-read"),
}


def _split_error(exc: ValueError) -> ValueError:
    """SplitConfig's message with PRICING_SPLIT_* in place of its field names, so it says what to set."""
    names = ("train_fraction", "validation_fraction", "train_end", "validation_end")
    message = re.sub(rf"\b({'|'.join(names)})\b", lambda m: f"PRICING_SPLIT_{m[1].upper()}", str(exc))
    return ValueError(message)


_PARSERS = {
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "Path | None": lambda raw: Path(raw).resolve(),
    "Path": lambda raw: Path(raw).resolve(),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`; derive variants with :meth:`with_`."""

    project_dir: Path
    env: str = "local"
    # Storage -----------------------------------------------------------------------------
    store_root: Path | None = None
    s3_bucket: str | None = None
    s3_prefix: str = "pricing"
    s3_endpoint_url: str | None = None
    # Data source -------------------------------------------------------------------------
    source: str = "synthetic"
    data: str | None = None
    seed: int = 7
    synthetic_products: int = 24
    dev_data: Path = DEV_DATA  # the real (UCI) file the real-data tests and benchmarks read
    # Which stockcodes become partitions ------------------------------------------------
    min_history_days: int = 60
    min_history_rows: int = 150
    # Drift -------------------------------------------------------------------------------
    drift_window_days: int = 28
    drift_reference_days: int = 56  # the weeks just before the window (core/drift.py)
    drift_price_ratio_limit: float = 2.0  # list price x2 or /2 in one step blocks
    drift_order_size_ratio_limit: float = 1.5  # a customer's units per line x1.5 or /1.5 blocks
    drift_vanished_share: float = 0.25  # a customer type below 1/4 of its share blocks
    drift_demand_ratio_limit: float = 2.0  # order lines per week x2 or /2 the seasonal expectation warns
    drift_column_threshold: float = 0.2  # Evidently's per-column distance, diagnostic only
    drift_min_rows: int = 30
    # Challenger gate: the candidate's error on the newest unseen lines against the serving bundle's ----
    challenger_tolerance: float = 0.02  # candidate RMSLE may exceed the serving one by this fraction
    challenger_min_rows: int = 8  # unseen weekly rows (4 weeks x 2 price lists) to compare (fewer: baselines)
    # Splits: fractions of rows by time, or cut-off dates when both are set ------------------
    split_train_fraction: float = 0.7
    split_validation_fraction: float = 0.15
    split_train_end: str | None = None
    split_validation_end: str | None = None
    split_min_rows: int = 4  # weekly rows per split (2 weeks x 2 price lists); fewer is an error that says so
    # Tuning budgets (per model; the time budget is a safety net, see core/tuning.py) ----------
    dfn_trials: int = 10
    dfn_max_epochs: int = 60
    backup_trials: int = 15
    tuning_seconds: float = 60.0
    # Explanations, fairness, pricing -----------------------------------------------------
    shap_background_rows: int = 100
    shap_explain_rows: int = 200
    fairness_threshold: float = 0.25  # log1p(weekly units); blocks only when beyond with 95 % confidence
    fairness_min_group_rows: int = 4  # test weeks of a price list needed for a verdict
    price_bins: int = 50
    # The list-price recommendation (core/recommendation.py) ---------------------------------
    objective: str = "margin"  # margin | revenue (revenue alone always wants the lowest price allowed)
    guardrail: float = 0.15  # a recommendation moves the list price at most this share either way
    costs: str | None = None  # CSV of stockcode,unit_cost (a path or s3:// URL)
    assumed_cost_ratio: float = 0.5  # unit cost / current list price where the costs file has none
    min_own_weight: float = 0.0  # own evidence needed to move a price (0: a sure gain on the prior suffices)
    # The share of the elasticity's draws on which a move must gain (0.975: the gain's 95 % interval is
    # above zero); lower moves more often and loses more often (BENCHMARKS.md, "Decision quality")
    gain_confidence: float = 0.975
    # A product with no sale in this many weeks before the week forecast is held, whatever its estimate says:
    # nothing recent to price from, and it may no longer be stocked (0: never held for this)
    max_weeks_without_sales: int = 4
    # The whole catalogue (core/catalogue.py, pricing run --all) -------------------------------
    catalogue_slowest: int = 10  # the slowest stockcodes the catalogue report lists
    catalogue_compact_above: int = 20  # pricing run tables only the failures above this many stockcodes
    # stockcodes pricing run runs side by side, each in a worker process of its own; 0: one per core
    # when the run has enough stockcodes to repay starting the workers (cli.worker_processes)
    run_processes: int = 0
    # The embedded instance's SQLite files: off | normal | full (pricing_assets/instance_sqlite.py)
    sqlite_synchronous: str = "off"
    # Orchestration ------------------------------------------------------------------------
    watch_dir: str | None = None  # the new-data sensor watches this folder for source files...
    watch_s3_prefix: str | None = None  # ...or this prefix of PRICING_S3_BUCKET
    schedule_cron: str = "0 9 * * 1"  # Mondays 09:00
    schedule_timezone: str = "Europe/London"
    # Where a run's steps execute (pricing_assets/executors.py); Celery workers must share these -----
    executor: str = "multiprocess"  # in_process | multiprocess | celery | k8s
    celery_broker: str = "pyamqp://guest@127.0.0.1:5672//"
    celery_backend: str = "rpc://"  # results travel back over the broker; no second service
    celery_queue: str = "dagster"  # the queue the workers listen on (dagster-celery's default)
    # Serving (the API reads the same store; secrets come only from the environment) ---------
    redis_url: str | None = None  # REDIS_URL; unset means an in-process LRU cache
    cache_ttl_seconds: int = 300
    api_token: str | None = None  # when set, /v1/* needs "Authorization: Bearer <token>"
    cors_origins: str = ""  # comma-separated allow-list; empty means no cross-origin access
    reload_seconds: float = 5.0  # how often a stockcode's promotion pointer is re-read
    max_price_bins: int = 1000
    # Bundles kept in memory (least recently used dropped first, read again on demand): a real bundle holds
    # about 0.4 MB once loaded, so the default keeps a thousand and more (BENCHMARKS.md, serving at catalogue size).
    serving_bundle_bytes: int = 512 * 2**20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every field ``x`` is read from ``PRICING_X`` (``project_dir`` from ``PRICING_PROJECT_DIR``)."""
        e = os.environ if environ is None else environ
        values: dict[str, object] = {"project_dir": _project_dir(e)}
        for f in fields(cls):
            if f.name == "project_dir":
                continue
            variable = f"PRICING_{f.name.upper()}"
            raw = _opt(e, variable)
            if raw is None:
                continue
            try:
                values[f.name] = _PARSERS[str(f.type)](raw)
            except ValueError as exc:
                raise ValueError(f"{variable}={raw!r} is not a valid {f.type}") from exc
        if "redis_url" not in values and _opt(e, "REDIS_URL"):
            values["redis_url"] = _opt(e, "REDIS_URL")  # the conventional name wins when ours is unset
        settings = cls(**values)
        settings.validate()
        return settings

    def with_(self, **changes: object) -> Settings:
        updated = replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        """Fail early with the variable to fix, instead of deep inside a run."""
        if self.env not in ("local", "production"):
            raise ValueError(f"PRICING_ENV must be 'local' or 'production', not {self.env!r}")
        if self.source not in SOURCES:
            raise ValueError(f"PRICING_SOURCE must be one of {SOURCES}, not {self.source!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"PRICING_EXECUTOR must be one of {EXECUTORS}, not {self.executor!r}")
        if self.env == "production" and not self.s3_bucket:
            raise ValueError("PRICING_ENV=production stores artifacts in S3: set PRICING_S3_BUCKET")
        for f in fields(self):
            if str(f.type) != "float":
                continue
            if f.name not in _FLOAT_RULES:
                raise RuntimeError(f"settings field {f.name} (a float) has no line in _FLOAT_RULES: say what it allows")
            rule, value = _FLOAT_RULES[f.name], getattr(self, f.name)
            if rule is not None and not (math.isfinite(value) and rule[0](value)):
                raise ValueError(f"PRICING_{f.name.upper()} must be {rule[1]}, not {value!r}")
        try:
            SplitConfig.from_settings(self).validate()
        except ValueError as exc:
            raise _split_error(exc) from exc
        if self.drift_reference_days < 1 or self.drift_min_rows < 1:
            raise ValueError("PRICING_DRIFT_REFERENCE_DAYS and PRICING_DRIFT_MIN_ROWS must be positive")
        if self.challenger_min_rows < 1:
            raise ValueError("PRICING_CHALLENGER_MIN_ROWS must be positive")
        if self.sqlite_synchronous not in ("off", "normal", "full"):
            raise ValueError(f"PRICING_SQLITE_SYNCHRONOUS must be off, normal or full, not {self.sqlite_synchronous!r}")
        if self.split_min_rows < 1:
            raise ValueError("PRICING_SPLIT_MIN_ROWS must be positive (weekly rows per split)")
        if self.drift_window_days < 1 or self.min_history_days < 1 or self.min_history_rows < 1:
            raise ValueError("window and history sizes must be positive")
        if min(self.dfn_trials, self.dfn_max_epochs, self.backup_trials) < 1:
            raise ValueError("PRICING_DFN_TRIALS, PRICING_DFN_MAX_EPOCHS and PRICING_BACKUP_TRIALS must be positive")
        if self.fairness_min_group_rows < 1:
            raise ValueError("PRICING_FAIRNESS_MIN_GROUP_ROWS must be positive")
        if self.max_weeks_without_sales < 0:
            raise ValueError(
                "PRICING_MAX_WEEKS_WITHOUT_SALES must be 0 (never hold for it) or a number of weeks, "
                f"not {self.max_weeks_without_sales}"
            )
        if not 2 <= self.price_bins <= 1000:
            raise ValueError("PRICING_PRICE_BINS must be between 2 and 1000")
        if self.objective not in ("margin", "revenue"):
            raise ValueError(f"PRICING_OBJECTIVE must be 'margin' or 'revenue', not {self.objective!r}")
        if self.catalogue_slowest < 1 or self.catalogue_compact_above < 1:
            raise ValueError("PRICING_CATALOGUE_SLOWEST and PRICING_CATALOGUE_COMPACT_ABOVE must be positive")
        if not 0 <= self.run_processes <= 64:
            raise ValueError(
                "PRICING_RUN_PROCESSES must be between 0 (one per core for a catalogue) and 64: stockcodes "
                "pricing run runs at once"
            )
        if self.serving_bundle_bytes < 2**20:
            raise ValueError("PRICING_SERVING_BUNDLE_BYTES must be at least 1048576 (1 MiB): bundles kept in memory")
        if self.cache_ttl_seconds < 1 or not 2 <= self.max_price_bins <= 1000:
            raise ValueError("PRICING_CACHE_TTL_SECONDS must be >= 1 and PRICING_MAX_PRICE_BINS in 2..1000")

    # Derived locations ------------------------------------------------------------------
    @property
    def local_dir(self) -> Path:
        """Everything the embedded mode writes lives below this git-ignored folder."""
        return self.project_dir / ".pricing"

    @property
    def artifact_root(self) -> Path:
        return self.store_root or self.local_dir / "store"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else self.local_dir / "dagster_home"

    @property
    def cors_allow_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def uses_s3(self) -> bool:
        return self.s3_bucket is not None


_CURRENT: Settings | None = None


def current_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Settings.from_env()
    return _CURRENT
