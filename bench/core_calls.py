"""The per-stockcode core calls of the lineage's assets, for benchmarks that judge the models, not Dagster.

No computation lives here: each function calls the function the asset body calls
(``pricing_assets/assets/*.py``), with the same inputs and the same settings, and says which
asset it stands for. What it leaves out is Dagster's wiring (the IO manager's copies, metadata,
the event log, the model files in the store): a benchmark that measures Dagster runs the real
job instead (``dagster_overhead.py``, ``throughput.py``, ``pipeline_run.py``, ``profiles.py``).

Imports are lazy so that a parent process that only hands stockcodes to workers starts fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pricing_assets.settings import Settings


def catalogue_of(transactions: pd.DataFrame, settings: Settings) -> tuple[list[str], dict[str, Any], pd.DataFrame]:
    """``catalogue_price_response`` and ``catalogue_demand_index``: the eligible stockcodes (most active first),
    the catalogue response and the catalogue's weekly demand index."""
    from pricing_assets.core import demand_index, price_list, price_response

    eligible, lines, panel = price_list.eligible_weekly_demand(
        transactions, settings.min_history_rows, settings.min_history_days
    )
    return eligible, price_response.catalogue_result(panel, lines), demand_index.catalogue_index(panel, lines)


@dataclass
class WeeklyRun:
    """One stockcode's lineage up to ``model_evaluation``: what each asset returned (as plain objects)."""

    stock_code: str
    demand_index: pd.DataFrame  # catalogue_demand_index
    cleaned: pd.DataFrame  # cleaned_transactions
    cleaning: dict[str, int]
    weekly_demand: pd.DataFrame  # weekly_demand
    response: dict[str, Any]  # stockcode_price_response
    elasticity: float  # what weekly_features used
    training_splits: pd.DataFrame  # training_splits (weekly rows with the split column)
    preprocessor: Any  # preprocessor
    models: dict[str, Any]  # the model assets (the models themselves)
    evaluation: Any  # model_evaluation (core.evaluation.Evaluation)
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def cleaned_response(
    transactions: pd.DataFrame, stock_code: str, catalogue: dict[str, Any]
) -> tuple[pd.DataFrame, Any, pd.DataFrame, Any]:
    """cleaned_transactions -> weekly_demand -> stockcode_price_response: the cleaned lines, the cleaning
    report, the weekly panel and the stockcode's response (None without an identified catalogue prior)."""
    from pricing_assets.core import cleaning, price_list, price_response

    cleaned, report = cleaning.clean_transactions(transactions, stock_code)
    if cleaned.empty:
        raise ValueError(f"stockcode {stock_code} has no usable rows after cleaning")
    panel = price_list.weekly_demand(cleaned)
    if not catalogue.get("identified"):
        return cleaned, report, panel, None
    lines = price_list.lines_with_list(cleaned, panel[["stock_code", "week", "list_price"]])
    prior = price_response.CatalogueResponse.from_dict(catalogue)
    return cleaned, report, panel, price_response.stockcode_response(panel, lines, stock_code, prior)


def prepare_weekly(
    transactions: pd.DataFrame,
    stock_code: str,
    catalogue: dict[str, Any],
    demand_index: pd.DataFrame,
    settings: Settings,
) -> WeeklyRun:
    """:func:`cleaned_response` -> weekly_features -> training_splits (and the preprocessor); no models yet."""
    from pricing_assets.core import splits
    from pricing_assets.core import weekly_features as wf
    from pricing_assets.core.price_response import elasticity_of

    t0 = time.perf_counter()
    cleaned, report, panel, own = cleaned_response(transactions, stock_code, catalogue)
    if own is not None:
        response = {"identified": True, **own.to_dict()}
    else:
        response = {
            "stock_code": stock_code,
            "identified": False,
            "reason": f"no catalogue prior: {catalogue.get('reason', 'not identified')}",
        }
    elasticity = elasticity_of(response)
    table = wf.build_weekly_features(panel, elasticity, demand_index)
    frame = splits.split_chronologically(table, splits.SplitConfig.from_settings(settings))
    preprocessor = splits.Preprocessor.fit(frame[frame[splits.SPLIT_COLUMN] == "train"])
    return WeeklyRun(
        stock_code,
        demand_index,
        cleaned,
        {"rows_in": report.rows_in, "rows_out": report.rows_out},
        panel,
        response,
        elasticity,
        frame,
        preprocessor,
        {},
        None,
        seconds={"up_to_training_splits": round(time.perf_counter() - t0, 3)},
    )


def training_data(run: WeeklyRun) -> Any:
    """What every model asset trains on: the design matrices of train and validation (never test)."""
    from pricing_assets.core import splits

    frame = run.training_splits
    seen = frame[frame[splits.SPLIT_COLUMN] != "test"]
    return splits.design_matrices(seen, run.preprocessor, ("train", "validation"))


