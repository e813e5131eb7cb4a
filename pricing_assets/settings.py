"""All configuration of the pricing lineage, in one place.

Every knob has a default that makes the embedded mode work on a fresh checkout, and an
environment variable that overrides it. The Dagster wiring, the CLI and (later) the serving
container all read their settings from here, so a value is never defaulted twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

SOURCES = ("synthetic", "uci")


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
    # Which stockcodes become partitions ------------------------------------------------
    min_history_days: int = 60
    min_history_rows: int = 150
    # Drift -------------------------------------------------------------------------------
    drift_window_days: int = 28
    drift_reference_days: int | None = None
    drift_share_threshold: float = 0.5
    drift_column_threshold: float = 0.2
    drift_min_rows: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        project = _project_dir(e)
        ref_days = _opt(e, "PRICING_DRIFT_REFERENCE_DAYS")
        settings = cls(
            project_dir=project,
            env=e.get("PRICING_ENV", "local") or "local",
            store_root=Path(e["PRICING_STORE_ROOT"]).resolve() if _opt(e, "PRICING_STORE_ROOT") else None,
            s3_bucket=_opt(e, "PRICING_S3_BUCKET"),
            s3_prefix=e.get("PRICING_S3_PREFIX", "pricing"),
            s3_endpoint_url=_opt(e, "PRICING_S3_ENDPOINT_URL"),
            source=e.get("PRICING_SOURCE", "synthetic") or "synthetic",
            data=_opt(e, "PRICING_DATA"),
            seed=int(e.get("PRICING_SEED", "7")),
            synthetic_products=int(e.get("PRICING_SYNTHETIC_PRODUCTS", "24")),
            min_history_days=int(e.get("PRICING_MIN_HISTORY_DAYS", "60")),
            min_history_rows=int(e.get("PRICING_MIN_HISTORY_ROWS", "150")),
            drift_window_days=int(e.get("PRICING_DRIFT_WINDOW_DAYS", "28")),
            drift_reference_days=int(ref_days) if ref_days else None,
            drift_share_threshold=float(e.get("PRICING_DRIFT_SHARE_THRESHOLD", "0.5")),
            drift_column_threshold=float(e.get("PRICING_DRIFT_COLUMN_THRESHOLD", "0.2")),
            drift_min_rows=int(e.get("PRICING_DRIFT_MIN_ROWS", "30")),
        )
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
        if self.env == "production" and not self.s3_bucket:
            raise ValueError("PRICING_ENV=production stores artifacts in S3: set PRICING_S3_BUCKET")
        if not 0 < self.drift_share_threshold <= 1:
            raise ValueError("PRICING_DRIFT_SHARE_THRESHOLD must be in (0, 1]")
        if self.drift_window_days < 1 or self.min_history_days < 1 or self.min_history_rows < 1:
            raise ValueError("window and history sizes must be positive")

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
    def uses_s3(self) -> bool:
        return self.s3_bucket is not None


_CURRENT: Settings | None = None


def current_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = Settings.from_env()
    return _CURRENT
