"""The one partitions definition: a stockcode per partition, added as products appear."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

from .core.stockcodes import validate_stockcode

STOCKCODE_PARTITIONS_NAME = "stockcode"
stockcode_partitions = DynamicPartitionsDefinition(name=STOCKCODE_PARTITIONS_NAME)


def register_stockcodes(instance: DagsterInstance, stockcodes: Iterable[str]) -> list[str]:
    """Add the stockcodes not yet registered (each validated first); return the new ones."""
    wanted = [validate_stockcode(code) for code in stockcodes]
    known = set(instance.get_dynamic_partitions(STOCKCODE_PARTITIONS_NAME))
    new = sorted(set(wanted) - known)
    if new:
        instance.add_dynamic_partitions(STOCKCODE_PARTITIONS_NAME, new)
    return new