def train_weekly(
    transactions: pd.DataFrame,
    stock_code: str,
    catalogue: dict[str, Any],
    demand_index: pd.DataFrame,
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> WeeklyRun:
    """:func:`prepare_weekly`, then the model assets (train + validation only) and model_evaluation."""
    return fit_weekly(prepare_weekly(transactions, stock_code, catalogue, demand_index, settings), settings, progress)


def fit_weekly(run: WeeklyRun, settings: Settings, progress: Callable[[str], None] | None = None) -> WeeklyRun:
    """The model assets on ``run``'s train + validation, then model_evaluation (``run`` is filled in)."""
    from pricing_assets.core import evaluation, splits, tuning
    from pricing_assets.core.models import TRAINERS, with_ensemble

    data = training_data(run)
    for kind, trainer in TRAINERS.items():
        t0 = time.perf_counter()
        trials = settings.dfn_trials if kind == "dfn" else settings.backup_trials
        extra = {"max_epochs": settings.dfn_max_epochs} if kind == "dfn" else {}
        budget = tuning.TuningBudget(trials, settings.tuning_seconds)
        candidate = trainer(data, budget, settings.seed, progress or (lambda _: None), **extra)
        run.seconds[kind] = round(time.perf_counter() - t0, 3)
        run.models[kind] = candidate.model
        run.tuning[kind] = {
            k: v
            for k, v in candidate.tuning.items()
            if k in ("best_params", "trials_run", "trials_pruned", "stopped_by_time", "best_epoch", "seconds")
        }
    t0 = time.perf_counter()
    scored = splits.design_matrices(run.training_splits, run.preprocessor, ("validation", "test"))
    run.models = with_ensemble(run.models, scored)  # model_evaluation's champion, the models' mean
    run.evaluation = evaluation.evaluate_candidates(run.models, scored, run.training_splits)
    run.seconds["model_evaluation"] = round(time.perf_counter() - t0, 3)
    return run


def earlier_origin(run: WeeklyRun, settings: Settings) -> WeeklyRun:
    """The same stockcode as if its data ended the week before ``run``'s first test week (a rolling origin).

    Its weekly rows before that week are split again the product's way (``SplitConfig.from_settings``)
    and the preprocessor is fit on the new train split; nothing is trained yet (:func:`fit_weekly`).
    The rows' features are the ones already built: each looks only at earlier weeks, so cutting later
    weeks off does not change them. The elasticity that brought units to the reference list stays the
    one learned from the whole history (the product's own list changes; 1 for a list that never moved).
    """
    from pricing_assets.core import splits
    from pricing_assets.core import weekly_features as wf

    frame = run.training_splits
    first_test = frame.loc[frame[splits.SPLIT_COLUMN] == "test", wf.TIME_COLUMN].min()
    earlier = frame[frame[wf.TIME_COLUMN] < first_test].drop(columns=[splits.SPLIT_COLUMN])
    table = splits.split_chronologically(earlier, splits.SplitConfig.from_settings(settings))
    preprocessor = splits.Preprocessor.fit(table[table[splits.SPLIT_COLUMN] == "train"])
    return WeeklyRun(
        run.stock_code,
        run.demand_index,
        run.cleaned,
        run.cleaning,
        run.weekly_demand,
        run.response,
        run.elasticity,
        table,
        preprocessor,
        {},
        None,
    )


def forecasts_on_test_weeks(run: WeeklyRun) -> dict[str, pd.DataFrame]:
    """Per model kind, its weekly units and forecast on ``run``'s test weeks (``forecast.weekly_units``)."""
    from pricing_assets.core import forecast, splits

    frame = run.training_splits
    rows = frame[frame[splits.SPLIT_COLUMN] == "test"]
    x = splits.design_matrices(frame, run.preprocessor, ("test",)).x["test"]
    return {kind: forecast.weekly_units(rows, model.predict_log(x)) for kind, model in run.models.items()}


def demand_forecast(run: WeeklyRun, settings: Settings) -> Any:
    """``price_scenario`` -> ``demand_forecast``: the forecast of the week after the last by the champion, or by
    the first model of the fallback chain that forecasts it plausibly (``forecast.first_answer``, as the asset)."""
    from pricing_assets.core import forecast, weekly_features

    rows = weekly_features.next_week_rows(run.weekly_demand, run.elasticity, run.demand_index)
    chain = forecast.model_chain(run.evaluation.champion, run.evaluation.fallback_chain)

    def attempt(kind: str) -> Any:
        residuals = run.evaluation.validation_residuals[kind]
        return forecast.forecast_next_week(run.models[kind], run.preprocessor, rows, residuals, settings.seed)

    result, _, _ = forecast.first_answer(chain, attempt, what=run.stock_code)
    return result
