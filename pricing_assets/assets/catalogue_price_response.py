"""What every stockcode reads from the whole catalogue: the price response and the weekly demand index.

One multi-asset (named after its first output, as ``training_splits``), unpartitioned, in the raw job
with ``raw_transactions``: both outputs are learned from the same eligible stockcodes' weekly panel
(``price_list.eligible_weekly_demand``, from their lines cleaned as each stockcode's own lineage cleans
them), which is built once here rather than once per asset. Every stockcode partition reads them, so
the shared work is done once per source load.
"""

import time
from collections.abc import Iterator

import pandas as pd
from dagster import AssetExecutionContext, AssetOut, MetadataValue, Output, multi_asset

from ..core import cleaning, demand_index, price_list, price_response, stockcodes
from .common import SettingsConfig, code_version_of, rounded, setting, table_metadata

GROUP = "catalogue"


class CatalogueConfig(SettingsConfig):
    """Which stockcodes the catalogue is learned from: those that become partitions (see common.setting)."""

    min_history_rows: int = setting("min_history_rows")
    min_history_days: int = setting("min_history_days")


@multi_asset(
    group_name=GROUP,
    outs={
        "catalogue_price_response": AssetOut(
            code_version=code_version_of(cleaning, price_list, price_response, stockcodes),
            description=(
                "How weekly demand responds to the wholesale list price, learned from the list-price "
                "changes of every eligible stockcode with the season and each product's level controlled "
                "(core/price_response.py): the pooled elasticity, its interval, the between-product spread "
                "and the season. When no stockcode changed its list, says so (identified: false)."
            ),
        ),
        "catalogue_demand_index": AssetOut(
            code_version=code_version_of(cleaning, price_list, demand_index),
            description=(
                "How the whole shop's weekly demand moves: a chain-linked index of the eligible stockcodes' units "
                "per trading day (each week against the one before, over the stockcodes on sale in both; 1 at the "
                "first week), so a product entering the catalogue does not move it. Every stockcode's "
                "weekly_features read it to take the shop-wide movement out of its own level "
                "(core/demand_index.py). A week's value depends only on that week and the weeks before."
            ),
        ),
    },
)
def catalogue_price_response(
    context: AssetExecutionContext, config: CatalogueConfig, raw_transactions: pd.DataFrame
) -> Iterator[Output]:
    started = time.perf_counter()
    eligible, lines, panel = price_list.eligible_weekly_demand(
        raw_transactions, config.min_history_rows, config.min_history_days
    )
    read = time.perf_counter() - started
    yield _price_response(context, config, eligible, lines, panel, read)
    yield _demand_index(context, eligible, lines, panel, read)


def _price_response(
    context: AssetExecutionContext,
    config: CatalogueConfig,
    eligible: list[str],
    lines: pd.DataFrame,
    panel: pd.DataFrame,
    read_seconds: float,
) -> Output[dict]:
    started = time.perf_counter()
    metadata: dict[str, object] = {"stockcodes": MetadataValue.int(len(eligible))}
    if not eligible:  # the thresholds are above every stockcode: nothing to learn, and no partition to need it
        reason = (
            f"no stockcode has {config.min_history_rows} usable lines on {config.min_history_days} days "
            "(PRICING_MIN_HISTORY_ROWS, PRICING_MIN_HISTORY_DAYS)"
        )
        result: dict = {"identified": False, "reason": reason}
    else:
        # Nothing to learn from (or a panel the estimator cannot solve) is not an error: the partitions say so.
        result = price_response.catalogue_result(panel, lines)
    if not result["identified"]:
        metadata["reason"] = MetadataValue.text(result["reason"])
        context.log.warning(f"catalogue price response not identified: {result['reason']}")
    else:
        response = price_response.CatalogueResponse.from_dict(result)
        low, high = response.interval
        metadata.update(
            {
                "elasticity": rounded(response.elasticity),
                "interval_95": MetadataValue.text(f"{low:.2f} to {high:.2f}"),
                "spread_between_products": rounded(response.spread),
                "orders_elasticity": rounded(response.orders_elasticity),
                "order_size_elasticity": rounded(response.size_elasticity),
                "stockcodes_with_list_changes": MetadataValue.int(response.changers),
                "weeks": MetadataValue.int(response.weeks),
            }
        )
        context.log.info(
            f"catalogue elasticity {response.elasticity:.2f} ({low:.2f} to {high:.2f}) from "
            f"{response.changers} of {response.products} stockcodes with list changes"
        )
    metadata["panel_seconds"] = rounded(read_seconds)  # the eligible panel, shared with catalogue_demand_index
    metadata["seconds"] = rounded(time.perf_counter() - started)
    return Output(result, "catalogue_price_response", metadata=metadata)


def _demand_index(
    context: AssetExecutionContext, eligible: list[str], lines: pd.DataFrame, panel: pd.DataFrame, read_seconds: float
) -> Output[pd.DataFrame]:
    started = time.perf_counter()
    table = demand_index.catalogue_index(panel, lines)
    if not eligible:  # no stockcode becomes a partition, so none reads it
        context.log.warning("no eligible stockcode: the catalogue's demand index is empty")
    metadata, version = table_metadata(table, time_column=demand_index.WEEK_COLUMN)
    values = table[demand_index.INDEX_COLUMN]
    metadata.update(
        {
            "stockcodes": MetadataValue.int(len(eligible)),
            **(
                {
                    "index_min": rounded(values.min()),
                    "index_max": rounded(values.max()),
                    "index_last_week": rounded(values.iloc[-1]),
                }
                if len(values)
                else {}
            ),
            "panel_seconds": rounded(read_seconds),
            "seconds": rounded(time.perf_counter() - started),
        }
    )
    return Output(table, "catalogue_demand_index", metadata=metadata, data_version=version)
