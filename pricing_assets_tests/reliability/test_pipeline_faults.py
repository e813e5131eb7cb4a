"""Faults in the pipeline: what a run leaves behind when S3, the process or PostgreSQL goes away.

Every scenario starts from a promoted bundle, injects a real fault (S3 endpoint down mid-promotion,
SIGKILL mid-model, PostgreSQL restarted under the daemon, concurrent runs of the same store) and
then checks what was lost: the pointer still names a complete, verified bundle, nothing under a
final key is half-written, serving still loads the bundle, and a rerun promotes a new one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import boto3
import pandas as pd
import psycopg2
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, ExecuteInProcessResult, RunsFilter
from dagster._core.instance.ref import InstanceRef
from evidently.legacy.utils.dashboard import STATIC_PATH

from pricing_assets.cli import _error_message
from pricing_assets.core.bundle import promoted_stockcodes, read_bundle, read_pointer
from pricing_assets.core.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore, sha256_hex
from pricing_assets_tests.components import require
from pricing_assets_tests.conftest import REPO, free_port, isolated_settings
from pricing_assets_tests.deployment import instance_environment, process_groups, production_home
from pricing_assets_tests.helpers import PROMOTED_RANK, materialize_raw, run_lineage, source_file
from serving.registry import BundleRegistry

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BIN = Path(sys.executable).parent
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- Store invariants -------------------------------------------------------------------------------


def promoted_keys_are_consistent(store: ArtifactStore, code: str) -> dict[str, list[str]]:
    """Check what a reader could find under promoted/<code>/; return the version folders and their keys.

    The pointer's bundle verifies byte for byte, and every other folder is either a complete bundle
    (its manifest lists exactly its files, each matching its SHA-256) or has no manifest at all: an
    abandoned promotion nobody can reach, since readers only follow the pointer to a manifest.
    """
    read_bundle(store, code, strict=True)
    folders: dict[str, list[str]] = {}
    for key in store.list_keys(f"promoted/{code}"):
        parts = key.split("/")
        if len(parts) > 3:
            folders.setdefault(parts[2], []).append("/".join(parts[3:]))
    for version, names in folders.items():
        if "manifest.json" not in names:
            continue
        manifest = json.loads(store.get_bytes(f"promoted/{code}/{version}/manifest.json"))
        assert manifest["stock_code"] == code and manifest["version"] == version
        assert set(manifest["artifacts"]) == set(names) - {"manifest.json"}, f"{version} has stray files"
        for name, digest in manifest["artifacts"].items():
            assert sha256_hex(store.get_bytes(f"promoted/{code}/{version}/{name}")) == digest, f"{version}/{name}"
    return folders


# --- S3 down in the middle of a promotion ------------------------------------------------------------


class SwitchableEndpoint:
    """A TCP relay in front of moto: the S3 endpoint the pipeline talks to, which the test can take down.

    moto keeps its buckets in memory, so stopping moto itself would also destroy the evidence (v1).
    Taking this endpoint down instead closes its listening socket and resets every open connection:
    a client sees exactly what a stopped S3 server gives it (reset, then connection refused), while
    the test still reads the bucket behind it. ``fail_on(pattern, allowed)`` lets ``allowed`` requests
    whose bytes match ``pattern`` through, and takes the endpoint down on the next one, which then
    never reaches S3: an outage at a chosen moment of a run.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._trigger: tuple[re.Pattern[bytes], int] | None = None
        self.seen = 0  # requests that matched the trigger, the refused one included

    def __enter__(self) -> SwitchableEndpoint:
        self.up()
        return self

    def __exit__(self, *_: object) -> None:
        self.down()

    def fail_on(self, pattern: bytes, allowed: int) -> None:
        with self._lock:
            self._trigger, self.seen = (re.compile(pattern), allowed), 0

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener, self._trigger = listener, None
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = list(self._sockets), set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
            listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # RST: the connection dies mid-request, as when the server process goes away

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _cut_here(self, data: bytes) -> bool:
        with self._lock:
            if self._trigger is None or not self._trigger[0].search(data):
                return False
            self.seen += 1
            return self.seen > self._trigger[1]

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                if outbound and self._cut_here(data):
                    self.down()
                    return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in a process of its own (not the session's: nothing else shares its state)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _accepts(port), 30, "moto's S3 server", interval=0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def lineage_error(result: ExecuteInProcessResult) -> str:
    """The one-line error `pricing run` prints for a failed run."""
    return _error_message(result)


def test_s3_down_mid_promotion_keeps_the_previous_bundle_and_a_rerun_promotes(tmp_path, monkeypatch):
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    source, code = source_file(tmp_path, stockcode_rank=PROMOTED_RANK)  # one the challenger promotes
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with (
        moto_server() as moto_url,
        SwitchableEndpoint(int(moto_url.rsplit(":", 1)[1])) as endpoint,
        DagsterInstance.local_temp(str(tmp_path / "home")) as instance,
    ):
        boto3.client("s3", endpoint_url=moto_url).create_bucket(Bucket="pricing")
        settings = isolated_settings(tmp_path / "project").with_(
            env="production", s3_bucket="pricing", s3_prefix="lineage", s3_endpoint_url=endpoint.url
        )
        behind = S3ArtifactStore(boto3.client("s3", endpoint_url=moto_url), "pricing", "lineage")  # not via the relay
        assert materialize_raw(instance, settings, source="uci", data=str(source)).success
        assert run_lineage(instance, settings, code).success
        v1_pointer = behind.get_bytes(f"promoted/{code}/current.json")
        v1 = read_bundle(behind, code)
        registry = BundleRegistry(behind, reload_seconds=0)
        assert registry.get(code).version == v1.manifest["version"]

        # A second promotion writes three files of its new bundle, then S3 goes away. (The promotion step
        # alone, on the outputs the first run stored: the upstream steps write nothing under promoted/,
        # so training them again would change nothing here but the minute it takes.)
        endpoint.fail_on(rb"PUT /[^ ]*promoted/" + code.encode() + rb"/", allowed=3)
        failed = run_lineage(instance, settings, code, asset_selection=[AssetKey("promoted_model")])
        assert not failed.success and endpoint.seen == 4
        error = lineage_error(failed)
        assert error.startswith("promoted_model:") and "endpoint URL" in error and endpoint.url in error, error

        # Nothing was lost: the pointer, v1's bytes, and what serving loads are as before.
        assert behind.get_bytes(f"promoted/{code}/current.json") == v1_pointer
        folders = promoted_keys_are_consistent(behind, code)
        assert read_bundle(behind, code).files == v1.files
        abandoned = {v: names for v, names in folders.items() if v != v1.manifest["version"]}
        assert len(abandoned) == 1 and [len(n) for n in abandoned.values()] == [3]  # no manifest: unreachable
        assert registry.get(code).version == v1.manifest["version"]

        # S3 is back: the failed step runs again, as Dagster's re-execution from failure (or a run retry of
        # deploy/dagster.yaml) does, on the outputs the failed run stored; it promotes, and serving follows.
        endpoint.up()
        rerun = run_lineage(instance, settings, code, asset_selection=[AssetKey("promoted_model")])
        assert rerun.success, lineage_error(rerun)
        v2 = read_bundle(behind, code)
        assert v2.manifest["version"] not in (v1.manifest["version"], *abandoned)
        assert v2.manifest["run_id"] == rerun.run_id
        promoted_keys_are_consistent(behind, code)
        assert registry.get(code).version == v2.manifest["version"]


# --- A run killed mid-model, and runs side by side on one local project ------------------------------

PRICING = str(BIN / "pricing")


def cli_env(project: Path) -> dict[str, str]:
    """What `pricing run` gets in this suite: the project's own embedded instance and store."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update({"PRICING_PROJECT_DIR": str(project), "PRICING_SYNTHETIC_PRODUCTS": "4"})
    return env


def start_pricing_run(project: Path, code: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen(
        [PRICING, "run", "--stockcodes", code], env=cli_env(project), start_new_session=True, text=True, **popen
    )


def project_instance(project: Path) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(project / ".pricing" / "dagster_home")))


PNG_END = b"IEND\xaeB`\x82"


def unfinished_files(root: Path) -> list[str]:
    """Files under final names that are not whole: each must parse as what its name says it is.

    Temporary files of interrupted writes (``.name.XXXX.tmp``) are left out: no reader ever sees
    them (``list_keys`` skips them and nothing opens them by name).
    """
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        data = path.read_bytes()
        try:
            if path.suffix == ".parquet":
                pq.read_metadata(io.BytesIO(data))
            elif path.suffix == ".json":
                json.loads(data)
            elif path.suffix in (".npz", ".pt"):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    assert archive.testzip() is None
            elif path.suffix == ".png":
                assert data.endswith(PNG_END)
            elif path.suffix == ".html":
                assert data.rstrip().endswith(b"</html>")
            elif path.suffix in (".js", ".woff2"):  # Evidently's script and font, shared by the drift reports
                assert data == (Path(STATIC_PATH) / path.name).read_bytes()
            elif path.suffix == ".txt":  # LightGBM's model text
                assert b"end of parameters" in data and data.endswith(b"\n")
            else:
                problems.append(f"{path.relative_to(root)}: no wholeness check for this kind of file")
        except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
            problems.append(f"{path.relative_to(root)}: {type(exc).__name__}: {exc}")
    return problems


@dataclass(frozen=True)
class KilledRun:
    project: Path
    codes: list[str]  # promoted before the kill, most active first; codes[0] was the one killed
    pointers: dict[str, bytes]  # current.json of each code before the kill
    bundles: dict[str, dict[str, bytes]]  # their files
    returncode: int
    last_line: str  # the progress line the kill followed
    status: DagsterRunStatus  # what the instance says about the killed run afterwards
    unfinished: list[str]
    after_kill: dict[str, bytes]  # pointers right after the kill
    bundles_after_kill: dict[str, dict[str, bytes]]  # what a reader gets then (every byte verified)


@pytest.fixture(scope="module")
def killed_run(promoted_project: Path, tmp_path_factory: pytest.TempPathFactory) -> KilledRun:
    """A copy of the promoted project; `pricing run` on its top stockcode SIGKILLed while tuning the network."""
    project = tmp_path_factory.mktemp("killed") / "project"
    shutil.copytree(promoted_project, project)
    store = LocalArtifactStore(project / ".pricing" / "store")
    codes = promoted_stockcodes(store)
    history = pq.read_table(store.root / "artifacts/raw_transactions/stockcode_history.parquet").to_pandas()
    codes.sort(key=lambda c: list(history["stock_code"]).index(c))
    pointers = {c: store.get_bytes(f"promoted/{c}/current.json") for c in codes}
    bundles = {c: read_bundle(store, c).files for c in codes}
    proc = start_pricing_run(project, codes[0], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = ""
        while not line.strip().startswith("dfn_model"):
            line = proc.stderr.readline()
            assert line, f"pricing run ended before dfn_model started (exit {proc.wait()})"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    with project_instance(project) as instance:
        (run,) = instance.get_runs(filters=RunsFilter(tags={"dagster/partition": codes[0]}), limit=1)
        status = run.status
    return KilledRun(
        project=project,
        codes=codes,
        pointers=pointers,
        bundles=bundles,
        returncode=proc.returncode,
        last_line=line.strip(),
        status=status,
        unfinished=unfinished_files(store.root),
        after_kill={c: store.get_bytes(f"promoted/{c}/current.json") for c in codes},
        bundles_after_kill={c: read_bundle(store, c).files for c in codes},
    )


def test_sigkill_mid_model_loses_nothing(killed_run: KilledRun):
    assert killed_run.returncode == -signal.SIGKILL and killed_run.last_line.startswith("dfn_model dfn: trial")
    assert killed_run.after_kill == killed_run.pointers  # every stockcode still points where it did
    assert killed_run.bundles_after_kill == killed_run.bundles
    assert killed_run.unfinished == []  # nothing torn under a final name
    store = LocalArtifactStore(killed_run.project / ".pricing" / "store")
    assert not [k for c in killed_run.codes for k in store.list_keys(f"promoted/{c}") if ".tmp" in k]
    # Without a daemon nobody notices the process died: the embedded instance keeps the run STARTED.
    assert killed_run.status == DagsterRunStatus.STARTED


@dataclass(frozen=True)
class ConcurrentRuns:
    project: Path
    codes: list[str]
    launched: list[tuple[str, int, str]]  # stockcode, exit code, output tail of each process
    runs: dict[str, list]  # stockcode -> its runs in the instance started by these processes
    produced: dict[str, dict[str, str]]  # run id -> data version of each asset that run materialised


@pytest.fixture(scope="module")
def concurrent_runs(killed_run: KilledRun) -> ConcurrentRuns:
    """Three `pricing run` processes at once on the killed project: its top stockcode twice, the next once."""
    project, (first, second) = killed_run.project, killed_run.codes[:2]
    with project_instance(project) as instance:
        known = {r.run_id for r in instance.get_runs()}
    order = [first, second, first]
    procs = [start_pricing_run(project, code, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for code in order]
    launched = []
    for code, proc in zip(order, procs, strict=True):
        output, _ = proc.communicate(timeout=900)
        launched.append((code, proc.returncode, output[-3000:]))
    with project_instance(project) as instance:
        runs: dict[str, list] = {}
        produced: dict[str, dict[str, str]] = {}
        for run in instance.get_runs():
            if run.run_id not in known and run.job_name == "stockcode_lineage_job":
                runs.setdefault(run.tags["dagster/partition"], []).append(run)
                produced[run.run_id] = {
                    event.asset_materialization.asset_key.to_user_string(): event.asset_materialization.tags[
                        "dagster/data_version"
                    ]
                    for event in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
                }
    return ConcurrentRuns(project, [first, second], launched, runs, produced)


def test_a_rerun_after_the_kill_promotes(killed_run: KilledRun, concurrent_runs: ConcurrentRuns):
    store = LocalArtifactStore(concurrent_runs.project / ".pricing" / "store")
    code = killed_run.codes[0]
    assert store.get_bytes(f"promoted/{code}/current.json") != killed_run.pointers[code]
    assert read_bundle(store, code).manifest["run_id"] in {r.run_id for r in concurrent_runs.runs[code]}


def test_different_stockcodes_at_once_do_not_touch_each_other(concurrent_runs: ConcurrentRuns):
    store = LocalArtifactStore(concurrent_runs.project / ".pricing" / "store")
    for code, returncode, output in concurrent_runs.launched:
        assert returncode == 0, f"{code}: {output}"
    for code in concurrent_runs.codes:
        bundle = read_bundle(store, code)
        assert bundle.manifest["stock_code"] == code
        scenario = pd.read_parquet(io.BytesIO(bundle.files["scenario.parquet"]))
        assert set(scenario["stock_code"]) == {code}  # no other product's weeks in its pricing inputs
        curve = pd.read_parquet(io.BytesIO(bundle.files["price_curve.parquet"]))
        recommendation = json.loads(bundle.files["recommendation.json"])
        assert recommendation["stock_code"] == code
        # The optimal price is its own recommendation's best list price, inside its own curve's band.
        optimal = bundle.manifest["pricing"]["optimal_price"]
        assert optimal == recommendation["best_list_price_in_band"]
        assert curve["unit_price"].min() - 1e-9 <= optimal <= curve["unit_price"].max() + 1e-9
        promoted_keys_are_consistent(store, code)
    first, second = (read_bundle(store, c).files for c in concurrent_runs.codes)
    assert first["preprocessor.json"] != second["preprocessor.json"]
    assert unfinished_files(store.root) == []


def test_the_same_stockcode_twice_at_once_ends_on_a_whole_bundle(concurrent_runs: ConcurrentRuns):
    store = LocalArtifactStore(concurrent_runs.project / ".pricing" / "store")
    code = concurrent_runs.codes[0]
    runs = concurrent_runs.runs[code]
    assert len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    folders = promoted_keys_are_consistent(store, code)
    versions = {
        json.loads(store.get_bytes(f"promoted/{code}/{v}/manifest.json"))["run_id"]: v
        for v, names in folders.items()
        if "manifest.json" in names
    }
    both = {r.run_id for r in runs}
    assert both <= set(versions)  # each run promoted a complete bundle of its own
    assert read_pointer(store, code)["run_id"] in both  # the last writer won, whole
    assert read_bundle(store, code).manifest["version"] == versions[read_pointer(store, code)["run_id"]]
    for run_id in both:
        manifest = json.loads(store.get_bytes(f"promoted/{code}/{versions[run_id]}/manifest.json"))
        own = concurrent_runs.produced[run_id]
        # The CLIs queue on a per-stockcode lock, so each bundle's lineage names its own run's
        # materialisations, never the other run's.
        assert {a for a, e in manifest["upstream"].items() if e["run_id"] == run_id} == set(own) - {"promoted_model"}
        assert all(manifest["upstream"][a]["data_version"] == own[a] for a in set(own) - {"promoted_model"})


def test_artifacts_are_readable_by_the_serving_user(concurrent_runs: ConcurrentRuns):
    """serving/Dockerfile reads the store as another user: artifacts follow the umask, not mkstemp's 0600."""
    umask = os.umask(0o022)
    os.umask(umask)
    root = concurrent_runs.project / ".pricing" / "store"
    modes = {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert modes == {0o666 & ~umask}


# --- PostgreSQL restarted under the daemon ---------------------------------------------------------


@dataclass(frozen=True)
class PrivateCluster:
    """A PostgreSQL cluster of this test alone: stopping it disturbs nobody else on the machine."""

    bin_dir: Path
    folder: Path
    port: int
    owner: str | None  # the server runs as this user when we are root (postgres refuses to run as root)

    def pg_ctl(self, *args: str) -> None:
        """pg_ctl on this cluster; the server logs to a file (a pipe would keep pg_ctl waiting on its output)."""
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log")]
            + ["-w", "-t", "60", *args],
            check=True,
            capture_output=True,
            timeout=90,
            user=self.owner,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        self.pg_ctl("-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")

    def connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)


def postgres_bin_dir() -> Path:
    require("postgresql-server-binaries")
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivateCluster]:
    """initdb + pg_ctl start in a temporary folder on a free port with trust auth; stopped and removed after."""
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="pricing-pg-"))  # not under pytest's 0700 tmp: the server user enters it
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(folder, account.pw_uid, account.pw_gid)
    cluster = PrivateCluster(postgres_bin_dir(), folder, free_port(), owner)
    try:
        subprocess.run(
            [str(cluster.bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
            user=owner,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                cluster.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def launch_raw_job(env: dict[str, str]) -> str:
    """Submit raw_transactions_job the operator's way (`dagster job launch`): it goes to the run queue."""
    run_id = str(uuid.uuid4())
    proc = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-j", "raw_transactions_job", "-w", "workspace.yaml"]
        + ["--run-id", run_id],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run_id


FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def run_finished(instance: DagsterInstance, run_id: str) -> DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run is not None and run.status in FINISHED else None


def beats_since(instance: DagsterInstance, moment: float) -> set[str]:
    """The required daemons whose latest heartbeat is later than ``moment``."""
    required = set(instance.get_required_daemon_types())
    return {
        kind for kind, beat in instance.get_daemon_heartbeats().items() if kind in required and beat.timestamp > moment
    }


def test_postgres_restart_under_the_daemon_loses_no_run(tmp_path):
    """PostgreSQL goes away under a running daemon and comes back: the daemon lives on and runs the next run."""
    with private_postgres() as cluster:
        admin = cluster.connect()
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE dagster")
        admin.close()
        instance_env = instance_environment(production_home(tmp_path / "dagster_home"), "dagster", cluster.port)
        env = {
            **os.environ,
            **instance_env,
            "PRICING_PROJECT_DIR": str(tmp_path / "project"),
            "PRICING_SYNTHETIC_PRODUCTS": "4",
            "PRICING_EXECUTOR": "in_process",  # a run worker per run, no process per step: cheaper, same daemon path
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in instance_env.items():
                patch.setenv(name, value)
            instance = DagsterInstance.get()  # creates the schema before the daemon and the launcher could race
        daemon_cmd = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        daemon_log = tmp_path / "daemon.log"
        with instance, process_groups({"daemon": daemon_cmd}, env, tmp_path) as (daemon,):
            first = launch_raw_job(env)
            status = wait_for(lambda: run_finished(instance, first), 300, "the first queued run")
            assert status == DagsterRunStatus.SUCCESS, daemon_log.read_text()[-4000:]

            seen = len(daemon_log.read_bytes())
            cluster.stop("fast")
            down_at = time.time()
            wait_for(
                lambda: b"OperationalError" in daemon_log.read_bytes()[seen:],
                120,
                "the daemon to notice PostgreSQL left",
            )
            cluster.start()
            assert daemon.poll() is None, "the daemon exited while PostgreSQL was down"

            second = launch_raw_job(env)
            status = wait_for(lambda: run_finished(instance, second), 300, "the run queued after the restart")
            assert status == DagsterRunStatus.SUCCESS, daemon_log.read_text()[-4000:]
            required = set(instance.get_required_daemon_types())
            wait_for(lambda: beats_since(instance, down_at) == required, 120, "every daemon's heartbeat after it")
            assert daemon.poll() is None
            runs = instance.get_runs()
            assert {r.run_id: r.status for r in runs} == {
                first: DagsterRunStatus.SUCCESS,
                second: DagsterRunStatus.SUCCESS,
            }
