"""The weekly rows per price list the demand models learn from, and the week they forecast."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import demand_index
from ..core import weekly_features as core
from ..core.price_response import elasticity_of
from ..partitions import stockcode_partitions
from .common import code_version_of, table_metadata
from .transactions import GROUP


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(core, demand_index),
    description=(
        "One row per week and price list (registered, guest) from the first sale to the catalogue's last "
        "complete week (a product that stopped selling keeps its weeks without sales; the data's short last "
        "week is not a week yet): the units at "
        "the current list price (each week's units brought there with the stockcode's elasticity), and "
        "features from earlier weeks only (last week, 4- and 13-week means, a year ago, orders, the other "
        "list, the guest share, the level with the catalogue's weekly demand index taken out) and the calendar "
        "(core/weekly_features.py). Target log1p(units)."
    ),
)
def weekly_features(
    context: AssetExecutionContext,
    weekly_demand: pd.DataFrame,
    stockcode_price_response: dict,
    catalogue_demand_index: pd.DataFrame,
) -> Output[pd.DataFrame]:
    elasticity = elasticity_of(stockcode_price_response)
    table = core.build_weekly_features(weekly_demand, elasticity, catalogue_demand_index)
    metadata, version = table_metadata(table, time_column=core.TIME_COLUMN)
    metadata.update(
        {
            "features": MetadataValue.json(
                {"numeric": list(core.NUMERIC_FEATURES), "categorical": list(core.CATEGORICAL_FEATURES)}
            ),
            "target": MetadataValue.text(core.TARGET),
            "elasticity": MetadataValue.float(round(elasticity, 4)),
            "reference_list_price": MetadataValue.float(float(table["reference_list_price"].iloc[0])),
        }
    )
    return Output(table, metadata=metadata, data_version=version)
