"""What every asset reports: rows, date range, content hash, and a code version."""

from __future__ import annotations

import hashlib
import inspect
from types import ModuleType

import pandas as pd
from dagster import DataVersion, MetadataValue

from ..core.store import frame_content_hash


def code_version_of(*modules: ModuleType) -> str:
    """A code version that changes exactly when the source of the core logic changes.

    Hashing the modules the asset runs means nobody has to remember to bump a number, and a
    schedule comparing code versions re-runs precisely what an edit touched.
    """
    digest = hashlib.sha256()
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
