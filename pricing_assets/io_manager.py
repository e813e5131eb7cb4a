"""Stores asset values in the artifact store: tables as Parquet, reports as JSON.

Keys are ``assets/<asset>.<ext>`` for unpartitioned assets and ``assets/<asset>/<stockcode>.<ext>``
for partitioned ones; the partition key is validated before it becomes part of a key.
"""

import json
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from .core.stockcodes import validate_stockcode
from .core.store import frame_to_parquet, parquet_to_frame
from .resources import ArtifactStoreResource


class StoreIOManager(ConfigurableIOManager):
    """Parquet for DataFrames, JSON for dicts, written atomically through the store."""

    store: ResourceDependency[ArtifactStoreResource]

    def _base_key(self, context: InputContext | OutputContext) -> str:
        path = "/".join(context.asset_key.path)
        if context.has_asset_partitions:
            return f"assets/{path}/{validate_stockcode(context.asset_partition_key)}"
        return f"assets/{path}"

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        store = self.store.get_store()
        base = self._base_key(context)
        if isinstance(obj, pd.DataFrame):
            uri = store.put_bytes(f"{base}.parquet", frame_to_parquet(obj))
        elif isinstance(obj, dict):
            uri = store.put_bytes(f"{base}.json", json.dumps(obj, sort_keys=True, default=str).encode())
        else:
            raise TypeError(f"StoreIOManager stores DataFrames and dicts, not {type(obj).__name__}")
        context.add_output_metadata({"stored_at": uri})

    def load_input(self, context: InputContext) -> Any:
        store = self.store.get_store()
        base = self._base_key(context)
        if store.exists(f"{base}.parquet"):
            return parquet_to_frame(store.get_bytes(f"{base}.parquet"))
        return json.loads(store.get_bytes(f"{base}.json"))
