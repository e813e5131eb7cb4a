"""The IO manager decodes a table once per content (every unpartitioned one, the last stockcode's
partitioned ones), and never hands out a table that is stale or shared."""

import pandas as pd
import pytest
from dagster import AssetKey, StaticPartitionsDefinition, build_input_context, build_output_context

from pricing_assets import io_manager as io_module
from pricing_assets.io_manager import StoreIOManager
from pricing_assets.resources import ArtifactStoreResource, S3ClientResource

RAW = AssetKey("raw_transactions")
PARTITIONS = StaticPartitionsDefinition(["85123A", "22423"])


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


def _partition(stockcode: str) -> dict:
    return {"asset_key": AssetKey("training_splits"), "partition_key": stockcode, "asset_partitions_def": PARTITIONS}


def test_the_last_stockcodes_tables_are_kept_and_let_go_for_the_next(manager, decodes):
    manager.handle_output(build_output_context(asset_key=RAW), _frame(4))
    manager.load_input(build_input_context(asset_key=RAW))
    manager.handle_output(build_output_context(**_partition("85123A")), _frame(2))
    first = manager.load_input(build_input_context(**_partition("85123A")))
    first.loc[0, "quantity"] = 99
    pd.testing.assert_frame_equal(manager.load_input(build_input_context(**_partition("85123A"))), _frame(2))
    assert len(decodes) == 2  # the raw table once, the stockcode's table once for its two readers

    manager.handle_output(build_output_context(**_partition("22423")), _frame(3))
    pd.testing.assert_frame_equal(manager.load_input(build_input_context(**_partition("22423"))), _frame(3))
    kept = {key: stockcode for key, (_, _, stockcode) in io_module._decoded_tables.items()}
    assert kept == {"assets/raw_transactions.parquet": None, "assets/training_splits/22423.parquet": "22423"}
    manager.load_input(build_input_context(asset_key=RAW))
    assert len(decodes) == 3  # the raw table is still kept
