"""Bad input to the pipeline: malformed source files and hostile partition keys, on a project with bundles.

Each case runs against a fresh copy of a project whose store already holds a good raw_transactions
and two promoted bundles (the session's ``promoted_project``). A bad input must get an error that
names the problem (exit code 2 from ``pricing run``) and leave every stored byte as it was.
Unordered and duplicated rows are not errors: they must give exactly the lineage the clean file gives.

Already covered elsewhere and not repeated here: the messages of the source loader for missing
columns, wrong types, empty and corrupt files (core/test_sources.py); ``pricing run`` with a missing
file, ``--stockcodes ../x`` and exit code 2 in a real process (test_cli.py); ``validate_stockcode``
on hostile keys and ``register_stockcodes`` refusing ``../x`` (core/test_stockcodes.py).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, build_input_context, build_output_context, build_sensor_context
from dagster._core.instance.ref import InstanceRef

from pricing_assets import cli
from pricing_assets.core.stockcodes import InvalidStockcodeError
from pricing_assets.core.synthetic import SyntheticConfig, generate
from pricing_assets.definitions import LINEAGE_JOB, build_definitions, build_resources
from pricing_assets.io_manager import StoreIOManager
from pricing_assets.partitions import STOCKCODE_PARTITIONS_NAME, stockcode_partitions
from pricing_assets.sensors import DISCOVERY_SENSOR
from pricing_assets.settings import Settings
from pricing_assets_tests.conftest import isolated_settings

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

RAW_KEYS = ("assets/raw_transactions.parquet", "artifacts/raw_transactions/")  # what a new source rewrites


def digest(root: Path, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file below ``root`` (temporary files included: they would be leftovers)."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        if not key.startswith(leave_out):
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Project:
    """A copy of the promoted project, and `pricing` run against it through the CLI's own main()."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.store_root = root / ".pricing" / "store"
        self.capsys = capsys

    @property
    def settings(self) -> Settings:
        return isolated_settings(self.root, PRICING_SYNTHETIC_PRODUCTS="4")  # with the suite's small budgets

    def pricing(self, *args: str) -> tuple[int, str]:
        """Exit code and the terminal's text (whitespace collapsed: rich wraps long lines)."""
        self.capsys.readouterr()
        code = cli.main(list(args))
        return code, " ".join(self.capsys.readouterr().err.split())

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_ref(InstanceRef.from_dir(str(self.root / ".pricing" / "dagster_home")))

    def partitions(self) -> list[str]:
        with self.instance() as instance:
            return sorted(instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME))

    def promoted(self) -> list[str]:
        return sorted(p.name for p in (self.store_root / "promoted").iterdir())

    def everything_outside_the_instance(self) -> dict[str, str]:
        """Every file of the project folder's parent but the Dagster instance's (runs are recorded there)."""
        parent = self.root.parent
        return {k: v for k, v in digest(parent).items() if not k.startswith(f"{self.root.name}/.pricing/dagster_home/")}


@pytest.fixture
def project(promoted_project: Path, tmp_path: Path, capsys, monkeypatch) -> Project:
    """A private copy of the promoted project; the CLI's settings and DAGSTER_HOME point at it for this test."""
    root = tmp_path / "project"
    shutil.copytree(promoted_project, root)
    monkeypatch.setenv("PRICING_PROJECT_DIR", str(root))
    monkeypatch.setenv("PRICING_SYNTHETIC_PRODUCTS", "4")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the CLI sets it to the project's instance; undone after
    monkeypatch.setattr("pricing_assets.settings._CURRENT", None)
    return Project(root, capsys)


def source_frame() -> pd.DataFrame:
    """The UCI-shaped synthetic source the promoted project was built from (seed 7, 4 products)."""
    return generate(SyntheticConfig(seed=7, n_products=4))[0]


# --- Malformed source files ------------------------------------------------------------------------


def without_price_and_country(path: Path) -> None:
    source_frame().drop(columns=["UnitPrice", "Country"]).to_csv(path, index=False)


def price_as_text(path: Path) -> None:
    frame = source_frame().astype({"UnitPrice": object})
    frame.loc[frame.index[10], "UnitPrice"] = "free"
    frame.to_csv(path, index=False)


def fractional_quantity(path: Path) -> None:
    frame = source_frame().astype({"Quantity": float})
    frame.loc[frame.index[5], "Quantity"] = 1.5
    frame.to_csv(path, index=False)


def dates_as_text(path: Path) -> None:
    frame = source_frame().astype({"InvoiceDate": object})
    frame.loc[frame.index[0], "InvoiceDate"] = "sometime in spring"
    frame.to_csv(path, index=False)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def header_only(path: Path) -> None:
    source_frame().head(0).to_csv(path, index=False)


