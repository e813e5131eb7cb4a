"""What every asset reports (rows, date range, content hash, a code version), and how its config is made of settings."""

from __future__ import annotations

import base64
import hashlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, Self

import pandas as pd
from dagster import Config, DataVersion, MetadataValue
from pydantic import Field

from ..core.store import frame_content_hash
from ..settings import Settings, current_settings

SETTING = "pricing_setting"  # the Settings field a config field is, kept in the field's JSON schema extra


def setting(name: str) -> Any:
    """A config field that is the setting ``name`` of settings.py, declared once.

    A run of the code location's jobs gets its value from the Settings the location was built from
    (``build_definitions(settings)`` -> :meth:`SettingsConfig.from_settings`, the jobs' default run config).
    The default here, the environment's (``PRICING_...``) when the module was imported, is only for a
    materialisation outside those jobs (the UI's Materialize button, ``dagster.materialize``).
    """
    return Field(
        default=getattr(current_settings(), name),
        description=(
            f"PRICING_{name.upper()}. The jobs default to the value of the Settings their code location was "
            "built from; this default (the environment at import) applies to a materialisation outside the jobs."
        ),
        json_schema_extra={SETTING: name},
    )


class SettingsConfig(Config):
    """An asset's config whose every field is a setting (declared with :func:`setting`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """This config with every field taken from ``settings`` (not from the environment)."""
        values = {}
        for field, info in cls.model_fields.items():
            extra = info.json_schema_extra
            if not isinstance(extra, dict) or SETTING not in extra:
                raise TypeError(f"{cls.__name__}.{field} is not declared with setting(): it has no setting to take")
            values[field] = getattr(settings, str(extra[SETTING]))
        return cls(**values)


def code_version_of(*modules: ModuleType) -> str:
    """A code version that changes exactly when the source of the logic an asset runs changes.

    Hashing the modules the asset runs means nobody has to remember to bump a number, and a
    schedule comparing code versions re-runs precisely what an edit touched. The asset module that
    calls this is hashed too: wiring can hold logic of its own (the challenger's scoring of the
    serving bundle, the forecast's fallback walk), and an edit there must re-run what it feeds, even
    if that also re-runs the module's other assets for an edit that did not touch them.
    """
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    own = caller.f_globals.get("__file__") if caller is not None else None
    digest = hashlib.sha256()
    if own:
        digest.update(Path(own).read_bytes())
    for module in modules:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def table_metadata(frame: pd.DataFrame, time_column: str = "invoice_date") -> tuple[dict, DataVersion]:
    content_hash = frame_content_hash(frame)
    metadata: dict[str, object] = {
        "rows": MetadataValue.int(len(frame)),
        "content_hash": MetadataValue.text(content_hash),
    }
    if time_column in frame.columns and len(frame):
        metadata["date_from"] = MetadataValue.text(str(frame[time_column].min()))
        metadata["date_to"] = MetadataValue.text(str(frame[time_column].max()))
    return metadata, DataVersion(content_hash)


def rounded(value: float) -> MetadataValue:
    """A float for the UI, to 4 decimals (more is noise in a metadata table)."""
    return MetadataValue.float(round(float(value), 4))


def png_markdown(alt: str, png: bytes) -> MetadataValue:
    """A PNG shown inline in the asset's metadata (the UI renders Markdown; no file to fetch)."""
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
