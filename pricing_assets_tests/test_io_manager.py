"""The IO manager decodes an unpartitioned table once per content, and never hands out a table that
is stale or shared."""

import pandas as pd
import pytest
from dagster import AssetKey, StaticPartitionsDefinition, build_input_context, build_output_context

from pricing_assets import io_manager as io_module
from pricing_assets.io_manager import StoreIOManager
from pricing_assets.resources import ArtifactStoreResource, S3ClientResource

RAW = AssetKey("raw_transactions")
PARTITIONS = StaticPartitionsDefinition(["85123A"])


@pytest.fixture
def manager(tmp_path, monkeypatch) -> StoreIOManager:
    monkeypatch.setattr(io_module, "_decoded_tables", {})
    store = ArtifactStoreResource(local_root=str(tmp_path / "store"), s3=S3ClientResource())
    return StoreIOManager(store=store)


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """How many times Parquet bytes were decoded."""
    calls: list[int] = []
    real = io_module.parquet_to_frame

    def counting(data: bytes) -> pd.DataFrame:
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(io_module, "parquet_to_frame", counting)
    return calls


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"stock_code": ["85123A"] * n, "quantity": range(n)})


def test_an_unpartitioned_table_is_decoded_once_and_each_reader_gets_its_own_copy(manager, decodes):
    manager.handle_output(build_output_context(asset_key=RAW), _frame(3))
    first = manager.load_input(build_input_context(asset_key=RAW))
    first.loc[0, "quantity"] = 99  # an asset changing its input in place
    second = manager.load_input(build_input_context(asset_key=RAW))
    assert len(decodes) == 1
    pd.testing.assert_frame_equal(second, _frame(3))


def test_a_table_stored_again_with_other_content_is_decoded_again(manager, decodes):
    manager.handle_output(build_output_context(asset_key=RAW), _frame(3))
    manager.load_input(build_input_context(asset_key=RAW))
    manager.handle_output(build_output_context(asset_key=RAW), _frame(5))
    pd.testing.assert_frame_equal(manager.load_input(build_input_context(asset_key=RAW)), _frame(5))
    assert len(decodes) == 2


def test_partitioned_tables_are_not_kept(manager, decodes):
    where = {
        "asset_key": AssetKey("cleaned_transactions"),
        "partition_key": "85123A",
        "asset_partitions_def": PARTITIONS,
    }
    manager.handle_output(build_output_context(**where), _frame(2))
    for _ in range(2):
        manager.load_input(build_input_context(**where))
    assert len(decodes) == 2 and io_module._decoded_tables == {}
