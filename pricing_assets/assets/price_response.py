"""The price list as data, each stockcode's price response, and the list price it recommends.

``weekly_demand``, ``stockcode_price_response`` and ``list_price_recommendation`` are per stockcode, in the
lineage job; the catalogue's prior they read, ``catalogue_price_response``, is learned once per source
load in the raw job (catalogue_price_response.py).
"""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..core import forecast, price_list, price_response, recommendation, recommendation_inputs, stockcodes
from ..partitions import stockcode_partitions
from .common import SettingsConfig, code_version_of, rounded, setting, table_metadata
from .transactions import GROUP


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
            "current_list_price": rounded(panel["list_price"].iloc[-1]),
            "list_changes": MetadataValue.int(moves),
            "weeks_without_sales": MetadataValue.int(int((panel["units"] == 0).sum())),
        }
    )
    return Output(panel, metadata=metadata, data_version=version)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(price_response, price_list),  # price_list: the lines each list change reads
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
            "elasticity": rounded(response.elasticity),
            "interval_95": MetadataValue.text(f"{low:.2f} to {high:.2f}"),
            "own_weight": rounded(response.own_weight),
            "list_changes": MetadataValue.int(response.list_changes),
            "prior_elasticity": rounded(response.prior_elasticity),
        },
    )


class RecommendationSettingsConfig(SettingsConfig):
    """The decision's settings: objective, guardrail, costs file, assumed cost ratio, own weight, gain
    confidence, weeks without a sale that hold, seed (see common.setting)."""

    objective: str = setting("objective")
    guardrail: float = setting("guardrail")
    costs: str | None = setting("costs")
    assumed_cost_ratio: float = setting("assumed_cost_ratio")
    min_own_weight: float = setting("min_own_weight")
    gain_confidence: float = setting("gain_confidence")
    max_weeks_without_sales: int = setting("max_weeks_without_sales")
    seed: int = setting("seed")


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(recommendation, recommendation_inputs, price_response),
    description=(
        "The wholesale list price to charge next (core/recommendation.py): the best whole-pence "
        "price for the objective within the guardrail (never below cost for margin), valued with "
        "next week's forecast units (demand_forecast) split into the mix of list, band and guest lines "
        "the store's policy charges; the interval of the optimal price and of the expected change in "
        "units, revenue and margin (the response's and the forecast's uncertainty); 'hold' with the "
        "reason when the gain is not sure or the product has not sold for PRICING_MAX_WEEKS_WITHOUT_SALES "
        "weeks; the guest price that follows."
    ),
)
def list_price_recommendation(
    context: AssetExecutionContext,
    config: RecommendationSettingsConfig,
    stockcode_price_response: dict,
    demand_forecast: dict,
    weekly_demand: pd.DataFrame,
    cleaned_transactions: pd.DataFrame,
) -> Output[dict]:
    stock_code = stockcodes.validate_stockcode(context.partition_key)
    if not stockcode_price_response.get("identified"):
        reason = f"hold: no price response to act on ({stockcode_price_response.get('reason')})"
        return Output(
            {"stock_code": stock_code, "hold": True, "hold_reason": reason},
            metadata={"reason": reason, "action": MetadataValue.text("hold"), "hold_reason": reason},
        )
    expected = forecast.WeeklyForecast.from_dict(demand_forecast)
    costs = recommendation.read_unit_costs(config.costs) if config.costs else {}
    decision = recommendation.RecommendationConfig(
        objective=config.objective,
        guardrail=config.guardrail,
        min_own_weight=config.min_own_weight,
        gain_confidence=config.gain_confidence,
        max_weeks_without_sales=config.max_weeks_without_sales,
        seed=config.seed,
    )
    # Kept with the answer (and promoted with it), so serving can make it again for another objective,
    # guardrail or cost.
    inputs = recommendation_inputs.inputs_for(
        stock_code,
        cleaned_transactions,
        weekly_demand[["stock_code", "week", "list_price"]],
        expected,
        stockcode_price_response,
        costs,
        config.assumed_cost_ratio,
        decision,
    )
    answer = inputs.recommend()
    change = answer["expected_change"][config.objective]
    verdict = recommendation.verdict(answer)
    context.log.info(
        f"{stock_code}: list {answer['current_list_price']:.2f} -> {answer['recommended_list_price']:.2f} ({verdict}); "
        f"expected weekly {config.objective} change {change['mean']:+.2f} "
        f"({change['interval'][0]:+.2f} to {change['interval'][1]:+.2f})"
    )
    rows = "\n".join(
        f"| {name} | {v['mean']:+.2f} | {v['interval'][0]:+.2f} to {v['interval'][1]:+.2f} |"
        for name, v in answer["expected_change"].items()
    )
    return Output(
        # forecast_model: whose forecast the answer is valued at (the champion, or the fallback demand_forecast took).
        {"stock_code": stock_code, **answer, "forecast_model": expected.model, "inputs": inputs.to_dict()},
        metadata={
            "current_list_price": rounded(answer["current_list_price"]),
            "recommended_list_price": rounded(answer["recommended_list_price"]),
            "action": MetadataValue.text(str(answer["action"])),
            "hold_reason": MetadataValue.text(str(answer["hold_reason"] or "")),
            "capped": MetadataValue.bool(bool(answer["capped"])),
            "objective": MetadataValue.text(config.objective),
            "gain_confidence": MetadataValue.float(float(config.gain_confidence)),  # a move gains on this share
            # ...and this one does (for a hold, the move not made); none when today's price is already the best
            **({} if answer["gain_probability"] is None else {"gain_probability": rounded(answer["gain_probability"])}),
            "expected_gain": MetadataValue.float(float(change["mean"])),  # of the move (or the one a hold did not make)
            "unit_cost": MetadataValue.text(f"{inputs.unit_cost:.2f}{' (assumed)' if inputs.cost_assumed else ''}"),
            "expected_weekly_units": rounded(expected.units),
            "weeks_without_sales": MetadataValue.int(inputs.mix.weeks_without_sales),  # before the week forecast
            "forecast_model": MetadataValue.text(expected.model),
            "expected_weekly_change": MetadataValue.md(
                "| measure | expected | 95 % interval |\n|---|---|---|\n" + rows
            ),
        },
    )
