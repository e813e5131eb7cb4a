"""What the reliability tests share: real Redis and S3 servers they can stop, store snapshots,
re-promoted (and deliberately broken) copies of a real bundle, raw HTTP, process memory."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import redis

from pricing_assets.core import bundle as bundles
from pricing_assets.core.store import ArtifactStore, LocalArtifactStore

from ..components import require
from ..conftest import free_port

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def store_root(project: Path) -> Path:
    return project / ".pricing" / "store"


def local_store(project: Path) -> LocalArtifactStore:
    return LocalArtifactStore(store_root(project))


def promoted_codes(project: Path) -> list[str]:
    return bundles.promoted_stockcodes(local_store(project))


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``folder``: equal snapshots mean nothing was written."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class PortTakenError(OSError):
    """The server could not bind its port: another process took it after free_port() looked."""


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    """A Redis of the test's own (no persistence), so stopping it disturbs nobody else."""
    require("redis-server")
    log = folder / f"redis-{port}.log"
    with log.open("wb") as output:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    client = redis.Redis(port=port, socket_timeout=0.5)  # whoever took the port may never answer
    for _ in range(100):
        if proc.poll() is not None and "in use" in log.read_text(errors="replace").lower():
            raise PortTakenError(f"port {port} was taken before redis-server bound it")
        try:
            client.ping()
            return proc
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(0.05)
    stop(proc)
    raise TimeoutError(f"redis-server did not start on port {port}: {log.read_text(errors='replace')[-500:]}")


def start_private_redis(folder: Path, attempts: int = 3) -> tuple[subprocess.Popen, int]:
    """``start_redis`` on a free port, on another one when a different process bound it first."""
    for _ in range(attempts - 1):
        port = free_port()
        with contextlib.suppress(PortTakenError):
            return start_redis(port, folder), port
    port = free_port()
    return start_redis(port, folder), port


def start_moto(port: int) -> subprocess.Popen:
    """moto's S3 server as a process on a chosen port (in memory: a restart starts empty)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        stop(proc)
        raise
    return proc


def upload_store(project: Path, endpoint: str, bucket: str, prefix: str = "pricing") -> int:
    """Copy the project's local store into an S3 bucket, as a production promotion would have written it."""
    client = boto3.client("s3", endpoint_url=endpoint, **_aws_kwargs())
    client.create_bucket(Bucket=bucket)
    files = [p for p in store_root(project).rglob("*") if p.is_file()]
    for path in files:
        key = f"{prefix}/{path.relative_to(store_root(project)).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return len(files)


def _aws_kwargs() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": AWS_ENV["AWS_DEFAULT_REGION"],
    }


BundleEdit = Callable[[dict[str, bytes], dict], None]


def repromote(
    store: ArtifactStore, source_code: str, new_code: str, edit: BundleEdit | None = None, run: int = 0
) -> dict:
    """Promote a copy of ``source_code``'s bundle as ``new_code``, after ``edit(files, manifest)``.

    It goes through ``write_bundle``, so every SHA-256 in the manifest and pointer is consistent:
    what a promotion with a broken model (or an attacker who can rewrite the whole store) leaves.
    """
    loaded = bundles.read_bundle(store, source_code)
    files = dict(loaded.files)
    manifest = {
        k: v for k, v in loaded.manifest.items() if k not in ("stock_code", "version", "lineage_id", "artifacts")
    }
    if edit is not None:
        edit(files, manifest)
    return bundles.write_bundle(store, new_code, files, manifest, run_id=f"{run:08d}-{new_code.lower()}")


def make_champion(kind: str) -> BundleEdit:
    """An edit that makes ``kind`` the champion, the previous chain following it."""

    def edit(files: dict[str, bytes], manifest: dict) -> None:
        chain = [manifest["champion"], *manifest["fallback_chain"]]
        manifest["champion"] = kind
        manifest["fallback_chain"] = [k for k in chain if k != kind]

    return edit


def nan_linear_model(kind: str = "elasticnet") -> BundleEdit:
    """An edit that makes a JSON linear model predict NaN (its coefficients are NaN) and champion."""

    def edit(files: dict[str, bytes], manifest: dict) -> None:
        name = f"models/{kind}/model.json"
        payload = json.loads(files[name])
        payload["coef"] = [float("nan")] * len(payload["coef"])
        files[name] = json.dumps(payload).encode()  # json writes NaN, as a careless exporter would
        make_champion(kind)(files, manifest)

    return edit


def overflowing_linear_model(kind: str = "elasticnet") -> BundleEdit:
    """An edit that gives a linear model an intercept of 2000, so it predicts log-quantities near 1000 once averaged
    with the four-week mean (finite; quantities beyond the largest float, e^709), and champion; the models' mean,
    0.15 of it, forecasts a finite e^150."""

    def edit(files: dict[str, bytes], manifest: dict) -> None:
        name = f"models/{kind}/model.json"
        payload = json.loads(files[name])
        payload["intercept"] = 2000.0
        files[name] = json.dumps(payload).encode()
        make_champion(kind)(files, manifest)

    return edit


def corrupt_files(project: Path, code: str, prefix: str) -> list[str]:
    """Overwrite the current bundle's files whose names start with ``prefix`` (bit rot, or tampering
    by someone who cannot rewrite the manifest); returns their names."""
    pointer = bundles.read_pointer(local_store(project), code)
    folder = store_root(project) / pointer["manifest_key"].rsplit("/", 1)[0]
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    hit = sorted(n for n in names if n.startswith(prefix))
    for name in hit:
        (folder / name).write_bytes(b"corrupted " + name.encode())
    return hit


def raw_http(
    port: int, target: bytes, headers: bytes = b"", method: bytes = b"GET", body: bytes = b""
) -> tuple[int, dict[str, str], str]:
    """Send exactly these bytes (no client normalises the path first); return status, headers and body."""
    request = method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        with contextlib.suppress(OSError):  # the server may answer and close before reading all of it
            conn.sendall(request + body)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode(errors="replace").split("\r\n")
    response_headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in header_lines)}
    return int(status_line.split()[1]), response_headers, payload.decode(errors="replace")


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process from /proc (Linux): now (VmRSS) or its peak so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


@contextlib.contextmanager
def redis_process(folder: Path) -> Iterator[str]:
    """A private redis-server on a free port for the duration; yields its URL (``redis://127.0.0.1:<port>/0``)."""
    proc, port = start_private_redis(folder)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
