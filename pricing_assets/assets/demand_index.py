"""The catalogue's weekly demand index, which every stockcode's weekly features read (core/demand_index.py)."""

import time

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import demand_index, price_list
from .common import code_version_of, table_metadata
from .price_response import CatalogueConfig


@asset(
    group_name="catalogue",
    code_version=code_version_of(demand_index, price_list),
    description=(
        "How the whole shop's weekly demand moves: a chain-linked index of the eligible stockcodes' units per "
        "trading day (each week against the one before, over the stockcodes on sale in both; 1 at the first week), "
        "so a product entering the catalogue does not move it. Every stockcode's weekly_features read it to "
        "take the shop-wide movement out of its own level (core/demand_index.py). A week's value depends "
        "only on that week and the weeks before."
    ),
)
def catalogue_demand_index(
    context: AssetExecutionContext, config: CatalogueConfig, raw_transactions: pd.DataFrame
) -> Output[pd.DataFrame]:
    started = time.perf_counter()
    eligible, lines, panel = price_list.eligible_weekly_demand(
        raw_transactions, config.min_history_rows, config.min_history_days
    )
    if not eligible:  # no stockcode becomes a partition, so none reads it
        table = pd.DataFrame(
            {
                demand_index.WEEK_COLUMN: pd.Series(dtype="datetime64[ns]"),
                demand_index.INDEX_COLUMN: pd.Series(dtype=float),
            }
        )
        context.log.warning("no eligible stockcode: the catalogue's demand index is empty")
    else:
        table = demand_index.catalogue_demand_index(panel, demand_index.trading_days(lines))
    metadata, version = table_metadata(table, time_column=demand_index.WEEK_COLUMN)
    values = table[demand_index.INDEX_COLUMN]
    metadata.update(
        {
            "stockcodes": MetadataValue.int(len(eligible)),
            **(
                {
                    "index_min": MetadataValue.float(round(float(values.min()), 4)),
                    "index_max": MetadataValue.float(round(float(values.max()), 4)),
                    "index_last_week": MetadataValue.float(round(float(values.iloc[-1]), 4)),
                }
                if len(values)
                else {}
            ),
            "seconds": MetadataValue.float(round(time.perf_counter() - started, 4)),
        }
    )
    return Output(table, metadata=metadata, data_version=version)
