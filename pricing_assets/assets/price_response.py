"""The price list as data, and the price response learned from list-price changes.

``catalogue_price_response`` is unpartitioned and runs with ``raw_transactions`` (the raw job):
every stockcode partition reads it, so the shared work is done once per source load.
``weekly_demand`` and ``stockcode_price_response`` are per stockcode, in the lineage job.
"""

import time

import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset

from ..core import price_list, price_response, stockcodes
from ..partitions import stockcode_partitions
from ..settings import current_settings
from .common import code_version_of, table_metadata
from .transactions import GROUP


class CatalogueConfig(Config):
    """Which stockcodes the catalogue is learned from: the ones that become partitions (settings.py)."""

    min_history_rows: int = current_settings().min_history_rows
    min_history_days: int = current_settings().min_history_days


def _float(value: float) -> MetadataValue:
    return MetadataValue.float(round(float(value), 4))


@asset(
    group_name="catalogue",
    code_version=code_version_of(price_list, price_response, stockcodes),
    description=(
        "How weekly demand responds to the wholesale list price, learned from the list-price "
        "changes of every eligible stockcode with the season and each product's level controlled "
        "(core/price_response.py): the pooled elasticity, its interval, the between-product spread "
        "and the season. When no stockcode changed its list, says so (identified: false)."
    ),
)
def catalogue_price_response(
    context: AssetExecutionContext, config: CatalogueConfig, raw_transactions: pd.DataFrame
) -> Output[dict]:
    started = time.perf_counter()
    history = stockcodes.stockcode_history(raw_transactions)
    eligible = stockcodes.eligible_stockcodes(history, config.min_history_rows, config.min_history_days)
    rows = raw_transactions[raw_transactions["stock_code"].isin(set(eligible))]
    lines = price_list.lines_with_list(rows)
    panel = price_list.weekly_demand(rows, lines.attrs["lists"])
    metadata: dict[str, object] = {"stockcodes": MetadataValue.int(len(eligible))}
    try:
        response = price_response.estimate_catalogue_response(panel, lines)
    except ValueError as exc:  # nothing to learn from: the partitions say so instead of failing the load
        result: dict = {"identified": False, "reason": str(exc)}
        metadata["reason"] = MetadataValue.text(str(exc))
        context.log.warning(f"catalogue price response not identified: {exc}")
    else:
        result = {"identified": True, **response.to_dict()}
        low, high = response.interval
        metadata.update(
            {
                "elasticity": _float(response.elasticity),
                "interval_95": MetadataValue.text(f"{low:.2f} to {high:.2f}"),
                "spread_between_products": _float(response.spread),
                "stockcodes_with_list_changes": MetadataValue.int(response.changers),
                "weeks": MetadataValue.int(response.weeks),
            }
        )
        context.log.info(
            f"catalogue elasticity {response.elasticity:.2f} ({low:.2f} to {high:.2f}) from "
            f"{response.changers} of {response.products} stockcodes with list changes"
        )
    metadata["seconds"] = _float(time.perf_counter() - started)
    return Output(result, metadata=metadata)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(price_list),
    description=(
        "The price list as data: per week from the first to the last sale (weeks without a sale "
        "included), the wholesale and guest lists in force (inferred as documented in "
        "core/price_list.py), units and orders of registered and guest customers, and the units "
        "that paid a quantity-band discount with the band's ratio to the list."
    ),
)
def weekly_demand(cleaned_transactions: pd.DataFrame) -> Output[pd.DataFrame]:
    panel = price_list.weekly_demand(cleaned_transactions)
    metadata, version = table_metadata(panel, time_column="week")
    moves = int(price_response.list_changes(panel).sum()) if len(panel) else 0
    metadata.update(
        {
            "current_list_price": _float(panel["list_price"].iloc[-1]),
            "list_changes": MetadataValue.int(moves),
            "weeks_without_sales": MetadataValue.int(int((panel["units"] == 0).sum())),
        }
    )
    return Output(panel, metadata=metadata, data_version=version)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(price_response),
    description=(
        "This stockcode's elasticity of weekly units to its list price: its own list changes (if "
        "any) combined with the catalogue prior by precision weights; the interval and how much "
        "of the answer came from its own data (own_weight; 0 when its list never moved)."
    ),
)
def stockcode_price_response(
    context: AssetExecutionContext,
    weekly_demand: pd.DataFrame,
    cleaned_transactions: pd.DataFrame,
    catalogue_price_response: dict,
) -> Output[dict]:
    stock_code = stockcodes.validate_stockcode(context.partition_key)
    if not catalogue_price_response.get("identified"):
        reason = f"no catalogue prior: {catalogue_price_response.get('reason', 'not identified')}"
        return Output({"stock_code": stock_code, "identified": False, "reason": reason}, metadata={"reason": reason})
    lines = price_list.lines_with_list(cleaned_transactions, weekly_demand[["stock_code", "week", "list_price"]])
    catalogue = price_response.CatalogueResponse.from_dict(catalogue_price_response)
    response = price_response.stockcode_response(weekly_demand, lines, stock_code, catalogue)
    low, high = response.interval
    source = "its own list changes and the catalogue" if response.own_weight > 0 else "the catalogue prior only"
    context.log.info(f"{stock_code}: elasticity {response.elasticity:.2f} ({low:.2f} to {high:.2f}) from {source}")
    return Output(
        {"identified": True, **response.to_dict()},
        metadata={
            "elasticity": _float(response.elasticity),
            "interval_95": MetadataValue.text(f"{low:.2f} to {high:.2f}"),
            "own_weight": _float(response.own_weight),
            "list_changes": MetadataValue.int(response.list_changes),
            "prior_elasticity": _float(response.prior_elasticity),
        },
    )
