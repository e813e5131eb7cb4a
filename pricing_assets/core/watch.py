"""Source files in a watched folder or S3 prefix, with a signature that changes when a file does.

The signature is size plus modification time (local) or size plus ETag (S3), so a new file, a
grown file and a rewritten file are all noticed, and an untouched one never is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCE_SUFFIXES = (".parquet", ".csv", ".xlsx")


def local_source_files(folder: str | Path) -> dict[str, str]:
    """``{path: signature}`` of the source files directly in ``folder`` (hidden and partial files skipped)."""
    base = Path(folder)
    if not base.is_dir():
        raise FileNotFoundError(f"watched folder {base} does not exist; create it or fix PRICING_WATCH_DIR")
    found = {}
    for path in sorted(base.iterdir()):
        if path.is_file() and path.suffix.lower() in SOURCE_SUFFIXES and not path.name.startswith("."):
            stat = path.stat()
            found[str(path.resolve())] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return found


def s3_source_files(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """``{s3://bucket/key: signature}`` of the source files below ``prefix``."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.lstrip("/")):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.lower().endswith(SOURCE_SUFFIXES) and not key.rsplit("/", 1)[-1].startswith("."):
                found[f"s3://{bucket}/{key}"] = f"{item['Size']}:{item['ETag'].strip(chr(34))}"
    return found


def changed_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """New or changed files, oldest name first (deleted files are not news)."""
    return sorted(name for name, signature in current.items() if previous.get(name) != signature)