def truncated_parquet(path: Path) -> None:
    """A parquet file cut off mid-way, as an interrupted upload leaves it."""
    source_frame().to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "write,suffix,message",
    [
        (without_price_and_country, ".csv", "missing required column(s) ['unit_price', 'country']"),
        (price_as_text, ".csv", "unit_price must be a number (found 'free')"),
        (fractional_quantity, ".csv", "quantity must be whole numbers"),
        (dates_as_text, ".csv", "invoice_date must be a date-time (found 'sometime in spring')"),
        (empty, ".csv", "is empty"),
        (header_only, ".csv", "has the right columns but no rows"),
        (truncated_parquet, ".parquet", "cannot parse"),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_a_malformed_source_is_refused_and_changes_nothing_stored(project: Project, tmp_path, write, suffix, message):
    path = tmp_path / f"retail{suffix}"
    write(path)
    before, partitions = digest(project.store_root), project.partitions()
    code, text = project.pricing("run", "--source", "uci", "--data", str(path), "--top", "1")
    assert code == 2, text
    assert "loading the source failed" in text and message in text, text
    assert "Traceback" not in text
    assert digest(project.store_root) == before  # the good raw_transactions and both bundles, byte for byte
    assert project.partitions() == partitions


def test_unordered_and_duplicated_rows_give_exactly_the_clean_lineage(project: Project, tmp_path):
    """Every line twice, all shuffled: cleaning drops the copies and sorts by time, so each stockcode's
    cleaned lines and features are the bytes the clean source gave; only raw_transactions differs."""
    messy = pd.concat([source_frame(), source_frame()]).sample(frac=1.0, random_state=11)
    assert not messy["InvoiceDate"].is_monotonic_increasing
    messy.to_parquet(tmp_path / "messy.parquet", index=False)
    before = digest(project.store_root, leave_out=RAW_KEYS)
    codes = project.promoted()
    settings = project.settings.with_(source="uci", data=str(tmp_path / "messy.parquet"))
    job = build_definitions(settings).resolve_job_def(LINEAGE_JOB)
    selection = [AssetKey("cleaned_transactions"), AssetKey("demand_features")]
    with project.instance() as instance:
        raw_config = {"source": "uci", "data": settings.data}
        raw = build_definitions(settings).resolve_job_def("raw_transactions_job")
        assert raw.execute_in_process(
            instance=instance, run_config={"ops": {"raw_transactions": {"config": raw_config}}}
        ).success
        for code in codes:
            assert job.execute_in_process(instance=instance, partition_key=code, asset_selection=selection).success
        dropped = instance.get_latest_materialization_event(AssetKey("cleaned_transactions")).asset_materialization
    raw_rows = pd.read_parquet(project.store_root / "assets/raw_transactions.parquet")
    assert len(raw_rows) == 2 * len(source_frame())  # the source is stored as it came
    assert digest(project.store_root, leave_out=RAW_KEYS) == before  # cleaned, features, bundles: same bytes
    assert dropped.metadata["dropped_exact_duplicate"].value > dropped.metadata["rows_in"].value // 2 - 100


def cancellations_only(path: Path, code: str = "99999") -> None:
    """The source plus a product whose 300 lines over 150 days are all cancellations."""
    frame = source_frame()
    start = frame["InvoiceDate"].min()
    lines = pd.DataFrame(
        {
            "InvoiceNo": [f"C{900000 + i}" for i in range(300)],
            "StockCode": code,
            "Description": "CANCELLED EVERY TIME",
            "Quantity": -3,
            "InvoiceDate": [start + pd.Timedelta(hours=12 * i) for i in range(300)],
            "UnitPrice": 2.5,
            "CustomerID": 12345.0,
            "Country": "United Kingdom",
        }
    )
    pd.concat([frame, lines], ignore_index=True).to_parquet(path, index=False)


def test_a_stockcode_with_only_cancellations_is_refused(project: Project, tmp_path):
    cancellations_only(tmp_path / "cancelled.parquet")
    bundles = digest(project.store_root / "promoted")
    partitions = project.partitions()
    data = str(tmp_path / "cancelled.parquet")
    code, text = project.pricing("run", "--source", "uci", "--data", data, "--stockcodes", "99999")
    assert code == 2 and "stockcode 99999 has no usable sales lines" in text and "Traceback" not in text, text
    history = pd.read_parquet(project.store_root / "artifacts/raw_transactions/stockcode_history.parquet")
    assert "99999" not in set(history["stock_code"])  # so neither --top nor the sensors ever pick it
    assert project.partitions() == partitions

    # Registered by hand anyway (the UI's "add partition" does not go through the CLI): cleaning refuses it.
    before = digest(project.store_root)
    with project.instance() as instance:
        instance.add_dynamic_partitions(STOCKCODE_PARTITIONS_NAME, ["99999"])
        settings = project.settings.with_(source="uci", data=data)
        result = (
            build_definitions(settings)
            .resolve_job_def(LINEAGE_JOB)
            .execute_in_process(instance=instance, partition_key="99999", raise_on_error=False)
        )
    assert not result.success
    message = cli._error_message(result)
    assert message.startswith("cleaned_transactions:") and "stockcode 99999 has no usable rows" in message
    assert digest(project.store_root) == before
    assert digest(project.store_root / "promoted") == bundles


# --- Hostile partition keys ------------------------------------------------------------------------


def escaped(project: Project) -> list[Path]:
    """Files an escaping key would have created, in the project or the folder around it."""
    return [p for p in project.root.parent.rglob("*") if p.name.lower().startswith("escaped")]


ESCAPE = "../../../../../ESCAPED"  # from store/assets/<asset>/ this climbs out of the store and the project
# Keys Dagster itself accepts as dynamic partitions (it refuses "...", newlines, tabs and NUL on its own).
HOSTILE_KEYS = [ESCAPE, "a/b", "x" * 300, "Ü-123", "85123\x1b[31m", "..", "85123A ", "%2e%2e%2f"]


@pytest.mark.parametrize("key", ["x" * 300, "Ü123", "85\n123", "85123\x1b[2J", "85123\x00A", "85123/../../x"])
def test_pricing_run_refuses_a_hostile_stockcode(project: Project, key):
    before, partitions = project.everything_outside_the_instance(), project.partitions()
    code, text = project.pricing("run", "--stockcodes", key)
    assert code == 2 and "invalid stockcode partition key" in text and "Traceback" not in text, text
    assert "\x1b" not in text  # shown escaped, never sent raw to the terminal
    assert project.everything_outside_the_instance() == before
    assert project.partitions() == partitions


def test_a_hostile_partition_added_behind_the_cli_fails_its_run_and_writes_nothing(project: Project):
    """Partitions can be added without the CLI (UI, GraphQL, sensors of other code): the run itself refuses."""
    before = project.everything_outside_the_instance()
    job = build_definitions(project.settings).resolve_job_def(LINEAGE_JOB)
    with project.instance() as instance:
        instance.add_dynamic_partitions(STOCKCODE_PARTITIONS_NAME, HOSTILE_KEYS)
        for key in HOSTILE_KEYS:
            result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
            message = cli._error_message(result)
            assert not result.success and message.startswith("cleaned_transactions:")
            assert "invalid stockcode partition key" in message
    assert project.everything_outside_the_instance() == before
    assert not escaped(project)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_the_io_manager_refuses_a_hostile_partition_key(project: Project, key):
    """The IO manager checks the key itself, for any asset whose code forgot to."""
    before = project.everything_outside_the_instance()
    io_manager = StoreIOManager(store=build_resources(project.settings)["store"])
    where = {"asset_key": AssetKey("cleaned_transactions"), "partition_key": key}
    with project.instance() as instance:
        instance.add_dynamic_partitions(STOCKCODE_PARTITIONS_NAME, [key])
        output = build_output_context(**where, asset_partitions_def=stockcode_partitions, instance=instance)
        with pytest.raises(InvalidStockcodeError, match="invalid stockcode partition key"):
            io_manager.handle_output(output, pd.DataFrame({"stock_code": [key]}))
        loading = build_input_context(**where, asset_partitions_def=stockcode_partitions, instance=instance)
        with pytest.raises(InvalidStockcodeError, match="invalid stockcode partition key"):
            io_manager.load_input(loading)
    assert project.everything_outside_the_instance() == before


def hostile_codes_in_the_data(path: Path) -> list[str]:
    """The source with three extra 'products' whose codes are hostile, each with plenty of history."""
    frame = source_frame()
    top = frame["StockCode"].value_counts().index[0]
    codes = [ESCAPE, "85123/../X", "Ü-85123"]  # upper case: the schema upper-cases codes
    copies = [frame[frame["StockCode"] == top].assign(StockCode=code) for code in codes]
    pd.concat([frame, *copies], ignore_index=True).to_parquet(path, index=False)
    return codes


def test_hostile_stockcodes_inside_the_source_never_become_partitions(project: Project, tmp_path):
    codes = hostile_codes_in_the_data(tmp_path / "hostile.parquet")
    bundles = digest(project.store_root / "promoted")
    settings = project.settings.with_(source="uci", data=str(tmp_path / "hostile.parquet"))
    raw_config = {"source": "uci", "data": settings.data}
    with project.instance() as instance:
        raw = build_definitions(settings).resolve_job_def("raw_transactions_job")
        assert raw.execute_in_process(
            instance=instance, run_config={"ops": {"raw_transactions": {"config": raw_config}}}
        ).success
        stored = pd.read_parquet(project.store_root / "assets/raw_transactions.parquet")
        assert set(codes) <= set(stored["stock_code"])  # kept as data...
        with build_sensor_context(instance=instance, resources=build_resources(settings)) as context:
            result = build_definitions(settings).resolve_sensor_def(DISCOVERY_SENSOR)(context)
    history = pd.read_parquet(project.store_root / "artifacts/raw_transactions/stockcode_history.parquet")
    assert not set(codes) & set(history["stock_code"])  # ...but never candidates for a partition
    requested = [key for request in result.dynamic_partitions_requests for key in request.partition_keys]
    assert not set(codes) & set(requested)
    assert digest(project.store_root / "promoted") == bundles
    assert not escaped(project)
