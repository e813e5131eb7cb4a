"""Weekly forecast accuracy on the real data, time-forward: the champion against both baselines.

For the ``--top`` most active eligible stockcodes of the UCI dev file (``stockcodes.eligible_stockcodes``
at the settings' thresholds, most active first), each stockcode goes through the same core
functions, with the same inputs and settings, as the assets of ``stockcode_lineage_job``:

- ``catalogue_price_response`` and ``catalogue_demand_index``: ``price_list.eligible_weekly_demand`` over
  every eligible stockcode, ``price_response.catalogue_result`` and ``demand_index.catalogue_index``
  (once, in the parent; ``core_calls.catalogue_of``);
- ``cleaned_transactions`` -> ``weekly_demand`` -> ``stockcode_price_response``
  (``price_response.stockcode_response`` with that catalogue prior) -> ``weekly_features``
  (``weekly_features.build_weekly_features`` with ``price_response.elasticity_of``);
- ``training_splits`` (``splits.split_chronologically`` with ``SplitConfig.from_settings``, the
  preprocessor fit on train), every trainer of ``models.TRAINERS`` on train + validation only, the
  models' mean (``models.with_ensemble``, the champion) and ``evaluation.evaluate_candidates`` on
  validation and test (``core_calls.train_weekly``).

What is scored is the forecast a merchandiser reads (``core/forecast.py``): units per week, both
price lists summed, at the list in force, as WAPE and RMSLE, on the test weeks (the last 15 % of
each stockcode's weeks with the default split; never seen by a trainer, a study or the champion
choice). The champion beats a baseline when its test WAPE is lower (the product's rule,
``Evaluation.forecast_beats_baselines``); the RMSLE comparison is recorded beside it. The budget
is the settings' defaults (``--quick``: the smoke budget, 3 stockcodes).

``--origins N`` (``make bench``: 4) also scores each code on a rolling origin: the product's split is
the first origin; each next one cuts the code's weeks off before the previous origin's first test week,
splits what is left the product's way and trains all six again (``core_calls.earlier_origin``), until
N origins or too few weeks. The champion of each origin forecasts that origin's test weeks; pooled over
the origins (about three times the weeks of one split), its WAPE is set against the baselines' on the
same weeks. Six test weeks of lumpy units cannot tell a better forecast from a lucky baseline; more
weeks can.

``--skip N`` leaves out the N most active codes first: ``--skip 100`` scores codes 101-200, on
which no design choice was made (the 100 most active are where every change was chosen).

``--source store`` runs the same on the simulated store's 100 most active products (seed 7, 240
products, as the decision benchmark) and scores beside the champion the store's *true expected
demand* on the same test weeks (``simulated_store.expected_weekly_units``): a perfect forecast of the
mean, the ceiling of what any forecast can reach when it is judged on a handful of noisy weeks.

    .venv/bin/python bench/model_quality.py --processes 2
    .venv/bin/python bench/model_quality.py --processes 2 --source store
    .venv/bin/python bench/model_quality.py --processes 2 --origins 4
    .venv/bin/python bench/model_quality.py --processes 2 --origins 4 --skip 100 --output /tmp/next100.json
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import QUICK_BUDGET, RESULTS, TARGETS, UCI_DEV, begin, finish, log, write_json
from core_calls import catalogue_of, earlier_origin, fit_weekly, forecasts_on_test_weeks, train_weekly
from report import render

from pricing_assets.settings import Settings

TARGET_BEATS_BOTH_SHARE = TARGETS["weekly_beats_both_share"]
STORE_PRODUCTS = 240  # the decision benchmark's store
FORECAST_METRICS = ("wape", "rmsle")

# Set in each worker by _init_worker.
_STATE: dict[str, Any] = {}


def settings_for(data: Path, quick: bool, source: str = "uci", products: int = STORE_PRODUCTS) -> Settings:
    """The settings' defaults (no PRICING_* from the environment), on the given file or the simulated store
    (seed: the settings' seed); quick: the smoke budget."""
    settings = Settings.from_env(dict(QUICK_BUDGET) if quick else {})
    if source == "store":
        return settings.with_(source="store", data=None, synthetic_products=products)
    return settings.with_(source="uci", data=str(data))


def load(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The source's transactions, and the store's ground truth (None for the real file)."""
    from pricing_assets.core.sources import load_source

    source = load_source(settings.source, settings.data, settings.seed, settings.synthetic_products)
    truth = source.ground_truth.set_index("stock_code") if settings.source == "store" else None
    return source.transactions, truth


def _init_worker(settings: Settings, catalogue: dict[str, Any], demand_index: pd.DataFrame) -> None:
    warnings.filterwarnings("ignore")
    transactions, truth = load(settings)
    _STATE.update(
        settings=settings, catalogue=catalogue, demand_index=demand_index, transactions=transactions, truth=truth
    )


def _true_weekly_units(run: Any, truth_row: pd.Series, settings: Settings) -> pd.DataFrame:
    """Every week of the code's panel: observed ``units`` and the store's exact expected units (``truth``)."""
    from pricing_assets.core.simulated_store import StoreConfig, expected_weekly_units

    panel = run.weekly_demand.sort_values("week").set_index("week")
    store = StoreConfig(seed=settings.seed, n_products=settings.synthetic_products)
    truth = expected_weekly_units(truth_row, panel.index, panel["list_price"].to_numpy(dtype=float), store)
    units = panel["registered_units"].astype(float) + panel["guest_units"].astype(float)
    return pd.DataFrame({"units": units, "truth": truth}, index=panel.index)


def true_expected_demand(run: Any, truth_row: pd.Series, settings: Settings) -> pd.DataFrame:
    """The store's exact expected units on the code's test weeks, as a forecast (``units``, ``forecast``): the ceiling.

    A perfect forecast of the mean still misses every week's noise, and with a handful of test weeks
    of lumpy demand the noise decides whether it beats a baseline (``core/forecast.weekly_accuracy``)."""
    weekly = _true_weekly_units(run, truth_row, settings)
    return _on_test_weeks(run, weekly.rename(columns={"truth": "forecast"}))


def true_recent_mean(run: Any, truth_row: pd.Series, settings: Settings) -> pd.DataFrame:
    """The mean of the store's exact expected units over the four weeks before each test week: the recent-mean
    baseline without its noise, what a forecast from history alone could reach if it saw the mean of the past
    weeks instead of their draws (it lags the season as the baseline does)."""
    weekly = _true_weekly_units(run, truth_row, settings)
    weekly["forecast"] = weekly["truth"].shift(1).rolling(4, min_periods=1).mean()
    return _on_test_weeks(run, weekly[["units", "forecast"]])


def true_median_demand(run: Any, truth_row: pd.Series, settings: Settings) -> pd.DataFrame:
    """The median of the store's weekly units on the code's test weeks, from fresh draws of its demand
    (``simulated_store.weekly_units_draws``): a perfect forecast of the point WAPE rewards. Lumpy weeks
    put the median well below the mean, so this, not the true expected demand, is the ceiling of a forecast
    judged on WAPE."""
    from pricing_assets.core.simulated_store import StoreConfig, weekly_units_draws

    weekly = _true_weekly_units(run, truth_row, settings)
    store = StoreConfig(seed=settings.seed, n_products=settings.synthetic_products)
    weekly["forecast"] = np.median(weekly_units_draws(str(truth_row.name), weekly.index, cfg=store), axis=0)
    return _on_test_weeks(run, weekly[["units", "forecast"]])


def _on_test_weeks(run: Any, weekly: pd.DataFrame) -> pd.DataFrame:
    from pricing_assets.core import splits
    from pricing_assets.core import weekly_features as wf

    frame = run.training_splits
    test = pd.DatetimeIndex(frame.loc[frame[splits.SPLIT_COLUMN] == "test", wf.TIME_COLUMN].unique()).sort_values()
    return weekly.loc[test, ["units", "forecast"]]


# Forecasts that know the store's truth, scored beside the champion on the same weeks (``--source store``).
ORACLES = {
    "true_expected_demand": true_expected_demand,
    "true_median_demand": true_median_demand,
    "true_recent_mean": true_recent_mean,
}


def interval_weeks(run: Any, settings: Settings) -> dict[str, int]:
    """How many of the code's test weeks fall below, inside and above the champion's 95 % interval of units
    (``forecast.forecast_next_week``, as ``demand_forecast`` makes it for next week), each test week forecast
    from its own row at the list in force."""
    from pricing_assets.core import forecast, splits
    from pricing_assets.core import weekly_features as wf

    frame = run.training_splits
    champion = run.evaluation.champion
    residuals = run.evaluation.validation_residuals[champion]
    counts = {"below": 0, "inside": 0, "above": 0}
    for _, rows in frame[frame[splits.SPLIT_COLUMN] == "test"].groupby(wf.TIME_COLUMN):
        week = forecast.forecast_next_week(run.models[champion], run.preprocessor, rows, residuals, settings.seed)
        factor = float(rows["price_factor"].iloc[0])
        units = float(rows["units"].sum())
        low, high = (bound * factor for bound in week.units_interval)
        counts["below" if units < low else "above" if units > high else "inside"] += 1
    return counts


def rolling_origin(run: Any, origins: int, settings: Settings, truth_row: pd.Series | None) -> dict[str, Any]:
    """The champion against both baselines on the test weeks of ``origins`` successive origins, pooled.

    ``run`` is the product's split, trained and evaluated; each earlier origin is trained the same way on
    less history (``core_calls.earlier_origin``), and stops early when the weeks left cannot be split."""
    from pricing_assets.core import forecast
    from pricing_assets.core.models import BASELINES

    folds, stopped = [run], None
    while len(folds) < origins:
        try:
            folds.append(fit_weekly(earlier_origin(folds[-1], settings), settings))
        except ValueError as exc:  # too few weeks left for three splits
            stopped = str(exc)
            break
    pooled: dict[str, list[pd.DataFrame]] = {"champion": [], **{b: [] for b in BASELINES}}
    oracles: dict[str, list[pd.DataFrame]] = {name: [] for name in ORACLES}
    for fold in folds:
        tables = forecasts_on_test_weeks(fold)
        pooled["champion"].append(tables[fold.evaluation.champion])
        for b in BASELINES:
            pooled[b].append(tables[b])
        if truth_row is not None:
            for name, oracle in ORACLES.items():
                oracles[name].append(oracle(fold, truth_row, settings))
    scores = {kind: forecast.weekly_accuracy(pd.concat(tables)) for kind, tables in pooled.items()}
    weeks = pd.concat(pooled["champion"]).index
    result: dict[str, Any] = {
        "origins": len(folds),
        "stopped": stopped,
        "test_weeks": int(len(weeks)),
        "test_from": str(weeks.min().date()),
        "champions": [fold.evaluation.champion for fold in folds],
        "scores": {k: {m: round(float(v[m]), 5) for m in FORECAST_METRICS} for k, v in scores.items()},
        "beats_both_wape": all(scores["champion"]["wape"] < scores[b]["wape"] for b in BASELINES),
    }
    for name, tables in oracles.items():
        if tables:
            truth = forecast.weekly_accuracy(pd.concat(tables))
            result[name] = {m: round(float(truth[m]), 5) for m in FORECAST_METRICS}
            result[f"{name}_beats_both_wape"] = all(truth["wape"] < scores[b]["wape"] for b in BASELINES)
    return result


def evaluate_stockcode(code: str, verbose: bool = False, origins: int = 1) -> dict[str, Any]:
    """One stockcode from its raw lines to the evaluation of every candidate, as the assets compute it."""
    from pricing_assets.core import forecast, splits
    from pricing_assets.core import weekly_features as wf
    from pricing_assets.core.models import BASELINES

    settings: Settings = _STATE["settings"]
    row: dict[str, Any] = {"stock_code": code}
    started = time.perf_counter()
    try:
        progress = (lambda m: log(f"  {code} {m}")) if verbose else None
        run = train_weekly(
            _STATE["transactions"], code, _STATE["catalogue"], _STATE["demand_index"], settings, progress
        )
        result, frame = run.evaluation, run.training_splits
        champion = result.champion
        test = {kind: result.forecast[kind]["test"] for kind in result.forecast}
        beats = {
            metric: {b: bool(test[champion][metric] < test[b][metric]) for b in BASELINES if b != champion}
            for metric in FORECAST_METRICS
        }
        weeks = {s: frame.loc[frame[splits.SPLIT_COLUMN] == s, wf.TIME_COLUMN] for s in splits.SPLITS}
        row.update(
            cleaning=run.cleaning,
            weeks=int(run.weekly_demand["week"].nunique()),
            split_weeks={s: int(w.nunique()) for s, w in weeks.items()},
            split_dates={s: [str(w.min().date()), str(w.max().date())] for s, w in weeks.items()},
            test_units=float(frame.loc[frame[splits.SPLIT_COLUMN] == "test", "units"].sum()),
            elasticity=round(float(run.elasticity), 4),
            own_weight=round(float(run.response.get("own_weight", 0.0)), 4),
            list_changes=int(run.response.get("list_changes", 0)),
            forecast={
                kind: {s: {m: round(float(v), 5) for m, v in by.items()} for s, by in by_split.items()}
                for kind, by_split in result.forecast.items()
            },
            log_rmsle={
                kind: {s: round(float(result.metrics[kind][s]["rmsle"]), 5) for s in ("validation", "test")}
                for kind in result.metrics
            },
            champion=champion,
            fallback_chain=result.fallback_chain,
            beats_on_test=beats,
            product_beats_on_test=result.forecast_beats_baselines["test"],
            beats_both_wape=all(beats["wape"].values()),
            beats_both_rmsle=all(beats["rmsle"].values()),
            beats_both_wape_and_rmsle=all(beats["wape"].values()) and all(beats["rmsle"].values()),
            lowest_test_wape_any_kind=min(test, key=lambda k: test[k]["wape"]),  # hindsight, for diagnosis only
            interval_weeks=interval_weeks(run, settings),
            train_seconds=run.seconds,
            trials_run={kind: t.get("trials_run") for kind, t in run.tuning.items()},
        )
        truth_row = _STATE["truth"].loc[code] if _STATE.get("truth") is not None else None
        if truth_row is not None:  # the store: the ceiling (the true expected demand) and the true recent mean
            for name, oracle in ORACLES.items():
                scores = forecast.weekly_accuracy(oracle(run, truth_row, settings))
                row[name] = {m: round(float(v), 5) for m, v in scores.items()}
                row[f"{name}_beats_both_wape"] = all(
                    scores["wape"] < test[b]["wape"] for b in BASELINES if b != champion
                )
        if origins > 1:
            row["rolling_origin"] = rolling_origin(run, origins, settings, truth_row)
    except Exception as exc:  # record and carry on: one bad stockcode must not lose the others
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.median(finite)), 4) if finite else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from pricing_assets.core.models import CANDIDATE_KINDS

    ok = [r for r in rows if "error" not in r]
    n = len(rows)
    counts = {
        "beats_both_wape": sum(r["beats_both_wape"] for r in ok),
        "beats_both_rmsle": sum(r["beats_both_rmsle"] for r in ok),
        "beats_both_wape_and_rmsle": sum(r["beats_both_wape_and_rmsle"] for r in ok),
    }
    for kind in ("recent_mean_baseline", "seasonal_naive_baseline"):
        counts[f"beats_{kind}_wape"] = sum(r["beats_on_test"]["wape"].get(kind, False) for r in ok)
    per_kind = {
        kind: {
            **{
                f"median_{split}_{m}": _median([r["forecast"][kind][split][m] for r in ok if kind in r["forecast"]])
                for split in ("validation", "test")
                for m in FORECAST_METRICS
            },
            "median_test_log_rmsle": _median([r["log_rmsle"][kind]["test"] for r in ok if kind in r["log_rmsle"]]),
            "champion_count": sum(r["champion"] == kind for r in ok),
            "lowest_test_wape_count": sum(r["lowest_test_wape_any_kind"] == kind for r in ok),
            # the models' mean trains nothing of its own
            "median_train_seconds": _median([r["train_seconds"].get(kind) for r in ok]),
        }
        for kind in CANDIDATE_KINDS
    }
    share = counts["beats_both_wape"] / n if n else None  # an error counts as a miss
    ceiling: dict[str, Any] = {}
    for name in ORACLES:
        if any(name in r for r in ok):
            beats = sum(r[f"{name}_beats_both_wape"] for r in ok if name in r)
            ceiling.update(
                {
                    f"{name}_beats_both_wape": beats,
                    f"{name}_beats_both_share": round(beats / n, 4) if n else None,
                    f"median_{name}_test_wape": _median([r[name]["wape"] for r in ok if name in r]),
                }
            )
    rolling = [r["rolling_origin"] for r in ok if "rolling_origin" in r]
    if rolling:
        beats = sum(r["beats_both_wape"] for r in rolling)
        ceiling["rolling_origin"] = {
            "beats_both_wape": beats,
            "beats_both_share": round(beats / n, 4) if n else None,
            "median_origins": _median([r["origins"] for r in rolling]),
            "median_test_weeks": _median([r["test_weeks"] for r in rolling]),
            **{f"median_{k}_wape": _median([r["scores"][k]["wape"] for r in rolling]) for k in rolling[0]["scores"]},
        }
        for name in ORACLES:
            if name in rolling[0]:
                truth_beats = sum(r[f"{name}_beats_both_wape"] for r in rolling)
                ceiling["rolling_origin"].update(
                    {
                        f"{name}_beats_both_wape": truth_beats,
                        f"{name}_beats_both_share": round(truth_beats / n, 4) if n else None,
                        f"median_{name}_wape": _median([r[name]["wape"] for r in rolling]),
                    }
                )
    return {
        "stockcodes": n,
        "evaluated": len(ok),
        "errors": {r["stock_code"]: r["error"] for r in rows if "error" in r},
        **counts,
        "beats_both_share": round(share, 4) if share is not None else None,
        "beats_both_wape_and_rmsle_share": round(counts["beats_both_wape_and_rmsle"] / n, 4) if n else None,
        "target_beats_both_share": TARGET_BEATS_BOTH_SHARE,
        "target_met": share is not None and share >= TARGET_BEATS_BOTH_SHARE,
        "median_champion_test_wape": _median([r["forecast"][r["champion"]]["test"]["wape"] for r in ok]),
        "median_champion_test_rmsle": _median([r["forecast"][r["champion"]]["test"]["rmsle"] for r in ok]),
        "median_hindsight_test_wape": _median(
            [r["forecast"][r["lowest_test_wape_any_kind"]]["test"]["wape"] for r in ok]
        ),
        "median_test_weeks": _median([r["split_weeks"]["test"] for r in ok]),
        "interval_weeks": {
            side: sum(r["interval_weeks"][side] for r in ok if "interval_weeks" in r)
            for side in ("below", "inside", "above")
        },
        "median_seconds_per_stockcode": _median([r["seconds"] for r in rows]),
        "per_kind": per_kind,
        **ceiling,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=UCI_DEV)
    parser.add_argument(
        "--source",
        choices=("uci", "store"),
        default="uci",
        help="the real file (default), or the simulated store, where the true expected demand is scored beside",
    )
    parser.add_argument("--products", type=int, default=STORE_PRODUCTS, help="the store's products")
    parser.add_argument("--top", type=int, default=100, help="most active eligible stockcodes (quick: 3)")
    parser.add_argument(
        "--skip",
        type=int,
        default=0,
        help="leave out the N most active first (--skip 100: codes 101-200, on which no design was chosen)",
    )
    parser.add_argument("--processes", type=int, default=1, help="stockcodes evaluated at once")
    parser.add_argument(
        "--origins",
        type=int,
        default=1,
        help="forecast origins per code: the product's split and N-1 earlier ones, each trained again (rolling origin)",
    )
    parser.add_argument("--quick", action="store_true", help="3 stockcodes, the smoke budget: nothing measured")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--output", type=Path, help="default bench/results/model_quality[_store].json")
    args = parser.parse_args(argv)
    if args.origins < 1:
        parser.error("--origins must be 1 (the product's split alone) or more")
    if args.skip < 0:
        parser.error("--skip must be 0 (start from the most active code) or more")
    store = args.source == "store"
    if args.output is None:
        args.output = RESULTS / f"model_quality{'_store' if store else ''}.json"
    if not store and not args.data.exists():
        raise SystemExit(f"{args.data} not found: set PRICING_DEV_DATA to the UCI dev file")
    record = begin("model_quality_store" if store else "model_quality", args.quick)
    settings = settings_for(args.data, args.quick, args.source, args.products)
    top = 3 if args.quick and args.top == 100 else args.top
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    transactions, truth = load(settings)
    eligible, catalogue, demand_index = catalogue_of(transactions, settings)
    catalogue_seconds = round(time.perf_counter() - t0, 1)
    codes = [c for c in eligible if truth is None or c in truth.index][args.skip : args.skip + top]  # store: its own
    log(
        f"{len(eligible)} eligible stockcodes; catalogue elasticity {catalogue['elasticity']:.3f} "
        f"({catalogue_seconds} s); evaluating {len(codes)} (after the {args.skip} most active) "
        f"with {args.processes} process(es)"
    )
    rows: list[dict[str, Any]] = []
    if args.processes > 1:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch state
        with ProcessPoolExecutor(args.processes, context, _init_worker, (settings, catalogue, demand_index)) as pool:
            for row in pool.map(evaluate_stockcode, codes, [args.verbose] * len(codes), [args.origins] * len(codes)):
                rows.append(row)
                _progress(row, len(rows), len(codes))
    else:
        _STATE.update(
            settings=settings, catalogue=catalogue, demand_index=demand_index, transactions=transactions, truth=truth
        )
        for code in codes:
            rows.append(evaluate_stockcode(code, args.verbose, args.origins))
            _progress(rows[-1], len(rows), len(codes))
    summary = summarise(rows)
    record.update(
        data=f"the simulated store (seed {settings.seed}, {settings.synthetic_products} products)"
        if store
        else str(args.data.name),
        selection=(
            f"{f'after the {args.skip} most active, ' if args.skip else ''}the {len(codes)} most active of "
            f"{len(eligible)} eligible stockcodes (>= {settings.min_history_rows} "
            f"usable lines on >= {settings.min_history_days} days, stockcodes.eligible_stockcodes)"
        ),
        split=(
            f"weekly rows by week, fractions {settings.split_train_fraction} / {settings.split_validation_fraction} "
            f"/ rest (SplitConfig.from_settings, product default), min {settings.split_min_rows} rows per split"
        ),
        budget={
            "dfn_trials": settings.dfn_trials,
            "dfn_max_epochs": settings.dfn_max_epochs,
            "backup_trials": settings.backup_trials,
            "tuning_seconds": settings.tuning_seconds,
            "seed": settings.seed,
        },
        processes=args.processes,
        origins=args.origins,
        threads_per_process=os.environ.get("OMP_NUM_THREADS", "default (the trainers use one thread)"),
        catalogue={
            "eligible": len(eligible),
            "elasticity": round(float(catalogue["elasticity"]), 4),
            "standard_error": round(float(catalogue["standard_error"]), 4),
            "seconds": catalogue_seconds,
        },
        old_comparison=(
            "before the weekly models the per-line demand models were scored per order line (RMSLE of log1p "
            "quantity): 0.742 median champion test RMSLE in the seed, 0.641 on 20 codes with product features"
        ),
        summary=summary,
        stockcodes=rows,
    )
    path = write_json(args.output, finish(record))
    log(f"wrote {path}")
    print(render(record["benchmark"], record))
    return 0


def _progress(row: dict[str, Any], done: int, total: int) -> None:
    if "error" in row:
        log(f"[{done}/{total}] {row['stock_code']}: ERROR {row['error']}")
        return
    f = row["forecast"]
    c = row["champion"]
    log(
        f"[{done}/{total}] {row['stock_code']}: {c} test WAPE {f[c]['test']['wape']:.3f} RMSLE "
        f"{f[c]['test']['rmsle']:.3f} (recent mean {f['recent_mean_baseline']['test']['wape']:.3f}, seasonal "
        f"naive {f['seasonal_naive_baseline']['test']['wape']:.3f}); beats both on WAPE: {row['beats_both_wape']} "
        f"({row['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
