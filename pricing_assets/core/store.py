"""Artifact stores: a local folder or an S3 bucket, with atomic writes and safe keys.

Both the Dagster code location and the serving container go through this interface, so what
one writes the other can read. Writes are atomic: a local file is written under a temporary
name and renamed into place; an S3 object is created by a single PUT, which S3 never exposes
half-written. A reader therefore sees the old object or the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")


def _process_umask() -> int:
    """The umask new files get, read once at import (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates its file 0600; the artifact replaces it under that mode unless told otherwise, which
# would hide every artifact from the serving container (another user reading the same folder).
_FILE_MODE = 0o666 & ~_process_umask()


class StoreKeyError(ValueError):
    """A key that could escape the store or is not a plain relative path."""


class ArtifactNotFoundError(KeyError):
    """No artifact under that key."""


def check_key(key: str) -> str:
    if not _SAFE_KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise StoreKeyError(f"unsafe artifact key {key!r}: use relative paths of letters, digits, '_', '-', '.', '='")
    return key


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore(Protocol):
    def put_bytes(self, key: str, data: bytes) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...
    def list_keys(self, prefix: str) -> list[str]: ...


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` whole or not at all: a uniquely named temporary sibling, flushed to disk, then
    renamed over it, so a reader (another process, a crash's survivor) sees the old file or the new one, never
    half of one, and two writers never share a temporary file. The file gets ``0666 & ~umask``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalArtifactStore:
    """A folder on disk."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        atomic_write_bytes(self._path(key), data)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactNotFoundError(f"no artifact at {path}")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        """Keys below a folder-like prefix (temporary files of in-flight writes excluded)."""
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3ArtifactStore:
    """A bucket (and prefix) reached through a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ChecksumAlgorithm="SHA256")
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix.rstrip("/")) + "/"
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(o["Key"][len(self.prefix) + 1 if self.prefix else 0 :] for o in page.get("Contents", []))
        return sorted(keys)


def s3_client(endpoint_url: str | None, config: Any = None) -> Any:
    """A boto3 S3 client (credentials and region from boto3's usual chain; ``endpoint_url`` for moto's
    server or an S3-compatible store). boto3 is imported here, when S3 is used, not with the module."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def open_store(settings: Any) -> ArtifactStore:
    """The store the settings name (local folder or S3), without Dagster: for serving and scripts."""
    if settings.s3_bucket:
        return S3ArtifactStore(s3_client(settings.s3_endpoint_url), settings.s3_bucket, settings.s3_prefix)
    return LocalArtifactStore(settings.artifact_root)


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow", compression="zstd")
    return buffer.getvalue()


def parquet_to_frame(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def frame_content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the values, column names and dtypes: stable across writers and file formats."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
