import pandas as pd
import pytest

from pricing_assets.core.cleaning import clean_transactions
from pricing_assets.core.drift import DriftConfig, detect_drift, split_windows
from pricing_assets.core.features import build_demand_features
from pricing_assets.core.sources import load_source


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    data = load_source("synthetic", seed=7, synthetic_products=3)
    code = data.transactions["stock_code"].value_counts().index[0]
    return clean_transactions(data.transactions, code)[0]


def shifted(cleaned: pd.DataFrame, days: int = 28) -> pd.DataFrame:
    """The latest weeks after a deliberate change: dearer, bigger orders, guests from abroad."""
    out = cleaned.copy()
    recent = out["invoice_date"] > out["invoice_date"].max() - pd.Timedelta(days=days)
    out.loc[recent, "unit_price"] *= 1.8
    out.loc[recent, "quantity"] *= 5
    out.loc[recent, "is_guest"] = True
    out.loc[recent, "country"] = "France"
    return out


def test_stable_data_passes(cleaned):
    result, html = detect_drift(build_demand_features(cleaned))
    assert result.passed, result.reason
    assert result.drift_share < 0.5
    assert html and "<html" in html.lower()
    assert "invoice_date" not in result.tested_columns and "month_sin" not in result.tested_columns


def test_shifted_data_fails_and_names_the_columns(cleaned):
    result, _ = detect_drift(build_demand_features(shifted(cleaned)))
    assert not result.passed
    assert {"unit_price", "customer_type", "market", "target_log_quantity"} <= set(result.drifted_columns)
    assert result.drift_share >= 0.5


def test_windows_and_thresholds_are_configurable(cleaned):
    features = build_demand_features(cleaned)
    reference, current = split_windows(features, DriftConfig(window_days=14, reference_days=56))
    assert current["invoice_date"].min() > reference["invoice_date"].max()
    span = reference["invoice_date"].max() - reference["invoice_date"].min()
    assert span <= pd.Timedelta(days=56)
    # A shift confined to the last 7 days is diluted in a 28-day window but caught in a 7-day one.
    lately = build_demand_features(shifted(cleaned, days=7))
    assert detect_drift(lately, DriftConfig(window_days=7))[0].passed is False
    strict = detect_drift(features, DriftConfig(share_threshold=0.01, column_threshold=0.0001))[0]
    assert not strict.passed


def test_too_few_rows_fails_with_a_reason(cleaned):
    features = build_demand_features(cleaned)
    result, html = detect_drift(features, DriftConfig(min_rows=100_000))
    assert not result.passed and html is None
    assert "not enough rows" in result.reason
