"""The drift verdict on the store source: the Christmas ramp is not drift, a broken feed is."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.cleaning import clean_transactions
from pricing_assets.core.drift import DriftConfig, detect_drift, split_windows
from pricing_assets.core.features import CATEGORICAL_FEATURES, DRIFT_COLUMNS, build_demand_features
from pricing_assets.core.simulated_store import StoreConfig, generate
from pricing_assets.core.sources import normalise_transactions

CFG = DriftConfig(
    window_days=56,
    reference_days=56,
    price_ratio_limit=2.0,
    order_size_ratio_limit=1.5,
    vanished_share=0.25,
    demand_ratio_limit=2.0,
    min_rows=30,
    column_threshold=0.2,
)
PEAK = "2011-11-20"  # the store's Christmas ramp peaks in mid-November at about twice the summer level


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    """The most active product of a two-year store, so the ramp's weeks exist a year earlier too."""
    raw, _, _ = generate(StoreConfig(seed=7, n_products=4, start="2009-12-01", end="2011-12-09"))
    transactions = normalise_transactions(raw, origin="store source")
    code = transactions["stock_code"].value_counts().index[0]
    frame = clean_transactions(transactions, code)[0]
    return frame[frame["invoice_date"] <= PEAK].reset_index(drop=True)


def latest(frame: pd.DataFrame, days: int = CFG.window_days) -> pd.Series:
    return frame["invoice_date"] > frame["invoice_date"].max() - pd.Timedelta(days=days)


def test_the_christmas_ramp_passes_against_the_same_weeks_a_year_earlier(cleaned):
    result, html = detect_drift(build_demand_features(cleaned), CFG)
    assert result.passed and not result.blocks, result.reason
    assert result.reference_kind == "same weeks a year earlier"
    demand = result.measures["demand_per_week"]
    assert 0.7 < demand["ratio"] < 1.4  # the ramp is expected, so it is not a change
    assert html and "<html" in html.lower()
    methods = {column: score["method"] for column, score in result.distribution_scores.items()}
    assert methods == {c: "jensenshannon" if c in CATEGORICAL_FEATURES else "wasserstein" for c in DRIFT_COLUMNS}


def test_without_a_year_of_history_the_ramp_shows_but_never_blocks(cleaned):
    recent = cleaned[cleaned["invoice_date"] > "2011-03-01"]
    result, _ = detect_drift(build_demand_features(recent), CFG)
    assert result.reference_kind.startswith("the preceding 56 days")
    assert result.measures["demand_per_week"]["ratio"] > 1.3  # the season, seen as growth
    assert not result.blocks, result.reason
    # Demand beyond the limit only ever warns.
    loose = detect_drift(build_demand_features(recent), replace(CFG, demand_ratio_limit=1.2))[0]
    assert not loose.passed and not loose.blocks and loose.warnings == ["demand_per_week"]
    assert "warning, does not block" in loose.reason and "season not removed" in loose.reason


def prices_times_ten(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[latest(out), "unit_price"] *= 10
    return out


def units_halved(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[latest(out), "quantity"] = np.maximum(1, np.round(out.loc[latest(out), "quantity"] / 2)).astype("int64")
    return out


def guests_vanish(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~(latest(frame) & frame["is_guest"])].reset_index(drop=True)


@pytest.mark.parametrize(
    ("break_feed", "measure", "words"),
    [
        (prices_times_ten, "list_price", "list price (median paid)"),
        (units_halved, "order_size", "order size (units per line) of registered lines moved x0.6"),
        (guests_vanish, "customer_mix", "guest lines vanished"),
    ],
)
def test_a_broken_feed_blocks_and_names_the_measure(cleaned, break_feed, measure, words):
    result, _ = detect_drift(build_demand_features(break_feed(cleaned)), CFG)
    assert result.blocks and not result.passed
    assert result.blocking_failures == [measure], result.reason
    assert words in result.reason and result.reason.startswith("blocks promotion")


def test_windows_line_up_a_year_apart_and_too_few_lines_warn_without_blocking(cleaned):
    features = build_demand_features(cleaned)
    windows = split_windows(features, CFG)
    assert windows.year_earlier and windows.current["invoice_date"].min() > windows.preceding["invoice_date"].max()
    lag = windows.current["invoice_date"].max() - windows.seasonal["invoice_date"].max()
    assert pd.Timedelta(weeks=51) < lag <= pd.Timedelta(weeks=53)
    result, html = detect_drift(features, replace(CFG, min_rows=100_000))
    assert not result.passed and not result.blocks and html is None
    assert "too few lines" in result.reason and "does not block" in result.reason
